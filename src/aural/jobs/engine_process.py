"""One of the server's engine processes, seen from the API process: its life and its deaths.

An :class:`EngineProcess` is shared by the lanes (:class:`~aural.jobs.isolation.ProcessLane`)
it serves: the model is loaded once, and every lane's tasks run in it side by side. Sharing
costs one thing: a native crash takes down every task in the process, not only the one that
caused it. So a death is judged by who was there (:class:`Death`):

- a task that was alone in the process when it died, or whose own time limit had the process
  killed, is charged an attempt (the supervisor fails it after ``max_attempts``);
- a task that ran beside others when the process died of an unknown cause is requeued
  uncharged and becomes a *suspect*: it runs alone next time, so a second death names it;
- a task killed because another overran its time limit is requeued uncharged, no suspect.

A suspect waits for the process to drain and runs with no one beside it; meanwhile the lanes
claim nothing new (:meth:`prepare` says not now), so it cannot be starved.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from aural.config import Settings
from aural.jobs.engine_host import engine_main
from aural.jobs.store import TaskRecord
from aural.model_pool import CallSlots

log = logging.getLogger(__name__)

_READY_TIMEOUT_S = 900.0  # the first start may assemble the model
_ADMIT_POLL_S = 0.2


class DeathObserver(Protocol):
    """Told of every engine process that died or was killed (metrics)."""

    def worker_died(self, reason: str) -> Any: ...


@dataclass(frozen=True)
class Death:
    """How one engine process ended, and who was in it."""

    cause: str  # said to the user of a charged task: "its worker process died (signal ...)"
    reason: str  # for metrics: died, memory, time, start
    present: frozenset[str]  # the tasks running in it at that moment
    culprit: str | None = None  # the task known to have brought it down (its time limit)

    def charges(self, task_id: str) -> bool:
        """Whether ``task_id`` pays an attempt for this death."""
        if self.culprit is not None:
            return self.culprit == task_id
        return self.present <= {task_id}


class EngineProcess:
    """A spawned engine process serving ``lanes`` lanes, one pipe each; used by their threads."""

    def __init__(
        self,
        index: int,
        settings: Settings,
        lanes: int,
        *,
        memory_bytes: int = 0,
        death_observers: Sequence[DeathObserver] = (),
        on_ready: Callable[[str | None], None] | None = None,
        slots: CallSlots | None = None,
    ) -> None:
        self.index = index
        self.lanes = lanes
        # Runs ``lanes`` tasks at once; the executor's claims enforce the per-model bound.
        self.settings = settings.model_copy(
            update={"workers": lanes, "workers_per_model": lanes, "auto_migrate": False}
        )
        self.memory_bytes = memory_bytes  # the whole process's RSS ceiling; 0: none
        self.death_observers = list(death_observers)
        self.on_ready = on_ready
        self.slots = slots  # shared with the server's other engine processes, if any
        self.suspects: set[str] = set()  # tasks that must run alone (see the module)
        self.closing = False
        self._state = threading.Condition()
        self._start = threading.Lock()  # one lane starts the process; the others wait for it
        self._process: BaseProcess | None = None
        self._conns: list[Connection] = []
        self._ready = False
        self._generation = 0
        self._deaths: dict[int, Death] = {}
        self._present: set[str] = set()
        self._alone: str | None = None  # the suspect running alone now
        self._waiting_alone = 0  # suspects waiting for the process to drain
        self._failures = 0  # consecutive starts that failed, for the back-off

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None else None

    @property
    def worker(self) -> str:
        """The name the process's task rows carry: ``host:pid``, as the process's own."""
        return f"{socket.gethostname()}:{self.pid}"

    def prepare(self, stopping: threading.Event) -> bool:
        """Whether a lane may claim a task now: the process is ready and no suspect is waiting
        to run alone. Starts the process (again) when it is not running."""
        with self._start:
            if self.closing:  # the server is stopping: no new process, no new claims
                return False
            process = self._process
            if process is not None and process.is_alive():
                with self._state:
                    return self._ready and self._alone is None and not self._waiting_alone
            if process is not None:  # died with no lane watching: while idle, or just now
                self.bury(self._generation, died(process), "died")
            with self._state:
                if self._present:  # the lanes of the dead process have not settled yet
                    return False
            if self._failures and stopping.wait(min(30.0, 2.0**self._failures)):
                return False
            return self._spawn(stopping)

    def _spawn(self, stopping: threading.Event) -> bool:
        context = multiprocessing.get_context("spawn")
        for old in self._conns:  # every lane of the last process has settled (see prepare)
            old.close()
        pipes = [context.Pipe() for _ in range(self.lanes)]
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
        process = context.Process(
            target=engine_main,
            args=(self.settings, [child for _, child in pipes], os.getpid(), level, self.slots),
            name=f"aural-engine-{self.index}",
            daemon=True,
        )
        process.start()
        for _, child in pipes:
            child.close()
        with self._state:
            self._process, self._conns, self._ready = process, [p for p, _ in pipes], False
            self._generation += 1
            generation = self._generation
        first = self._conns[0]
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while not stopping.is_set() and time.monotonic() < deadline:
            if not wait([first, process.sentinel], timeout=_ADMIT_POLL_S):
                continue
            try:
                kind, error = first.recv()
            except (EOFError, OSError):
                break
            if kind == "ready":
                with self._state:
                    self._ready, self._failures = True, 0
                    self._state.notify_all()
                if self.on_ready is not None:
                    self.on_ready(error)
                return True
        self._failures += 1
        self.bury(generation, "it did not start", "start")
        return False

    def admit(
        self, task: TaskRecord, lane: int, keep_alive: Callable[[], Any]
    ) -> tuple[int, BaseProcess, Connection] | None:
        """Let ``task`` (claimed in this process's name) in, alone if it is a suspect; returns
        its generation, the process and the lane's pipe, or ``None`` when the process it was
        claimed for is gone (the caller puts the task back, uncharged).

        ``keep_alive`` marks the claimed task alive while it waits, so no reaper takes it.
        """
        alone = task.id in self.suspects
        touched = time.monotonic()
        with self._state:
            if alone:
                self._waiting_alone += 1
            try:
                while True:
                    if self.closing or self._process is None or task.worker != self.worker:
                        return None
                    if alone and self._alone is None and not self._present:
                        self._alone = task.id
                        log.warning("task %s runs alone: a suspect of an earlier death", task.id)
                        break
                    if not alone and self._alone is None and not self._waiting_alone:
                        break
                    self._state.wait(_ADMIT_POLL_S)
                    if time.monotonic() - touched > 5.0:
                        keep_alive()
                        touched = time.monotonic()
            finally:
                if alone:
                    self._waiting_alone -= 1
            self._present.add(task.id)
            return self._generation, self._process, self._conns[lane]

    def leave(self, task_id: str) -> None:
        """``task_id`` no longer runs here (finished, or settled after a death)."""
        with self._state:
            self._present.discard(task_id)
            if self._alone == task_id:
                self._alone = None
            self._state.notify_all()

    def bury(self, generation: int, cause: str, reason: str, culprit: str | None = None) -> Death:
        """End process ``generation`` (killing it if it still runs) and count its death once;
        every lane that ran a task in it gets the same :class:`Death` to settle by."""
        with self._state:
            if generation in self._deaths:
                return self._deaths[generation]
            death = Death(cause, reason, frozenset(self._present), culprit)
            self._deaths = {generation: death}  # lanes of older processes have all settled
            process = self._process if generation == self._generation else None
            if process is not None:
                self._process, self._ready = None, False
            self._state.notify_all()
        if process is None:
            return death
        if process.is_alive():
            process.kill()
        process.join(5)
        log.warning("worker process %s is gone: %s", process.pid, cause)
        for observer in self.death_observers:
            try:
                observer.worker_died(reason)
            except Exception:
                log.exception("death observer %r failed", observer)
        return death

    def close(self, timeout_s: float) -> None:
        """Ask the process to stop; kill it if it has not after ``timeout_s`` (once)."""
        self.closing = True
        with self._state:
            process, conns = self._process, self._conns
            self._process, self._conns, self._ready = None, [], False
            self._state.notify_all()
        if process is None:
            return
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.send(None)
        process.join(timeout_s)
        if process.is_alive():
            process.kill()
            process.join(5)
        for conn in conns:
            conn.close()


def died(process: BaseProcess) -> str:
    """What happened to ``process``, for the user and the log."""
    process.join(5)  # the pipes close as the process exits; its exit code follows
    return f"its worker process died ({describe_exit(process.exitcode)})"


def describe_exit(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"
