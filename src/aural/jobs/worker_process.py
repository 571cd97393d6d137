"""What one worker process runs tasks with: the store, the model, the runner and a heartbeat.

Shared by ``aural worker``'s Celery children (:mod:`aural.jobs.worker`) and the server's own
engine processes (:mod:`aural.jobs.isolation`). Kept apart from the Celery app so the engine
processes, which take their tasks over a pipe, do not import Celery, kombu and redis (~13 MB
each).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aural.config import Settings
from aural.jobs.leases import Heartbeat, worker_name
from aural.jobs.runner import Runner, TaskObserver, TaskPublisher
from aural.jobs.storage import MediaStorage
from aural.jobs.store import TaskRecord, TaskState, TaskStore
from aural.jobs.waiting import TaskEvents
from aural.jobs.webhooks import TaskWebhooks, WebhookSender
from aural.model_pool import CallSlots, ModelPool

if TYPE_CHECKING:
    from aural.jobs.notify import RedisTaskNotifier

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
        notifier: RedisTaskNotifier | None = None
        if events is None:
            from aural.jobs.notify import RedisTaskNotifier, channel_of, supports_notifications

            if supports_notifications(settings.broker_url):
                notifier = RedisTaskNotifier(settings.broker_url, channel_of(settings.queue))
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
