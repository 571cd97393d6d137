"""A daemon thread with a stop signal: the shape of every background loop of the job system."""

from __future__ import annotations

import threading
from collections.abc import Callable


class DaemonLoop:
    """Runs ``body(stop)`` on a daemon thread; ``body`` returns once ``stop`` is set."""

    def __init__(self, name: str, body: Callable[[threading.Event], None]) -> None:
        self.name = name
        self._body = body
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._body, args=(self._stop,), name=self.name, daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
