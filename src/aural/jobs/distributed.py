"""The scaled-out executor: API nodes send task ids through Celery to ``aural worker`` processes.

A message carries only the task id; the row in the shared store (PostgreSQL) is the truth. The
Celery settings are the ones long audio needs:

* ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged only after its
  task ran, and handed back if the process running it dies, so nothing is lost with a worker;
* ``worker_prefetch_multiplier = 1``: a busy worker holds no further messages that idle
  workers could run;
* the broker's ``visibility_timeout`` longer than the longest task: Redis would otherwise hand a
  still-running task's message to a second worker.

Redelivery can still happen (a lost worker, a reaped lease, an expired visibility timeout); a
worker runs a message only if it wins the row's ``pending -> running`` claim, so a finished
task or one running elsewhere is never run again.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Celery

from aural.config import Settings
from aural.jobs.executor import JobTimings
from aural.jobs.leases import Chores, Reaper
from aural.jobs.storage import MediaStorage
from aural.jobs.store import TaskState, TaskStore

log = logging.getLogger(__name__)

TASK_NAME = "aural.transcribe"
# A pending task never sent (the node died between storing and sending, or the broker was
# down) is sent by the reaper once it is this old.
UNSENT_GRACE_S = 30.0


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings for transcription tasks (see the module docstring for why)."""
    return {
        "broker_url": settings.broker_url,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": settings.broker_visibility_timeout_s,
        },
        "task_default_queue": settings.queue,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # A transcription still running when the broker would redeliver its message is stuck:
        # its process is ended (the reaper requeues the task, up to AURAL_MAX_ATTEMPTS).
        "task_time_limit": settings.broker_visibility_timeout_s,
        "worker_hijack_root_logger": False,
        # Loading a model takes seconds on a busy machine; Celery's default (4 s) would kill
        # the worker process while it loads.
        "worker_proc_alive_timeout": 600.0,
        "worker_send_task_events": False,
    }


def make_celery(settings: Settings) -> Celery:
    """A Celery app for ``settings`` (API nodes send with it, workers consume with it)."""
    app = Celery("aural", set_as_current=False)
    app.conf.update(celery_config(settings))
    return app


class CeleryExecutor:
    """Sends task ids to the queue; reaps abandoned tasks and re-sends lost messages."""

    def __init__(
        self,
        store: TaskStore,
        storage: MediaStorage,
        app: Celery,
        *,
        queue: str,
        timings: JobTimings,
        visibility_timeout_s: float,
    ) -> None:
        self.store = store
        self.storage = storage
        self.app = app
        self.queue = queue
        self.timings = timings
        self.visibility_timeout_s = visibility_timeout_s
        self._reaper = Reaper(store, timings.lease_s, self.submit, timings.max_attempts)
        self._chores = Chores()

    def start(self) -> None:
        timings = self.timings
        self._chores.every(
            timings.reaper_interval_s, "requeueing abandoned tasks", self._reaper.requeue_stale
        )
        self._chores.every(timings.reaper_interval_s, "re-sending lost tasks", self.resend_lost)
        self._chores.keep_storage(self.storage, timings)
        self._chores.start()

    def submit(self, task_id: str) -> None:
        """Send ``task_id`` to the queue; if the broker is down the reaper sends it later."""
        try:
            self.app.send_task(TASK_NAME, args=[task_id], queue=self.queue)
        except Exception as exc:
            log.error("could not queue task %s (%s); it is sent again later", task_id, exc)
            return
        self.store.mark_dispatched(task_id)

    def resend_lost(self) -> list[str]:
        """Send again the pending tasks whose message may have been lost."""
        now = time.time()
        lost = self.store.undispatched(now - UNSENT_GRACE_S, now - self.visibility_timeout_s)
        for task_id in lost:
            log.warning("re-sending task %s to the queue", task_id)
            self.submit(task_id)
        return lost

    def broker_reachable(self) -> bool:
        try:
            with self.app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
        except Exception:
            return False
        return True

    def stop(self, timeout_s: float = 10.0) -> None:
        self._chores.stop(timeout_s)

    def queue_depth(self) -> int:
        return self.store.count_by_state()[TaskState.PENDING]
