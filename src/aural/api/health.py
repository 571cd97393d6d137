"""Liveness, readiness and Prometheus metrics; none of them needs an API key."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from aural.api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz", summary="The default model is loaded and the task store answers")
async def readyz(services: ServicesDep) -> JSONResponse:
    store_ok = await to_thread.run_sync(services.store.ping)
    model_ok = services.default_model_ready()
    checks = {
        "store": "ok" if store_ok else "unreachable",
        "model": "ok" if model_ok else (services.model_error or "loading"),
    }
    broker_ok = await to_thread.run_sync(services.broker_reachable)
    if broker_ok is not None:
        checks["broker"] = "ok" if broker_ok else "unreachable"
    # Without the broker, submissions are still stored and sent once it is back: reported,
    # but not a reason to take every API node out of the load balancer.
    ready = store_ok and model_ok
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(services: ServicesDep) -> Response:
    body = await to_thread.run_sync(services.metrics.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
