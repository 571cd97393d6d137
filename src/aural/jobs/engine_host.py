"""The inside of one of the server's engine processes: a model, and a thread per lane.

The supervisor (:mod:`aural.jobs.isolation`, in the API process) starts this process with one
pipe per lane it serves. Each lane's thread here takes task ids from its pipe and runs them
with the one :class:`~aural.jobs.worker_process.WorkerProcess` of the process, so every lane
shares one copy of the model. That copy matters for speed, not only memory: two copies of the
int8 weights on two cores cost 10-19 % more CPU than one shared copy (each core streams its own
weights through the cache; see ``docs/architecture.md``).

What a lane's thread says on its pipe: ``("size", id, audio_s)`` once the task's audio is
known (the supervisor derives the time limit from it), ``("finished", id)`` once its row is
final, ``("idle", id)`` when the lane can take the next task. The first pipe also carries
``("ready", error)`` once the model is loaded.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from aural.config import Settings
from aural.jobs.store import TaskStore
from aural.model_pool import CallSlots

if TYPE_CHECKING:
    from aural.jobs.worker_process import WorkerProcess

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


class _LanePublisher:
    """The process's :class:`~aural.jobs.runner.TaskPublisher`: tells the supervisor, on the
    pipe of the lane that runs the task, the moment a task's row is final."""

    def __init__(self) -> None:
        self._pipes: dict[str, Connection] = {}
        self._guard = threading.Lock()

    def running(self, task_id: str, conn: Connection | None) -> None:
        with self._guard:
            if conn is None:
                self._pipes.pop(task_id, None)
            else:
                self._pipes[task_id] = conn

    def publish(self, task_id: str) -> None:
        with self._guard:
            conn = self._pipes.get(task_id)
        if conn is not None:
            conn.send(("finished", task_id))


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
    from aural.audio import announced_audio_seconds

    record = store.get(task_id)
    if record is None or not record.media_path:
        return None
    return announced_audio_seconds(record.media_path)


def engine_main(
    settings: Settings,
    conns: Sequence[Connection],
    parent_pid: int,
    log_level: str,
    slots: CallSlots | None = None,
) -> None:
    """An engine process: load the model, then serve each lane's pipe on a thread of its own."""
    _die_with_parent(parent_pid)
    from aural.jobs.context import configure_logging
    from aural.jobs.worker_process import WorkerProcess

    configure_logging(log_level)
    publisher = _LanePublisher()
    process = WorkerProcess.start(
        settings, events=publisher, send_webhooks=False, load_model=False, slots=slots
    )
    error = None
    try:
        process.pool.get(settings.model)
    except Exception as exc:  # reported by /readyz; tasks fail with the same error
        error = f"{type(exc).__name__}: {exc}"
        log.error("loading model %s failed: %s", settings.model, error)
    else:
        process.log_ready()
    conns[0].send(("ready", error))
    lanes = [
        threading.Thread(
            target=_serve_lane, args=(process, publisher, conn), name=f"aural-lane-{index}"
        )
        for index, conn in enumerate(conns)
    ]
    try:
        for lane in lanes:
            lane.start()
        for lane in lanes:
            lane.join()
    finally:
        process.close()


def _serve_lane(process: WorkerProcess, publisher: _LanePublisher, conn: Connection) -> None:
    """Run the task ids that come on ``conn``, one at a time, until it closes or says stop."""
    while True:
        try:
            task_id = conn.recv()
        except (EOFError, OSError):
            return
        if task_id is None:
            return
        publisher.running(task_id, conn)
        try:
            conn.send(("size", task_id, _audio_seconds(process.store, task_id)))
            process.run_claimed(task_id)
        except Exception:
            log.exception("running task %s failed outside the runner", task_id)
        finally:
            publisher.running(task_id, None)
        with contextlib.suppress(OSError):
            conn.send(("idle", task_id))
