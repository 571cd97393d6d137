"""``aural worker``: a Celery worker whose processes each load the model once and run tasks
through the same :class:`~aural.jobs.runner.Runner` as the embedded mode.

Celery's prefork pool runs each task in the main thread of a child process; the child builds
its :class:`WorkerProcess` (store, model, heartbeat) when it starts, on that same thread, so the
model is loaded by the thread that uses it (CTranslate2 loaded on a thread that then exits runs
many times slower under contention). A message only names a task; the child runs it if it wins
the row's claim, and skips it otherwise (finished, deleted, or running elsewhere). What a child
runs tasks with, :class:`~aural.jobs.worker_process.WorkerProcess`, is shared with the server's
own engine processes, which need no Celery.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_process_init, worker_process_shutdown
from sqlalchemy.exc import DBAPIError

from aural.config import Settings, usable_cores
from aural.jobs.context import configure_logging
from aural.jobs.distributed import TASK_NAME, make_celery
from aural.jobs.worker_metrics import WorkerTaskMetrics, serve_metrics, use_multiprocess_dir
from aural.jobs.worker_process import WorkerProcess

log = logging.getLogger(__name__)


def per_process_settings(settings: Settings, concurrency: int) -> Settings:
    """Split the cores between the worker processes unless the model's workers are set."""
    if settings.model_workers:
        return settings
    per_process = max(1, usable_cores() // (concurrency * settings.resolved_cpu_threads))
    return settings.model_copy(update={"model_workers": per_process})


def build_worker_app(settings: Settings) -> Celery:
    """The Celery app of a worker: the transcription task and the process hooks."""
    app = make_celery(settings)
    processes: dict[str, WorkerProcess] = {}

    def process() -> WorkerProcess:
        if "current" not in processes:  # a pool without process hooks (solo, threads)
            observers = [WorkerTaskMetrics()] if settings.worker_metrics_port else []
            processes["current"] = WorkerProcess.start(settings, observers=observers)
        return processes["current"]

    def transcribe(task_id: str) -> str:
        return process().run(task_id)

    def on_process_init(**_: Any) -> None:
        process()

    def on_process_shutdown(**_: Any) -> None:
        current = processes.pop("current", None)
        if current is not None:
            current.close()

    # The store unreachable (PostgreSQL restarting): send the message again later instead of
    # acknowledging it, so the task is not left pending until the reaper re-sends it.
    app.task(
        name=TASK_NAME,
        autoretry_for=(DBAPIError,),
        retry_backoff=2,
        retry_backoff_max=60,
        max_retries=None,
    )(transcribe)
    worker_process_init.connect(on_process_init, weak=False)
    worker_process_shutdown.connect(on_process_shutdown, weak=False)
    return app


def run_worker(settings: Settings, concurrency: int, log_level: str = "info") -> None:
    """Run a Celery worker with ``concurrency`` processes until it is told to stop."""
    settings = per_process_settings(settings, concurrency)

    def keep_our_logging(**_: Any) -> None:
        configure_logging(log_level)

    setup_logging.connect(keep_our_logging, weak=False)
    configure_logging(log_level)
    if settings.worker_metrics_port:  # before the pool forks: its children inherit the dir
        use_multiprocess_dir()
        serve_metrics(settings.worker_metrics_port)
    app = build_worker_app(settings)
    app.conf.worker_pool = "aural.jobs.worker_metrics:TaskPool"  # prefork, counting dead children
    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency}",
            f"--queues={settings.queue}",
            f"--hostname=aural-{os.getpid()}@%h",
            f"--loglevel={log_level.upper()}",
            "--without-gossip",
            "--without-mingle",
        ]
    )
