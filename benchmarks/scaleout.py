"""Scale-out benchmark: embedded ``aural serve`` vs API node + 1 or 2 ``aural worker`` processes.

``python -m benchmarks.scaleout [--tasks 16] [--sync 8] [--rounds 2] [--model base]``

Each round starts every deployment afresh, in an order rotated per round, and measures:

* **throughput**: ``--tasks`` copies of ``jfk.flac`` submitted at once to the Phonexia face;
  the wall time from the first submission until the last task is ``done``;
* **sync latency**: ``--sync`` sequential DeepInfra requests (``jfk.flac``) on an idle
  deployment; the client's wall time per request (queueing overhead = cluster - embedded).

The cluster uses the machine's PostgreSQL (a database created for the run) and Redis (a queue of
its own). Every process runs aural's default layout (model workers of one CPU thread each): two
workers get one core each, one worker (and the embedded server) every core;
``embedded`` runs one task at a time (``AURAL_WORKERS=1``, like one worker process),
``embedded-2-workers`` two (``AURAL_WORKERS=2``, the default on 2 cores).
Results: ``benchmarks/results/<date>-scaleout.md`` and ``.json``; medians over rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import redis
import sqlalchemy as sa

from aural.config import usable_cores
from benchmarks.machine import describe, slug

ROOT = Path(__file__).resolve().parents[1]
JFK = ROOT / "tests" / "data" / "jfk.flac"
AURAL = Path(sys.executable).with_name("aural")
POSTGRES_ADMIN_URL = os.environ.get(
    "AURAL_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("AURAL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PHONEXIA = "/api/technology/speech-to-text-whisper-enhanced"
DEPLOYMENTS = ("embedded", "embedded-2-workers", "cluster-1-worker", "cluster-2-workers")


def _log(message: str) -> None:
    print(f"[scaleout] {message}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(condition: Callable[[], bool], what: str, timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


@contextmanager
def _database() -> Iterator[str]:
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"aural_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


class Deployment:
    """Processes of one deployment under ``root``; stopped (all of them) on exit."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        self.processes: list[subprocess.Popen[bytes]] = []
        self.url = ""

    def spawn(self, name: str, args: list[str], extra: dict[str, str]) -> Path:
        log = self.root / f"{name}.log"
        env = {**self.env, "AURAL_DATA_DIR": str(self.root / name), **extra}
        with log.open("ab") as out:
            self.processes.append(
                subprocess.Popen(
                    [str(AURAL), *args], env=env, stdout=out, stderr=out, start_new_session=True
                )
            )
        return log

    def api(self) -> None:
        port = _free_port()
        self.spawn("api", ["serve", "--port", str(port)], {})
        self.url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(ready, "the API node")

    def worker(self, name: str, model_workers: int) -> None:
        log = self.spawn(name, ["worker"], {"AURAL_MODEL_WORKERS": str(model_workers)})
        _wait(lambda: "ready: model" in log.read_text(errors="replace"), name)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@contextmanager
def deployment(kind: str, model: str, work: Path) -> Iterator[Deployment]:
    root = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=work))
    env = {
        **os.environ,
        "AURAL_MODEL": model,
        "AURAL_MEDIA_DIR": str(root / "media"),
        "AURAL_TASK_POLL_INTERVAL_S": "0.5",  # the default: what users get
        "AURAL_MAX_ACTIVE_TASKS": "1000",
    }
    if kind.startswith("embedded"):
        # One task at a time (as one Celery worker process), or two (the default on 2 cores).
        tasks = "2" if kind == "embedded-2-workers" else "1"
        env.update(AURAL_WORKERS=tasks, AURAL_WORKERS_PER_MODEL=tasks)
        node = Deployment(root, env)
        try:
            node.api()
            yield node
        finally:
            node.stop()
        return
    queue = f"aural-bench-{uuid.uuid4().hex[:12]}"
    with _database() as url:
        env.update(
            AURAL_EXECUTOR="celery",
            AURAL_STORE_URL=url,
            AURAL_BROKER_URL=REDIS_URL,
            AURAL_QUEUE=queue,
        )
        node = Deployment(root, env)
        try:
            node.api()
            if kind == "cluster-1-worker":
                node.worker("worker-0", model_workers=usable_cores())
            else:
                node.worker("worker-0", model_workers=1)
                node.worker("worker-1", model_workers=1)
            yield node
        finally:
            node.stop()
            broker = redis.Redis.from_url(REDIS_URL)
            broker.delete(queue, f"_kombu.binding.{queue}")
            broker.close()


def throughput(url: str, tasks: int) -> float:
    """Seconds from the first submission until ``tasks`` jfk tasks are all done."""
    audio = JFK.read_bytes()
    with httpx.Client(base_url=url, timeout=300) as client:
        started = time.perf_counter()
        ids = [
            client.post(PHONEXIA, files={"file": ("jfk.flac", audio)}).json()["task"]["task_id"]
            for _ in range(tasks)
        ]
        pending = set(ids)
        while pending:
            for task_id in list(pending):
                state = client.get(f"{PHONEXIA}/{task_id}").json()["task"]["state"]
                if state == "done":
                    pending.discard(task_id)
                elif state in ("failed", "rejected"):
                    raise RuntimeError(f"task {task_id} {state}")
            time.sleep(0.05)
        return time.perf_counter() - started


def sync_latencies(url: str, model: str, requests: int) -> list[float]:
    audio = JFK.read_bytes()
    latencies = []
    with httpx.Client(base_url=url, timeout=300) as client:
        client.post(f"/v1/inference/openai/whisper-{model}", files={"audio": ("a.flac", audio)})
        for _ in range(requests):
            started = time.perf_counter()
            response = client.post(
                f"/v1/inference/openai/whisper-{model}", files={"audio": ("a.flac", audio)}
            )
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)
    return latencies


def run(args: argparse.Namespace) -> dict[str, Any]:
    samples: dict[str, dict[str, list[float]]] = {
        kind: {"throughput_s": [], "sync_s": []} for kind in DEPLOYMENTS
    }
    with tempfile.TemporaryDirectory(prefix="aural-scaleout-") as work:
        for round_index in range(args.rounds):
            shift = round_index % len(DEPLOYMENTS)
            order = DEPLOYMENTS[shift:] + DEPLOYMENTS[:shift]
            for kind in order:
                with deployment(kind, args.model, Path(work)) as node:
                    latencies = sync_latencies(node.url, args.model, args.sync)
                    seconds = throughput(node.url, args.tasks)
                samples[kind]["sync_s"] += latencies
                samples[kind]["throughput_s"].append(seconds)
                _log(
                    f"round {round_index + 1} {kind}: {args.tasks} tasks in {seconds:.2f} s, "
                    f"sync median {statistics.median(latencies):.3f} s"
                )
    summary = {
        kind: {
            "tasks_per_minute": 60 * args.tasks / statistics.median(values["throughput_s"]),
            "sync_median_s": statistics.median(values["sync_s"]),
            **values,
        }
        for kind, values in samples.items()
    }
    settings = {
        key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()
    }
    return {"args": settings, "machine": describe(), "results": summary}


def report(data: dict[str, Any]) -> str:
    results = data["results"]
    embedded, embedded_two, one, two = (results[kind] for kind in DEPLOYMENTS)
    args = data["args"]
    machine = data["machine"]
    scaling = two["tasks_per_minute"] / one["tasks_per_minute"]
    versus_embedded = one["tasks_per_minute"] / embedded["tasks_per_minute"]
    two_versus_embedded = two["tasks_per_minute"] / embedded_two["tasks_per_minute"]
    latency_ratio = one["sync_median_s"] / embedded["sync_median_s"]
    added_ms = 1000 * (one["sync_median_s"] - embedded["sync_median_s"])
    lines = [
        f"# Scale-out: embedded vs Celery workers ({date.today().isoformat()})",
        "",
        f"`python -m benchmarks.scaleout --tasks {args['tasks']} --sync {args['sync']} "
        f"--rounds {args['rounds']} --model {args['model']}` on {machine['cpu_model']} "
        f"({machine['usable_cores']} cores). Every deployment started afresh per round, in "
        "rotated order; medians over rounds.",
        "",
        "| ratio | value |",
        "| --- | --- |",
        f"| throughput, 2 workers / 1 worker | {scaling:.2f}x |",
        f"| throughput, 1 worker / embedded | {versus_embedded:.2f}x |",
        f"| throughput, 2 workers / embedded with 2 worker threads | {two_versus_embedded:.2f}x |",
        f"| sync latency, cluster (1 worker) / embedded | {latency_ratio:.3f} "
        f"({added_ms:+.0f} ms) |",
        "",
        "| deployment | tasks/min (jfk, 11 s) | sync request median | throughput runs (s) |",
        "| --- | --- | --- | --- |",
    ]
    for kind in DEPLOYMENTS:
        values = results[kind]
        runs = " ".join(f"{v:.2f}" for v in values["throughput_s"])
        per_minute = values["tasks_per_minute"]
        lines.append(f"| {kind} | {per_minute:.1f} | {values['sync_median_s']:.3f} s | {runs} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=16)
    parser.add_argument("--sync", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", default="base")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    data = run(args)
    stem = args.out / f"{date.today().isoformat()}-{slug(data['machine'])}-scaleout"
    args.out.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    stem.with_suffix(".md").write_text(report(data))
    print(report(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
