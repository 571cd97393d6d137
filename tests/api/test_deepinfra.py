"""The official ``deepinfra`` SDK, unmodified, against a real server; word chunks; webhooks."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import wer
from deepinfra import AutomaticSpeechRecognition

from aural.jobs.store import WebhookState
from aural.jobs.webhooks import ATTEMPT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

from .conftest import WEBHOOK_SECRET, LiveServer, Receiver

SEGMENT_FIELDS = {
    "id", "seek", "start", "end", "text", "tokens", "temperature", "avg_logprob",
    "compression_ratio", "no_speech_prob", "confidence", "words",
}  # fmt: skip


def _files(media: Path, **fields: str) -> dict[str, Any]:
    files: dict[str, Any] = {"audio": (media.name, media.read_bytes())}
    files.update({name: (None, value) for name, value in fields.items()})
    return files


def test_sdk_generate_with_the_base_model(
    server: LiveServer, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK sends "Authorization: Bearer $DEEPINFRA_API_KEY" and cannot send an empty one;
    # any value works while the server has no keys.
    monkeypatch.setenv("DEEPINFRA_API_KEY", "local")
    asr = AutomaticSpeechRecognition(f"{server.url}/v1/inference/openai/whisper-base")
    result = asr.generate({"audio": str(data_dir / "jfk.flac")})
    assert wer((data_dir / "jfk.txt").read_text(), result.text) <= 0.15
    assert result.language == "en"
    assert result.input_length_ms == 11000
    assert result.request_id
    status: dict[str, Any] = result.inference_status  # type: ignore[assignment]
    assert status["status"] == "succeeded"
    assert status["runtime_ms"] > 0 and status["cost"] == 0.0
    assert status["tokens_generated"] > 0 and status["tokens_input"] == 550
    for segment in result.segments:
        assert set(segment) == SEGMENT_FIELDS  # type: ignore[arg-type]
        assert 0.0 < segment["confidence"] <= 1.0  # type: ignore[index]
        assert segment["words"]  # type: ignore[index]
    record = server.services.store.get(result.request_id)
    assert record is not None and record.model == "base"
    assert record.result is None, "a synchronous result is not kept after it was sent"


def test_chunk_level_word_returns_word_chunks(server: LiveServer, data_dir: Path) -> None:
    with server.client() as client:
        response = client.post(
            "/v1/inference/openai/whisper-tiny.en",
            files=_files(data_dir / "jfk.flac", chunk_level="word"),
        )
    assert response.status_code == 200
    body = response.json()
    assert len(body["segments"]) == len(body["words"]) >= 20
    assert [s["text"] for s in body["segments"]] == [w["text"] for w in body["words"]]
    assert [s["id"] for s in body["segments"]] == list(range(len(body["segments"])))
    assert all(set(s) == SEGMENT_FIELDS for s in body["segments"])
    assert body["duration"] == 11.0


def test_webhook_gets_the_signed_result_after_a_retry(
    server: LiveServer, data_dir: Path, receiver: Receiver
) -> None:
    receiver.statuses = [500]  # the first delivery fails; the retry succeeds
    with server.client() as client:
        response = client.post(
            "/v1/inference/openai/whisper-tiny.en",
            files=_files(data_dir / "jfk.flac", webhook=receiver.url),
        )
    assert response.status_code == 200
    queued = response.json()
    assert queued["inference_status"]["status"] == "queued"
    request_id = queued["request_id"]
    first, second = receiver.wait_for(2)[:2]
    assert first.body == second.body
    payload = second.json()
    assert payload["request_id"] == request_id
    assert payload["inference_status"]["status"] == "succeeded"
    assert "country" in payload["text"]
    headers = {k.lower(): v for k, v in second.headers.items()}
    assert headers["x-aural-task-id"] == request_id
    assert [r.headers.get(ATTEMPT_HEADER) for r in (first, second)] == ["1", "2"]
    assert verify(
        WEBHOOK_SECRET, headers[TIMESTAMP_HEADER.lower()], second.body,
        headers[SIGNATURE_HEADER.lower()],
    )  # fmt: skip
    assert not verify("another-secret", headers[TIMESTAMP_HEADER.lower()], second.body,
                      headers[SIGNATURE_HEADER.lower()])  # fmt: skip
    server.wait_task(request_id)
    record = server.services.store.get(request_id)
    while record is not None and record.webhook_state == WebhookState.PENDING:
        time.sleep(0.05)  # the store is updated right after the receiver answered
        record = server.services.store.get(request_id)
    assert record is not None
    assert record.webhook_state == WebhookState.DELIVERED
    assert record.webhook_attempts == 2


def test_phonexia_webhook_gets_the_task_body(
    server: LiveServer, data_dir: Path, receiver: Receiver
) -> None:
    with server.client() as client:
        response = client.post(
            "/api/technology/speech-to-text-whisper-enhanced",
            params={"webhook": receiver.url},
            files={"file": ("jfk.flac", (data_dir / "jfk.flac").read_bytes())},
        )
    assert response.status_code == 202
    (delivery,) = receiver.wait_for(1)
    body = json.loads(delivery.body)
    assert body["task"] == {"task_id": response.json()["task"]["task_id"], "state": "done"}
    assert body["result"]["one_best"]["segments"]


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.7/hook",
        "http://192.168.1.20:8080/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/hook",
        "http://localhost:9/hook",
        "file:///etc/passwd",
    ],
)
def test_private_webhook_urls_are_refused(server: LiveServer, data_dir: Path, url: str) -> None:
    with server.client() as client:
        response = client.post(
            "/v1/inference/openai/whisper-tiny.en", files=_files(data_dir / "jfk.flac", webhook=url)
        )
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["type"] == "webhook.refused"
    assert detail["location"] == ["body", "webhook"]
    assert not any(server.services.storage.media_dir.iterdir())
