"""Every error status triggered for real, each in the schema of the face that was called."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from aural.api.auth import create_key

from .conftest import LiveServer, ServerFactory

PATH = "/api/technology/speech-to-text-whisper-enhanced"


def _files(media: Path, field: str = "file", **parts: str) -> dict[str, Any]:
    files: dict[str, Any] = {field: (media.name, media.read_bytes())}
    files.update({name: (None, value) for name, value in parts.items()})
    return files


def _detail(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"type", "message", "detail"}
    detail: dict[str, Any] = body["detail"][0]
    assert set(detail) == {"location", "message", "type", "context"}
    return detail


def _left_over_media(server: LiveServer) -> list[Path]:
    return list(server.services.storage.media_dir.iterdir())


def test_upload_over_the_limit_is_413_with_the_spec_body(
    serve: ServerFactory, data_dir: Path
) -> None:
    server = serve(max_upload_bytes=100_000)
    media = data_dir / "jfk.flac"
    with server.client() as client:
        response = client.post(PATH, files=_files(media))
        deepinfra = client.post(
            "/v1/inference/openai/whisper-tiny.en", files=_files(media, "audio")
        )
        openai = client.post("/v1/audio/transcriptions", files=_files(media, model="whisper-1"))
    assert response.status_code == 413
    assert response.json() == {
        "type": "request.size-limit-exceeded",
        "message": "Request size limit exceeded.",
        "detail": [
            {
                "location": ["body", "file"],
                "message": "Input media file too large.",
                "type": "media.too-large",
                "context": {
                    "file_size": media.stat().st_size,
                    "max_file_size": 100_000,
                    "size_unit": "bytes",
                },
            }
        ],
    }
    assert deepinfra.status_code == 413
    assert _detail(deepinfra)["location"] == ["body", "audio"]
    assert openai.status_code == 413
    assert openai.json()["error"]["param"] == "file"
    assert not _left_over_media(server), "partial uploads are removed"
    assert server.services.store.count_active() == 0


def test_storage_quota_is_507(serve: ServerFactory, data_dir: Path) -> None:
    server = serve(storage_quota_bytes=250_000)
    with server.client() as client:
        first = client.post(PATH, files=_files(data_dir / "jfk.flac"))  # 195 kB: fits
        assert first.status_code == 202
        server.wait_task(first.json()["task"]["task_id"])  # the result is kept (~10 kB)
        second = client.post(PATH, files=_files(data_dir / "jfk.flac"))
    assert second.status_code == 202, "the first media was deleted once processed"
    server.wait_task(second.json()["task"]["task_id"])
    with server.client() as client:
        too_much = client.post(PATH, files=_files(data_dir / "stereo_two_speakers.flac"))
    assert too_much.status_code == 507
    assert too_much.json() == {
        "type": "storage.capacity-exceeded",
        "message": "Storage capacity exceeded.",
        "detail": [],
    }
    assert not _left_over_media(server)


def test_rate_limit_per_key_is_429_with_headers(serve: ServerFactory, data_dir: Path) -> None:
    server = serve(workers=0)  # nothing needs to run: only submissions count
    _, limited = create_key(server.services.store, "limited", rate_limit="2/minute")
    _, other = create_key(server.services.store, "other", rate_limit="2/minute")
    media = data_dir / "jfk.flac"
    with server.client(headers={"Authorization": f"Bearer {limited}"}) as client:
        ok = [client.post(PATH, files=_files(media)) for _ in range(2)]
        refused = client.post(PATH, files=_files(media))
        polling = client.get(ok[0].headers["X-Location"])
    assert [r.status_code for r in ok] == [202, 202]
    assert ok[1].headers["x-ratelimit-remaining"] == "0"
    assert refused.status_code == 429
    assert refused.json() == {
        "type": "request.rate-limit-exceeded",
        "message": "Rate limit exceeded: 2 per 1 minute.",
        "detail": [],
    }
    assert refused.headers["x-ratelimit-limit"] == "2"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert int(refused.headers["x-ratelimit-reset"]) > 1_700_000_000
    assert polling.status_code == 200, "polling is not rate limited"
    with server.client(headers={"Authorization": f"bearer {other}"}) as client:
        assert client.post(PATH, files=_files(media)).status_code == 202, "limits are per key"


def test_keys_are_required_once_one_exists(serve: ServerFactory, data_dir: Path) -> None:
    server = serve(workers=0)
    with server.client() as client:
        assert client.get("/v1/models").status_code == 200  # no keys, loopback: auth off
    _, secret = create_key(server.services.store, "someone")
    server.services.auth._keys_checked = 0.0  # skip the 2 s cache
    with server.client() as client:
        missing = client.post(PATH, files=_files(data_dir / "jfk.flac"))
        wrong = client.get("/v1/models", headers={"Authorization": "Bearer aural_wrong"})
        right = client.get("/v1/models", headers={"Authorization": f"Bearer {secret}"})
        health = client.get("/healthz")
    assert missing.status_code == 401
    assert _detail(missing)["location"] == ["header", "authorization"]
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    assert right.status_code == 200
    assert health.status_code == 200


def test_unlicensed_language_is_403(serve: ServerFactory, data_dir: Path) -> None:
    server = serve(workers=0, licensed_languages="en,de,fr")
    _, english_only = create_key(server.services.store, "en-only", languages=["en"])
    media = data_dir / "jfk.flac"
    with server.client(headers={"Authorization": f"Bearer {english_only}"}) as client:
        by_key = client.post(PATH, params={"language": "de"}, files=_files(media))
        by_deployment = client.post(
            "/v1/inference/openai/whisper-tiny.en", files=_files(media, "audio", language="es")
        )
        licensed = client.post(PATH, params={"language": "en-US"}, files=_files(media))
    assert by_key.status_code == 403
    body = by_key.json()
    assert body["type"] == "request.forbidden"
    assert body["detail"][0]["type"] == "language.unlicensed"
    assert body["detail"][0]["location"] == ["query", "language"]
    assert by_deployment.status_code == 403
    assert _detail(by_deployment)["location"] == ["body", "language"]
    assert licensed.status_code == 202
    task = server.services.store.get(licensed.json()["task"]["task_id"])
    assert task is not None and task.options["licensed_languages"] == ["en"]


def test_licensed_capacity_is_403(serve: ServerFactory, data_dir: Path) -> None:
    server = serve(workers=0, max_active_tasks=2)  # an API-only node: tasks stay pending
    media = data_dir / "jfk.flac"
    with server.client() as client:
        accepted = [client.post(PATH, files=_files(media)) for _ in range(2)]
        refused = client.post(PATH, files=_files(media))
        openai = client.post("/v1/audio/transcriptions", files=_files(media, model="whisper-1"))
    assert [r.status_code for r in accepted] == [202, 202]
    assert refused.status_code == 403
    assert refused.json() == {
        "type": "request.forbidden",
        "message": "Request is forbidden.",
        "detail": [
            {
                "location": ["license"],
                "message": "Licensed processing capacity exceeded.",
                "type": "licensing.capacity-exceeded",
                "context": {},
            }
        ],
    }
    assert openai.status_code == 403
    assert openai.json()["error"]["code"] == "licensing.capacity-exceeded"
    assert server.services.store.count_active() == 2


@pytest.mark.parametrize(
    ("params", "config", "location"),
    [
        ({"channel_mode": "stereo"}, None, ["query", "channel_mode"]),
        ({"language_switching": "maybe"}, None, ["query", "language_switching"]),
        ({"channels": "0,x"}, None, ["query", "channels"]),
        ({"language": "klingon"}, None, ["query", "language"]),
        ({}, {"channel_mode": "stereo"}, ["body", "config", "channel_mode"]),
        ({}, {"language": "xx-YY"}, ["body", "config", "language"]),
        ({"webhook": "ftp://example.com/hook"}, None, ["query", "webhook"]),
    ],
)
def test_bad_parameters_are_422_at_their_location(
    server: LiveServer,
    data_dir: Path,
    params: dict[str, str],
    config: dict[str, str] | None,
    location: list[str],
) -> None:
    parts = {"config": json.dumps(config)} if config is not None else {}
    with server.client() as client:
        response = client.post(PATH, params=params, files=_files(data_dir / "jfk.flac", **parts))
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "request.validation-error"
    assert _detail(response)["location"] == location


def test_bad_fields_are_422_on_deepinfra_and_400_on_openai(
    server: LiveServer, data_dir: Path
) -> None:
    media = data_dir / "jfk.flac"
    with server.client() as client:
        chunk = client.post(
            "/v1/inference/openai/whisper-tiny.en", files=_files(media, "audio", chunk_length_s="0")
        )
        level = client.post(
            "/v1/inference/openai/whisper-tiny.en", files=_files(media, "audio", chunk_level="x")
        )
        fmt = client.post(
            "/v1/audio/transcriptions",
            files=_files(media, model="whisper-1", response_format="docx"),
        )
    assert chunk.status_code == 422
    assert _detail(chunk)["location"] == ["body", "chunk_length_s"]
    assert level.status_code == 422
    assert _detail(level)["location"] == ["body", "chunk_level"]
    assert fmt.status_code == 400
    assert fmt.json()["error"]["param"] == "response_format"
    assert fmt.json()["error"]["type"] == "invalid_request_error"


def test_unparsable_requests_are_400(server: LiveServer, data_dir: Path) -> None:
    with server.client() as client:
        not_json = client.post(PATH, files=_files(data_dir / "jfk.flac", config="{channels: 1"))
        no_file = client.post(PATH, files={"config": (None, "{}")})
        not_multipart = client.post(PATH, json={"file": "jfk.flac"})
    assert not_json.status_code == 400
    assert not_json.json()["type"] == "request.invalid"
    assert _detail(not_json)["location"] == ["body", "config"]
    assert no_file.status_code == 400
    assert _detail(no_file)["location"] == ["body", "file"]
    assert not_multipart.status_code == 400
    assert not _left_over_media(server)


def test_unknown_model_is_404_on_deepinfra_and_openai(server: LiveServer, data_dir: Path) -> None:
    media = data_dir / "jfk.flac"
    with server.client() as client:
        deepinfra = client.post(
            "/v1/inference/openai/whisper-large-v9", files=_files(media, "audio")
        )
        openai = client.post("/v1/audio/transcriptions", files=_files(media, model="gpt-9"))
    assert deepinfra.status_code == 404
    assert _detail(deepinfra) == {
        "location": ["path", "model"],
        "message": deepinfra.json()["detail"][0]["message"],
        "type": "model.not-available",
        "context": {"model": "large-v9"},
    }
    assert openai.status_code == 404
    assert openai.json()["error"]["code"] == "model_not_found"
