"""The engine runs in the server's engine processes: a crash, a hang or a memory blow-up never costs
the server, and is charged to exactly the task that caused it; the other tasks go on, or run
again uncharged when they shared the process that died.

Real ``aural serve`` processes, real engine processes killed with real signals."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import fidelity_shapes
import httpx
import numpy as np

from aural.jobs.store import TaskRecord, TaskState

from .conftest import PHONEXIA, Served, ServeFactory, wait_until


def _pid(record: TaskRecord) -> int:
    assert record.worker is not None
    return int(record.worker.split(":")[1])


def _count(metrics: str, name: str, **labels: str) -> float:
    rendered = ",".join(f'{key}="{value}"' for key, value in labels.items())
    match = re.search(rf"^{name}\{{{re.escape(rendered)}\}} (\S+)$", metrics, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _log_count(server: Served, text: str) -> int:
    return server.text().count(text)


def _busy_lanes(server: Served) -> float:
    match = re.search(r"^aural_workers_busy (\S+)$", server.metrics(), re.MULTILINE)
    assert match is not None, "the server exports aural_workers_busy"
    return float(match.group(1))


def _idle_engines(server: Served, count: int) -> list[int]:
    """The ``count`` ready engine processes, once no lane runs a task. A task's row is final a
    moment before its process says it is idle; a process stopped in that moment would hold the
    finished task (and its lane) until the task's time limit."""
    wait_until(
        lambda: _busy_lanes(server) == 0 and len(server.ready_workers()) == count,
        f"{count} idle engine process(es)",
    )
    return server.ready_workers()


def test_with_a_process_per_worker_crashes_and_hangs_cost_one_worker_and_only_their_task(
    aural_serve: ServeFactory, data_dir: Path
) -> None:
    server = aural_serve(
        AURAL_ENGINE_PROCESSES="2",
        # Nothing polls in time: a sync answer must come from the worker's report, at once.
        AURAL_TASK_POLL_INTERVAL_S="600",
        AURAL_WORKERS="2",
        AURAL_MAX_ATTEMPTS="2",
        # 8 s + 20 s per second of audio x channels: jfk gets 228 s, far beyond what tiny.en
        # needs even on a loaded machine; a stopped worker never reports the audio's length,
        # so its task has the 8 s alone.
        AURAL_TASK_TIME_LIMIT_S="8",
        AURAL_TASK_TIME_PER_AUDIO_S="20",
    )
    workers = server.worker_pids()
    assert len(workers) == 2 and server.process.pid not in workers
    stereo, jfk = data_dir / "stereo_two_speakers.flac", data_dir / "jfk.flac"

    # A synchronous request is woken by its worker process's report (the store poll is 600 s).
    answer = httpx.post(
        f"{server.url}/v1/inference/openai/whisper-tiny.en",
        files={"audio": ("jfk.flac", jfk.read_bytes())},
        timeout=120,
    )
    assert answer.status_code == 200 and "ask not" in answer.json()["text"]

    # A segfault in one worker: its task is retried, the task beside it never notices.
    victim, bystander = server.post(stereo), server.post(stereo)
    running: dict[str, TaskRecord] = {}

    def both_run() -> bool:
        for task_id in (victim, bystander):
            if (record := server.running(task_id)) is not None:
                running.setdefault(task_id, record)
        return len(running) == 2

    wait_until(both_run, "both tasks to run")
    assert _pid(running[victim]) != _pid(running[bystander])
    os.kill(_pid(running[victim]), signal.SIGSEGV)
    crashed, spared = server.final(victim), server.final(bystander)
    assert (crashed.state, crashed.attempts) == (TaskState.DONE, 2)
    assert (spared.state, spared.attempts) == (TaskState.DONE, 1)
    assert crashed.result == spared.result  # the same file, transcribed in full after all

    # A task that kills its worker every time ends failed, with a code and a message that say so.
    doomed = server.post(jfk)
    for attempt in (1, 2):
        wait_until(lambda a=attempt: server.running(doomed, a), f"attempt {attempt}")
        os.kill(_pid(server.running(doomed, attempt)), signal.SIGKILL)  # type: ignore[arg-type]
    failed = server.final(doomed)
    assert failed.state == TaskState.FAILED and failed.attempts == 2
    assert failed.error is not None and failed.error["code"] == "task.crashed"
    assert "worker process died (signal SIGKILL)" in failed.error["message"]
    shown = httpx.get(f"{server.url}/api/technology/speech-to-text-whisper-enhanced/{doomed}")
    assert shown.json()["task"]["state"] == "failed" and "task.crashed" in shown.text

    # A hung worker (stopped: it never answers) is killed at its time limit and replaced. Both
    # idle workers are stopped before the task arrives, the one that did not get it continued.
    idle = _idle_engines(server, 2)
    for pid in idle:
        os.kill(pid, signal.SIGSTOP)
    hung = server.post(jfk)
    wait_until(lambda: server.running(hung), "the task to be claimed")
    stuck = _pid(server.running(hung))  # type: ignore[arg-type]
    for pid in idle:
        if pid != stuck:
            os.kill(pid, signal.SIGCONT)
    resumed = server.final(hung)
    assert (resumed.state, resumed.attempts) == (TaskState.DONE, 2)
    assert re.search(
        r"requeued \(attempt 1 of 2\): it ran longer than its time limit", server.text()
    )

    assert server.process.poll() is None, "the server survived all of it"
    assert httpx.get(f"{server.url}/readyz", timeout=30).status_code == 200
    wait_until(lambda: len(server.ready_workers()) == 2, "two workers again")
    assert not set(server.worker_pids()) & set(workers)
    metrics = server.metrics()
    assert _count(metrics, "aural_worker_deaths_total", reason="died") == 3
    assert _count(metrics, "aural_worker_deaths_total", reason="time") == 1


def test_a_task_over_the_memory_ceiling_is_stopped_and_told_why(
    aural_serve: ServeFactory, data_dir: Path
) -> None:
    # A ceiling below what a worker holds with its model loaded: the first sample trips it.
    server = aural_serve(
        AURAL_WORKERS="1", AURAL_MAX_ATTEMPTS="1", AURAL_WORKER_MEMORY_LIMIT_BYTES=str(10 * 2**20)
    )
    task = server.final(server.post(data_dir / "jfk.flac"))
    assert task.state == TaskState.FAILED and task.error is not None
    assert task.error["code"] == "task.crashed"
    assert task.error["context"]["reason"] == "memory"
    assert "more than the limit of 10 MiB" in task.error["message"]
    assert server.process.poll() is None
    metrics = server.metrics()
    assert _count(metrics, "aural_worker_deaths_total", reason="memory") == 1


def test_one_shared_engine_charges_only_the_task_that_dies_alone(
    aural_serve: ServeFactory, data_dir: Path
) -> None:
    """The default: every worker's task runs in one engine process. A crash there stops all of
    them; those that ran beside others go back uncharged and run alone, so a task that kills
    the process again is named by it, and the innocent one is never charged."""
    server = aural_serve(AURAL_WORKERS="2", AURAL_MAX_ATTEMPTS="2", AURAL_TASK_TIME_LIMIT_S="8")
    assert len(server.worker_pids()) == 1
    stereo = data_dir / "stereo_two_speakers.flac"
    doomed, innocent = server.post(stereo), server.post(stereo)
    wait_until(lambda: server.running(doomed) and server.running(innocent), "both to run")
    engine = _pid(server.running(doomed))  # type: ignore[arg-type]
    assert _pid(server.running(innocent)) == engine  # type: ignore[arg-type]
    assert _busy_lanes(server) == 2
    os.kill(engine, signal.SIGSEGV)

    # Each runs alone next; the doomed one kills the process every time it does.
    alone = f"task {doomed} runs alone"
    for attempt in (1, 2):
        wait_until(
            lambda a=attempt: _log_count(server, alone) >= a and server.running(doomed, a),
            f"the doomed task to run alone, attempt {attempt}",
        )
        os.kill(_pid(server.running(doomed, attempt)), signal.SIGKILL)  # type: ignore[arg-type]
    failed, spared = server.final(doomed), server.final(innocent)
    assert (failed.state, failed.attempts) == (TaskState.FAILED, 2)
    assert failed.error is not None and failed.error["code"] == "task.crashed"
    assert "worker process died (signal SIGKILL)" in failed.error["message"]
    assert (spared.state, spared.attempts) == (TaskState.DONE, 1), "never charged"
    assert f"task {innocent} requeued uncharged" in server.text()
    assert f"task {innocent} runs alone" in server.text()

    # A hang: both tasks in a stopped process overrun; the first to reach its limit pays, the
    # other goes back uncharged and (the cause being known) runs beside others again.
    (stopped,) = _idle_engines(server, 1)
    os.kill(stopped, signal.SIGSTOP)
    first, second = server.post(data_dir / "jfk.flac"), server.post(data_dir / "jfk.flac")
    records = [server.final(first), server.final(second)]
    assert sorted(r.attempts for r in records) == [1, 2]
    assert {r.state for r in records} == {TaskState.DONE}
    overran = r"requeued uncharged: task \S+ beside it overran its time limit"
    assert re.search(overran, server.text())

    assert server.process.poll() is None, "the server survived all of it"
    metrics = server.metrics()
    assert _count(metrics, "aural_worker_deaths_total", reason="died") == 3
    assert _count(metrics, "aural_worker_deaths_total", reason="time") == 1


def test_a_task_deleted_while_it_runs_stops_at_once_and_the_engine_goes_on(
    aural_serve: ServeFactory, data_dir: Path, tmp_path: Path
) -> None:
    """A transcription nobody will read stops at its next progress report; the engine process
    (and its loaded model) takes the next task, no death counted."""
    server = aural_serve(AURAL_WORKERS="1")
    jfk = fidelity_shapes.load(data_dir / "jfk.flac")
    # 22 min: many progress reports follow the first one, however fast the CPU
    long = fidelity_shapes.write_wav(tmp_path / "jfk-x120.wav", [np.tile(jfk, 120)])
    task = server.post(long)
    # Deleted once it has reported progress: its media is open and decoding has begun. (A
    # deletion before the engine opens the media ends the run on "no such file" instead, with
    # the same outcome for the client; under load CI saw that race, not the stop tested here.)
    wait_until(
        lambda: (r := server.running(task)) is not None and (r.progress or 0.0) > 0.0,
        "the task to report progress",
        timeout_s=600,
        log=server.text,
    )
    engine = _pid(server.running(task))  # type: ignore[arg-type]
    deleted = httpx.delete(f"{server.url}{PHONEXIA}/{task}", timeout=30)
    assert deleted.status_code == 204

    # The stop comes at the first progress report after the deletion; the assertion is that it
    # stops before the end, however fast or slow the CPU is.
    def ran_to_its_end() -> bool:  # its outcome came and was dropped with the row
        return re.search(r"(result|outcome) dropped", server.text()) is not None

    wait_until(
        lambda: "transcription stopped at" in server.text() or ran_to_its_end(),
        "the transcription to stop",
        timeout_s=600,
        log=server.text,
    )
    assert not ran_to_its_end(), "the deletion went unseen"
    stopped = re.search(r"transcription stopped at (\d+)% of its audio", server.text())
    assert stopped is not None and int(stopped.group(1)) < 100
    assert server.store.get(task) is None
    after = server.final(server.post(data_dir / "jfk.flac"))
    assert after.state == TaskState.DONE and after.attempts == 1
    assert server.worker_pids() == [engine], "the same process, its model still loaded"
    assert _count(server.metrics(), "aural_worker_deaths_total", reason="died") == 0
