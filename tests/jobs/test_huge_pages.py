"""``aural serve`` restarts itself under the huge-pages tunable; its engine process inherits it."""

from __future__ import annotations

from pathlib import Path

import pytest

from aural.jobs.store import TaskState
from aural.memory import HUGE_PAGES_TUNABLE, with_huge_pages

from .conftest import ServeFactory


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (entry.split(b"=", 1) for entry in raw.split(b"\0") if b"=" in entry)
    return {key.decode(): value.decode(errors="replace") for key, value in pairs}


@pytest.mark.skipif(
    with_huge_pages({}) is None, reason="glibc < 2.35 or transparent huge pages not on madvise"
)
def test_the_server_and_its_engine_process_run_under_huge_pages(
    aural_serve: ServeFactory, data_dir: Path
) -> None:
    server = aural_serve(GLIBC_TUNABLES="", AURAL_WORKERS="1")
    task = server.final(server.post(data_dir / "jfk.flac"))
    assert task.state == TaskState.DONE
    engines = server.worker_pids()
    assert engines
    # The same process id as started (the restart replaced it in place), now with the tunable.
    for pid in (server.process.pid, *engines):
        assert _environ(pid)["GLIBC_TUNABLES"].startswith(HUGE_PAGES_TUNABLE)
