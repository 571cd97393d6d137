"""Auth on every face, key isolation, revoking every key, SSRF and path traversal."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from benchmarks.reliability.corpus import SERVER_ENV, wav
from benchmarks.reliability.harness import PHONEXIA, ServerProcess, send

MEDIA = wav(1, seconds=0.5)


def _keys(root: Path, *args: str) -> str:
    env = {**os.environ, "AURAL_DATA_DIR": str(root / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "aural", "keys", *args], env=env, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str, str]]:
    root = tmp_path_factory.mktemp("keyed")
    first = _keys(root, "create", "--name", "alice")
    second = _keys(root, "create", "--name", "bob")
    server = ServerProcess(root, SERVER_ENV)
    yield server, first, second
    server.stop()


def _client(server: ServerProcess, key: str | None) -> httpx.Client:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=server.url, timeout=120, headers=headers)


@pytest.mark.parametrize("face", ["phonexia", "openai", "deepinfra"])
@pytest.mark.parametrize("key", [None, "aural_not-a-real-key"])
def test_every_face_needs_a_valid_key(
    keyed: tuple[ServerProcess, str, str], face: str, key: str | None
) -> None:
    with _client(keyed[0], key) as client:
        outcome = send(client, face, MEDIA)
    assert outcome.status == 401, outcome.body


def test_a_key_cannot_see_another_keys_task(keyed: tuple[ServerProcess, str, str]) -> None:
    server, alice, bob = keyed
    with _client(server, alice) as client:
        response = client.post(PHONEXIA, files={"file": ("a.wav", MEDIA)})
        assert response.status_code == 202
        location = response.headers["x-location"]
        assert client.get(location).status_code == 200
    with _client(server, bob) as client:
        assert client.get(location).status_code == 404
        assert client.delete(location).status_code == 404


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/hook", "http://169.254.169.254/latest/meta-data", "http://10.0.0.1/x",
     "http://[::1]/x", "file:///etc/passwd", "http://user:pw@example.com/x"],
)  # fmt: skip
def test_webhooks_to_private_addresses_are_refused(
    keyed: tuple[ServerProcess, str, str], url: str
) -> None:
    server, alice, _ = keyed
    with _client(server, alice) as client:
        outcome = send(client, "deepinfra", MEDIA, fields={"webhook": url})
    assert outcome.status == 422, outcome.body


@pytest.mark.parametrize("name", ["../../../../tmp/evil.wav", "/etc/passwd", "..\\..\\x.wav"])
def test_file_names_never_become_paths(keyed: tuple[ServerProcess, str, str], name: str) -> None:
    server, alice, _ = keyed
    with _client(server, alice) as client:
        outcome = send(client, "openai", MEDIA, filename=name)
    assert outcome.status == 200, outcome.body
    assert not Path("/tmp/evil.wav").exists()


def test_revoking_every_key_keeps_auth_on(tmp_path: Path) -> None:
    key = _keys(tmp_path, "create", "--name", "only")
    _keys(tmp_path, "revoke", "only")
    server = ServerProcess(tmp_path, SERVER_ENV)
    try:
        for token in (None, key):
            with _client(server, token) as client:
                assert send(client, "openai", MEDIA).status == 401
    finally:
        server.stop()
