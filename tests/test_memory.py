"""The C heap under the model: the huge-pages restart, in real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from aural import memory
from aural.config import Settings

CAN_USE_HUGE_PAGES = memory.with_huge_pages({}) is not None
needs_huge_pages = pytest.mark.skipif(
    not CAN_USE_HUGE_PAGES, reason="glibc < 2.35 or transparent huge pages not on madvise"
)


def _clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "AURAL_HUGE_PAGES")}


@needs_huge_pages
def test_the_tunables_are_added_to_those_set_and_only_once() -> None:
    added = memory.with_huge_pages({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2", "X": "1"})
    both = f"{memory.HUGE_PAGES_TUNABLE}:{memory.MMAP_THRESHOLD_TUNABLE}"
    assert added == {"GLIBC_TUNABLES": f"glibc.malloc.arena_max=2:{both}", "X": "1"}
    assert memory.with_huge_pages(added) is None
    assert memory.with_huge_pages({}) == {"GLIBC_TUNABLES": both}
    # a threshold of the user's own is kept
    own = "glibc.malloc.mmap_threshold=65536"
    assert memory.with_huge_pages({"GLIBC_TUNABLES": own}) == {
        "GLIBC_TUNABLES": f"{own}:{memory.HUGE_PAGES_TUNABLE}"
    }


def test_the_restart_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    for off in ("false", "0", "no", "OFF"):
        monkeypatch.setenv("AURAL_HUGE_PAGES", off)
        assert Settings().huge_pages is False
    memory.restart_with_huge_pages(False)  # returns: this test process is still here


# Run in a child: restart under the tunable, then malloc 64 MB (ctypes, not numpy, which asks for
# huge pages on its own), touch every page, and print how much of the process is in huge pages.
_CHILD = """
import ctypes, os, sys
from aural.config import Settings
from aural.memory import restart_with_huge_pages
print("start", os.getpid(), os.environ.get("GLIBC_TUNABLES"), flush=True)
restart_with_huge_pages(Settings().huge_pages)
def huge_kb():
    for line in open("/proc/self/smaps_rollup"):
        if line.startswith("AnonHugePages:"):
            return int(line.split()[1])
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
before = huge_kb()
block = libc.malloc(64 << 20)
ctypes.memset(block, 1, 64 << 20)
print("huge", huge_kb() - before, flush=True)
"""


@needs_huge_pages
def test_a_restarted_process_gets_huge_pages_for_large_blocks() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], env=_clean_environ(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # first run without the tunable, then the same process id again under it
    assert lines[0].split()[2] == "None"
    tunables = f"{memory.HUGE_PAGES_TUNABLE}:{memory.MMAP_THRESHOLD_TUNABLE}"
    assert lines[1].split()[1:] == [lines[0].split()[1], tunables]
    assert int(lines[2].split()[1]) >= 32 * 1024  # at least half the block in 2 MB pages


def test_without_the_restart_large_blocks_stay_in_small_pages() -> None:
    env = {**_clean_environ(), "AURAL_HUGE_PAGES": "false"}
    done = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2  # no restart
    if CAN_USE_HUGE_PAGES:  # on "madvise", nothing asked for them
        assert int(lines[1].split()[1]) == 0


def _silence(path: Path, seconds: float) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\0\0" * int(seconds * 16000))
    return path


# The console entry point, run by ``python -c`` so that the restart (which replays the command
# line) prints the environment a second time before transcribing.
_CONSOLE = (
    "import os, sys; print('tunables', os.environ.get('GLIBC_TUNABLES'), flush=True); "
    "from aural.cli import main; sys.argv[0] = 'aural'; main()"
)


@pytest.mark.parametrize("seconds", [memory.HUGE_PAGES_AFTER_AUDIO_S + 1, 20.0])
def test_aural_transcribe_restarts_under_huge_pages_for_long_audio_only(
    tmp_path: Path, settings: Settings, seconds: float
) -> None:
    audio = _silence(tmp_path / "silence.wav", seconds)
    env = {**_clean_environ(), "AURAL_CACHE_DIR": str(settings.cache_dir)}
    done = subprocess.run(
        [sys.executable, "-c", _CONSOLE, "transcribe", str(audio), "--format", "text"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("tunables")]
    restarted = seconds >= memory.HUGE_PAGES_AFTER_AUDIO_S and CAN_USE_HUGE_PAGES
    tunables = f"{memory.HUGE_PAGES_TUNABLE}:{memory.MMAP_THRESHOLD_TUNABLE}"
    expected = ["tunables None", f"tunables {tunables}"]
    assert lines == (expected if restarted else expected[:1])
