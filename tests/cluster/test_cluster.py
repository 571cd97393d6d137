"""The scaled-out deployment for real: two API nodes, two Celery workers, PostgreSQL, Redis.

Every task runs exactly once wherever it was submitted, results are readable from any node,
a SIGKILLed busy worker loses nothing, and a rate limit holds across API nodes.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from aural.api.auth import create_key
from aural.jobs.store import TaskState

from .conftest import Cluster, Node, wait_until

PATH = "/api/technology/speech-to-text-whisper-enhanced"

pytestmark = pytest.mark.slow


def _clips(data_dir: Path) -> list[Path]:
    english = sorted((data_dir / "lang").glob("en_*.flac"))
    return [data_dir / "jfk.flac", *sorted((data_dir / "librivox").glob("*.flac")), *english]


def test_twenty_tasks_across_two_api_nodes_finish_exactly_once(
    cluster: Cluster, data_dir: Path
) -> None:
    clips = list(itertools.islice(itertools.cycle(_clips(data_dir)), 20))
    submitted: dict[str, Path] = {}
    clients = [cluster.client(0), cluster.client(1)]
    for index, clip in enumerate(clips):
        response = clients[index % 2].post(PATH, files={"file": (clip.name, clip.read_bytes())})
        assert response.status_code == 202, response.text
        submitted[response.json()["task"]["task_id"]] = clip

    records = {task_id: cluster.wait_final(task_id) for task_id in submitted}
    assert {r.state for r in records.values()} == {TaskState.DONE}
    assert {r.attempts for r in records.values()} == {1}, "no task was run twice"
    assert len({r.worker for r in records.values()}) == 2, "both workers took tasks"

    # Each task ran once: one "task done" line per task in all the workers' logs together.
    last = next(reversed(submitted))
    wait_until(lambda: f"task_id={last}] task done" in cluster.logs(), "the workers' logs")
    logs = cluster.logs()
    for task_id in submitted:
        assert logs.count(f"task_id={task_id}] task done") == 1

    # Results are the same from either node (and the text is the clip's).
    for task_id, clip in submitted.items():
        bodies = [client.get(f"{PATH}/{task_id}").json() for client in clients]
        assert bodies[0] == bodies[1]
        assert bodies[0]["task"]["state"] == "done"
        if clip.name == "jfk.flac":
            words = " ".join(s["text"] for s in bodies[0]["result"]["one_best"]["segments"])
            assert "country" in words.lower()
    for client in clients:
        client.close()
    assert not any((cluster.root / "media").iterdir()), "media deleted once processed"


def test_synchronous_requests_are_answered_by_either_node(cluster: Cluster, data_dir: Path) -> None:
    audio = (data_dir / "jfk.flac").read_bytes()
    with cluster.client(0) as first, cluster.client(1) as second:
        deepinfra = first.post(
            "/v1/inference/openai/whisper-tiny.en", files={"audio": ("jfk.flac", audio)}
        )
        openai = second.post(
            "/v1/audio/transcriptions",
            files={"file": ("jfk.flac", audio)},
            data={"model": "whisper-1"},
        )
    assert deepinfra.status_code == 200, deepinfra.text
    assert openai.status_code == 200, openai.text
    assert "ask not what your country" in deepinfra.json()["text"].lower()
    assert "ask not what your country" in openai.json()["text"].lower()


def test_a_grpc_request_is_answered_through_a_celery_worker(
    cluster: Cluster, data_dir: Path
) -> None:
    """The official Phonexia gRPC client against an API node; a worker process transcribes."""
    client = Path(sys.executable).with_name("enhanced_speech_to_text_built_on_whisper_client")
    result = subprocess.run(
        [str(client), "--plaintext", "-H", cluster.apis[1].grpc_target,
         "--metadata", f"authorization=Bearer {cluster.key}",
         "transcribe", str(data_dir / "jfk.flac")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    segments = json.loads(result.stdout)["result"]["one_best"]["segments"]
    assert "ask not what your country" in " ".join(s["text"] for s in segments).lower()
    queued = re.findall(r"Transcribe queued as task (\S+)", cluster.apis[1].text())
    assert len(queued) == 1
    record = cluster.store.get(queued[0])
    assert record is not None and record.state == TaskState.DONE
    assert queued[0] in cluster.worker_of(record).text()


def test_a_rate_limit_holds_across_api_nodes(cluster: Cluster, data_dir: Path) -> None:
    _, limited = create_key(cluster.store, "limited", rate_limit="3/minute")
    clip = data_dir / "lang" / "en_conf-invalid.flac"
    statuses = []
    for index in range(5):
        with cluster.client(index % 2, key=limited) as client:
            response = client.post(PATH, files={"file": (clip.name, clip.read_bytes())})
        statuses.append(response.status_code)
    assert statuses == [202, 202, 202, 429, 429]
    assert response.json()["type"] == "request.rate-limit-exceeded", response.text
    assert int(response.headers["retry-after"]) >= 1


def _worker_metric(node: Node, line_start: str) -> float:
    text = httpx.get(f"{node.url}/metrics", timeout=30).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(line_start))


def test_workers_export_metrics_of_all_their_processes(cluster: Cluster, data_dir: Path) -> None:
    with cluster.client(0) as client:
        response = client.post(
            PATH, files={"file": ("jfk.flac", (data_dir / "jfk.flac").read_bytes())}
        )
    cluster.wait_final(response.json()["task"]["task_id"])
    done = cluster.store.count_by_state()[TaskState.DONE]

    def counted() -> float:
        return sum(
            _worker_metric(node, 'aural_worker_tasks_total{model="tiny.en",state="done"}')
            for node in cluster.workers
        )

    # Counted by the pool processes, served by each worker's main process.
    wait_until(lambda: counted() == done, "the workers' counts to match the store")
    assert all(
        _worker_metric(n, "aural_worker_task_duration_seconds_count") for n in cluster.workers
    )
    # A pool process killed: the main process counts the death; the dead one's counts stay.
    node = cluster.workers[0]
    pool = _children(node.process.pid)
    assert pool, "the worker has pool processes"
    os.kill(pool[0], signal.SIGKILL)
    wait_until(lambda: _worker_metric(node, "aural_worker_deaths_total") == 1, "the death counted")
    assert counted() == done


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def test_a_sigkilled_busy_worker_loses_nothing(cluster: Cluster, data_dir: Path) -> None:
    stereo = (data_dir / "stereo_two_speakers.flac").read_bytes()
    with cluster.client(0) as client:
        response = client.post(
            PATH,
            params={"channel_mode": "split"},
            files={"file": ("stereo.flac", stereo)},
        )
    task_id = response.json()["task"]["task_id"]
    while (record := cluster.store.get(task_id)) is not None and record.state == "pending":
        time.sleep(0.02)
    assert record is not None and record.state == TaskState.RUNNING
    victim = cluster.worker_of(record)
    os.killpg(victim.process.pid, signal.SIGKILL)  # the worker and its pool process
    victim.process.wait(30)

    final = cluster.wait_final(task_id)
    assert final.state == TaskState.DONE
    assert final.attempts == 2, "killed once, run again once"
    assert final.worker != record.worker
    survivor = next(node for node in cluster.workers if node is not victim)
    wait_until(lambda: f"task_id={task_id}] task done" in survivor.text(), "the survivor's log")
    api_logs = "".join(node.text() for node in cluster.apis)
    assert f"requeued task {task_id}: its lease ran out" in api_logs
    channels = final.result["channels"] if final.result else []
    assert len(channels) == 2
