"""Waiting for a task to finish: the store is the truth, in-process events only wake early.

A synchronous request waits on its task by polling the row. When the task runs in the same
process, the runner publishes its id and the waiter looks again at once; when it runs elsewhere
(another worker process or host), the poll interval bounds the delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable

from anyio import to_thread

from aural.jobs.errors import TaskNotFoundError
from aural.jobs.store import FINAL_STATES, TaskRecord, TaskStore


class TaskEvents:
    """Callbacks per task id, called when the task changes state in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: dict[str, list[Callable[[], None]]] = {}

    def subscribe(self, task_id: str, listener: Callable[[], None]) -> Callable[[], None]:
        """Register ``listener``; returns the function that removes it again."""
        with self._lock:
            self._listeners.setdefault(task_id, []).append(listener)

        def unsubscribe() -> None:
            with self._lock:
                listeners = self._listeners.get(task_id, [])
                if listener in listeners:
                    listeners.remove(listener)
                if not listeners:
                    self._listeners.pop(task_id, None)

        return unsubscribe

    def publish(self, task_id: str) -> None:
        """Wake everyone waiting on ``task_id`` (callable from any thread)."""
        with self._lock:
            listeners = list(self._listeners.get(task_id, ()))
        for listener in listeners:
            listener()


def _final_or_none(store: TaskStore, task_id: str) -> TaskRecord | None:
    record = store.get(task_id)
    if record is None:
        raise TaskNotFoundError(f"task {task_id} does not exist", task_id=task_id)
    return record if record.state in FINAL_STATES else None


async def wait_for_task(
    store: TaskStore, events: TaskEvents, task_id: str, timeout_s: float, poll_s: float
) -> TaskRecord | None:
    """The finished task, or ``None`` when ``timeout_s`` passes first."""
    loop = asyncio.get_running_loop()
    woken = asyncio.Event()

    def wake() -> None:
        loop.call_soon_threadsafe(woken.set)

    unsubscribe = events.subscribe(task_id, wake)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            woken.clear()
            record = await to_thread.run_sync(_final_or_none, store, task_id)
            if record is not None:
                return record
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), timeout=min(poll_s, remaining))
    finally:
        unsubscribe()


def wait_for_task_blocking(
    store: TaskStore, events: TaskEvents, task_id: str, timeout_s: float, poll_s: float
) -> TaskRecord | None:
    """:func:`wait_for_task` for threads (the CLI, tests, workers)."""
    woken = threading.Event()
    unsubscribe = events.subscribe(task_id, woken.set)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            woken.clear()
            record = _final_or_none(store, task_id)
            if record is not None:
                return record
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            woken.wait(min(poll_s, remaining))
    finally:
        unsubscribe()
