"""A real ``aural serve`` process on a free loopback port, and each face's outcome for a file.

The server runs as its own process so that a crash is seen as a crash (its exit code), and its
RSS and open files can be read from ``/proc``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

PHONEXIA = "/api/technology/speech-to-text-whisper-enhanced"
FACES = ("phonexia", "openai", "deepinfra")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``aural serve`` with ``tiny.en`` as its model and its data under ``root``."""

    def __init__(self, root: Path, env: Mapping[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        root.mkdir(parents=True, exist_ok=True)
        self.log_path = root / "server.log"
        full_env = {
            **os.environ,
            "AURAL_DATA_DIR": str(root / "data"),
            "AURAL_MODEL": "tiny.en",
            "AURAL_TASK_POLL_INTERVAL_S": "0.2",
            "AURAL_WEBHOOK_ALLOW_HOSTS": "",
            "AURAL_GRPC_PORT": "0",  # HTTP faces only (several servers run side by side)
            **(env or {}),
        }
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aural", "serve", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning"],
            env=full_env, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the server did not become ready")

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def open_files(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> int | None:
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        return self.process.returncode


@dataclass(frozen=True)
class Outcome:
    """What a face answered: ``ok``, or the error code (and the HTTP status it came with)."""

    result: str
    status: int
    body: Any


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except json.JSONDecodeError:
        return response.text


def _error_code(face: str, body: Any) -> str:
    if face == "openai":
        return str(body.get("error", {}).get("code"))
    detail = body.get("detail") or [{}]
    return str(detail[0].get("type", body.get("type")))


def send(
    client: httpx.Client,
    face: str,
    data: bytes,
    filename: str = "input.wav",
    fields: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    timeout_s: float = 300,
) -> Outcome:
    """Send ``data`` to ``face``; a Phonexia task is polled until it ends."""
    form = dict(fields or {})
    if face == "phonexia":
        response = client.post(PHONEXIA, files={"file": (filename, data)}, data=form,
                               params=params)  # fmt: skip
        body = _json(response)
        if response.status_code != 202:
            return Outcome(_error_code(face, body), response.status_code, body)
        location = response.headers["x-location"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            polled = client.get(location)
            body = _json(polled)
            state = body["task"]["state"]
            if state == "done":
                return Outcome("ok", 200, body)
            if state in ("failed", "rejected"):
                error = body["error"]
                code = error["detail"][0]["type"] if error["detail"] else error["type"]
                return Outcome(code if state == "rejected" else f"failed:{code}", 200, body)
            time.sleep(0.2)
        return Outcome("timeout", 0, None)
    if face == "openai":
        form.setdefault("model", "whisper-1")
        response = client.post("/v1/audio/transcriptions", files={"file": (filename, data)},
                               data=form)  # fmt: skip
    else:
        response = client.post("/v1/inference/openai/whisper-tiny.en",
                               files={"audio": (filename, data)}, data=form)  # fmt: skip
    body = _json(response)
    if response.status_code == 200:
        return Outcome("ok", 200, body)
    return Outcome(_error_code(face, body), response.status_code, body)
