"""The embedded executor: lanes fed from the task store, each run by a thread of this process.

A lane runs one task at a time: in an engine process it shares with the other lanes
(:class:`ProcessLane`, the default: a crash or a hang costs that process, never the server, and
is charged only to the task that caused it), or on the lane's thread itself
(:class:`ThreadLane`, ``AURAL_ISOLATION=thread`` or an app given an embedding process's model
pool). Lanes claim pending tasks with the store's conditional update, so the store decides who runs
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
from collections.abc import Callable, Sequence
from typing import Protocol

from aural.jobs.executor import JobTimings
from aural.jobs.isolation import ProcessLane
from aural.jobs.leases import Chores, Heartbeat, Reaper, worker_name
from aural.jobs.runner import Runner
from aural.jobs.storage import MediaStorage
from aural.jobs.store import TaskRecord, TaskState, TaskStore

log = logging.getLogger(__name__)


class Lane(Protocol):
    """Where the tasks one executor thread claims are run, one at a time."""

    @property
    def worker(self) -> str:
        """The name stored in the rows of the tasks this lane runs."""

    def prepare(self, stopping: threading.Event) -> bool:
        """Get ready to run a task (load the model, start a process); False: not now."""

    def run(self, task: TaskRecord) -> None:
        """Run a task claimed in this lane's name to its end."""

    def close(self, timeout_s: float) -> None:
        """Release what the lane holds, giving a running task ``timeout_s``."""


class ThreadLane:
    """Runs tasks on the executor's thread itself, with the shared runner."""

    def __init__(
        self, runner: Runner, index: int, warm_up: Callable[[], None] | None = None
    ) -> None:
        self.runner = runner
        self.worker = worker_name(index)
        self.warm_up = warm_up
        self._warm = False

    def prepare(self, stopping: threading.Event) -> bool:
        if not self._warm and self.warm_up is not None:
            # Models are loaded by the long-lived threads that use them: CTranslate2 loaded
            # from a thread that then exits ran 10-50x slower whenever the cores were
            # contended (measured on 2 cores), so no throwaway loader thread is used.
            try:
                self.warm_up()
            except Exception:
                log.exception("warming up failed")
        self._warm = True
        return True

    def run(self, task: TaskRecord) -> None:
        self.runner.run(task)

    def close(self, timeout_s: float) -> None:
        """Nothing to release: the thread's join gives the task its time."""


class LocalExecutor:
    """Lanes with a thread each, the heartbeat of in-process tasks, and housekeeping."""

    def __init__(
        self,
        store: TaskStore,
        storage: MediaStorage,
        runner: Runner | None = None,
        *,
        workers: int = 1,
        workers_per_model: int = 1,
        timings: JobTimings | None = None,
        warm_up: Callable[[], None] | None = None,
        lanes: Sequence[Lane] | None = None,
    ) -> None:
        """Threads on ``runner`` (``workers`` lanes of :class:`ThreadLane`), or ``lanes``."""
        self.store = store
        self.storage = storage
        self.runner = runner
        self.workers_per_model = workers_per_model
        self.timings = timings or JobTimings()
        self.warm_up = warm_up
        if lanes is None:
            if runner is None:
                raise ValueError("a LocalExecutor needs a runner or lanes")
            lanes = [ThreadLane(runner, i, self._warm_up) for i in range(workers)]
        self.lanes = list(lanes)
        self.workers = len(self.lanes)
        self._wake = threading.Condition()
        self._signals = 0
        self._stopping = threading.Event()
        self._claim_lock = threading.Lock()
        self._running: Counter[str] = Counter()
        self._threads: list[threading.Thread] = []
        # Worker processes mark their own tasks alive; threads share this heartbeat.
        self._heartbeat = (
            Heartbeat(runner, self.timings.heartbeat_interval_s) if runner is not None else None
        )
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
        for index, lane in enumerate(self.lanes):
            thread = threading.Thread(
                target=self._work, args=(lane,), name=f"aural-worker-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        if self.lanes and self._heartbeat is not None:
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
        for lane in self.lanes:
            lane.close(timeout_s)
        if self._heartbeat is not None:
            self._heartbeat.stop()

    def model_ready(self) -> bool:
        """Whether a lane can transcribe now (a worker process has loaded the model)."""
        return any(getattr(lane, "ready", True) for lane in self.lanes)

    @property
    def isolated(self) -> bool:
        """Whether tasks run in worker processes."""
        return any(isinstance(lane, ProcessLane) for lane in self.lanes)

    def busy_lanes(self) -> int:
        """Lanes running a task now: claimed, and not yet back (a lane of an engine process
        is back once the process said it is idle, or died)."""
        with self._claim_lock:
            return sum(self._running.values())

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

    def _warm_up(self) -> None:
        if self.warm_up is not None:
            self.warm_up()

    def _work(self, lane: Lane) -> None:
        while not self._stopping.is_set():
            try:
                ready = lane.prepare(self._stopping)
            except Exception:
                log.exception("preparing a worker failed")
                ready = False
            if not ready:
                self._stopping.wait(self.timings.poll_interval_s)
                continue
            with self._wake:
                seen = self._signals
            try:
                task = self._claim(lane.worker)
            except Exception:
                log.exception("claiming a task failed")
                task = None
            if task is None:
                with self._wake:
                    if self._signals == seen and not self._stopping.is_set():
                        self._wake.wait(self.timings.poll_interval_s)
                continue
            try:
                lane.run(task)
            except Exception:
                log.exception("running task %s failed outside the runner", task.id)
            finally:
                self._release(task.model)
                self.submit(task.id)  # a model slot freed up: let others look again
