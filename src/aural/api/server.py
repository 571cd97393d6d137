"""uvicorn for aural: its config in one place, and connections that stall are cut.

uvicorn times out only idle keep-alive connections *after* a response. A client that opens a
connection and sends half a request head, or starts an upload and then stops sending, would
hold its socket (and, mid-upload, a partial file and a storage reservation) for ever. The
protocol here closes a connection that has sent nothing for ``idle_timeout_s`` while the
server waits on it (for the rest of a request head or body); a connection whose request is
complete and waits for its answer (a synchronous transcription) is never cut.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from aural.config import Settings

# The event loop shares the GIL with the request threads (multipart parsing, the task store,
# decoding); with CPython's default 5 ms switch interval a busy thread can hold it for several
# intervals in a row. 1 ms lowered /healthz p99 under bad input on 2 loaded cores (see
# docs/reliability.md); CTranslate2 and FFmpeg release the GIL, so decoding is unaffected.
GIL_SWITCH_INTERVAL_S = 0.001

# States of the client's side of the connection in which the server waits for its bytes.
_WAITING_ON_CLIENT = (h11.IDLE, h11.SEND_BODY)


class StallGuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a watchdog on connections that stop sending."""

    idle_timeout_s: float = 60.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._last_data = self.loop.time()
        self._watchdog: asyncio.TimerHandle | None = self.loop.call_later(
            self.idle_timeout_s, self._check_stalled
        )

    def data_received(self, data: bytes) -> None:
        self._last_data = self.loop.time()
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        super().connection_lost(exc)

    def _check_stalled(self) -> None:
        self._watchdog = None
        if self.transport.is_closing():
            return
        idle = self.loop.time() - self._last_data
        if idle >= self.idle_timeout_s and self.conn.their_state in _WAITING_ON_CLIENT:
            # Closing makes the app's receive() report a disconnect: an upload in progress is
            # aborted and its partial file removed, like any client that goes away.
            self.transport.close()
            return
        wait = max(self.idle_timeout_s - idle, 0.05)
        self._watchdog = self.loop.call_later(wait, self._check_stalled)


def guarded_protocol(idle_timeout_s: float) -> type[StallGuardedH11Protocol]:
    """The protocol class with this idle timeout (uvicorn instantiates it per connection)."""
    return type(
        "StallGuardedH11Protocol",
        (StallGuardedH11Protocol,),
        {"idle_timeout_s": float(idle_timeout_s)},
    )


def keep_loop_responsive() -> None:
    """Make the GIL change hands often enough for the event loop (``aural serve`` only)."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


def server_config(app: Any, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn config of ``aural serve`` (tests use it too, with a socket of their own)."""
    values: dict[str, Any] = {
        "http": guarded_protocol(settings.connection_idle_timeout_s),
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "timeout_keep_alive": 5,
        "timeout_graceful_shutdown": 10,
    }
    values.update(overrides)
    return uvicorn.Config(app, **values)
