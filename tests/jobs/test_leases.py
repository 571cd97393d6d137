"""Leases, the reaper and cross-node admission, on the real PostgreSQL and Redis servers."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import update

from aural.config import Settings
from aural.jobs.distributed import CeleryExecutor, make_celery
from aural.jobs.errors import CapacityExceededError
from aural.jobs.executor import JobTimings
from aural.jobs.leases import Reaper, died_on_this_host
from aural.jobs.storage import MediaStorage
from aural.jobs.store import NewTask, TaskRow, TaskState, TaskStore

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[TaskStore]:
    store = TaskStore(postgres_url)
    store.create_schema()
    yield store
    store.close()


def _new(store: TaskStore) -> str:
    return store.create(NewTask("test", "tiny.en", {}, "/media/x", 1)).id


def _backdate(store: TaskStore, task_id: str, **values: float) -> None:
    with store.session() as session:
        session.execute(update(TaskRow).where(TaskRow.id == task_id).values(**values))


def test_a_silent_running_task_is_requeued_and_its_old_attempt_fenced_off(
    pg_store: TaskStore,
) -> None:
    task_id = _new(pg_store)
    assert pg_store.claim(task_id, "host-a:1")
    dispatched: list[str] = []
    reaper = Reaper(pg_store, lease_s=30, dispatch=dispatched.append)

    assert reaper.requeue_stale() == [], "a fresh claim is alive"
    _backdate(pg_store, task_id, heartbeat_at=time.time() - 60)
    assert pg_store.touch(task_id, attempt=1), "its worker marks it alive again"
    assert reaper.requeue_stale() == []

    _backdate(pg_store, task_id, heartbeat_at=time.time() - 60)
    assert reaper.requeue_stale() == [task_id]
    assert dispatched == [task_id]
    assert reaper.requeue_stale() == [], "requeued once, whoever else reaps"
    record = pg_store.get(task_id)
    assert record is not None and record.state == TaskState.PENDING and record.worker is None

    assert pg_store.claim(task_id, "host-b:2")
    assert not pg_store.touch(task_id, attempt=1), "the lost attempt is not alive any more"
    assert not pg_store.finish(task_id, TaskState.DONE, result={"late": 1}, attempt=1)
    assert pg_store.finish(task_id, TaskState.DONE, result={"text": "ok"}, attempt=2)
    final = pg_store.get(task_id)
    assert final is not None and final.result == {"text": "ok"} and final.attempts == 2


def test_dead_processes_of_this_host_are_recognised() -> None:
    host = socket.gethostname()
    finished = subprocess.Popen(["true"])
    finished.wait()
    assert died_on_this_host(f"{host}:{finished.pid}:0")
    assert not died_on_this_host(f"{host}:{os.getppid()}:0"), "alive"
    assert not died_on_this_host(f"another-host:{finished.pid}"), "cannot tell: lease decides"
    assert not died_on_this_host(f"{host}:{os.getpid()}:0")
    assert died_on_this_host(f"{host}:{os.getpid()}:0", own_tasks_are_running=False)
    assert not died_on_this_host(None)


def test_capacity_holds_across_api_nodes(postgres_url: str) -> None:
    nodes = [TaskStore(postgres_url), TaskStore(postgres_url)]  # two processes' stores
    nodes[0].create_schema()
    admitted: list[str] = []
    refused: list[int] = []
    start = threading.Barrier(12)

    def submit(index: int) -> None:
        store = nodes[index % 2]
        start.wait()
        try:
            admitted.append(store.create(NewTask("t", "m", {}, "/x", 1), max_active=5).id)
        except CapacityExceededError:
            refused.append(index)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 5 and len(refused) == 7
    assert nodes[1].count_active() == 5
    for store in nodes:
        store.close()


def test_lost_queue_messages_are_sent_again(pg_store: TaskStore, tmp_path: Path) -> None:
    queue = f"aural-test-{uuid.uuid4().hex[:12]}"
    settings = Settings(executor="celery", broker_url=REDIS_URL, queue=queue)
    storage = MediaStorage(tmp_path, pg_store, 10**6, 10**6)
    executor = CeleryExecutor(
        pg_store,
        storage,
        make_celery(settings),
        queue=queue,
        timings=JobTimings(),
        visibility_timeout_s=600,
    )
    broker = redis.Redis.from_url(REDIS_URL)
    try:
        never_sent, sent_long_ago, sent_now = (_new(pg_store) for _ in range(3))
        _backdate(pg_store, never_sent, created_at=time.time() - 120)
        _backdate(pg_store, sent_long_ago, created_at=time.time() - 7200)
        _backdate(pg_store, sent_long_ago, dispatched_at=time.time() - 3600)
        executor.submit(sent_now)
        assert broker.llen(queue) == 1

        assert sorted(executor.resend_lost()) == sorted([never_sent, sent_long_ago])
        assert broker.llen(queue) == 3
        assert executor.resend_lost() == [], "sent again once"
        record = pg_store.get(never_sent)
        assert record is not None and record.dispatched_at is not None
        assert executor.broker_reachable()
    finally:
        broker.delete(queue, f"_kombu.binding.{queue}")
        broker.close()


def test_a_task_that_keeps_killing_its_worker_fails_after_max_attempts(
    pg_store: TaskStore,
) -> None:
    task_id = _new(pg_store)
    dispatched: list[str] = []
    reaper = Reaper(pg_store, lease_s=30, dispatch=dispatched.append, max_attempts=2)
    for attempt in (1, 2):
        assert pg_store.claim(task_id, f"host:{attempt}")
        _backdate(pg_store, task_id, heartbeat_at=time.time() - 60)
        reaper.requeue_stale()
    record = pg_store.get(task_id)
    assert record is not None and record.state == TaskState.FAILED
    assert record.error is not None and record.error["code"] == "task.abandoned"
    assert dispatched == [task_id], "requeued after the first death only"


def test_rate_limits_fail_open_when_their_storage_is_down() -> None:
    from aural.api.limits import RateLimiter

    limiter = RateLimiter("redis://127.0.0.1:9/0")  # nothing listens on the discard port
    assert limiter.hit("client", "1/minute") == {}
    assert limiter.hit("client", "1/minute") == {}, "not counted, not refused"
