"""A real cluster on loopback: ``aural serve`` API nodes and ``aural worker`` processes sharing a
PostgreSQL store, a Redis broker (a queue of their own) and a media folder."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from aural.api.auth import create_key
from aural.config import Settings
from aural.jobs.store import FINAL_STATES, TaskRecord, TaskStore

REDIS_URL = "redis://127.0.0.1:6379/0"
AURAL = Path(sys.executable).with_name("aural")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: object, what: str, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@dataclass
class Node:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    url: str = ""
    grpc_target: str = ""  # host:port of the node's gRPC face

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Cluster:
    """Processes of one deployment; ``key`` authorises requests (auth is on: keys exist)."""

    root: Path
    env: dict[str, str]
    store: TaskStore
    key: str
    apis: list[Node] = field(default_factory=list)
    workers: list[Node] = field(default_factory=list)

    def _spawn(self, name: str, args: list[str], extra: dict[str, str]) -> Node:
        log = self.root / f"{name}.log"
        env = {**self.env, "AURAL_DATA_DIR": str(self.root / name), **extra}
        with log.open("ab") as out:
            # A session of its own: killing the group takes a worker's pool processes too.
            process = subprocess.Popen(
                [str(AURAL), *args], env=env, stdout=out, stderr=out, start_new_session=True
            )
        return Node(name, process, log)

    def start_api(self) -> Node:
        port, grpc_port = _free_port(), _free_port()
        args = ["serve", "--port", str(port), "--grpc-port", str(grpc_port)]
        node = self._spawn(f"api-{len(self.apis)}", args, {})
        node.url = f"http://127.0.0.1:{port}"
        node.grpc_target = f"127.0.0.1:{grpc_port}"

        def ready() -> bool:
            assert node.process.poll() is None, node.text()
            try:
                return httpx.get(f"{node.url}/readyz", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, f"{node.name} to be ready")
        self.apis.append(node)
        return node

    def start_worker(self) -> Node:
        port = _free_port()  # its Prometheus metrics
        name = f"worker-{len(self.workers)}"
        node = self._spawn(name, ["worker"], {"AURAL_WORKER_METRICS_PORT": str(port)})
        node.url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert node.process.poll() is None, node.text()
            return "ready: model" in node.text()

        wait_until(ready, f"{node.name} to load its model")
        self.workers.append(node)
        return node

    def worker_of(self, record: TaskRecord) -> Node:
        """The worker node whose pool process ran (or runs) ``record``."""
        pid = int((record.worker or "::").split(":")[1])
        for node in self.workers:
            if os.getpgid(pid) == node.process.pid:
                return node
        raise AssertionError(f"no worker runs {record.worker}")

    def client(self, index: int, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        return httpx.Client(base_url=self.apis[index].url, timeout=300, headers=headers)

    def wait_final(self, task_id: str, timeout_s: float = 300.0) -> TaskRecord:
        found: list[TaskRecord] = []

        def final() -> bool:
            record = self.store.get(task_id)
            if record is not None and record.state in FINAL_STATES:
                found.append(record)
            return bool(found)

        wait_until(final, f"task {task_id}", timeout_s)
        return found[0]

    def logs(self) -> str:
        return "".join(node.text() for node in self.apis + self.workers)

    def stop(self) -> None:
        for node in self.apis + self.workers:
            if node.process.poll() is None:
                os.killpg(node.process.pid, signal.SIGTERM)
        for node in self.apis + self.workers:
            try:
                node.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(node.process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings, postgres_module_url: str
) -> Iterator[Cluster]:
    """Two API nodes and two single-process workers (one CPU thread each), tiny.en."""
    root = tmp_path_factory.mktemp("cluster")
    queue = f"aural-test-{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "AURAL_EXECUTOR": "celery",
        "AURAL_STORE_URL": postgres_module_url,
        "AURAL_BROKER_URL": REDIS_URL,
        "AURAL_QUEUE": queue,
        "AURAL_RATE_LIMIT_STORAGE_URI": REDIS_URL,
        "AURAL_MEDIA_DIR": str(root / "media"),
        "AURAL_CACHE_DIR": str(settings.cache_dir),
        "AURAL_MODEL": "tiny.en",
        "AURAL_MODEL_WORKERS": "1",
        "AURAL_TASK_POLL_INTERVAL_S": "0.2",
        "AURAL_HEARTBEAT_INTERVAL_S": "0.5",
        "AURAL_TASK_LEASE_S": "3",
        "AURAL_REAPER_INTERVAL_S": "0.5",
    }
    store = TaskStore(postgres_module_url)
    store.create_schema()
    _, key = create_key(store, "cluster-tests")
    cluster = Cluster(root, env, store, key)
    try:
        for _ in range(2):
            cluster.start_api()
        for _ in range(2):
            cluster.start_worker()
        yield cluster
    finally:
        cluster.stop()
        store.close()
        broker = redis.Redis.from_url(REDIS_URL)
        broker.delete(queue, f"_kombu.binding.{queue}")
        broker.close()
