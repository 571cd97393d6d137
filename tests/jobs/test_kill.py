"""The kill test: SIGKILL the server and its worker processes at random moments while tasks run,
some with webhooks to a real receiver. No task is lost, none finishes twice, each webhook arrives,
and a copy arrives again only under a new attempt number with the same body. The moments are
random (the seed is printed, so a failure can be replayed)."""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import time
from collections import Counter
from pathlib import Path

from aural.jobs.store import TaskState, WebhookState

from .conftest import Received, ServeFactory, wait_until


def test_random_sigkills_lose_nothing_and_repeat_nothing(
    aural_serve: ServeFactory, data_dir: Path, hooks: tuple[str, Received]
) -> None:
    url, deliveries = hooks
    seed = int(os.environ.get("AURAL_KILL_SEED", time.time_ns() % 2**32))
    print(f"kill test seed: {seed} (AURAL_KILL_SEED={seed} replays it)")
    rng = random.Random(seed)
    env = {
        "AURAL_WORKERS": "2",
        "AURAL_MAX_ATTEMPTS": "20",  # the kills are not the tasks' fault
        "AURAL_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
        "AURAL_WEBHOOK_BACKOFF_S": "0.05",
    }
    media = [data_dir / "jfk.flac", data_dir / "stereo_two_speakers.flac"]
    tasks: list[str] = []
    with_hook: list[str] = []
    for _ in range(2):
        server = aural_serve(**env)
        for index in range(3):
            hooked = index != 1
            task_id = server.post(rng.choice(media), **({"webhook": url} if hooked else {}))
            tasks.append(task_id)
            if hooked:
                with_hook.append(task_id)
        time.sleep(rng.uniform(0.0, 3.0))
        victims = server.worker_pids()
        if rng.random() < 0.5:  # a worker first, then (a moment later) the server
            os.kill(rng.choice(victims), signal.SIGKILL)
            time.sleep(rng.uniform(0.0, 0.5))
        os.kill(server.process.pid, signal.SIGKILL)
        for pid in victims:  # the rest of its family, as a container stop would
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        server.process.wait(30)

    server = aural_serve(**env)
    records = {task_id: server.final(task_id) for task_id in tasks}
    assert {r.state for r in records.values()} == {TaskState.DONE}, "no task lost or failed"
    assert all(r.result for r in records.values())

    def hooks_settled() -> bool:
        rows = [server.store.get(t) for t in with_hook]
        return all(r is not None and r.webhook_state != WebhookState.PENDING for r in rows)

    wait_until(hooks_settled, "the webhooks to be delivered")
    time.sleep(0.5)  # a duplicate, if any, would arrive now
    assert set(deliveries) == set(with_hook), "every webhook arrives, and only those asked for"
    for task_id in with_hook:
        # Delivery is at least once. A server killed after the receiver got a body but before the
        # success was stored sends it again, but always under a new attempt number (attempts are
        # stored before they are made) and with the same body (the one stored result, not a rerun).
        attempts = [attempt for attempt, _ in deliveries[task_id]]
        assert len(set(attempts)) == len(attempts), f"{task_id}: an attempt number came twice"
        assert len({body for _, body in deliveries[task_id]}) == 1, f"{task_id}: bodies differ"
        record = server.store.get(task_id)
        assert record is not None and record.webhook_state == WebhookState.DELIVERED
        assert str(record.webhook_attempts) == max(attempts, key=int)
    # No task finished twice: at most one "task done" per task over every server's log. (A kill
    # can land between storing the outcome and writing that line, so a line may be missing; the
    # store's fenced finish and the one body per webhook above are what prove exactly once.)
    done = Counter(re.findall(r"task_id=(\S+)\] task done in", server.text()))
    assert set(done) <= set(tasks)
    assert all(count == 1 for count in done.values()), done
    assert not any((server.log.parent / "data" / "media").iterdir()), "media deleted"
