"""The gRPC server of ``aural serve``: ``grpc.aio`` on the HTTP app's event loop and services.

It is started and stopped by the app's lifespan, so one process, one job system and one set of
loaded models serve both protocols, and nothing needs a second supervisor. Health
(``grpc.health.v1``: ``SERVING`` while the default model is loaded and the task store answers,
under ``""`` and the ``SpeechToText`` name) and server reflection come with it. The standard
``grpc_health`` module is used, never Phonexia's copy of the same proto (both in one process
clash in the descriptor pool); the wire format is the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import grpc
from anyio import to_thread
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from phonexia.grpc.technologies.enhanced_speech_to_text_built_on_whisper.v1 import (
    enhanced_speech_to_text_built_on_whisper_pb2_grpc as pb_grpc,
)

from aural.api.services import Services, StartupError
from aural.grpc.speech import SERVICE_NAME, SpeechToTextFace

log = logging.getLogger(__name__)

HEALTH_INTERVAL_S = 2.0
_GRACE_S = 5.0


def bind_address(host: str, port: int) -> str:
    """``host:port`` as gRPC wants it (IPv6 literals in brackets)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def _credentials(cert: Path, key: Path) -> grpc.ServerCredentials:
    try:
        chain, private = cert.read_bytes(), key.read_bytes()
    except OSError as exc:
        raise StartupError(f"cannot read the gRPC TLS certificate or key: {exc}") from exc
    return grpc.ssl_server_credentials([(private, chain)])


class GrpcServer:
    """One ``grpc.aio`` server for one app's :class:`Services`; :attr:`port` once started."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.port = 0
        self.health = HealthServicer()
        self._server: grpc.aio.Server | None = None
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        settings = self.services.settings
        # No SO_REUSEPORT (gRPC's default on Linux): a second server on a port in use must fail
        # to start, not silently share the port and receive half of the first one's calls.
        server = grpc.aio.server(options=(("grpc.so_reuseport", 0),))
        pb_grpc.add_SpeechToTextServicer_to_server(SpeechToTextFace(self.services), server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        address = bind_address(settings.host, settings.grpc_port)
        cert, key = settings.grpc_tls_cert, settings.grpc_tls_key
        if (cert is None) != (key is None):
            raise StartupError("set both AURAL_GRPC_TLS_CERT and AURAL_GRPC_TLS_KEY, or neither")
        try:
            if cert is not None and key is not None:
                self.port = server.add_secure_port(address, _credentials(cert, key))
            else:
                self.port = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise StartupError(f"cannot listen for gRPC on {address}: {exc}") from exc
        await self._refresh_health()
        await server.start()
        self._server = server
        self._watch = asyncio.create_task(self._watch_health())
        log.info("gRPC (%s) on %s", "TLS" if cert else "plaintext", address)

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._server is not None:
            await self.health.enter_graceful_shutdown()
            await self._server.stop(_GRACE_S)
            self._server = None

    async def _refresh_health(self) -> None:
        store_ok = await to_thread.run_sync(self.services.store.ping)
        ready = store_ok and self.services.default_model_ready()
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if ready
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", SERVICE_NAME):
            await self.health.set(name, status)

    async def _watch_health(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_INTERVAL_S)
            try:
                await self._refresh_health()
            except Exception:
                log.exception("gRPC health refresh failed")
