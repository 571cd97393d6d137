"""What the server needs of an executor, and the timings every executor runs by.

Two executors implement :class:`Executor`: :class:`aural.jobs.local.LocalExecutor` runs tasks on
threads of the API process (the embedded default), :class:`aural.jobs.distributed.CeleryExecutor`
sends them to ``aural worker`` processes through a Celery broker. Either way the task row in
the store is the truth; the executor only gets it run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from aural.config import Settings


class Executor(Protocol):
    def start(self) -> None:
        """Recover what a previous process left, start workers and housekeeping."""

    def submit(self, task_id: str) -> None:
        """A pending task was stored: get it run."""

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop taking work; running tasks get up to ``timeout_s`` to finish."""

    def queue_depth(self) -> int:
        """Tasks waiting to run."""


@dataclass(frozen=True)
class JobTimings:
    """Polling, leases and housekeeping periods (seconds), from :class:`Settings`."""

    poll_interval_s: float = 0.5
    heartbeat_interval_s: float = 10.0
    lease_s: float = 60.0
    reaper_interval_s: float = 15.0
    max_attempts: int = 3
    retention_s: float = 7 * 24 * 3600.0
    purge_interval_s: float = 300.0
    # Unreferenced media younger than this may be an upload in flight on another node.
    orphan_grace_s: float = 3600.0

    @classmethod
    def of(cls, settings: Settings) -> JobTimings:
        single_node = settings.executor == "local" and settings.resolved_store_url.startswith(
            "sqlite"
        )
        return cls(
            poll_interval_s=settings.task_poll_interval_s,
            heartbeat_interval_s=settings.heartbeat_interval_s,
            lease_s=settings.task_lease_s,
            reaper_interval_s=settings.reaper_interval_s,
            max_attempts=settings.max_attempts,
            retention_s=settings.result_retention_s,
            purge_interval_s=settings.purge_interval_s,
            orphan_grace_s=0.0 if single_node else 3600.0,
        )
