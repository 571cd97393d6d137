"""Request ids on every response, in the logs, and in the metrics; a last-resort 500.

``X-Correlation-ID`` and ``X-Request-ID`` are echoed when the client sent a sane value and
generated otherwise, on every response (errors and 500s included). Handlers may leave extra
response headers (rate-limit counters) in ``scope["state"]["response_headers"]``.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aural.api.errors import internal_error, render_error
from aural.jobs.context import bound

log = logging.getLogger(__name__)

CORRELATION_HEADER = "X-Correlation-ID"
REQUEST_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:/+=@-]{1,200}$")


def _id_from(headers: Headers, name: str) -> str:
    value = headers.get(name)
    return value if value and _SANE_ID.match(value) else str(uuid.uuid4())


class RequestContextMiddleware:
    """Pure ASGI middleware (it must not buffer streamed uploads)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        correlation = _id_from(headers, CORRELATION_HEADER)
        request = _id_from(headers, REQUEST_HEADER)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["correlation_id"] = correlation
        state["request_id"] = request
        status = 500
        started = False
        began = time.perf_counter()

        async def send_with_ids(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                response_headers = MutableHeaders(scope=message)
                response_headers[CORRELATION_HEADER] = correlation
                response_headers[REQUEST_HEADER] = request
                for name, value in state.get("response_headers", {}).items():
                    if name not in response_headers:
                        response_headers[name] = value
            await send(message)

        with bound(correlation, request):
            try:
                await self.app(scope, receive, send_with_ids)
            except Exception:
                log.exception("unhandled error")
                if started:
                    raise
                response = render_error(scope.get("path", ""), internal_error())
                await response(scope, receive, send_with_ids)
            finally:
                self._observe(scope, status, time.perf_counter() - began)

    @staticmethod
    def _observe(scope: Scope, status: int, seconds: float) -> None:
        app = scope.get("app")
        services = getattr(getattr(app, "state", None), "services", None)
        if services is None:
            return
        route = scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        services.metrics.observe_request(scope.get("method", ""), path, status, seconds)
