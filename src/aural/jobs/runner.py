"""Running one claimed task end to end: media -> engine -> stored result or error.

Input the engine refuses (undecodable media, bad options, unlicensed language) ends the task
``rejected`` with ``task.validation-error``; anything else that breaks ends it ``failed`` with
``internal``. The runner never formats for a face and never talks HTTP.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aural.errors import (
    AuralError,
    InvalidMediaError,
    ModelIntegrityError,
    ModelNotAvailableError,
)
from aural.jobs.context import bound
from aural.jobs.records import options_from_record, transcript_to_record
from aural.jobs.storage import MediaStorage
from aural.jobs.store import TaskRecord, TaskState, TaskStore

if TYPE_CHECKING:  # the engine is imported by the first transcription (see model_pool)
    from aural.model_pool import ModelPool
    from aural.pipeline import ProgressCallback

log = logging.getLogger(__name__)

VALIDATION_ERROR = "task.validation-error"
INTERNAL_ERROR = "internal"
# The most often a running task's progress is written to its row (seconds).
PROGRESS_INTERVAL_S = 1.0


class TaskObserver(Protocol):
    """Told about every task this runner finished (metrics, webhooks)."""

    def task_finished(self, record: TaskRecord) -> Any: ...


class TaskPublisher(Protocol):
    """Told the id of every task whose state this runner changed (wakes waiting requests)."""

    def publish(self, task_id: str) -> None: ...


class TaskGone(Exception):
    """Raised from the progress callback: the task's row is no longer this attempt's (deleted by
    its client, or requeued after a lost lease), so the transcription stops where it is."""

    def __init__(self, done: float) -> None:
        super().__init__(f"the task is gone at {done:.0%} of its audio")
        self.done = done


def error_record(kind: str, message: str, code: str, context: dict[str, Any]) -> dict[str, Any]:
    """The face-neutral error stored with a failed or rejected task."""
    return {"type": kind, "message": message, "code": code, "context": context}


def _json_safe(context: dict[str, object]) -> dict[str, Any]:
    return {
        key: value if isinstance(value, str | int | float | bool) or value is None else str(value)
        for key, value in context.items()
    }


class Runner:
    """Runs claimed tasks with a shared :class:`ModelPool`; safe to call from many threads."""

    def __init__(
        self,
        store: TaskStore,
        storage: MediaStorage,
        pool: ModelPool,
        events: TaskPublisher,
        observers: Sequence[TaskObserver] = (),
    ) -> None:
        self.store = store
        self.storage = storage
        self.pool = pool
        self.events = events
        self.observers = list(observers)
        self._lock = threading.Lock()
        self._attempts: dict[str, int] = {}  # task id -> attempt, of the tasks running here
        self.active = 0
        self.max_concurrency = 0  # the most transcriptions this runner ever ran at once

    @contextmanager
    def _tracked(self, task: TaskRecord) -> Iterator[None]:
        with self._lock:
            self.active += 1
            self.max_concurrency = max(self.max_concurrency, self.active)
            self._attempts[task.id] = task.attempts
        try:
            yield
        finally:
            with self._lock:
                self.active -= 1
                self._attempts.pop(task.id, None)

    def running_here(self) -> dict[str, int]:
        """The tasks this runner is running now, with their attempt numbers."""
        with self._lock:
            return dict(self._attempts)

    def beat(self) -> None:
        """Mark every task running here alive, so the reaper leaves them be."""
        for task_id, attempt in self.running_here().items():
            if not self.store.touch(task_id, attempt):
                log.warning("task %s is no longer ours (deleted or requeued)", task_id)

    def run(self, task: TaskRecord) -> TaskRecord | None:
        """Run ``task`` (already claimed: ``running``) and store its outcome.

        Returns the finished record, or ``None`` when the task vanished meanwhile (deleted by
        its client), in which case the outcome is dropped.
        """
        with bound(task.correlation_id, task.request_id, task.id):
            with self._tracked(task):  # marked alive by the heartbeat while it transcribes
                try:
                    outcome = self._transcribe(task)
                except TaskGone as gone:
                    self._drop(task, f"transcription stopped at {gone.done:.0%} of its audio")
                    return None
            if not self.store.finish(task.id, attempt=task.attempts, **outcome):
                # A deletion before the engine opened the media ends as "no such file": that
                # failure is the deletion's, not the input's, and is dropped with the row.
                state: TaskState = outcome["state"]
                kept = "result" if state == TaskState.DONE else f"{state.value} outcome"
                self._drop(task, f"{kept} dropped")
                return None
            self.storage.remove(task.media_path)
            record = self.store.get(task.id)
            self.events.publish(task.id)
            if record is not None:
                log.info("task %s in %.2f s", record.state.value, (record.runtime_s or 0.0))
                for observer in self.observers:
                    try:
                        observer.task_finished(record)
                    except Exception:
                        log.exception("task observer %r failed", observer)
            return record

    def _drop(self, task: TaskRecord, what: str) -> None:
        """The task's row is no longer this attempt's: nothing of this run is stored."""
        if self.store.get(task.id) is None:
            log.info("task was deleted while running; %s", what)
            self.storage.remove(task.media_path)
        else:  # requeued (this worker missed its lease): the media is the next attempt's
            log.warning("task was requeued while running here; %s", what)

    def _progress_of(self, task: TaskRecord) -> ProgressCallback:
        """The engine's progress callback for ``task``: stored at most once a second.

        Storing it also tells whether the row is still this attempt's: when it is not (the
        client deleted the task), :class:`TaskGone` stops the transcription within a second or
        so, on every face and executor alike, instead of spending minutes of the cores on a
        result nobody will read.
        """
        last = [0.0]
        gone: list[float] = []
        lock = threading.Lock()

        def report(done_s: float, total_s: float) -> None:
            now = time.monotonic()
            done = done_s / total_s if total_s else 0.0
            with lock:  # pieces report from several decode threads
                if gone:
                    raise TaskGone(gone[0])
                if now - last[0] < PROGRESS_INTERVAL_S or done_s >= total_s:
                    return  # the end is stored with the result
                last[0] = now
            try:
                ours = self.store.set_progress(task.id, task.attempts, done)
            except Exception:  # progress is a courtesy: never fail the transcription over it
                log.warning("could not store the progress of task %s", task.id, exc_info=True)
                return
            if not ours:
                with lock:
                    gone.append(done)
                raise TaskGone(done)

        return report

    def _transcribe(self, task: TaskRecord) -> dict[str, Any]:
        from aural.engine import transcribe_media

        media = task.media_path or ""
        started = time.monotonic()
        try:
            if not task.media_path:
                raise InvalidMediaError("the task has no media")
            options = options_from_record(task.options)
            transcript = transcribe_media(
                Path(task.media_path), options, self.pool, task.model, self._progress_of(task)
            )
        except (ModelNotAvailableError, ModelIntegrityError) as exc:
            # The deployment's fault, not the input's: the same input may work later.
            log.error("task failed: %s", exc.message)
            return {
                "state": TaskState.FAILED,
                "error": error_record(
                    INTERNAL_ERROR, exc.message, exc.code, _json_safe(exc.context)
                ),
            }
        except AuralError as exc:  # the media or the options: retrying cannot help
            message = exc.message.replace(media, "the media file") if media else exc.message
            log.info("task rejected: %s (%s)", message, exc.code)
            return {
                "state": TaskState.REJECTED,
                "error": error_record(VALIDATION_ERROR, message, exc.code, _json_safe(exc.context)),
            }
        except TaskGone:
            raise
        except Exception as exc:
            log.exception("task failed")
            return {
                "state": TaskState.FAILED,
                "error": error_record(
                    INTERNAL_ERROR,
                    "The transcription failed inside the server; retrying may help.",
                    INTERNAL_ERROR,
                    {"exception": type(exc).__name__},
                ),
            }
        result = transcript_to_record(transcript)
        log.debug("transcribed %.1f s in %.2f s", transcript.duration, time.monotonic() - started)
        return {
            "state": TaskState.DONE,
            "result": result,
            "result_bytes": len(json.dumps(result, ensure_ascii=False).encode()),
            "audio_duration_s": transcript.duration,
        }
