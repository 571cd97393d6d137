"""Model-call slots shared by the server's engine processes, freed by the kernel if one dies.

Each engine process loads its model with a worker per core, so a lone long task gets every
core. Two busy processes would then run twice as many model calls as there are cores, with the
memory of twice as many chunks in flight. The slots bound the calls over all of them.

A slot is an exclusive ``flock`` on one of ``count`` files. A process killed while holding one
(a crash, the memory watchdog) cannot release it, but the kernel drops its locks with its open
files, so a dead worker never takes a slot with it (a semaphore would leak one per death).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

_POLL_S = 0.01  # a model call lasts 0.1-10 s


class FileSlots:
    """``count`` slots as locked files in ``directory``; picklable (sent to spawned workers)."""

    def __init__(self, directory: str | os.PathLike[str], count: int) -> None:
        self.directory = Path(directory)
        self.count = max(1, count)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._held = threading.local()

    def __getstate__(self) -> dict[str, object]:
        return {"directory": self.directory, "count": self.count}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.directory = Path(str(state["directory"]))
        self.count = int(str(state["count"]))
        self._held = threading.local()

    def _path(self, index: int) -> Path:
        return self.directory / f"model-call-{index}.lock"

    def acquire(self) -> bool:
        """Take a free slot, looking again every few milliseconds while all are taken.

        (Blocking on one particular file would leave a waiter asleep while another slot frees:
        a core idle for the length of a model call.)
        """
        while True:
            for index in range(self.count):
                fd = os.open(self._path(index), os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                self._push(fd)
                return True
            time.sleep(_POLL_S)

    def release(self) -> None:
        """Give back the slot this thread took last."""
        held: list[int] = getattr(self._held, "fds", [])
        if not held:
            return
        fd = held.pop()
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _push(self, fd: int) -> None:
        if not hasattr(self._held, "fds"):
            self._held.fds = []
        self._held.fds.append(fd)
