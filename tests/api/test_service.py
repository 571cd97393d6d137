"""Concurrency, health, metrics, OpenAPI, and the serve/keys commands."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from typer.testing import CliRunner

from aural.api.auth import hash_key, list_keys
from aural.cli import app as cli
from aural.config import get_settings
from aural.jobs.store import TaskStore

from .conftest import LiveServer, ServerFactory


def test_eight_simultaneous_requests_share_one_model_and_one_worker(
    serve: ServerFactory, data_dir: Path
) -> None:
    server = serve(own_pool=True)  # a fresh pool, to count the model copies in it
    media = (data_dir / "jfk.flac").read_bytes()

    def request(index: int) -> httpx.Response:
        with server.client() as client:
            if index % 2:
                return client.post(
                    "/v1/inference/openai/whisper-tiny.en", files={"audio": ("a.flac", media)}
                )
            return client.post(
                "/v1/audio/transcriptions",
                files={"file": ("a.flac", media), "model": (None, "whisper-1")},
            )

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(request, range(8)))
    assert [r.status_code for r in responses] == [200] * 8
    assert all("country" in r.json()["text"] for r in responses)
    services = server.services
    assert [m.name for m in services.pool.loaded()] == ["tiny.en"]
    assert services.runner is not None
    assert services.runner.max_concurrency == services.settings.resolved_workers
    assert services.store.count_by_state()["done"] == 8


def test_health_readiness_and_metrics(server: LiveServer, data_dir: Path) -> None:
    with server.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        client.post(
            "/v1/inference/openai/whisper-tiny.en",
            files={"audio": ("jfk.flac", (data_dir / "jfk.flac").read_bytes())},
        )
        metrics = client.get("/metrics")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"store": "ok", "model": "ok"}
    text = metrics.text
    assert metrics.headers["content-type"].startswith("text/plain")
    for name in (
        "aural_http_requests_total",
        'aural_tasks{state="done"}',
        "aural_queue_depth",
        'aural_audio_seconds_processed_total{model="tiny.en"}',
        'aural_real_time_factor_count{model="tiny.en"}',
        'aural_tasks_finished_total{face="deepinfra",model="tiny.en",state="done"}',
    ):
        assert name in text, name
    assert 'route="/v1/inference/openai/whisper-{model}"' in text, "routes, not raw paths"


def test_openapi_and_docs(server: LiveServer) -> None:
    with server.client() as client:
        spec = client.get("/openapi.json").json()
        docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    paths = spec["paths"]
    assert set(paths) >= {
        "/api/technology/speech-to-text-whisper-enhanced",
        "/api/technology/speech-to-text-whisper-enhanced/{task_id}",
        "/v1/inference/openai/whisper-{model}",
        "/v1/audio/transcriptions",
        "/v1/audio/translations",
        "/v1/models",
        "/healthz",
        "/readyz",
        "/metrics",
    }
    start = paths["/api/technology/speech-to-text-whisper-enhanced"]["post"]
    body = start["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["required"] == ["file"]
    assert {p["name"] for p in start["parameters"]} >= {
        "channel_mode", "channels", "language", "language_switching"
    }  # fmt: skip
    assert {"202", "400", "403", "413", "422", "429", "507"} <= set(start["responses"])


def test_keys_create_prints_the_key_once_and_stores_its_hash(tmp_path: Path) -> None:
    env = {"AURAL_DATA_DIR": str(tmp_path)}
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        result = runner.invoke(
            cli, ["keys", "create", "--name", "acme", "--languages", "en,de-AT",
                  "--rate", "60/minute"], env=env,
        )  # fmt: skip
        duplicate = runner.invoke(cli, ["keys", "create", "--name", "acme"], env=env)
        bad_rate = runner.invoke(cli, ["keys", "create", "--name", "x", "--rate", "lots"], env=env)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[-1]
    assert secret.startswith("aural_") and len(secret) > 40
    assert duplicate.exit_code == 2 and bad_rate.exit_code == 2
    store = TaskStore(f"sqlite:///{tmp_path / 'aural.db'}")
    (key,) = list_keys(store)
    assert key.name == "acme" and key.languages == frozenset({"en", "de"})
    assert key.rate_limit == "60/minute"
    raw = (tmp_path / "aural.db").read_bytes()
    assert secret.encode() not in raw and hash_key(secret).encode() in raw
    store.close()


def test_serve_refuses_a_public_bind_without_keys(tmp_path: Path) -> None:
    aural = Path(sys.executable).with_name("aural")
    result = subprocess.run(
        [str(aural), "serve", "--host", "0.0.0.0", "--port", "9"],
        env={"AURAL_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "without API keys" in result.stderr
