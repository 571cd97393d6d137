"""The embedded executor: worker threads in this process, fed from the task store.

Workers claim pending tasks with the store's conditional update, so the store decides who runs
what; a wake-up on submit only saves the poll delay. At most ``workers`` transcriptions run at
once, and at most ``workers_per_model`` of one model (by default one at a time: requests queue
instead of fighting over the cores). Running tasks are marked alive (see :mod:`aural.jobs.leases`).
On start, tasks left ``running`` by a dead process of this host go back to ``pending`` at once,
those of other hosts once their lease runs out; finished tasks are never touched.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable

from aural.jobs.executor import JobTimings
from aural.jobs.leases import Chores, Heartbeat, Reaper, worker_name
from aural.jobs.runner import Runner
from aural.jobs.storage import MediaStorage
from aural.jobs.store import TaskRecord, TaskState, TaskStore

log = logging.getLogger(__name__)


class LocalExecutor:
    """A pool of worker threads, their heartbeat, and housekeeping (purge, reaper)."""

    def __init__(
        self,
        store: TaskStore,
        storage: MediaStorage,
        runner: Runner,
        *,
        workers: int = 1,
        workers_per_model: int = 1,
        timings: JobTimings | None = None,
        warm_up: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.storage = storage
        self.runner = runner
        self.workers = workers
        self.workers_per_model = workers_per_model
        self.timings = timings or JobTimings()
        self.warm_up = warm_up
        self._wake = threading.Condition()
        self._signals = 0
        self._stopping = threading.Event()
        self._claim_lock = threading.Lock()
        self._running: Counter[str] = Counter()
        self._threads: list[threading.Thread] = []
        self._heartbeat = Heartbeat(runner, self.timings.heartbeat_interval_s)
        self._reaper = Reaper(store, self.timings.lease_s, self.submit, self.timings.max_attempts)
        self._chores = Chores()

    def recover(self) -> int:
        """Put tasks left ``running`` by dead processes back to ``pending``."""
        requeued = self._reaper.requeue_dead_here() + self._reaper.requeue_stale()
        if requeued:
            log.warning("requeued %d task(s) left running by a previous process", len(requeued))
        return len(requeued)

    def start(self) -> None:
        self.recover()
        grace = self.timings.orphan_grace_s
        removed = self.storage.sweep_orphans(min_age_s=grace)
        if removed:
            log.info("removed %d orphaned media file(s)", removed)
        self.storage.purge_expired(self.timings.retention_s)
        for index in range(self.workers):
            thread = threading.Thread(
                target=self._work, args=(worker_name(index),), name=f"aural-worker-{index}",
                daemon=True,
            )  # fmt: skip
            thread.start()
            self._threads.append(thread)
        if self.workers:
            self._heartbeat.start()
        self._chores.keep_storage(self.storage, self.timings)
        self._chores.every(
            self.timings.reaper_interval_s,
            "requeueing abandoned tasks",
            self._reaper.requeue_stale,
        )
        self._chores.start()

    def submit(self, task_id: str) -> None:
        """A task was stored: wake an idle worker now instead of at the next poll."""
        with self._wake:
            self._signals += 1
            self._wake.notify_all()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop claiming; wait up to ``timeout_s`` for running transcriptions.

        A transcription still running after that is abandoned with the process; its task is
        still ``running`` in the store and goes back to ``pending`` on the next start (or, on
        another node, once its lease runs out).
        """
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        self._chores.stop()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads.clear()
        self._heartbeat.stop()

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
                        self._wake.wait(self.timings.poll_interval_s)
                continue
            try:
                self.runner.run(task)
            except Exception:
                log.exception("running task %s failed outside the runner", task.id)
            finally:
                self._release(task.model)
                self.submit(task.id)  # a model slot freed up: let others look again
