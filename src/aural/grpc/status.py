"""Every error of the gRPC face to one status code and a one-line details string.

Errors come as the HTTP faces' :class:`HTTPError` (the shared request steps raise it), so the
same mistake is classified once: its HTTP status picks the gRPC code. An unlicensed language
is ``PERMISSION_DENIED``, as it is 403 on REST; exhausted capacity, rate limits and a full
store are ``RESOURCE_EXHAUSTED`` (the official client prints "Service is busy").
"""

from __future__ import annotations

import grpc

from aural.api.errors import HTTPError
from aural.errors import AuralError
from aural.jobs.errors import CapacityExceededError

_CODES: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
    507: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


class GrpcError(Exception):
    """A refusal ready to be sent: code, one-line details, and aural's error code."""

    def __init__(
        self, code: grpc.StatusCode, details: str, error_code: str, *, drain: bool = True
    ) -> None:
        super().__init__(details)
        self.code = code
        self.details = " ".join(details.split())  # one line, whatever the message held
        self.error_code = error_code
        # Whether to read what the client still sends before refusing (not when it stalled).
        self.drain = drain

    @classmethod
    def of(cls, error: HTTPError | AuralError) -> GrpcError:
        if isinstance(error, AuralError):
            error = HTTPError.of(error)
        if error.code == CapacityExceededError.code:
            code = grpc.StatusCode.RESOURCE_EXHAUSTED
        else:
            code = _CODES.get(error.status, grpc.StatusCode.INTERNAL)
        return cls(code, error.message or error.code, error.code)

    @classmethod
    def invalid(cls, details: str, error_code: str = "request.invalid") -> GrpcError:
        return cls(grpc.StatusCode.INVALID_ARGUMENT, details, error_code)
