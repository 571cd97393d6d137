"""The HTTP server: ``create_app(settings)`` builds the FastAPI app with every face.

Services (store, storage, model pool, executor, limiter, ...) are created in the lifespan and
held on ``app.state.services``; nothing is a module global, so one process can hold several
apps (the tests do). OpenAPI is at ``/openapi.json``, the interactive docs at ``/docs``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI

from aural import __version__, web
from aural.api import deepinfra, health, openai, phonexia, tasks
from aural.api.errors import install_error_handlers
from aural.api.middleware import RequestContextMiddleware
from aural.api.services import build_services
from aural.config import Settings, get_settings
from aural.jobs.webhooks import TaskWebhooks
from aural.model_pool import ModelPool

DESCRIPTION = """Self-hosted Whisper speech-to-text with three faces over one job system:

* **Phonexia** asynchronous tasks: `POST /api/technology/speech-to-text-whisper-enhanced`;
* **DeepInfra** inference: `POST /v1/inference/openai/whisper-{model}`;
* **OpenAI** audio API: `POST /v1/audio/transcriptions`, `POST /v1/audio/translations`.

The web page to transcribe and read transcripts is at `/`.

Send an API key as `Authorization: Bearer KEY` unless the server runs without keys on loopback.
"""


def register_webhook_payloads(webhooks: TaskWebhooks) -> None:
    """The faces' webhook bodies (API nodes resume deliveries, workers send them)."""
    webhooks.register(phonexia.FACE, phonexia.task_body)
    webhooks.register(deepinfra.FACE, deepinfra.webhook_payload)


def create_app(
    settings: Settings | None = None, *, pool: ModelPool | None = None, serve_grpc: bool = False
) -> FastAPI:
    """The app for ``settings`` (the environment's by default).

    ``pool`` lets an embedding process share its loaded models with the server. With
    ``serve_grpc`` (``aural serve``) the lifespan also runs the Phonexia gRPC face on
    ``settings.grpc_port`` (unless 0), on the same event loop and services.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings, pool)
        register_webhook_payloads(services.webhooks)
        try:
            await to_thread.run_sync(services.start)
        except BaseException:
            await to_thread.run_sync(services.close)
            raise
        app.state.services = services
        grpc_server = None
        try:
            if serve_grpc and settings.grpc_port:
                from aural.grpc.server import GrpcServer  # grpcio only where it is served

                grpc_server = GrpcServer(services)
                await grpc_server.start()
            app.state.grpc = grpc_server
            yield
        finally:
            if grpc_server is not None:
                await grpc_server.stop()
            await to_thread.run_sync(services.close)

    app = FastAPI(
        title="aural",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(phonexia.router)
    app.include_router(tasks.router)
    app.include_router(deepinfra.router)
    app.include_router(openai.router)
    app.include_router(health.router)
    web.install(app)  # the web page at "/", its assets under /web
    return app
