"""Uploads are bounded while they are written; the quota counts media and results; purge."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aural.jobs.errors import MediaTooLargeError, StorageFullError
from aural.jobs.storage import MediaStorage
from aural.jobs.store import NewTask, TaskState, TaskStore


@pytest.fixture
def store(tmp_path: Path) -> TaskStore:
    store = TaskStore(f"sqlite:///{tmp_path / 'tasks.db'}")
    store.create_schema()
    return store


def test_an_upload_stops_at_the_limit_and_leaves_nothing(tmp_path: Path, store: TaskStore) -> None:
    storage = MediaStorage(tmp_path / "media", store, max_upload_bytes=1000, quota_bytes=10_000)
    upload = storage.start_upload("t1")
    upload.write(b"x" * 600)
    with pytest.raises(MediaTooLargeError) as error:
        upload.write(b"x" * 600)
    assert error.value.context == {"file_size": 1200, "max_file_size": 1000, "size_unit": "bytes"}
    assert not upload.path.exists()
    assert storage.reserve(10_000, 0), "the aborted upload released its reservation"


def test_the_quota_counts_stored_media_results_and_uploads_in_flight(
    tmp_path: Path, store: TaskStore
) -> None:
    storage = MediaStorage(tmp_path / "media", store, max_upload_bytes=5000, quota_bytes=5000)
    task = store.create(NewTask("t", "m", {}, "/gone", media_bytes=2000))
    store.claim(task.id, "w")
    store.finish(task.id, TaskState.DONE, result={}, result_bytes=1000)  # media gone: 1000 used
    one = storage.start_upload("a")
    one.write(b"x" * 2500)
    two = storage.start_upload("b")
    with pytest.raises(StorageFullError):
        two.write(b"x" * 1600)  # 1000 + 2500 in flight + 1600 > 5000
    assert not two.path.exists()
    one.close()
    assert one.path.stat().st_size == 2500


def test_expired_tasks_are_purged_with_their_media(tmp_path: Path, store: TaskStore) -> None:
    storage = MediaStorage(tmp_path / "media", store, max_upload_bytes=10, quota_bytes=10)
    media = storage.media_dir / "old"
    media.write_bytes(b"x")
    old = store.create(NewTask("t", "m", {}, str(media), 1))
    store.claim(old.id, "w")
    store.finish(old.id, TaskState.FAILED, error={})
    fresh = store.create(NewTask("t", "m", {}, "/f", 1))
    assert storage.purge_expired(3600, now=time.time() + 1800) == 0
    assert storage.purge_expired(3600, now=time.time() + 7200) == 1
    assert store.get(old.id) is None and store.get(fresh.id) is not None


def test_orphaned_media_files_are_swept(tmp_path: Path, store: TaskStore) -> None:
    storage = MediaStorage(tmp_path / "media", store, max_upload_bytes=10, quota_bytes=10)
    kept = storage.media_dir / "kept"
    kept.write_bytes(b"x")
    (storage.media_dir / "orphan").write_bytes(b"x")
    store.create(NewTask("t", "m", {}, str(kept), 1))
    assert storage.sweep_orphans() == 1
    assert [p.name for p in storage.media_dir.iterdir()] == ["kept"]
