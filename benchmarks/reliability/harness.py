"""A real ``aural serve`` process on a free loopback port, and each face's outcome for a file.

The server runs as its own process so that a crash is seen as a crash (its exit code), and its
RSS and open files can be read from ``/proc``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
from phonexia.grpc.common import core_pb2
from phonexia.grpc.technologies.enhanced_speech_to_text_built_on_whisper.v1 import (
    enhanced_speech_to_text_built_on_whisper_pb2 as pb,
)
from phonexia.grpc.technologies.enhanced_speech_to_text_built_on_whisper.v1 import (
    enhanced_speech_to_text_built_on_whisper_pb2_grpc as pb_grpc,
)

PHONEXIA = "/api/technology/speech-to-text-whisper-enhanced"
FACES = ("phonexia", "openai", "deepinfra")
"""The HTTP faces; :data:`ALL_FACES` adds the Phonexia gRPC face (``send(..., grpc_target=)``)."""
GRPC = "grpc"
ALL_FACES = (*FACES, GRPC)
CHUNK_BYTES = 32_000  # what the official Phonexia client sends per message
GRPC_SERVER_ERRORS = frozenset({"UNKNOWN", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNIMPLEMENTED"})
"""gRPC codes that count as the server's fault (like an HTTP 5xx); a refusal is never one."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``aural serve`` with ``tiny.en`` as its model and its data under ``root``."""

    def __init__(self, root: Path, env: Mapping[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.grpc_port = free_port()
        self.grpc_target = f"127.0.0.1:{self.grpc_port}"
        root.mkdir(parents=True, exist_ok=True)
        self.log_path = root / "server.log"
        full_env = {
            **os.environ,
            "AURAL_DATA_DIR": str(root / "data"),
            "AURAL_MODEL": "tiny.en",
            "AURAL_TASK_POLL_INTERVAL_S": "0.2",
            "AURAL_WEBHOOK_ALLOW_HOSTS": "",
            "AURAL_GRPC_PORT": str(self.grpc_port),  # the gRPC face, on its own free port
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
    """What a face answered: ``ok``, or the error code, and the HTTP status it came with (the
    gRPC status code's name, such as ``INVALID_ARGUMENT``, on the gRPC face)."""

    result: str
    status: int | str
    body: Any


def is_server_error(status: int | str) -> bool:
    """A 5xx, or a gRPC code that only a failing server sends."""
    return status in GRPC_SERVER_ERRORS if isinstance(status, str) else status >= 500


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
    grpc_target: str | None = None,
) -> Outcome:
    """Send ``data`` to ``face``; a Phonexia task is polled until it ends. The gRPC face
    (``grpc_target`` is its ``host:port``) gets the file as the official client sends it."""
    if face == GRPC:
        if grpc_target is None:
            raise ValueError("the gRPC face needs grpc_target")
        return call_grpc(grpc_target, file_requests(data), timeout_s)
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


def file_requests(
    data: bytes, config: pb.TranscribeConfig | None = None, chunk: int = CHUNK_BYTES
) -> list[pb.TranscribeRequest]:
    """``data`` as the official client streams a file: ``chunk``-byte pieces, the config and
    an empty time range in the first message only; no message at all for an empty file."""
    pieces = [data[start : start + chunk] for start in range(0, len(data), chunk)]
    return [
        pb.TranscribeRequest(
            audio=core_pb2.Audio(content=piece, time_range=core_pb2.TimeRange()),
            config=config or pb.TranscribeConfig(),
        )
        if index == 0
        else pb.TranscribeRequest(audio=core_pb2.Audio(content=piece))
        for index, piece in enumerate(pieces)
    ]


def call_grpc(target: str, requests: Iterable[Any], timeout_s: float = 300) -> Outcome:
    """One ``Transcribe`` call (``Translate`` for ``TranslateRequest``s) on the official stubs,
    each message sent as ``requests`` yields it, under a deadline: a hang shows up as
    ``DEADLINE_EXCEEDED``, result ``timeout``, unless the server sent it (then its
    ``aural-error-code`` trailer says why). A refusal's result is that trailer, aural's error
    code; its status is the gRPC code's name."""
    messages = iter(requests)
    first = next(messages, None)
    translate = isinstance(first, pb.TranslateRequest)
    stream = messages if first is None else itertools.chain([first], messages)
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.SpeechToTextStub(channel)
        call = (stub.Translate if translate else stub.Transcribe)(stream, timeout=timeout_s)
        responses: list[Any] = []
        with contextlib.suppress(grpc.RpcError):  # its code and details are read below
            responses.extend(call)
        code = call.code()
        trailers = dict(call.trailing_metadata() or ())
        body: dict[str, Any] = {"code": code.name, "details": call.details()}
        if code == grpc.StatusCode.OK:
            segments = [s for r in responses for s in r.result.one_best.segments]
            body |= {"responses": len(responses), "segments": len(segments)}
            last = responses[-1] if responses else None
            has_length = last is not None and last.HasField("processed_audio_length")
            every_result = all(r.result.HasField("one_best") for r in responses)
            return Outcome("ok" if has_length and every_result else "malformed", code.name, body)
    body["error_code"] = trailers.get("aural-error-code")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED and body["error_code"] is None:
        return Outcome("timeout", code.name, body)
    return Outcome(str(body["error_code"] or f"grpc:{code.name}"), code.name, body)
