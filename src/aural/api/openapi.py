"""OpenAPI fragments for routes that read their multipart body as a stream.

Such routes declare no form parameters (FastAPI would buffer the upload), so their request body
and error schema are described here for ``/openapi.json`` and ``/docs``.
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "message", "detail"],
    "properties": {
        "type": {"type": "string"},
        "message": {"type": "string"},
        "detail": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["location", "message", "type"],
                "properties": {
                    "location": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
                    },
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "context": {"type": "object"},
                },
            },
        },
    },
}

_ERRORS = {
    400: "Request payload data was invalid and could not be parsed.",
    401: "An API key is required.",
    403: "Unlicensed language, or licensed processing capacity exceeded.",
    404: "Unknown task or model.",
    413: "The media file is larger than the upload limit.",
    422: "A parameter has an invalid value.",
    429: "Rate limit exceeded.",
    507: "Storage capacity exceeded.",
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {"application/json": {"schema": ERROR_SCHEMA}}}
    for status, text in _ERRORS.items()
}

OPENAI_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": text,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "message": {"type": "string"},
                                "type": {"type": "string"},
                                "param": {"type": "string", "nullable": True},
                                "code": {"type": "string", "nullable": True},
                            },
                        }
                    },
                }
            }
        },
    }
    for status, text in _ERRORS.items()
    if status != 422
}


def multipart_body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """``openapi_extra`` describing a multipart/form-data request body."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": properties, "required": required}
                }
            },
        }
    }
