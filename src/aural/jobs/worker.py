"""``aural worker``: a Celery worker whose processes each load the model once and run tasks
through the same :class:`~aural.jobs.runner.Runner` as the embedded mode.

Celery's prefork pool runs each task in the main thread of a child process; the child builds
its :class:`WorkerProcess` (store, model, heartbeat) when it starts, on that same thread, so the
model is loaded by the thread that uses it (CTranslate2 loaded on a thread that then exits runs
many times slower under contention). A message only names a task; the child runs it if it wins
the row's claim, and skips it otherwise (finished, deleted, or running elsewhere).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_process_init, worker_process_shutdown
from sqlalchemy.exc import DBAPIError

from aural.config import Settings, usable_cores
from aural.jobs.context import configure_logging
from aural.jobs.distributed import TASK_NAME, make_celery
from aural.jobs.leases import Heartbeat, worker_name
from aural.jobs.notify import RedisTaskNotifier, channel_of, supports_notifications
from aural.jobs.runner import Runner, TaskObserver, TaskPublisher
from aural.jobs.storage import MediaStorage
from aural.jobs.store import TaskRecord, TaskState, TaskStore
from aural.jobs.waiting import TaskEvents
from aural.jobs.webhooks import TaskWebhooks, WebhookSender
from aural.jobs.worker_metrics import WorkerTaskMetrics, serve_metrics, use_multiprocess_dir
from aural.model_pool import CallSlots, ModelPool

log = logging.getLogger(__name__)


@dataclass
class WorkerProcess:
    """Everything one worker process runs tasks with."""

    settings: Settings
    store: TaskStore
    pool: ModelPool
    runner: Runner
    heartbeat: Heartbeat
    sender: WebhookSender | None
    notifier: RedisTaskNotifier | None

    @classmethod
    def start(
        cls,
        settings: Settings,
        events: TaskPublisher | None = None,
        send_webhooks: bool = True,
        load_model: bool = True,
        observers: Sequence[TaskObserver] = (),
        slots: CallSlots | None = None,
    ) -> WorkerProcess:
        """Connect to the store, load the default model and start marking tasks alive.

        ``events`` is told of every finished task (default: Redis announcements when the
        broker is Redis); ``send_webhooks`` is off in the server's own worker processes, whose
        supervisor sends them from the API process.
        """
        store = TaskStore(settings.resolved_store_url)
        if settings.auto_migrate:
            store.create_schema()
        storage = MediaStorage(
            settings.resolved_media_dir,
            store,
            settings.max_upload_bytes,
            settings.storage_quota_bytes,
        )
        sender: WebhookSender | None = None
        observers = list(observers)
        if send_webhooks:
            from aural.api.app import register_webhook_payloads  # the faces' webhook bodies

            sender = WebhookSender.of(settings)
            webhooks = TaskWebhooks(store, sender)
            register_webhook_payloads(webhooks)
            observers.append(webhooks)
        notifier = (
            RedisTaskNotifier(settings.broker_url, channel_of(settings.queue))
            if events is None and supports_notifications(settings.broker_url)
            else None
        )
        publisher = events or notifier or TaskEvents()
        runner = Runner(store, storage, ModelPool(settings, slots), publisher, observers)
        if load_model:
            runner.pool.get(settings.model)
        heartbeat = Heartbeat(runner, settings.heartbeat_interval_s)
        heartbeat.start()
        process = cls(settings, store, runner.pool, runner, heartbeat, sender, notifier)
        if load_model:
            process.log_ready()
        return process

    def log_ready(self) -> None:
        log.info(
            "worker process %s ready: model %s, %d x %d CPU threads",
            worker_name(),
            self.settings.model,
            self.settings.resolved_model_workers,
            self.settings.resolved_cpu_threads,
        )

    def run(self, task_id: str) -> str:
        """Run the task if this process wins its claim; returns what happened, for the log."""
        if not self.store.claim(task_id, worker_name()):
            record = self.store.get(task_id)
            state = record.state.value if record else "deleted"
            log.info("skipping task %s: it is %s", task_id, state)
            return f"skipped ({state})"
        record = self.store.get(task_id)
        if record is None:
            return "skipped (deleted)"
        finished = self.runner.run(record)
        return finished.state.value if finished else "dropped"

    def run_claimed(self, task_id: str) -> TaskRecord | None:
        """Run a task the supervisor claimed for this process (its row names this process)."""
        record = self.store.get(task_id)
        if record is None or record.state != TaskState.RUNNING or record.worker != worker_name():
            log.info("skipping task %s: it is no longer ours", task_id)
            return None
        return self.runner.run(record)

    def close(self) -> None:
        self.heartbeat.stop()
        if self.sender is not None:
            self.sender.close()
        if self.notifier is not None:
            self.notifier.close()
        self.store.close()


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
