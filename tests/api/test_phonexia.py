"""The Phonexia task face over a real server: polling to done, channels, config, ids, deletion."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
from conftest import load_json, wer

from aural.jobs.store import TaskState

from .conftest import LiveServer

PATH = "/api/technology/speech-to-text-whisper-enhanced"


def _post(
    client: httpx.Client, media: Path, params: dict[str, str] | None = None, **extra: Any
) -> httpx.Response:
    files: dict[str, Any] = {"file": (media.name, media.read_bytes())}
    if "config" in extra:
        files["config"] = (None, extra.pop("config"))
    return client.post(PATH, params=params or {}, files=files, **extra)


def _poll(client: httpx.Client, location: str, timeout_s: float = 300) -> dict[str, Any]:
    """Follow X-Location as a client would, until the task is final."""
    deadline = time.monotonic() + timeout_s
    states = []
    while time.monotonic() < deadline:
        response = client.get(location)
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        states.append(body["task"]["state"])
        if body["task"]["state"] in ("done", "failed", "rejected"):
            assert set(states) <= {"pending", "running", body["task"]["state"]}
            return body
        time.sleep(0.1)
    raise AssertionError(f"task at {location} did not finish: {states[-5:]}")


def test_stereo_split_is_polled_to_done_with_channel_tagged_word_segments(
    server: LiveServer, data_dir: Path
) -> None:
    reference = load_json(data_dir / "stereo_two_speakers.json")["channels"]
    with server.client() as client:
        response = _post(client, data_dir / "stereo_two_speakers.flac", {"channel_mode": "split"})
        assert response.status_code == 202
        task = response.json()["task"]
        assert task["state"] == "pending"
        assert response.headers["X-Location"] == f"{PATH}/{task['task_id']}"
        body = _poll(client, response.headers["X-Location"])
    assert body["task"] == {"task_id": task["task_id"], "state": "done"}
    segments = body["result"]["one_best"]["segments"]
    assert {s["channel_number"] for s in segments} == {0, 1}
    for channel in (0, 1):
        text = " ".join(s["text"] for s in segments if s["channel_number"] == channel)
        assert wer(reference[str(channel)], text) <= 0.3, text
    for segment in segments:
        assert set(segment) == {
            "channel_number", "start_time", "end_time", "language", "text", "words"
        }  # fmt: skip
        assert segment["language"] == "en"
        assert segment["words"], "word-level segmentation is always on"
        for word in segment["words"]:
            assert set(word) == {"start_time", "end_time", "text"}
            assert segment["start_time"] <= word["start_time"] <= word["end_time"]
            assert word["end_time"] <= segment["end_time"]
    # Channel 1 is speech for 7.1 s and then silence: nothing is transcribed after it.
    assert max(s["end_time"] for s in segments if s["channel_number"] == 1) <= 7.6
    # The media is deleted once processed.
    record = server.services.store.get(task["task_id"])
    assert record is not None and record.media_path is None
    assert not any(server.services.storage.media_dir.iterdir())


def test_channels_1_from_the_query_and_from_config(server: LiveServer, data_dir: Path) -> None:
    reference = load_json(data_dir / "stereo_two_speakers.json")["channels"]["1"]
    media = data_dir / "stereo_two_speakers.flac"
    with server.client() as client:
        by_query = _post(client, media, {"channels": "1"})
        # config carries the same keys; unknown keys are ignored.
        by_config = _post(client, media, config=json.dumps({"channels": "1", "colour": "blue"}))
        assert by_query.status_code == by_config.status_code == 202
        bodies = [_poll(client, r.headers["X-Location"]) for r in (by_query, by_config)]
    for body in bodies:
        assert body["task"]["state"] == "done"
        segments = body["result"]["one_best"]["segments"]
        assert segments and {s["channel_number"] for s in segments} == {1}
        assert wer(reference, " ".join(s["text"] for s in segments)) <= 0.3


def test_ids_are_echoed_or_generated_on_every_response(server: LiveServer) -> None:
    with server.client() as client:
        echoed = client.get(
            f"{PATH}/00000000-0000-0000-0000-000000000000",
            headers={"X-Correlation-ID": "corr-123", "X-Request-ID": "req-456"},
        )
        generated = client.get("/healthz")
        bad_request = client.post(PATH, content=b"not multipart")
    assert echoed.status_code == 404
    assert echoed.headers["X-Correlation-ID"] == "corr-123"
    assert echoed.headers["X-Request-ID"] == "req-456"
    for response in (generated, bad_request):
        assert len(response.headers["X-Correlation-ID"]) == 36
        assert len(response.headers["X-Request-ID"]) == 36
    assert generated.headers["X-Request-ID"] != bad_request.headers["X-Request-ID"]


def test_ids_reach_the_task_row(server: LiveServer, data_dir: Path) -> None:
    with server.client() as client:
        response = _post(client, data_dir / "jfk.flac", headers={"X-Correlation-ID": "call-42"})
    assert response.status_code == 202
    record = server.wait_task(response.json()["task"]["task_id"])
    assert record.correlation_id == "call-42"
    assert record.request_id == response.headers["X-Request-ID"]


def test_unknown_task_is_404_in_the_error_schema(server: LiveServer) -> None:
    with server.client() as client:
        response = client.get(f"{PATH}/3fa85f64-5717-4562-b3fc-2c963f66afa6")
    assert response.status_code == 404
    body = response.json()
    assert body["type"] == "resource.not-found"
    assert body["detail"][0]["location"] == ["path", "task_id"]
    assert body["detail"][0]["type"] == "resource.not-found"


def test_delete_removes_the_task_and_its_result(server: LiveServer, data_dir: Path) -> None:
    with server.client() as client:
        response = _post(client, data_dir / "jfk.flac")
        location = response.headers["X-Location"]
        task_id = response.json()["task"]["task_id"]
        assert _poll(client, location)["task"]["state"] == "done"
        assert client.delete(location).status_code == 204
        assert client.get(location).status_code == 404
        assert client.delete(location).status_code == 404
    assert server.services.store.get(task_id) is None


def test_undecodable_media_ends_rejected_with_a_validation_error(
    server: LiveServer, data_dir: Path
) -> None:
    with server.client() as client:
        for name in ("not_media.wav", "empty.wav", "truncated.wav"):
            response = _post(client, data_dir / "bad" / name)
            assert response.status_code == 202
            body = _poll(client, response.headers["X-Location"])
            assert body["task"]["state"] == "rejected", name
            error = body["error"]
            assert error["type"] == "task.validation-error"
            assert error["detail"][0]["location"] == ["body", "file"]
            assert error["detail"][0]["type"].startswith("media.")
            assert "result" not in body
            assert str(server.settings.data_dir) not in json.dumps(body), "no server paths leak"
    assert TaskState.REJECTED in server.services.store.count_by_state()


def test_a_channel_that_does_not_exist_rejects_the_task(server: LiveServer, data_dir: Path) -> None:
    with server.client() as client:
        response = _post(client, data_dir / "jfk.flac", {"channels": "3"})
        body = _poll(client, response.headers["X-Location"])
    assert body["task"]["state"] == "rejected"
    assert body["error"]["detail"][0]["type"] == "channels.out-of-range"
