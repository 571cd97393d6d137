"""FastAPI dependencies as ``Annotated`` aliases: the app's services, the caller, rate limits."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from aural.api.auth import Principal
from aural.api.errors import HTTPError
from aural.api.services import Services
from aural.errors import AuralError


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def authenticate(request: Request, services: ServicesDep) -> Principal:
    """The caller behind the ``Authorization`` header (anonymous while auth is off)."""
    client = request.client.host if request.client else "unknown"
    try:
        return services.auth.authenticate(request.headers.get("authorization"), client)
    except AuralError as exc:
        raise HTTPError.of(exc, ["header", "authorization"]) from exc


PrincipalDep = Annotated[Principal, Depends(authenticate)]


def rate_limited(request: Request, principal: PrincipalDep, services: ServicesDep) -> Principal:
    """The caller, after counting this request against its rate limit (429 when over)."""
    headers = services.limiter.hit(principal.identity, principal.rate_limit)
    request.scope.setdefault("state", {})["response_headers"] = headers
    return principal


SubmitterDep = Annotated[Principal, Depends(rate_limited)]
