"""A real ``aural serve`` process (with its worker processes) for the isolation and kill tests,
and a real webhook receiver on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from aural.config import Settings
from aural.jobs.store import FINAL_STATES, TaskRecord, TaskStore
from aural.jobs.webhooks import ATTEMPT_HEADER

AURAL = Path(sys.executable).with_name("aural")
PHONEXIA = "/api/technology/speech-to-text-whisper-enhanced"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def children_of(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def wait_until(
    condition: Callable[[], object],
    what: str,
    timeout_s: float = 180.0,
    log: Callable[[], str] | None = None,
) -> None:
    """Poll ``condition``; on timeout fail with ``what`` and the tail of ``log`` (the server's),
    which says what the server did meanwhile."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            tail = "\n".join(log().splitlines()[-40:]) if log is not None else ""
            pytest.fail(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.02)


@dataclass
class Served:
    """One ``aural serve`` process of a data directory."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path
    store: TaskStore

    def worker_pids(self) -> list[int]:
        """The server's worker processes (its spawned children, not the resource tracker)."""
        pids = []
        for pid in children_of(self.process.pid):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in command:
                pids.append(pid)
        return pids

    def ready_workers(self) -> list[int]:
        """The worker processes that have loaded their model (said so in the log)."""
        text = self.text()
        return [pid for pid in self.worker_pids() if f":{pid} ready: model" in text]

    def post(self, media: Path, **data: str) -> str:
        response = httpx.post(
            f"{self.url}{PHONEXIA}",
            files={"file": (media.name, media.read_bytes())},
            params=data,
            timeout=60,
        )
        assert response.status_code == 202, response.text
        return str(response.json()["task"]["task_id"])

    def running(self, task_id: str, attempt: int = 1) -> TaskRecord | None:
        """The task's row once its attempt ``attempt`` (or a later one) runs in a worker."""
        record = self.store.get(task_id)
        if record is not None and record.state.value == "running" and record.attempts >= attempt:
            return record
        return None

    def final(self, task_id: str, timeout_s: float = 180.0) -> TaskRecord:
        wait_until(
            lambda: (r := self.store.get(task_id)) is not None and r.state in FINAL_STATES,
            f"task {task_id} to finish",
            timeout_s,
        )
        record = self.store.get(task_id)
        assert record is not None
        return record

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=30).text

    def text(self) -> str:
        return self.log.read_text(errors="replace")


ServeFactory = Callable[..., Served]


@pytest.fixture
def aural_serve(tmp_path: Path, settings: Settings) -> Iterator[Callable[..., Served]]:
    """Start ``aural serve`` on a data directory (the same one on each call) with env overrides.

    The server is SIGTERMed at the end of the test unless it is already gone.
    """
    started: list[Served] = []
    data = tmp_path / "data"
    stores: list[TaskStore] = []

    def start(**env_overrides: str) -> Served:
        port = free_port()
        env = {
            **os.environ,
            "AURAL_DATA_DIR": str(data),
            "AURAL_CACHE_DIR": str(settings.cache_dir),
            "AURAL_MODEL": "tiny.en",
            "AURAL_TASK_POLL_INTERVAL_S": "0.2",
            **env_overrides,
        }
        log = tmp_path / "serve.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [str(AURAL), "serve", "--port", str(port)], env=env, stdout=out, stderr=out
            )
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert process.poll() is None, log.read_text(errors="replace")
            try:
                return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, "aural serve to become ready", 180)
        if not stores:
            stores.append(TaskStore(f"sqlite:///{data / 'aural.db'}"))
        served = Served(process, url, log, stores[0])
        started.append(served)
        return served

    yield start
    for served in started:
        if served.process.poll() is None:
            served.process.send_signal(signal.SIGTERM)
            try:
                served.process.wait(60)
            except subprocess.TimeoutExpired:
                served.process.kill()
    for store in stores:
        store.close()


Received = dict[str, list[tuple[str, bytes]]]
"""Per task id (``X-Aural-Task-Id``), each delivery's attempt number and body, in order."""


@pytest.fixture
def hooks() -> Iterator[tuple[str, Received]]:
    """A real webhook receiver that answers 200: its URL and what it received."""
    received: Received = defaultdict(list)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            attempt = self.headers.get(ATTEMPT_HEADER, "?")
            with lock:
                received[self.headers.get("X-Aural-Task-Id", "?")].append((attempt, body))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", received
    httpd.shutdown()
    httpd.server_close()
