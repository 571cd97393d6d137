"""Task leases: workers mark their running tasks alive; a reaper requeues the abandoned ones.

A worker that dies mid-task (SIGKILL, OOM, a lost node) leaves its task ``running``. Its worker
marks every running task alive every ``heartbeat_interval_s`` (:class:`Heartbeat`); a task not
marked for ``task_lease_s`` goes back to ``pending`` and is dispatched again (:class:`Reaper`).
The requeue is conditional on the attempt number, so of several reapers (one per API node) only
one wins, and a late result of the abandoned attempt is refused by the store. On one host a
dead process is also recognised at once by its process id (restart recovery).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from aural.jobs.executor import JobTimings
from aural.jobs.runner import INTERNAL_ERROR, Runner, error_record
from aural.jobs.storage import MediaStorage
from aural.jobs.store import TaskRecord, TaskState, TaskStore
from aural.jobs.threads import DaemonLoop

log = logging.getLogger(__name__)


def worker_name(*suffix: object) -> str:
    """``host:pid[:suffix...]``: who runs a task, as stored in its row."""
    return ":".join([socket.gethostname(), str(os.getpid()), *map(str, suffix)])


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (a killed worker whose new parent
    has not reaped it yet still answers signal 0, but runs nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            state = stat.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):  # no procfs (or it just went): trust the signal
        return True
    return state not in ("Z", "X")


def died_on_this_host(worker: str | None, own_tasks_are_running: bool = True) -> bool:
    """Whether ``worker`` (``host:pid...``) was a process of this host that no longer exists.

    A row naming this very process counts as dead only when ``own_tasks_are_running`` is
    false (at start, before this process ran anything: a container restarted with the same
    host name and pid).
    """
    if not worker:
        return False
    host, _, rest = worker.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return not own_tasks_are_running
    return not _pid_alive(pid)


class Heartbeat(DaemonLoop):
    """A thread that marks the runner's running tasks alive every ``interval_s``."""

    def __init__(self, runner: Runner, interval_s: float) -> None:
        super().__init__("aural-heartbeat", self._run)
        self.runner = runner
        self.interval_s = interval_s

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval_s):
            try:
                self.runner.beat()
            except Exception:
                log.exception("marking running tasks alive failed")


class Reaper:
    """Puts abandoned running tasks back to pending and hands each to ``dispatch``."""

    def __init__(
        self,
        store: TaskStore,
        lease_s: float,
        dispatch: Callable[[str], None],
        max_attempts: int = 3,
    ) -> None:
        self.store = store
        self.lease_s = lease_s
        self.dispatch = dispatch
        self.max_attempts = max_attempts

    def _give_up(self, record: TaskRecord, why: str) -> None:
        """A task that took its worker down ``max_attempts`` times is not tried again."""
        error = error_record(
            INTERNAL_ERROR,
            f"The task was abandoned {record.attempts} times (its worker died); "
            "it is not run again.",
            "task.abandoned",
            {"attempts": record.attempts},
        )
        if self.store.finish(record.id, TaskState.FAILED, error=error, attempt=record.attempts):
            log.error("task %s failed: %s, %d attempts", record.id, why, record.attempts)

    def _requeue(self, records: list[TaskRecord], why: str) -> list[str]:
        requeued = []
        for record in records:
            if record.attempts >= self.max_attempts:
                self._give_up(record, why)
            elif self.store.requeue(record.id, attempt=record.attempts):
                log.warning("requeued task %s: %s (worker %s)", record.id, why, record.worker)
                requeued.append(record.id)
                self.dispatch(record.id)
        return requeued

    def requeue_stale(self, now: float | None = None) -> list[str]:
        """Running tasks whose worker has not marked them alive within the lease."""
        cutoff = (now if now is not None else time.time()) - self.lease_s
        return self._requeue(self.store.stale_running(cutoff), "its lease ran out")

    def requeue_dead_here(self) -> list[str]:
        """At start: running tasks of processes of this host that are gone (or this one)."""
        dead = [
            record
            for record in self.store.running()
            if died_on_this_host(record.worker, own_tasks_are_running=False)
        ]
        return self._requeue(dead, "its process is gone")


class Chores(DaemonLoop):
    """One daemon thread running periodic housekeeping (purging, reaping, re-sending)."""

    def __init__(self) -> None:
        super().__init__("aural-janitor", self._run)
        self._chores: list[tuple[str, float, Callable[[], object]]] = []

    def every(self, interval_s: float, name: str, chore: Callable[[], object]) -> None:
        self._chores.append((name, interval_s, chore))

    def keep_storage(self, storage: MediaStorage, timings: JobTimings) -> None:
        """Purge expired tasks and sweep orphaned media, every ``purge_interval_s``."""
        self.every(
            timings.purge_interval_s,
            "purging expired tasks",
            lambda: storage.purge_expired(timings.retention_s),
        )
        self.every(
            timings.purge_interval_s,
            "sweeping orphaned media",
            lambda: storage.sweep_orphans(min_age_s=timings.orphan_grace_s),
        )

    def _run(self, stop: threading.Event) -> None:
        due = {name: time.monotonic() + interval for name, interval, _ in self._chores}
        while self._chores:
            wait = max(0.0, min(due.values()) - time.monotonic())
            if stop.wait(wait):
                return
            now = time.monotonic()
            for name, interval, chore in self._chores:
                if due[name] > now:
                    continue
                due[name] = now + interval
                try:
                    chore()
                except Exception:
                    log.exception("%s failed", name)
