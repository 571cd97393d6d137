"""The ids that tie log records to a request and its task, carried in context variables.

The HTTP middleware sets them per request, the runner per task; :class:`ContextFilter` copies
them onto every log record so formatters can print ``%(correlation_id)s``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
task_id: ContextVar[str | None] = ContextVar("task_id", default=None)

LOG_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s "
    "[correlation_id=%(correlation_id)s request_id=%(request_id)s task_id=%(task_id)s] "
    "%(message)s"
)


class ContextFilter(logging.Filter):
    """Adds ``correlation_id``, ``request_id`` and ``task_id`` (or ``-``) to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get() or "-"
        record.request_id = request_id.get() or "-"
        record.task_id = task_id.get() or "-"
        return True


@contextmanager
def bound(
    correlation: str | None = None, request: str | None = None, task: str | None = None
) -> Iterator[None]:
    """Set the ids for the code inside the block (and reset them after)."""
    tokens = (correlation_id.set(correlation), request_id.set(request), task_id.set(task))
    try:
        yield
    finally:
        task_id.reset(tokens[2])
        request_id.reset(tokens[1])
        correlation_id.reset(tokens[0])


def configure_logging(level: str = "info") -> None:
    """Root logging for ``aural serve``: one stderr handler that prints the ids."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
