"""The server's engine processes: the engine runs outside the API process.

A crash in native code (FFmpeg, CTranslate2, ONNX Runtime), a runaway allocation or a hang must
never cost the server, and must cost the other users' work nothing but time. So the embedded
executor (:mod:`aural.jobs.local`) runs its lanes in engine processes (``spawn``: a fresh
interpreter, no inherited threads or locks): by default one process, which loads the model once
and runs every lane's task on a thread of its own (:mod:`aural.jobs.engine_host`).

Each lane's supervisor (a thread of the API process) claims a task in the process's name
(``host:pid``, so restart recovery's pid check applies to it), sends its id over the lane's
pipe, and watches the process: its RSS against the memory ceiling, the task's wall time against
a limit derived from the audio's duration, and its exit. When the process reports the task
finished, the supervisor wakes waiting requests and tells the observers (metrics, webhooks: they
stay in the long-lived API process). When the process dies or is killed, the tasks that were in
it are charged or put back by the rules of :mod:`aural.jobs.engine_process`: only a task that
died alone, or overran its own time limit, pays an attempt, and it fails with ``task.crashed``
once it has killed ``max_attempts`` processes. The next claim starts a fresh process. Processes
die with the server (``PR_SET_PDEATHSIG``, and a parent watch as a fallback), so restart
recovery finds their tasks' pids gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

from aural.config import Settings, usable_cores
from aural.jobs.engine_process import Death, DeathObserver, EngineProcess, died
from aural.jobs.runner import INTERNAL_ERROR, TaskObserver, error_record
from aural.jobs.slots import FileSlots
from aural.jobs.store import FINAL_STATES, TaskRecord, TaskState, TaskStore
from aural.jobs.waiting import TaskEvents
from aural.model_pool import CallSlots

log = logging.getLogger(__name__)

CRASHED = "task.crashed"
_SAMPLE_S = 0.2  # how often a running process's RSS and a task's wall time are checked


@dataclass(frozen=True)
class WorkerLimits:
    """What one task may use in its worker process."""

    memory_bytes: int = 0  # RSS ceiling; 0: none
    time_base_s: float = 600.0
    time_per_audio_s: float = 2.0
    unknown_audio_s: float = 4 * 3600.0  # a header that announces no duration

    @classmethod
    def of(cls, settings: Settings) -> WorkerLimits:
        return cls(
            memory_bytes=settings.resolved_worker_memory_limit_bytes,
            time_base_s=settings.task_time_limit_s,
            time_per_audio_s=settings.task_time_per_audio_s,
            unknown_audio_s=settings.max_duration_s,
        )

    def time_limit(self, audio_s: float | None) -> float:
        """Wall time for a task of ``audio_s`` seconds of audio (duration x channels)."""
        audio = self.unknown_audio_s if audio_s is None else audio_s
        return self.time_base_s + self.time_per_audio_s * audio


def rss_bytes(pid: int) -> int:
    """Resident memory of process ``pid`` (0 when it cannot be read: gone, or not Linux)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def call_slots(settings: Settings) -> CallSlots:
    """The model-call slots the server's engine processes share: one per core's worth of
    threads per call, so N busy processes together use the cores once.

    Counted from the cores, not from a process's model workers: with one model worker per
    process (``AURAL_MODEL_WORKERS=1``) that count is 1, and two processes would take turns
    on one core while the other sat idle.
    """
    return FileSlots(
        settings.data_dir / "slots", max(1, usable_cores() // settings.resolved_cpu_threads)
    )


class ProcessLane:
    """One lane of an :class:`EngineProcess`: the supervision of the task it runs there (used
    by one executor thread)."""

    def __init__(
        self,
        engine: EngineProcess,
        slot: int,
        store: TaskStore,
        events: TaskEvents,
        observers: Sequence[TaskObserver] = (),
        *,
        limits: WorkerLimits | None = None,
        max_attempts: int = 3,
    ) -> None:
        self.engine = engine
        self.slot = slot  # which of the engine's pipes is this lane's
        self.store = store
        self.events = events
        self.observers = list(observers)
        self.limits = limits or WorkerLimits()
        self.max_attempts = max_attempts

    @property
    def ready(self) -> bool:
        return self.engine.ready

    @property
    def worker(self) -> str:
        return self.engine.worker

    def prepare(self, stopping: threading.Event) -> bool:
        return self.engine.prepare(stopping)

    def close(self, timeout_s: float) -> None:
        self.engine.close(timeout_s)

    def run(self, task: TaskRecord) -> None:
        """Have the engine process run ``task`` (claimed in its name) and supervise it."""
        admitted = self.engine.admit(
            task, self.slot, lambda: self.store.touch(task.id, task.attempts)
        )
        if admitted is None:  # the process it was claimed for is gone: not the task's fault
            self.store.requeue(task.id, attempt=task.attempts, refund=True)
            return
        generation, process, conn = admitted
        try:
            self._supervise(task, generation, process, conn)
        finally:
            self.engine.leave(task.id)

    def _supervise(
        self, task: TaskRecord, generation: int, process: BaseProcess, conn: Connection
    ) -> None:
        """Watch ``task`` to its end, or to its process's end."""
        started = time.monotonic()
        time_limit = self.limits.time_base_s  # until the process announces the audio's size
        reported = False  # the process said the task's row is final
        with contextlib.suppress(OSError):  # a process already gone is found below
            conn.send(task.id)
        while True:
            closed = False
            if conn in wait([conn, process.sentinel], timeout=_SAMPLE_S):
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    closed = True
                else:
                    if message[0] == "size":
                        time_limit = self.limits.time_limit(message[2])
                    elif message[0] == "finished":
                        reported = True
                        self._finished(message[1])
                    elif message[0] == "idle":
                        self.engine.suspects.discard(task.id)
                        return
                    continue
            if closed or not process.is_alive():
                death = self.engine.bury(generation, died(process), "died")
                self._settle(task, death, reported)
                return
            rss = rss_bytes(process.pid or 0)
            ceiling = self.engine.memory_bytes
            if ceiling and rss > ceiling:
                cause = (
                    f"its worker process used {rss // 2**20} MiB of memory, more than the "
                    f"limit of {ceiling // 2**20} MiB"
                )
                self._settle(task, self.engine.bury(generation, cause, "memory"), reported)
                return
            if time.monotonic() - started > time_limit:
                cause = f"it ran longer than its time limit of {time_limit:.0f} s"
                death = self.engine.bury(generation, cause, "time", culprit=task.id)
                self._settle(task, death, reported)
                return

    def _settle(self, task: TaskRecord, death: Death, reported: bool) -> None:
        """The process ``task`` ran in is dead: charge the task, or put it back uncharged.

        A task charged for a death runs alone from then on (it may kill the process again),
        and so does one that shared a process that died of an unknown cause.
        """
        suspects = self.engine.suspects
        if self.engine.closing:  # stopped by the server's shutdown: the task's fault it is not
            self.store.requeue(task.id, attempt=task.attempts, refund=True)
            return
        record = self.store.get(task.id)
        if (
            not reported
            and record is not None
            and record.state in FINAL_STATES
            and record.attempts == task.attempts
        ):
            self._finished(task.id)  # it died between storing the outcome and saying so
            suspects.discard(task.id)
            return
        if death.charges(task.id):
            if self._charge(task, death.cause, death.reason):
                suspects.add(task.id)
            else:
                suspects.discard(task.id)
            return
        if not self.store.requeue(task.id, attempt=task.attempts, refund=True):
            suspects.discard(task.id)
            return  # finished, deleted or taken over meanwhile
        others = len(death.present - {task.id})
        if death.culprit is not None:
            log.warning(
                "task %s requeued uncharged: task %s beside it overran its time limit",
                task.id,
                death.culprit,
            )
            return
        suspects.add(task.id)
        log.warning(
            "task %s requeued uncharged: %s while it ran beside %d other task(s); it runs "
            "alone next, so that a second death names its cause",
            task.id,
            death.cause,
            others,
        )

    def _finished(self, task_id: str) -> None:
        """The process stored a final state: wake waiters, then metrics and webhooks."""
        self.events.publish(task_id)
        record = self.store.get(task_id)
        if record is None or record.state not in FINAL_STATES:
            return
        for observer in self.observers:
            try:
                observer.task_finished(record)
            except Exception:
                log.exception("task observer %r failed", observer)

    def _charge(self, task: TaskRecord, cause: str, reason: str) -> bool:
        """The attempt died: requeue the task, or fail it after ``max_attempts`` deaths.
        True when it was requeued."""
        record = self.store.get(task.id)
        if record is None or record.state != TaskState.RUNNING or record.attempts != task.attempts:
            return False  # finished before the death, deleted, or already taken over
        if record.attempts < self.max_attempts:
            requeued = self.store.requeue(task.id, attempt=task.attempts)
            if requeued:
                log.warning(
                    "task %s requeued (attempt %d of %d): %s",
                    task.id,
                    task.attempts,
                    self.max_attempts,
                    cause,
                )
            return requeued
        message = (
            f"The transcription stopped because {cause}, on each of its {record.attempts} "
            "attempts; it is not run again. The media may be damaged or too demanding: "
            "check it, or send a shorter or converted file."
        )
        error = error_record(
            INTERNAL_ERROR, message, CRASHED, {"attempts": record.attempts, "reason": reason}
        )
        if self.store.finish(task.id, TaskState.FAILED, error=error, attempt=task.attempts):
            log.error("task %s failed: %s, %d attempts", task.id, cause, record.attempts)
            self._finished(task.id)
        return False


def engine_lanes(
    settings: Settings,
    store: TaskStore,
    events: TaskEvents,
    observers: Sequence[TaskObserver] = (),
    death_observers: Sequence[DeathObserver] = (),
    on_ready: Callable[[str | None], None] | None = None,
) -> list[ProcessLane]:
    """The server's lanes (``workers``), shared out over ``engine_processes`` processes.

    One process (the default) holds the model once for every lane: the threads' speed and
    memory, with the crash rules of :mod:`aural.jobs.engine_process`. More processes cost a
    copy of the model each and share the cores through :func:`call_slots`.
    """
    lanes = settings.resolved_workers
    count = max(1, min(settings.engine_processes, lanes))
    slots = call_slots(settings) if count > 1 else None
    limits = WorkerLimits.of(settings)
    result: list[ProcessLane] = []
    for index in range(count):
        served = len(range(index, lanes, count))
        engine = EngineProcess(
            index,
            settings,
            served,
            memory_bytes=limits.memory_bytes * served,
            death_observers=death_observers,
            on_ready=on_ready,
            slots=slots,
        )
        result.extend(
            ProcessLane(
                engine,
                slot,
                store,
                events,
                observers,
                limits=limits,
                max_attempts=settings.max_attempts,
            )
            for slot in range(served)
        )
    return result
