"""The task store: one row per task, and every state change a conditional UPDATE.

``pending -> running -> done | failed | rejected``. Each transition is
``UPDATE ... WHERE id = :id AND state = :expected`` and reports whether it won, so two workers
(threads here, processes or hosts once the store is PostgreSQL) can never both run a task and a
finished task is never run again. Nothing here is specific to SQLite.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Engine,
    Float,
    Index,
    Integer,
    String,
    and_,
    create_engine,
    delete,
    event,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from aural.jobs.errors import CapacityExceededError


class TaskState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    REJECTED = "rejected"


# pg_advisory_xact_lock key serialising admission (capacity check + insert) across API nodes.
ADMISSION_LOCK_KEY = 0x617572616C01

ACTIVE_STATES = (TaskState.PENDING, TaskState.RUNNING)
FINAL_STATES = (TaskState.DONE, TaskState.FAILED, TaskState.REJECTED)


class WebhookState(StrEnum):
    NONE = "none"
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Base(DeclarativeBase):
    pass


class TaskRow(Base):
    __tablename__ = "tasks"
    # Serves the reaper: WHERE state = 'running' AND heartbeat_at < :cutoff (revision 0002).
    # Serves a key's task list: WHERE api_key_id = :key ORDER BY created_at DESC (revision 0003).
    __table_args__ = (
        Index("ix_tasks_state_heartbeat_at", "state", "heartbeat_at"),
        Index("ix_tasks_api_key_id_created_at", "api_key_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    face: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(255))
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    face_options: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    media_path: Mapped[str | None] = mapped_column(String(1024))
    upload_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    media_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    correlation_id: Mapped[str | None] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(200))
    api_key_id: Mapped[str | None] = mapped_column(String(36))
    webhook_url: Mapped[str | None] = mapped_column(String(2048))
    webhook_state: Mapped[str] = mapped_column(String(16), default=WebhookState.NONE.value)
    webhook_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Float, index=True)
    started_at: Mapped[float | None] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    audio_duration_s: Mapped[float | None] = mapped_column(Float)
    worker: Mapped[str | None] = mapped_column(String(255))
    # Last sign of life of the worker running the task; the reaper requeues stale ones.
    heartbeat_at: Mapped[float | None] = mapped_column(Float)
    # When a message for the task was last sent to the queue (executor=celery).
    dispatched_at: Mapped[float | None] = mapped_column(Float)
    # Share of the audio transcribed so far (0..1) while running (revision 0003).
    progress: Mapped[float | None] = mapped_column(Float)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    languages: Mapped[list[str] | None] = mapped_column(JSON)
    rate_limit: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)


@dataclass(frozen=True)
class TaskRecord:
    """A detached snapshot of one task row."""

    id: str
    state: TaskState
    face: str
    model: str
    options: dict[str, Any]
    face_options: dict[str, Any]
    media_path: str | None
    upload_bytes: int
    media_bytes: int
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    correlation_id: str | None
    request_id: str | None
    api_key_id: str | None
    webhook_url: str | None
    webhook_state: WebhookState
    webhook_attempts: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    attempts: int
    audio_duration_s: float | None
    worker: str | None = None
    heartbeat_at: float | None = None
    dispatched_at: float | None = None
    progress: float | None = None

    @property
    def runtime_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @classmethod
    def of(cls, row: TaskRow) -> TaskRecord:
        return cls(
            id=row.id,
            state=TaskState(row.state),
            face=row.face,
            model=row.model,
            options=dict(row.options),
            face_options=dict(row.face_options or {}),
            media_path=row.media_path,
            upload_bytes=row.upload_bytes,
            media_bytes=row.media_bytes,
            result=row.result,
            error=row.error,
            correlation_id=row.correlation_id,
            request_id=row.request_id,
            api_key_id=row.api_key_id,
            webhook_url=row.webhook_url,
            webhook_state=WebhookState(row.webhook_state),
            webhook_attempts=row.webhook_attempts,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            attempts=row.attempts,
            audio_duration_s=row.audio_duration_s,
            worker=row.worker,
            heartbeat_at=row.heartbeat_at,
            dispatched_at=row.dispatched_at,
            progress=row.progress,
        )


@dataclass(frozen=True)
class NewTask:
    """What a face knows when it submits a task."""

    face: str
    model: str
    options: dict[str, Any]
    media_path: str
    media_bytes: int
    correlation_id: str | None = None
    request_id: str | None = None
    api_key_id: str | None = None
    webhook_url: str | None = None
    task_id: str | None = None
    face_options: dict[str, Any] | None = None


def new_task_id() -> str:
    return str(uuid.uuid4())


# How long a new SQLite connection keeps asking for WAL while another holds the write lock.
SQLITE_WAL_WAIT_S = 10.0


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (polling clients) proceed while a worker writes; the busy timeout makes
    # concurrent writers wait instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    _enter_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _enter_wal(cursor: sqlite3.Cursor) -> None:
    """Switch the database to WAL, waiting out another connection's write lock.

    A database still in rollback mode (new, or made by another tool) needs an exclusive lock to
    switch. While another connection holds its write lock SQLite answers "database is locked" at
    once, without the busy handler, since waiting could deadlock; processes that start together
    on a new file (API nodes, workers, migrations) meet exactly that. So ask again, backing off,
    until the same deadline the busy timeout gives writers.
    """
    deadline = time.monotonic() + SQLITE_WAL_WAIT_S
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout, others the defaults."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


class TaskStore:
    """Tasks and API keys in one SQL database, behind atomic state transitions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Serialises the capacity check with the insert inside this process.
        self._admission = threading.Lock()

    def create_schema(self) -> None:
        """Create or migrate the tables to the current revision (see :mod:`aural.jobs.migrate`)."""
        from aural.jobs import migrate

        migrate.upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def ping(self) -> bool:
        """Whether the database answers."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    # --- tasks ---

    def create(self, new: NewTask, max_active: int | None = None) -> TaskRecord:
        """Insert a pending task; refuse when ``max_active`` tasks are pending or running."""
        now = time.time()
        row = TaskRow(
            id=new.task_id or new_task_id(),
            state=TaskState.PENDING.value,
            face=new.face,
            model=new.model,
            options=new.options,
            face_options=new.face_options,
            media_path=new.media_path,
            upload_bytes=new.media_bytes,
            media_bytes=new.media_bytes,
            result=None,
            result_bytes=0,
            error=None,
            correlation_id=new.correlation_id,
            request_id=new.request_id,
            api_key_id=new.api_key_id,
            webhook_url=new.webhook_url,
            webhook_state=(WebhookState.PENDING if new.webhook_url else WebhookState.NONE).value,
            webhook_attempts=0,
            created_at=now,
            attempts=0,
        )
        with self._admission, self.session() as session:
            if max_active is not None:
                if self.engine.dialect.name == "postgresql":
                    # Other API nodes admit tasks too: the check and the insert of every node
                    # take turns on one transaction-scoped advisory lock.
                    session.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADMISSION_LOCK_KEY}
                    )
                if self._count_active(session) >= max_active:
                    raise CapacityExceededError("Licensed processing capacity exceeded.")
            session.add(row)
            session.flush()
            return TaskRecord.of(row)

    def count_active(self) -> int:
        """Tasks pending or running (the licensed capacity in use)."""
        with self.session() as session:
            return self._count_active(session)

    @staticmethod
    def _count_active(session: Session) -> int:
        query = (
            select(func.count())
            .select_from(TaskRow)
            .where(TaskRow.state.in_([s.value for s in ACTIVE_STATES]))
        )
        return int(session.scalar(query) or 0)

    def get(self, task_id: str) -> TaskRecord | None:
        with self.session() as session:
            row = session.get(TaskRow, task_id)
            return TaskRecord.of(row) if row is not None else None

    def _transition(
        self, task_id: str, expected: TaskState, *conditions: Any, **values: Any
    ) -> bool:
        with self.session() as session:
            result = session.execute(
                update(TaskRow)
                .where(TaskRow.id == task_id, TaskRow.state == expected.value, *conditions)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def claim(self, task_id: str, worker: str) -> bool:
        """``pending -> running``; True only for the one caller that won the task.

        Each claim counts one attempt; the attempt number is the fencing token that
        :meth:`finish` and :meth:`touch` check, so a worker that lost its task (requeued after
        its lease ran out) cannot overwrite the outcome of the attempt that replaced it.
        """
        now = time.time()
        return self._transition(
            task_id,
            TaskState.PENDING,
            state=TaskState.RUNNING.value,
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
            attempts=TaskRow.attempts + 1,
            worker=worker,
            progress=0.0,
        )

    def touch(self, task_id: str, attempt: int) -> bool:
        """Mark attempt ``attempt`` of a running task alive; False once it is not ours."""
        return self._transition(
            task_id, TaskState.RUNNING, TaskRow.attempts == attempt, heartbeat_at=time.time()
        )

    def set_progress(self, task_id: str, attempt: int, progress: float) -> bool:
        """Record how far attempt ``attempt`` of a running task got (0..1); also a heartbeat."""
        return self._transition(
            task_id,
            TaskState.RUNNING,
            TaskRow.attempts == attempt,
            progress=min(max(progress, 0.0), 1.0),
            heartbeat_at=time.time(),
        )

    def claim_next(self, worker: str, exclude_models: Sequence[str] = ()) -> TaskRecord | None:
        """Claim the oldest pending task whose model is not excluded, if any."""
        query = select(TaskRow.id).where(TaskRow.state == TaskState.PENDING.value)
        if exclude_models:
            query = query.where(TaskRow.model.not_in(list(exclude_models)))
        with self.session() as session:
            candidates = list(session.scalars(query.order_by(TaskRow.created_at).limit(16)))
        for task_id in candidates:
            if self.claim(task_id, worker):
                return self.get(task_id)
        return None

    def finish(
        self,
        task_id: str,
        state: TaskState,
        *,
        result: dict[str, Any] | None = None,
        result_bytes: int = 0,
        error: dict[str, Any] | None = None,
        audio_duration_s: float | None = None,
        attempt: int | None = None,
    ) -> bool:
        """``running -> done | failed | rejected``; the media is accounted as gone.

        With ``attempt``, only that attempt may finish the task (see :meth:`claim`).
        """
        if state not in FINAL_STATES:
            raise ValueError(f"{state} is not a final state")
        fence = () if attempt is None else (TaskRow.attempts == attempt,)
        return self._transition(
            task_id,
            TaskState.RUNNING,
            *fence,
            state=state.value,
            result=result,
            result_bytes=result_bytes,
            error=error,
            audio_duration_s=audio_duration_s,
            finished_at=time.time(),
            progress=1.0 if state == TaskState.DONE else None,
            media_path=None,
            media_bytes=0,
        )

    def requeue(self, task_id: str, attempt: int | None = None, refund: bool = False) -> bool:
        """``running -> pending`` for a task whose worker died (only ``attempt``, if given).

        ``refund``: the attempt was not the task's fault (its engine process died of another
        task beside it), so it does not count: the next claim gets the same attempt number.
        Only for an attempt whose process is known dead, so nothing can still write under it.
        """
        fence = () if attempt is None else (TaskRow.attempts == attempt,)
        refunded = {"attempts": TaskRow.attempts - 1} if refund else {}
        return self._transition(
            task_id,
            TaskState.RUNNING,
            *fence,
            **refunded,
            state=TaskState.PENDING.value,
            worker=None,
            heartbeat_at=None,
            dispatched_at=None,
            progress=None,
        )

    def running(self) -> list[TaskRecord]:
        with self.session() as session:
            rows = session.scalars(select(TaskRow).where(TaskRow.state == TaskState.RUNNING.value))
            return [TaskRecord.of(row) for row in rows]

    def running_ids(self) -> list[str]:
        return [record.id for record in self.running()]

    def stale_running(self, alive_after: float) -> list[TaskRecord]:
        """Running tasks whose worker has not marked them alive since ``alive_after``."""
        silent = or_(
            TaskRow.heartbeat_at < alive_after,  # (state, heartbeat_at) is indexed
            and_(TaskRow.heartbeat_at.is_(None), TaskRow.started_at < alive_after),
        )
        with self.session() as session:
            rows = session.scalars(
                select(TaskRow).where(TaskRow.state == TaskState.RUNNING.value, silent)
            )
            return [TaskRecord.of(row) for row in rows]

    def mark_dispatched(self, task_id: str) -> None:
        """A queue message was sent for the pending task ``task_id``."""
        with self.session() as session:
            session.execute(
                update(TaskRow)
                .where(TaskRow.id == task_id, TaskRow.state == TaskState.PENDING.value)
                .values(dispatched_at=time.time())
                .execution_options(synchronize_session=False)
            )

    def undispatched(self, never_sent_before: float, sent_before: float) -> list[str]:
        """Pending tasks whose queue message may be lost.

        Those never sent and created before ``never_sent_before`` (the node died between storing
        and sending, or the broker was down), and those last sent before ``sent_before`` (the
        broker lost its queue).
        """
        with self.session() as session:
            return list(
                session.scalars(
                    select(TaskRow.id)
                    .where(
                        TaskRow.state == TaskState.PENDING.value,
                        or_(
                            and_(
                                TaskRow.dispatched_at.is_(None),
                                TaskRow.created_at < never_sent_before,
                            ),
                            TaskRow.dispatched_at < sent_before,
                        ),
                    )
                    .order_by(TaskRow.created_at)
                )
            )

    def list_tasks(
        self, face: str, api_key_id: str | None, *, limit: int, offset: int = 0
    ) -> tuple[list[TaskRecord], int]:
        """A page of ``face``'s tasks, newest first, and how many there are in all.

        With ``api_key_id`` only that key's tasks (``None``: every task of the face, for a
        server without keys).
        """
        where = [TaskRow.face == face]
        if api_key_id is not None:
            where.append(TaskRow.api_key_id == api_key_id)
        with self.session() as session:
            count = select(func.count()).select_from(TaskRow).where(*where)
            total = int(session.scalar(count) or 0)
            rows = session.scalars(
                select(TaskRow)
                .where(*where)
                .order_by(TaskRow.created_at.desc(), TaskRow.id)
                .limit(limit)
                .offset(offset)
            )
            return [TaskRecord.of(row) for row in rows], total

    def delete(self, task_id: str) -> TaskRecord | None:
        """Remove a task row whatever its state; returns what was removed."""
        with self.session() as session:
            row = session.get(TaskRow, task_id)
            if row is None:
                return None
            record = TaskRecord.of(row)
            session.execute(delete(TaskRow).where(TaskRow.id == task_id))
            return record

    def discard_result(self, task_id: str) -> None:
        """Drop a result that was already handed over (synchronous requests)."""
        with self.session() as session:
            session.execute(
                update(TaskRow)
                .where(TaskRow.id == task_id)
                .values(result=None, result_bytes=0)
                .execution_options(synchronize_session=False)
            )

    def expired(self, finished_before: float) -> list[TaskRecord]:
        with self.session() as session:
            rows = session.scalars(
                select(TaskRow).where(
                    TaskRow.finished_at.is_not(None), TaskRow.finished_at < finished_before
                )
            )
            return [TaskRecord.of(row) for row in rows]

    def active_media_paths(self) -> set[str]:
        """Media files that still belong to a pending or running task."""
        with self.session() as session:
            paths = session.scalars(
                select(TaskRow.media_path).where(
                    TaskRow.media_path.is_not(None),
                    TaskRow.state.in_([s.value for s in ACTIVE_STATES]),
                )
            )
            return {path for path in paths if path}

    def storage_used(self) -> int:
        """Bytes of stored media and results, as accounted in the rows."""
        with self.session() as session:
            total = session.scalar(
                select(func.coalesce(func.sum(TaskRow.media_bytes + TaskRow.result_bytes), 0))
            )
            return int(total or 0)

    def count_by_state(self) -> dict[TaskState, int]:
        with self.session() as session:
            rows = session.execute(select(TaskRow.state, func.count()).group_by(TaskRow.state))
            counts = {state: 0 for state in TaskState}
            for state, count in rows:
                counts[TaskState(state)] = int(count)
            return counts

    def pending_webhooks(self) -> list[TaskRecord]:
        """Finished tasks whose webhook was not delivered yet (e.g. across a restart)."""
        with self.session() as session:
            rows = session.scalars(
                select(TaskRow).where(
                    TaskRow.webhook_state == WebhookState.PENDING.value,
                    TaskRow.state.in_([s.value for s in FINAL_STATES]),
                )
            )
            return [TaskRecord.of(row) for row in rows]

    def set_webhook_state(self, task_id: str, state: WebhookState, attempts: int) -> None:
        with self.session() as session:
            session.execute(
                update(TaskRow)
                .where(TaskRow.id == task_id)
                .values(webhook_state=state.value, webhook_attempts=attempts)
                .execution_options(synchronize_session=False)
            )
