"""Every error to an HTTP status and body, in one place, in the schema of the face that was called.

Phonexia and DeepInfra routes answer ``{"type", "message", "detail": [{"location", "message",
"type", "context"}]}``; OpenAI routes (``/v1/audio/*``, ``/v1/models``) answer
``{"error": {"message", "type", "param", "code"}}``. An error's status comes from its class
(core errors included), so the same mistake gets the same status on every face.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aural.errors import (
    AuralError,
    InvalidMediaError,
    InvalidOptionError,
    ModelIntegrityError,
    ModelNotAvailableError,
    UnlicensedLanguageError,
)
from aural.jobs.errors import (
    CapacityExceededError,
    MediaTooLargeError,
    StorageFullError,
    TaskNotFoundError,
    WebhookRefusedError,
)

log = logging.getLogger(__name__)

Location = Sequence[str | int]


class RequestInvalidError(AuralError):
    """The request cannot be parsed (not multipart, a missing file, ``config`` not JSON)."""

    code = "request.invalid"


class UnauthorizedError(AuralError):
    """No API key, or an unknown or revoked one."""

    code = "request.unauthorized"


class RateLimitedError(AuralError):
    """The API key (or anonymous client) sent more requests than its rate limit allows."""

    code = "request.rate-limit-exceeded"


class SyncTimeoutError(AuralError):
    """A synchronous request's task did not finish within the configured wait."""

    code = "request.timeout"


class MethodNotAllowedError(AuralError):
    code = "method.invalid"


class TaskNotDoneError(AuralError):
    """The task has no result to render: it is still pending or running, or it failed."""

    code = "task.not-done"


# Most specific class first; an exception gets the status of the first class it is.
_STATUSES: tuple[tuple[type[AuralError], int], ...] = (
    (RequestInvalidError, 400),
    (UnauthorizedError, 401),
    (UnlicensedLanguageError, 403),
    (CapacityExceededError, 403),
    (TaskNotFoundError, 404),
    (ModelNotAvailableError, 404),
    (MethodNotAllowedError, 405),
    (TaskNotDoneError, 409),
    (MediaTooLargeError, 413),
    (InvalidMediaError, 422),
    (InvalidOptionError, 422),
    (WebhookRefusedError, 422),
    (RateLimitedError, 429),
    (ModelIntegrityError, 500),
    (SyncTimeoutError, 504),
    (StorageFullError, 507),
)

# The Phonexia top-level type and message for each status (the spec's examples).
_PHONEXIA_TYPES: dict[int, tuple[str, str]] = {
    400: ("request.invalid", "Invalid request."),
    401: ("request.unauthorized", "Authentication required."),
    403: ("request.forbidden", "Request is forbidden."),
    404: ("resource.not-found", "Resource not found."),
    405: ("method.invalid", "Method not allowed."),
    409: ("request.conflict", "The resource is not in a state that allows this."),
    413: ("request.size-limit-exceeded", "Request size limit exceeded."),
    422: ("request.validation-error", "Request validation error."),
    429: ("request.rate-limit-exceeded", "Rate limit exceeded."),
    500: ("internal", "Internal server error."),
    504: ("request.timeout", "The task did not finish in time."),
    507: ("storage.capacity-exceeded", "Storage capacity exceeded."),
}

# Errors whose spec example carries no detail entries.
_NO_DETAIL = {429, 507}


def status_of(error: type[AuralError]) -> int:
    for kind, status in _STATUSES:
        if issubclass(error, kind):
            return status
    return 400


def _all_error_classes() -> list[type[AuralError]]:
    found: list[type[AuralError]] = []
    pending: list[type[AuralError]] = [AuralError]
    while pending:
        kind = pending.pop()
        found.append(kind)
        pending.extend(kind.__subclasses__())
    return found


def status_of_code(code: str) -> int:
    """The status for an error known only by its code (one stored with a finished task)."""
    if code == "internal":
        return 500
    for kind in _all_error_classes():
        if kind.code == code:
            return status_of(kind)
    return 422


class HTTPError(Exception):
    """An error ready to be rendered: status, code, message, where in the request, context."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        location: Location = (),
        context: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        top_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.location = list(location)
        self.context = dict(context or {})
        self.headers = dict(headers or {})
        self.top_message = top_message

    @classmethod
    def of(
        cls,
        error: AuralError,
        location: Location = (),
        headers: Mapping[str, str] | None = None,
        top_message: str | None = None,
    ) -> HTTPError:
        context = {k: v for k, v in error.context.items() if k != "option"}
        return cls(
            status_of(type(error)),
            error.code,
            error.message,
            location=location,
            context=_json_safe(context),
            headers=headers,
            top_message=top_message,
        )

    @classmethod
    def from_record(cls, error: Mapping[str, Any], location: Location = ()) -> HTTPError:
        """The HTTP error for a task that ended ``failed`` or ``rejected``."""
        code = str(error.get("code") or error.get("type") or "internal")
        status = 500 if error.get("type") == "internal" else status_of_code(code)
        return cls(
            status,
            code,
            str(error.get("message", "")),
            location=location,
            context=error.get("context") or {},
        )


def _json_safe(context: Mapping[str, object]) -> dict[str, Any]:
    safe: dict[str, Any] = {}
    for key, value in context.items():
        if isinstance(value, str | int | float | bool) or value is None:
            safe[key] = value
        elif isinstance(value, list | tuple | set | frozenset):
            safe[key] = [v if isinstance(v, str | int | float | bool) else str(v) for v in value]
        else:
            safe[key] = str(value)
    return safe


def is_openai_path(path: str) -> bool:
    return path.startswith(("/v1/audio/", "/v1/models"))


def phonexia_body(error: HTTPError) -> dict[str, Any]:
    kind, message = _PHONEXIA_TYPES.get(error.status, ("internal", "Internal server error."))
    detail: list[dict[str, Any]] = []
    if error.status not in _NO_DETAIL:
        detail.append(
            {
                "location": error.location,
                "message": error.message,
                "type": error.code,
                "context": error.context,
            }
        )
    return {"type": kind, "message": error.top_message or message, "detail": detail}


_OPENAI_TYPES = {401: "invalid_request_error", 429: "requests"}


def openai_body(error: HTTPError) -> tuple[int, dict[str, Any]]:
    """OpenAI's error shape; client mistakes that OpenAI reports as 400 keep that status."""
    status = 400 if error.status == 422 else error.status
    kind = "server_error" if status >= 500 else _OPENAI_TYPES.get(status, "invalid_request_error")
    code = {
        401: "invalid_api_key",
        404: "model_not_found" if error.code == ModelNotAvailableError.code else error.code,
        429: "rate_limit_exceeded",
    }.get(status, error.code)
    param = next((str(p) for p in reversed(error.location) if isinstance(p, str)), None)
    if error.location and error.location[0] in ("body", "query") and len(error.location) == 1:
        param = None
    return status, {"error": {"message": error.message, "type": kind, "param": param, "code": code}}


def render_error(path: str, error: HTTPError) -> JSONResponse:
    """The response for ``error`` in the schema of the route at ``path``."""
    if is_openai_path(path):
        status, body = openai_body(error)
    else:
        status, body = error.status, phonexia_body(error)
    if status >= 500:
        log.error("%d %s: %s", status, error.code, error.message)
    return JSONResponse(body, status_code=status, headers=error.headers)


def internal_error() -> HTTPError:
    return HTTPError(500, "internal", "The server failed to handle the request.")


def _validation_error(exc: RequestValidationError) -> HTTPError:
    errors = list(exc.errors())
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": "value_error"}
    raw_context = first.get("ctx")
    context = dict(raw_context) if isinstance(raw_context, dict) else {}
    return HTTPError(
        422,
        f"value.{first.get('type', 'invalid')}",
        str(first.get("msg", "invalid value")),
        location=[p for p in first.get("loc", ()) if isinstance(p, str | int)],
        context=_json_safe(context),
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into the face's schema."""

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPError)
        return render_error(request.url.path, exc)

    async def on_aural_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AuralError)
        return render_error(request.url.path, HTTPError.of(exc))

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return render_error(request.url.path, _validation_error(exc))

    async def on_starlette(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            error = HTTPError.of(TaskNotFoundError(f"no route {request.url.path}"), ["path"])
        elif exc.status_code == 405:
            error = HTTPError.of(
                MethodNotAllowedError(f"{request.method} is not allowed here"), ["method"]
            )
        else:
            error = HTTPError(exc.status_code, "http.error", str(exc.detail))
        return render_error(request.url.path, error)

    app.add_exception_handler(HTTPError, on_http_error)
    app.add_exception_handler(AuralError, on_aural_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_starlette)
