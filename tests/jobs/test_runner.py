"""The runner on the real model: done, rejected for bad input, failed for a broken engine."""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
from pathlib import Path

import fidelity_shapes
import numpy as np
import pytest

from aural.config import Settings, usable_cores
from aural.jobs.records import options_to_record, transcript_from_record
from aural.jobs.runner import Runner
from aural.jobs.storage import MediaStorage
from aural.jobs.store import NewTask, TaskRecord, TaskState, TaskStore
from aural.jobs.waiting import TaskEvents, wait_for_task_blocking
from aural.model_pool import ModelPool
from aural.types import TranscriptionOptions


@pytest.fixture
def parts(tmp_path: Path, pool: ModelPool) -> tuple[TaskStore, MediaStorage, Runner, TaskEvents]:
    store = TaskStore(f"sqlite:///{tmp_path / 'tasks.db'}")
    store.create_schema()
    storage = MediaStorage(tmp_path / "media", store, 10**9, 10**9)
    events = TaskEvents()
    return store, storage, Runner(store, storage, pool, events), events


def _submit(
    store: TaskStore, storage: MediaStorage, media: Path, model: str = "tiny.en", **options: object
) -> TaskRecord:
    copy = storage.media_dir / media.name
    shutil.copyfile(media, copy)
    opts = options_to_record(TranscriptionOptions.create(**options))
    record = store.create(NewTask("test", model, opts, str(copy), copy.stat().st_size))
    claimed = store.claim_next("test-worker")
    assert claimed is not None and claimed.id == record.id
    return claimed


def test_a_task_runs_to_done_and_its_media_is_deleted(
    parts: tuple[TaskStore, MediaStorage, Runner, TaskEvents], data_dir: Path
) -> None:
    store, storage, runner, _ = parts
    task = _submit(store, storage, data_dir / "jfk.flac", word_timestamps=True)
    done = runner.run(task)
    assert done is not None and done.state == TaskState.DONE
    assert done.result is not None and done.audio_duration_s == pytest.approx(11.0)
    transcript = transcript_from_record(done.result)
    assert "country" in transcript.text and transcript.words
    assert done.media_path is None and not any(storage.media_dir.iterdir())
    assert runner.max_concurrency == 1


def test_undecodable_media_is_rejected(
    parts: tuple[TaskStore, MediaStorage, Runner, TaskEvents], data_dir: Path
) -> None:
    store, storage, runner, _ = parts
    task = _submit(store, storage, data_dir / "bad" / "video_only.mp4")
    record = runner.run(task)
    assert record is not None and record.state == TaskState.REJECTED
    assert record.error is not None
    assert record.error["type"] == "task.validation-error"
    assert record.error["code"] == "media.no-audio-stream"
    assert str(storage.media_dir) not in record.error["message"]


def test_options_the_model_cannot_take_are_rejected(
    parts: tuple[TaskStore, MediaStorage, Runner, TaskEvents], data_dir: Path
) -> None:
    store, storage, runner, _ = parts
    task = _submit(store, storage, data_dir / "jfk.flac", language="de")  # tiny.en: English only
    record = runner.run(task)
    assert record is not None and record.state == TaskState.REJECTED
    assert record.error is not None and record.error["code"] == "language.unsupported"


def test_an_engine_failure_is_failed_internal(
    parts: tuple[TaskStore, MediaStorage, Runner, TaskEvents], data_dir: Path, tmp_path: Path
) -> None:
    store, storage, runner, events = parts
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "model.bin").write_bytes(b"this is not a CTranslate2 model")
    task = _submit(store, storage, data_dir / "jfk.flac", model=str(broken))
    runner.run(task)
    record = wait_for_task_blocking(store, events, task.id, timeout_s=5, poll_s=0.1)
    assert record is not None and record.state == TaskState.FAILED
    assert record.error is not None and record.error["type"] == "internal"
    assert not any(storage.media_dir.iterdir())


def test_a_task_deleted_while_running_drops_its_result(
    parts: tuple[TaskStore, MediaStorage, Runner, TaskEvents], data_dir: Path
) -> None:
    store, storage, runner, _ = parts
    task = _submit(store, storage, data_dir / "jfk.flac")
    store.delete(task.id)
    assert runner.run(task) is None
    assert store.get(task.id) is None and not any(storage.media_dir.iterdir())


def test_a_task_deleted_before_its_media_is_opened_is_dropped_not_rejected(
    parts: tuple[TaskStore, MediaStorage, Runner, TaskEvents],
    data_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A face's DELETE removes the row and the media; when it comes between the claim and the
    engine opening the file, the run ends on "no such file". That failure is the deletion's:
    nothing is stored and the log says the outcome was dropped (CI once read it as a result)."""
    store, storage, runner, _ = parts
    task = _submit(store, storage, data_dir / "jfk.flac")
    removed = store.delete(task.id)
    assert removed is not None
    storage.remove(removed.media_path)
    with caplog.at_level(logging.INFO, logger="aural.jobs.runner"):
        assert runner.run(task) is None
    assert store.get(task.id) is None
    assert "task was deleted while running; rejected outcome dropped" in caplog.text
    assert "result dropped" not in caplog.text


def test_a_task_deleted_mid_transcription_stops_at_its_next_progress_report(
    parts: tuple[TaskStore, MediaStorage, Runner, TaskEvents],
    data_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nobody will read the result: the transcription stops where it is instead of spending
    minutes of the cores on it (on every executor: it is the runner's own check)."""
    store, storage, runner, _ = parts
    jfk = fidelity_shapes.load(data_dir / "jfk.flac")
    # 440 s: many decoding pieces, so more progress reports follow the deletion (at most one
    # a second is stored) than a short file's last pieces would give.
    long = fidelity_shapes.write_wav(tmp_path / "jfk-x40.wav", [np.tile(jfk, 40)])
    task = _submit(store, storage, long)

    def delete_once_it_progresses() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            record = store.get(task.id)
            if record is not None and (record.progress or 0) > 0:
                store.delete(task.id)
                return
            time.sleep(0.05)

    deleter = threading.Thread(target=delete_once_it_progresses)
    deleter.start()
    with caplog.at_level(logging.INFO, logger="aural.jobs.runner"):
        assert runner.run(task) is None
    deleter.join()
    stopped = re.search(r"transcription stopped at (\d+)% of its audio", caplog.text)
    assert stopped is not None, caplog.text
    assert int(stopped.group(1)) < 100
    assert not any(storage.media_dir.iterdir())


def test_settings_default_to_one_transcription_per_model_worker() -> None:
    settings = Settings()
    assert settings.resolved_cpu_threads == 1
    assert settings.resolved_workers == settings.resolved_model_workers == usable_cores()
    assert settings.resolved_workers_per_model == settings.resolved_workers
    assert Settings(workers=0).resolved_workers == 0, "an API-only node"
