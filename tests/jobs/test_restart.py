"""Restart recovery with a real ``aural serve`` process: SIGKILL with one task running and one
pending; after a restart both finish, each exactly once, and a further restart runs nothing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from aural.config import Settings
from aural.jobs.store import TaskState, TaskStore

PATH = "/api/technology/speech-to-text-whisper-enhanced"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _aural_serve(
    data: Path, cache: Path, log: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = _free_port()
    env = {
        **os.environ,
        "AURAL_DATA_DIR": str(data),
        "AURAL_CACHE_DIR": str(cache),
        "AURAL_MODEL": "tiny.en",
        "AURAL_WORKERS": "1",
        "AURAL_TASK_POLL_INTERVAL_S": "0.2",
    }
    aural = Path(sys.executable).with_name("aural")
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(aural), "serve", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "aural serve did not become ready"
            time.sleep(0.1)
        yield process, url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(60)


def _state(url: str, task_id: str) -> str:
    return str(httpx.get(f"{url}{PATH}/{task_id}", timeout=30).json()["task"]["state"])


def test_tasks_survive_a_kill_and_finish_exactly_once(
    tmp_path: Path, settings: Settings, data_dir: Path
) -> None:
    data, log = tmp_path / "data", tmp_path / "serve.log"
    # Two channels of speech: seconds of work, while the kill follows "running" within ms.
    long_media = data_dir / "stereo_two_speakers.flac"
    with _aural_serve(data, settings.cache_dir, log) as (process, url):
        with httpx.Client(base_url=url, timeout=60) as client:
            running = client.post(
                PATH,
                files={"file": ("a.flac", long_media.read_bytes())},
                headers={"X-Correlation-ID": "restart-call-1"},
            )
            pending = client.post(
                PATH, files={"file": ("b.flac", (data_dir / "jfk.flac").read_bytes())}
            )
        running_id = running.json()["task"]["task_id"]
        pending_id = pending.json()["task"]["task_id"]
        while _state(url, running_id) == "pending":
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(60)

    store = TaskStore(f"sqlite:///{data / 'aural.db'}")
    before = {t: store.get(t) for t in (running_id, pending_id)}
    assert before[running_id].state == TaskState.RUNNING  # type: ignore[union-attr]
    assert before[pending_id].state == TaskState.PENDING  # type: ignore[union-attr]

    with _aural_serve(data, settings.cache_dir, log) as (_, url):
        for task_id in (running_id, pending_id):
            while _state(url, task_id) in ("pending", "running"):
                time.sleep(0.1)
            assert _state(url, task_id) == "done"
    after = {t: store.get(t) for t in (running_id, pending_id)}
    assert after[running_id].attempts == 2  # type: ignore[union-attr]  # started, killed, rerun
    assert after[pending_id].attempts == 1  # type: ignore[union-attr]  # never started before
    assert all(r is not None and r.result is not None for r in after.values())
    assert not any((data / "media").iterdir()), "media deleted once processed"

    with _aural_serve(data, settings.cache_dir, log):
        again = {t: store.get(t) for t in (running_id, pending_id)}
    assert again == after, "finished tasks are not run again"
    text = log.read_text()
    assert text.count("requeued 1 task(s)") == 1
    # The request's ids are in the request's log lines and in the task's, after the restart too.
    task_lines = [line for line in text.splitlines() if f"task_id={running_id}" in line]
    assert task_lines and all("correlation_id=restart-call-1" in line for line in task_lines)
    assert any("task done" in line for line in task_lines)
    store.close()
