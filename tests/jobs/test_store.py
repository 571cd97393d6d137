"""The task store's transitions are atomic: one winner per claim, none from the wrong state."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from aural.jobs.errors import CapacityExceededError
from aural.jobs.records import (
    options_from_record,
    options_to_record,
    transcript_from_record,
    transcript_to_record,
)
from aural.jobs.store import NewTask, TaskState, TaskStore, make_engine
from aural.types import ChannelInfo, Segment, Task, Transcript, TranscriptionOptions, Word


@pytest.fixture
def store(tmp_path: Path) -> TaskStore:
    store = TaskStore(f"sqlite:///{tmp_path / 'tasks.db'}")
    store.create_schema()
    return store


def _new(store: TaskStore, model: str = "tiny.en", max_active: int | None = None) -> str:
    task = NewTask(face="test", model=model, options={}, media_path="/x", media_bytes=10)
    return store.create(task, max_active).id


def test_a_connection_waits_for_wal_while_another_holds_the_write_lock(tmp_path: Path) -> None:
    # A rollback-mode database whose write lock is held: SQLite refuses the switch to WAL at
    # once (no busy handler), which failed processes starting together on a new file.
    path = tmp_path / "tasks.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    release = threading.Timer(0.3, holder.execute, args=("COMMIT",))
    release.start()
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert connection.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(sa.text("SELECT x FROM t")).scalars().all() == [1]
    finally:
        release.join()
        engine.dispose()
        holder.close()


def test_a_task_is_claimed_by_exactly_one_of_many_threads(store: TaskStore) -> None:
    task_id = _new(store)
    barrier = threading.Barrier(8)
    wins: list[bool] = []

    def claim(index: int) -> None:
        barrier.wait()
        wins.append(store.claim(task_id, f"worker-{index}"))

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False] * 7 + [True]
    record = store.get(task_id)
    assert record is not None and record.state == TaskState.RUNNING and record.attempts == 1


def test_transitions_only_from_the_expected_state(store: TaskStore) -> None:
    task_id = _new(store)
    assert not store.finish(task_id, TaskState.DONE), "pending cannot finish"
    assert store.claim(task_id, "w")
    assert store.finish(task_id, TaskState.DONE, result={"x": 1}, result_bytes=7)
    assert not store.finish(task_id, TaskState.FAILED), "finished once"
    assert not store.claim(task_id, "w"), "a done task is never run again"
    assert not store.requeue(task_id)
    record = store.get(task_id)
    assert record is not None
    assert (record.state, record.attempts, record.media_bytes) == (TaskState.DONE, 1, 0)
    assert store.storage_used() == 7
    with pytest.raises(ValueError):
        store.finish(task_id, TaskState.RUNNING)


def test_requeue_puts_a_running_task_back_and_counts_attempts(store: TaskStore) -> None:
    task_id = _new(store)
    store.claim(task_id, "w")
    assert store.running_ids() == [task_id]
    assert store.requeue(task_id)
    assert store.claim(task_id, "w")
    record = store.get(task_id)
    assert record is not None and record.attempts == 2


def test_claim_next_takes_the_oldest_and_skips_busy_models(store: TaskStore) -> None:
    first = _new(store, "base")
    second = _new(store, "tiny.en")
    claimed = store.claim_next("w", exclude_models=["base"])
    assert claimed is not None and claimed.id == second
    claimed = store.claim_next("w")
    assert claimed is not None and claimed.id == first
    assert store.claim_next("w") is None


def test_capacity_counts_pending_and_running(store: TaskStore) -> None:
    _new(store, max_active=2)
    running = _new(store, max_active=2)
    store.claim(running, "w")
    with pytest.raises(CapacityExceededError):
        _new(store, max_active=2)
    store.finish(running, TaskState.FAILED, error={"type": "internal"})
    _new(store, max_active=2)


def test_options_and_transcripts_survive_the_round_trip() -> None:
    options = TranscriptionOptions.create(
        task="translate", language="fr", channels=[1], licensed_languages=["fr", "en"],
        temperature=0.2, compression_ratio_threshold=None, suppress_tokens=[-1, 50],
    )  # fmt: skip
    assert options_from_record(options_to_record(options)) == options
    word = Word(0.0, 0.5, "Bonjour", 0.9)
    transcript = Transcript(
        language="fr",
        duration=2.0,
        task=Task.TRANSLATE,
        channels=(ChannelInfo(1, "fr", 0.98, 2.0, 1.5),),
        segments=(Segment(0, 0.0, 0.5, "Bonjour", 1, "fr", (word,), 0, (50364, 1), 0.2),),
    )
    assert transcript_from_record(transcript_to_record(transcript)) == transcript
