"""Service fixtures: real uvicorn servers on loopback ports and a real webhook receiver."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import uvicorn

from aural.api.app import create_app
from aural.api.services import Services
from aural.config import Settings
from aural.jobs.store import TaskRecord, TaskState
from aural.model_pool import ModelPool

WEBHOOK_SECRET = "test-webhook-secret"


class LiveServer:
    """``create_app(settings)`` served by uvicorn in a thread, on a free loopback port."""

    def __init__(self, settings: Settings, pool: ModelPool) -> None:
        self.settings = settings
        self.app = create_app(settings, pool=pool)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, log_config=None, lifespan="on", timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                raise RuntimeError("the server thread died while starting")
            if self._server.started:
                try:
                    if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("the server did not become ready")

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=300, **kwargs)

    def wait_task(self, task_id: str, timeout_s: float = 300) -> TaskRecord:
        """Poll the store until the task is final (tests assert on the row itself)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            record = self.services.store.get(task_id)
            assert record is not None
            if record.state in (TaskState.DONE, TaskState.FAILED, TaskState.REJECTED):
                return record
            time.sleep(0.05)
        raise AssertionError(f"task {task_id} did not finish")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(60)
        self._socket.close()


ServerFactory = Callable[..., LiveServer]


@pytest.fixture(scope="module")
def serve(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings, pool: ModelPool
) -> Iterator[ServerFactory]:
    """Start servers with settings overrides; ``own_pool=True`` gives one its own model pool."""
    servers: list[LiveServer] = []

    def start(own_pool: bool = False, **overrides: Any) -> LiveServer:
        root = tmp_path_factory.mktemp("server")
        values: dict[str, Any] = {
            "data_dir": root / "data",
            "cache_dir": settings.cache_dir,
            "model": "tiny.en",
            "task_poll_interval_s": 0.2,
            "webhook_secret": WEBHOOK_SECRET,
            "webhook_backoff_s": 0.05,
            "webhook_allow_hosts": frozenset({"127.0.0.1"}),
        }
        values.update(overrides)
        server_settings = Settings(**values)
        server = LiveServer(server_settings, ModelPool(server_settings) if own_pool else pool)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def server(serve: ServerFactory) -> LiveServer:
    """A default server: tiny.en as the default model, auth off on loopback."""
    return serve()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server that records webhook POSTs and answers scripted statuses."""

    url: str
    statuses: list[int] = field(default_factory=list)  # answered in order, then 200
    received: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout_s: float = 120) -> list[Received]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout_s)
        assert len(self.received) >= count, f"{len(self.received)} of {count} webhooks arrived"
        return self.received


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            rec = state["receiver"]
            with rec.arrived:
                rec.received.append(Received(dict(self.headers.items()), body))
                status = rec.statuses.pop(0) if rec.statuses else 200
                rec.arrived.notify_all()
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["receiver"] = Receiver(url=f"http://127.0.0.1:{httpd.server_address[1]}/hook")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state["receiver"]
    httpd.shutdown()
    httpd.server_close()
