"""Phonexia-style asynchronous tasks: POST media, poll the task, read channel-tagged segments.

``POST /api/technology/speech-to-text-whisper-enhanced`` answers 202 with the task and an
``X-Location`` to poll. Parameters come as query parameters or as a multipart ``config`` JSON
object with the same keys (unknown keys ignored; a query parameter wins over ``config``).
Results are always word-segmented.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, StrictBool, ValidationError

from aural.api.auth import Principal
from aural.api.common import (
    admit,
    build_options_off_loop,
    enqueue,
    error_location,
    receive,
    removed_on_error,
)
from aural.api.deps import PrincipalDep, ServicesDep, SubmitterDep
from aural.api.errors import HTTPError, Location, RequestInvalidError
from aural.api.openapi import ERROR_RESPONSES, multipart_body
from aural.api.services import Services
from aural.errors import InvalidOptionError
from aural.jobs.errors import TaskNotFoundError
from aural.jobs.records import transcript_from_record
from aural.jobs.store import TaskRecord, TaskState
from aural.types import MAX_CHANNELS, ChannelMode

FACE = "phonexia"
PATH = "/api/technology/speech-to-text-whisper-enhanced"
FILE_FIELD = "file"

router = APIRouter(prefix=PATH, tags=["Phonexia: speech to text tasks"])


class PhonexiaConfig(BaseModel):
    """The task parameters, as sent in the ``config`` part (and the query string)."""

    model_config = ConfigDict(extra="ignore")

    channel_mode: ChannelMode | None = None
    channels: str | list[int] | None = None
    language: str | None = None
    language_switching: StrictBool | None = None  # JSON true/false, not "yes" or 1
    webhook: str | None = None


# The config part is a flat object of a few keys: anything much larger or deeper is not one,
# and a deeply nested document would exhaust the JSON parser's recursion.
MAX_CONFIG_BYTES = 16 * 1024
MAX_CONFIG_DEPTH = 4


def _json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text`` (strings skipped), in one pass."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _parse_config(raw: str | None) -> PhonexiaConfig:
    """The ``config`` part, bounded in size and depth before it is parsed (off the loop)."""
    if raw is None:
        return PhonexiaConfig()
    location = ["body", "config"]
    if len(raw.encode("utf-8", "replace")) > MAX_CONFIG_BYTES:
        raise HTTPError.of(
            InvalidOptionError(f"config is larger than {MAX_CONFIG_BYTES} bytes"), location
        )
    if _json_depth(raw) > MAX_CONFIG_DEPTH:
        raise HTTPError.of(
            InvalidOptionError(f"config is nested deeper than {MAX_CONFIG_DEPTH} levels"), location
        )
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise HTTPError.of(
            RequestInvalidError(f"config is not valid JSON: {exc.msg}"), location
        ) from exc
    if not isinstance(data, dict):
        raise HTTPError.of(RequestInvalidError("config must be a JSON object"), location)
    try:
        return PhonexiaConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = [p for p in first["loc"] if isinstance(p, str | int)]
        error = InvalidOptionError(f"config {'.'.join(map(str, field))}: {first['msg']}")
        raise HTTPError.of(error, [*location, *field]) from exc


def _channels(value: str | list[int] | None, location: Location) -> tuple[int, ...] | None:
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, list):
        items = value
    else:
        parts = value.split(",", MAX_CHANNELS)
        try:
            items = [int(part) for part in parts[:MAX_CHANNELS]]
        except ValueError:
            error = InvalidOptionError(
                f"channels must be comma-separated 0-based indices like 0,2, not {value[:40]!r}"
            )
            raise HTTPError.of(error, location) from None
        if len(parts) > MAX_CHANNELS:
            error = InvalidOptionError(f"channels may hold at most {MAX_CHANNELS} values")
            raise HTTPError.of(error, location)
    if any(item < 0 for item in items):
        raise HTTPError.of(InvalidOptionError("channel indices start at 0"), location)
    return tuple(items)


_BOOLEAN_QUERY = ("language_switching",)


def _strict_booleans(request: Request) -> None:
    """Boolean query parameters are ``true`` or ``false``, as the OpenAPI schema says.

    FastAPI (pydantic) would also take ``yes``, ``on``, ``1``...: requests that violate the
    published schema must not be accepted.
    """
    for name in _BOOLEAN_QUERY:
        for value in request.query_params.getlist(name):
            if value.lower() not in ("true", "false"):
                error = InvalidOptionError(f"{name} must be true or false, not {value[:40]!r}")
                raise HTTPError.of(error, ["query", name])


def task_body(record: TaskRecord) -> dict[str, Any]:
    """The GET body of a task: the task, then its result or its error."""
    body: dict[str, Any] = {"task": {"task_id": record.id, "state": record.state.value}}
    if record.state == TaskState.RUNNING and record.progress is not None:
        body["task"]["progress"] = round(record.progress, 3)  # aural's extra: share done, 0..1
    if record.state == TaskState.DONE and record.result is not None:
        transcript = transcript_from_record(record.result)
        body["result"] = {
            "one_best": {
                "segments": [
                    {
                        "channel_number": s.channel,
                        "start_time": round(s.start, 3),
                        "end_time": round(s.end, 3),
                        "language": s.language,
                        "text": s.text,
                        "words": [
                            {
                                "start_time": round(w.start, 3),
                                "end_time": round(w.end, 3),
                                "text": w.text,
                            }
                            for w in s.words
                        ],
                    }
                    for s in transcript.segments
                ]
            }
        }
    elif record.state in (TaskState.FAILED, TaskState.REJECTED) and record.error is not None:
        error = record.error
        location = error_location(record, ["body", FILE_FIELD])
        if location and location[0] == "body" and location[-1] != FILE_FIELD:
            location = ["query", location[-1]]
        body["error"] = {
            "type": error.get("type", "internal"),
            "message": error.get("message", ""),
            "detail": [
                {
                    "location": list(location) or ["task"],
                    "message": error.get("message", ""),
                    "type": error.get("code", "internal"),
                    "context": error.get("context") or {},
                }
            ],
        }
    return body


def task_of(services: Services, principal: Principal, task_id: str) -> TaskRecord:
    record = services.store.get(task_id)
    # Another key's task is as invisible as one that does not exist.
    if (
        record is None
        or record.face != FACE
        or (principal.key_id is not None and record.api_key_id != principal.key_id)
    ):
        raise HTTPError.of(TaskNotFoundError(f"task {task_id} does not exist"), ["path", "task_id"])
    return record


@router.post(
    "",
    status_code=202,
    summary="Start a speech-to-text task",
    responses={
        202: {
            "description": "Accepted; poll the URL in X-Location.",
            "headers": {"X-Location": {"schema": {"type": "string"}}},
        },
        **ERROR_RESPONSES,
    },
    openapi_extra=multipart_body(
        {
            FILE_FIELD: {"type": "string", "format": "binary", "description": "Input media."},
            "config": {"type": "string", "description": "JSON object with the query keys."},
        },
        required=[FILE_FIELD],
    ),
)
async def start_task(
    request: Request,
    services: ServicesDep,
    principal: SubmitterDep,
    channel_mode: Annotated[
        ChannelMode | None, Query(description="split (default): each channel; mix: down-mix.")
    ] = None,
    channels: Annotated[
        str | None, Query(description="Comma-separated 0-based channels, e.g. 0,2; empty: all.")
    ] = None,
    language: Annotated[
        str | None, Query(description="RFC 5646 tag (en, en-US, zh-Hant) or auto (default).")
    ] = None,
    language_switching: Annotated[
        bool | None, Query(description="Re-detect the language every ~30 s (when auto).")
    ] = None,
    webhook: Annotated[str | None, Query(description="URL to POST the finished task to.")] = None,
) -> JSONResponse:
    _strict_booleans(request)
    await admit(services)
    task_id, form = await receive(request, services, FILE_FIELD)
    async with removed_on_error(form.upload):
        config = await to_thread.run_sync(_parse_config, form.value("config"))

        def where(name: str | None, query_value: object) -> Location:
            if query_value is None and name and getattr(config, name, None) is not None:
                return ["body", "config", name]
            return ["query", name] if name else ["query"]

        given: dict[str, Any] = {
            "channel_mode": channel_mode,
            "channels": channels,
            "language": language,
            "language_switching": language_switching,
            "webhook": webhook,
        }
        merged = {k: v if v is not None else getattr(config, k) for k, v in given.items()}
        options = await build_options_off_loop(
            principal,
            services,
            lambda name: where(name, given.get(name or "")),
            channel_mode=merged["channel_mode"],
            channels=_channels(merged["channels"], where("channels", channels)),
            language=merged["language"],
            language_switching=merged["language_switching"],
            word_timestamps=True,
        )
    record = await enqueue(
        request,
        services,
        principal,
        task_id,
        form,
        face=FACE,
        model=services.settings.model,
        options=options,
        webhook_url=merged["webhook"],
        webhook_location=where("webhook", webhook),
    )
    return JSONResponse(
        {"task": {"task_id": record.id, "state": record.state.value}},
        status_code=202,
        headers={"X-Location": f"{PATH}/{record.id}"},
    )


@router.get("/{task_id}", summary="Task state and result", responses=ERROR_RESPONSES)
async def get_task(task_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONResponse:
    record = await to_thread.run_sync(task_of, services, principal, task_id)
    return JSONResponse(task_body(record))


@router.delete(
    "/{task_id}", status_code=204, summary="Delete a task, its media and result",
    responses=ERROR_RESPONSES,
)  # fmt: skip
async def delete_task(task_id: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    record = await to_thread.run_sync(task_of, services, principal, task_id)
    await to_thread.run_sync(services.delete_task, record.id)
    return Response(status_code=204)
