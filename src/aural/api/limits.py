"""Rate limits per API key on the `limits` library (moving window).

Storage is memory by default (one process); a ``redis://`` URI shares the windows between API
nodes. Only submissions count: polling a task is never limited.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from aural.api.errors import HTTPError, RateLimitedError

log = logging.getLogger(__name__)


@lru_cache(maxsize=256)
def _item(rate: str) -> RateLimitItem:
    return parse(rate)


class RateLimiter:
    """Counts hits per identity against each caller's limit."""

    def __init__(self, storage_uri: str = "memory://") -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self._lock = threading.Lock()

    def hit(self, identity: str, rate: str | None) -> dict[str, str]:
        """Count one request; returns the ``x-ratelimit-*`` headers or raises a 429."""
        headers, refused = self.count(identity, rate)
        if refused is not None:
            raise HTTPError.of(refused, headers=headers, top_message=refused.message)
        return headers

    def count(
        self, identity: str, rate: str | None
    ) -> tuple[dict[str, str], RateLimitedError | None]:
        """Count one request: the ``x-ratelimit-*`` values, and the error when over the limit.

        Face-independent (the gRPC face reports the error as ``RESOURCE_EXHAUSTED``).
        """
        if not rate:
            return {}, None
        item = _item(rate)
        try:
            with self._lock:
                allowed = self._limiter.hit(item, "aural", identity)
                stats = self._limiter.get_window_stats(item, "aural", identity)
        except Exception as exc:  # the shared storage (Redis) is down: serve, do not count
            log.warning("rate limit storage unavailable, request not counted: %s", exc)
            return {}, None
        headers = {
            "x-ratelimit-limit": str(item.amount),
            "x-ratelimit-remaining": str(max(stats.remaining, 0)),
            "x-ratelimit-reset": str(math.ceil(stats.reset_time)),
        }
        if allowed:
            return headers, None
        headers["retry-after"] = str(max(1, math.ceil(stats.reset_time - time.time())))
        return headers, RateLimitedError(f"Rate limit exceeded: {item}.", limit=str(item))
