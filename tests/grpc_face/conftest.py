"""A real ``aural serve`` on loopback with its gRPC face on a free port, one per test module."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

AURAL = Path(sys.executable).with_name("aural")
CLIENT = Path(sys.executable).with_name("enhanced_speech_to_text_built_on_whisper_client")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str  # HTTP
    target: str  # gRPC host:port
    data_dir: Path
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def aural_serve(root: Path, cache_dir: Path, **env_extra: str) -> Iterator[Server]:
    """``aural serve`` with HTTP and gRPC on free loopback ports; stopped with SIGTERM."""
    port, grpc_port = free_port(), free_port()
    data = root / "data"
    env = {
        **os.environ,
        "AURAL_DATA_DIR": str(data),
        "AURAL_CACHE_DIR": str(cache_dir),
        "AURAL_TASK_POLL_INTERVAL_S": "0.2",
        **env_extra,
    }
    log = root / "serve.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(AURAL), "serve", "--port", str(port), "--grpc-port", str(grpc_port)],
            env=env,
            stdout=out,
            stderr=out,
        )
    server = Server(process, f"http://127.0.0.1:{port}", f"127.0.0.1:{grpc_port}", data, log)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, server.text()
            try:
                if httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "aural serve did not become ready"
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
