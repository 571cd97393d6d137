"""Prometheus metrics of ``aural worker``, in prometheus-client's multiprocess mode.

Celery's prefork pool runs tasks in child processes that come and go, so each process writes its
samples to files in ``PROMETHEUS_MULTIPROC_DIR`` and the main process serves the sum of all of
them (``MultiProcessCollector``) on ``AURAL_WORKER_METRICS_PORT``. Children count the tasks they
finish and their durations (a :class:`~aural.jobs.runner.TaskObserver`); the main process, which
reaps the children, counts those that died (:class:`TaskPool`). Counters of dead children stay in
their files, so nothing counted is lost when a child goes.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from billiard.pool import EX_OK, EX_RECYCLE  # type: ignore[import-untyped]
from billiard.pool import Pool as BlockingPool
from celery.concurrency.asynpool import AsynPool
from celery.concurrency.prefork import TaskPool as PreforkTaskPool
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server, values
from prometheus_client.multiprocess import MultiProcessCollector

from aural.jobs.store import TaskRecord, TaskState

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


def use_multiprocess_dir(path: Path | None = None) -> Path:
    """Point prometheus-client at a (cleaned) directory shared with the pool's children.

    Called in the main process before the pool forks. A directory of a previous run would add
    its counts to this one's, so its ``.db`` files are removed first.
    """
    chosen = path or Path(os.environ.get(MULTIPROC_ENV) or tempfile.mkdtemp(prefix="aural-prom-"))
    chosen.mkdir(parents=True, exist_ok=True)
    for stale in chosen.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(chosen)
    # prometheus-client picks the value class when it is imported: pick it again now.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    return chosen


def serve_metrics(port: int, address: str = "0.0.0.0") -> None:
    """Serve the sum over every process of this worker on ``http://address:port/metrics``."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, addr=address, registry=registry)
    log.info("worker metrics on port %d", port)


class _Instruments:
    """Created on first use, after :func:`use_multiprocess_dir` (in every process)."""

    def __init__(self) -> None:
        self.tasks = Counter(
            "aural_worker_tasks",
            "Tasks finished by the worker's processes, by model and final state.",
            ["model", "state"],
        )
        self.duration = Histogram(
            "aural_worker_task_duration_seconds",
            "Running time of the tasks finished by the worker's processes.",
            ["model", "state"],
            buckets=_DURATION_BUCKETS,
        )
        self.audio_seconds = Counter(
            "aural_worker_audio_seconds_processed", "Seconds of media transcribed.", ["model"]
        )
        self.deaths = Counter(
            "aural_worker_deaths",
            "Pool processes of the worker that died (a crash, an out-of-memory kill).",
        )


_instruments: list[_Instruments] = []


def instruments() -> _Instruments:
    if not _instruments:
        _instruments.append(_Instruments())
    return _instruments[0]


class WorkerTaskMetrics:
    """:class:`~aural.jobs.runner.TaskObserver` of a pool process: counts finished tasks."""

    def task_finished(self, record: TaskRecord) -> None:
        metrics = instruments()
        metrics.tasks.labels(record.model, record.state.value).inc()
        if record.runtime_s is not None:
            metrics.duration.labels(record.model, record.state.value).observe(record.runtime_s)
        if record.state == TaskState.DONE and record.audio_duration_s:
            metrics.audio_seconds.labels(record.model).inc(record.audio_duration_s)


def _count_deaths(exitcodes: list[Any] | None, shutdown: bool) -> None:
    if shutdown or not exitcodes:
        return
    died = [code for code in exitcodes if code not in (EX_OK, EX_RECYCLE)]
    if died:
        instruments().deaths.inc(len(died))


class _CountingAsynPool(AsynPool):  # type: ignore[misc]
    def _join_exited_workers(self, shutdown: bool = False) -> Any:
        exitcodes = super()._join_exited_workers(shutdown)
        _count_deaths(exitcodes, shutdown)
        return exitcodes


class _CountingBlockingPool(BlockingPool):  # type: ignore[misc]
    def _join_exited_workers(self, shutdown: bool = False) -> Any:
        exitcodes = super()._join_exited_workers(shutdown)
        _count_deaths(exitcodes, shutdown)
        return exitcodes


class TaskPool(PreforkTaskPool):  # type: ignore[misc]
    """Celery's prefork pool, counting the children it finds dead (``--pool`` takes its path)."""

    Pool = _CountingAsynPool
    BlockingPool = _CountingBlockingPool
