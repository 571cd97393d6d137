"""The embedded executor: worker threads in this process, fed from the task store.

Workers claim pending tasks with the store's conditional update, so the store decides who runs
what; a wake-up on submit only saves the poll delay. At most ``workers`` transcriptions run at
once, and at most ``workers_per_model`` of one model (by default one at a time: requests queue
instead of fighting over the cores). On start, tasks a dead process left ``running`` go back to
``pending`` and are run again; finished tasks are never touched.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import Counter
from collections.abc import Callable

from aural.jobs.runner import Runner
from aural.jobs.storage import MediaStorage
from aural.jobs.store import TaskRecord, TaskState, TaskStore

log = logging.getLogger(__name__)


class LocalExecutor:
    """A pool of worker threads plus a janitor that purges expired results."""

    def __init__(
        self,
        store: TaskStore,
        storage: MediaStorage,
        runner: Runner,
        *,
        workers: int = 1,
        workers_per_model: int = 1,
        poll_interval_s: float = 0.5,
        retention_s: float = 7 * 24 * 3600.0,
        purge_interval_s: float = 300.0,
        warm_up: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.storage = storage
        self.runner = runner
        self.workers = workers
        self.workers_per_model = workers_per_model
        self.poll_interval_s = poll_interval_s
        self.retention_s = retention_s
        self.purge_interval_s = purge_interval_s
        self.warm_up = warm_up
        self._name = f"{socket.gethostname()}:{os.getpid()}"
        self._wake = threading.Condition()
        self._signals = 0
        self._stopping = threading.Event()
        self._claim_lock = threading.Lock()
        self._running: Counter[str] = Counter()
        self._threads: list[threading.Thread] = []

    def recover(self) -> int:
        """Put tasks left ``running`` by a previous process back to ``pending``."""
        requeued = sum(1 for task_id in self.store.running_ids() if self.store.requeue(task_id))
        if requeued:
            log.warning("requeued %d task(s) left running by a previous process", requeued)
        return requeued

    def start(self) -> None:
        self.recover()
        removed = self.storage.sweep_orphans()
        if removed:
            log.info("removed %d orphaned media file(s)", removed)
        self.storage.purge_expired(self.retention_s)
        for index in range(self.workers):
            thread = threading.Thread(
                target=self._work, args=(f"{self._name}:{index}",), name=f"aural-worker-{index}",
                daemon=True,
            )  # fmt: skip
            thread.start()
            self._threads.append(thread)
        janitor = threading.Thread(target=self._janitor, name="aural-janitor", daemon=True)
        janitor.start()
        self._threads.append(janitor)

    def submit(self, task_id: str) -> None:
        """A task was stored: wake an idle worker now instead of at the next poll."""
        with self._wake:
            self._signals += 1
            self._wake.notify_all()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop claiming; wait up to ``timeout_s`` for running transcriptions.

        A transcription still running after that is abandoned with the process; its task is
        still ``running`` in the store and goes back to ``pending`` on the next start.
        """
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads.clear()

    def queue_depth(self) -> int:
        return self.store.count_by_state()[TaskState.PENDING]

    def _claim(self, worker: str) -> TaskRecord | None:
        with self._claim_lock:
            busy = [m for m, n in self._running.items() if n >= self.workers_per_model]
            task = self.store.claim_next(worker, busy)
            if task is not None:
                self._running[task.model] += 1
            return task

    def _release(self, model: str) -> None:
        with self._claim_lock:
            self._running[model] -= 1
            if self._running[model] <= 0:
                del self._running[model]

    def _work(self, worker: str) -> None:
        if self.warm_up is not None:
            # Models are loaded by the long-lived worker threads that use them: CTranslate2
            # loaded from a thread that then exits ran 10-50x slower whenever the cores were
            # contended (measured on 2 cores), so no throwaway loader thread is used.
            try:
                self.warm_up()
            except Exception:
                log.exception("warming up failed")
        while not self._stopping.is_set():
            with self._wake:
                seen = self._signals
            try:
                task = self._claim(worker)
            except Exception:
                log.exception("claiming a task failed")
                task = None
            if task is None:
                with self._wake:
                    if self._signals == seen and not self._stopping.is_set():
                        self._wake.wait(self.poll_interval_s)
                continue
            try:
                self.runner.run(task)
            except Exception:
                log.exception("running task %s failed outside the runner", task.id)
            finally:
                self._release(task.model)
                self.submit(task.id)  # a model slot freed up: let others look again

    def _janitor(self) -> None:
        while not self._stopping.wait(self.purge_interval_s):
            try:
                self.storage.purge_expired(self.retention_s)
            except Exception:
                log.exception("purging expired tasks failed")
