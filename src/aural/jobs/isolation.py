"""The server's worker processes: the engine runs outside the API process.

A crash in native code (FFmpeg, CTranslate2, ONNX Runtime), a runaway allocation or a hang must
cost one worker process, never the server and the other users' work. So the embedded executor
(:mod:`aural.jobs.local`) gives each of its lanes a child process (``spawn``: a fresh
interpreter, no inherited threads or locks) that loads the model once and runs one task at a
time through :class:`~aural.jobs.worker_process.WorkerProcess`, the machinery of ``aural worker``.

The supervisor (one thread per lane in the API process) claims a task in the child's name
(``host:child-pid``, so restart recovery's pid check applies to it), sends its id over a pipe,
and watches the child: its RSS against the memory ceiling, the wall time against a limit
derived from the audio's duration, and its exit. When the child reports the task finished, the
supervisor wakes waiting requests and tells the observers (metrics, webhooks: they stay in the
long-lived API process). When the child dies or is killed, exactly the task it was running is
charged: requeued, or failed with ``task.crashed`` once it has killed ``max_attempts`` workers;
the next claim starts a fresh child. Children die with the server (``PR_SET_PDEATHSIG``, and a
parent watch as a fallback), so restart recovery finds their tasks' pids gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from aural.config import Settings, usable_cores
from aural.jobs.runner import INTERNAL_ERROR, TaskObserver, error_record
from aural.jobs.slots import FileSlots
from aural.jobs.store import FINAL_STATES, TaskRecord, TaskState, TaskStore
from aural.jobs.waiting import TaskEvents
from aural.model_pool import CallSlots

log = logging.getLogger(__name__)

CRASHED = "task.crashed"
_PR_SET_PDEATHSIG = 1
_SAMPLE_S = 0.2  # how often a running child's RSS and wall time are checked
_READY_TIMEOUT_S = 900.0  # the first start may assemble the model


class DeathObserver(Protocol):
    """Told of every worker process that died or was killed (metrics)."""

    def worker_died(self, reason: str) -> Any: ...


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


def _describe_exit(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


# --- the child ----------------------------------------------------------------------------


class _PipeEvents:
    """The child's :class:`~aural.jobs.runner.TaskPublisher`: tells the supervisor at once."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def publish(self, task_id: str) -> None:
        self.conn.send(("finished", task_id))


def _die_with_parent(parent_pid: int) -> None:
    """End this process as soon as the server is gone, so nothing runs on unsupervised."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    def watch() -> None:  # where prctl is missing, and for the race before it took effect
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=watch, name="aural-parent-watch", daemon=True).start()


def _audio_seconds(store: TaskStore, task_id: str) -> float | None:
    """Duration x channels the task's media announces (``None``: unknown or unreadable)."""
    import av

    from aural.audio import probe_duration

    record = store.get(task_id)
    if record is None or not record.media_path:
        return None
    try:
        with av.open(record.media_path) as container:
            stream = container.streams.audio[0]
            duration = probe_duration(container, stream)
            channels = stream.codec_context.channels or 1
    except Exception:  # the runner reports what is wrong with the media
        return None
    return None if duration is None else duration * max(1, channels)


def child_main(
    settings: Settings,
    conn: Connection,
    parent_pid: int,
    log_level: str,
    slots: CallSlots | None = None,
) -> None:
    """A worker process: load the model, then run the task ids the supervisor sends."""
    _die_with_parent(parent_pid)
    from aural.jobs.context import configure_logging
    from aural.jobs.worker_process import WorkerProcess

    configure_logging(log_level)
    process = WorkerProcess.start(
        settings, events=_PipeEvents(conn), send_webhooks=False, load_model=False, slots=slots
    )
    error = None
    try:
        process.pool.get(settings.model)
    except Exception as exc:  # reported by /readyz; tasks fail with the same error
        error = f"{type(exc).__name__}: {exc}"
        log.error("loading model %s failed: %s", settings.model, error)
    else:
        process.log_ready()
    conn.send(("ready", error))
    try:
        while True:
            try:
                task_id = conn.recv()
            except (EOFError, OSError):
                break
            if task_id is None:
                break
            conn.send(("size", task_id, _audio_seconds(process.store, task_id)))
            try:
                process.run_claimed(task_id)
            except Exception:
                log.exception("running task %s failed outside the runner", task_id)
            conn.send(("idle", task_id))
    finally:
        process.close()


# --- the supervisor ----------------------------------------------------------------------


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
    """One worker process and the supervision of the task it runs (used by one thread)."""

    def __init__(
        self,
        index: int,
        settings: Settings,
        store: TaskStore,
        events: TaskEvents,
        observers: Sequence[TaskObserver] = (),
        death_observers: Sequence[DeathObserver] = (),
        *,
        limits: WorkerLimits | None = None,
        max_attempts: int = 3,
        on_ready: Callable[[str | None], None] | None = None,
        slots: CallSlots | None = None,
    ) -> None:
        self.index = index
        self.slots = slots  # shared by the server's lanes: see model_pool.ModelPool
        # One task at a time per process: the model needs no slots for concurrent tasks.
        self.settings = settings.model_copy(
            update={"workers": 1, "workers_per_model": 1, "auto_migrate": False}
        )
        self.store = store
        self.events = events
        self.observers = list(observers)
        self.death_observers = list(death_observers)
        self.limits = limits or WorkerLimits()
        self.max_attempts = max_attempts
        self.on_ready = on_ready
        self.ready = False
        self._closing = False
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._failures = 0  # consecutive starts that failed, for the back-off
        self._running: str | None = None  # the task id the child runs now
        self._cancelled = threading.Event()  # ... was deleted: stop the child
        self._guard = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def worker(self) -> str:
        """The name the child's task rows carry: ``host:pid``, as the child's own."""
        return f"{socket.gethostname()}:{self.pid}"

    def prepare(self, stopping: threading.Event) -> bool:
        """Make sure a ready child runs; False when none could be started (yet)."""
        if self._process is not None and self._process.is_alive():
            return self.ready
        if self._process is not None:  # died while idle (killed from outside)
            self._reap("it died while idle", "died")
        if self._failures and stopping.wait(min(30.0, 2.0**self._failures)):
            return False
        return self._spawn(stopping)

    def _spawn(self, stopping: threading.Event) -> bool:
        context = multiprocessing.get_context("spawn")
        parent_conn, child_conn = context.Pipe()
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
        process = context.Process(
            target=child_main,
            args=(self.settings, child_conn, os.getpid(), level, self.slots),
            name=f"aural-engine-{self.index}",
            daemon=True,
        )
        process.start()
        child_conn.close()
        self._process, self._conn, self.ready = process, parent_conn, False
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while not stopping.is_set() and time.monotonic() < deadline:
            if not wait([parent_conn, process.sentinel], timeout=_SAMPLE_S):
                continue
            try:
                kind, error = parent_conn.recv()
            except (EOFError, OSError):
                break
            if kind == "ready":
                self.ready, self._failures = True, 0
                if self.on_ready is not None:
                    self.on_ready(error)
                return True
        self._failures += 1
        self._reap("it did not start", "start")
        return False

    def _reap(self, cause: str, reason: str, death: bool = True) -> None:
        """Forget the current child (killing it if still there) and count its death (unless
        it was stopped on purpose: ``death`` False)."""
        process, conn = self._process, self._conn
        self._process, self._conn, self.ready = None, None, False
        if process is None:
            return
        if process.is_alive():
            process.kill()
        process.join(5)
        if conn is not None:
            conn.close()
        if not death:
            log.info("worker process %s stopped: %s", process.pid, cause)
            return
        log.warning("worker process %s is gone: %s", process.pid, cause)
        for observer in self.death_observers:
            try:
                observer.worker_died(reason)
            except Exception:
                log.exception("death observer %r failed", observer)

    def cancel(self, task_id: str) -> None:
        """``task_id`` was deleted: if the child runs it, stop the child (the next task gets a
        fresh one) instead of letting it spend minutes on a result nobody will read."""
        with self._guard:
            if self._running == task_id:
                self._cancelled.set()

    def run(self, task: TaskRecord) -> None:
        """Have the child run ``task`` (claimed in its name) and supervise it to the end."""
        with self._guard:
            self._running = task.id
            self._cancelled.clear()
        try:
            self._supervise(task)
        finally:
            with self._guard:
                self._running = None

    def _supervise(self, task: TaskRecord) -> None:
        assert self._process is not None and self._conn is not None
        process, conn = self._process, self._conn
        started = time.monotonic()
        time_limit = self.limits.time_base_s  # until the child announces the audio's size
        reported = False  # the child said the task's row is final
        with contextlib.suppress(OSError):  # a child already gone is found below
            conn.send(task.id)
        while True:
            if self._cancelled.is_set() and not reported:  # deleted: nothing to charge
                self._reap(f"task {task.id} was deleted while it ran", "cancelled", death=False)
                return
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
                        return
                    continue
            if closed or not process.is_alive():
                process.join(5)  # the pipe closes as the process exits
                cause = f"its worker process died ({_describe_exit(process.exitcode)})"
                self._stop_for(task, cause, "died", reported)
                return
            rss = rss_bytes(process.pid or 0)
            if self.limits.memory_bytes and rss > self.limits.memory_bytes:
                cause = (
                    f"its worker process used {rss // 2**20} MiB of memory, more than the "
                    f"limit of {self.limits.memory_bytes // 2**20} MiB"
                )
                self._stop_for(task, cause, "memory", reported)
                return
            if time.monotonic() - started > time_limit:
                cause = f"it ran longer than its time limit of {time_limit:.0f} s"
                self._stop_for(task, cause, "time", reported)
                return

    def _stop_for(self, task: TaskRecord, cause: str, reason: str, reported: bool) -> None:
        """The child is dead or must die: end it and charge the task it was running."""
        if self._closing:  # stopped by the server's shutdown: the task's fault it is not
            self.store.requeue(task.id, attempt=task.attempts)
            return
        self._reap(f"task {task.id}: {cause}", reason)
        record = self.store.get(task.id)
        if (
            not reported
            and record is not None
            and record.state in FINAL_STATES
            and record.attempts == task.attempts
        ):
            self._finished(task.id)  # it died between storing the outcome and saying so
            return
        self._charge(task, cause, reason)

    def _finished(self, task_id: str) -> None:
        """The child stored a final state: wake waiters, then metrics and webhooks."""
        self.events.publish(task_id)
        record = self.store.get(task_id)
        if record is None or record.state not in FINAL_STATES:
            return
        for observer in self.observers:
            try:
                observer.task_finished(record)
            except Exception:
                log.exception("task observer %r failed", observer)

    def _charge(self, task: TaskRecord, cause: str, reason: str) -> None:
        """The attempt died: requeue the task, or fail it after ``max_attempts`` deaths."""
        record = self.store.get(task.id)
        if record is None or record.state != TaskState.RUNNING or record.attempts != task.attempts:
            return  # finished before the death, deleted, or already taken over
        if record.attempts < self.max_attempts:
            if self.store.requeue(task.id, attempt=task.attempts):
                log.warning(
                    "task %s requeued (attempt %d of %d): %s",
                    task.id,
                    task.attempts,
                    self.max_attempts,
                    cause,
                )
            return
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

    def close(self, timeout_s: float) -> None:
        """Ask the child to stop; kill it if it has not after ``timeout_s``."""
        self._closing = True
        process, conn = self._process, self._conn
        self._process, self._conn, self.ready = None, None, False
        if process is None:
            return
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send(None)
        process.join(timeout_s)
        if process.is_alive():
            process.kill()
            process.join(5)
        if conn is not None:
            conn.close()
