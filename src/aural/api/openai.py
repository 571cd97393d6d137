"""OpenAI's audio API: ``/v1/audio/transcriptions``, ``/v1/audio/translations``, ``/v1/models``.

``model`` is ``whisper-1`` (the default model) or a served catalogue name. Requests are
synchronous tasks in the job system, like every face; errors use OpenAI's error shape.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from aural.api.auth import Principal
from aural.api.common import (
    admit,
    build_options_off_loop,
    enqueue,
    forget_result,
    receive,
    removed_on_error,
    resolve_model,
    served_models,
    temperature_ladder,
    wait_until_done,
)
from aural.api.deps import PrincipalDep, ServicesDep, SubmitterDep
from aural.api.errors import HTTPError
from aural.api.openapi import OPENAI_ERROR_RESPONSES, multipart_body
from aural.api.services import Services
from aural.errors import InvalidOptionError
from aural.formats import WRITERS, OutputFormat, render, verbose_json_dict
from aural.types import Task, Transcript

FACE = "openai"
FILE_FIELD = "file"
DEFAULT_ALIAS = "whisper-1"
RESPONSE_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")

router = APIRouter(prefix="/v1", tags=["OpenAI: audio"])

_FORM = multipart_body(
    {
        FILE_FIELD: {"type": "string", "format": "binary"},
        "model": {
            "type": "string",
            "minLength": 1,
            "description": "whisper-1 (the default) or a served model",
        },
        "language": {"type": "string", "description": "ISO 639-1 code of the audio"},
        "prompt": {"type": "string"},
        "response_format": {"type": "string", "enum": list(RESPONSE_FORMATS)},
        "temperature": {"type": "number"},
        "timestamp_granularities[]": {
            "type": "array",
            "items": {"type": "string", "enum": ["word", "segment"]},
        },
    },
    required=[FILE_FIELD, "model"],
)


_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def _invalid(message: str, param: str) -> HTTPError:
    return HTTPError.of(InvalidOptionError(message), ["body", param])


async def _model(services: Services, name: str | None) -> str:
    if not name:
        raise _invalid("you must provide a model parameter", "model")
    if name == DEFAULT_ALIAS:
        return services.settings.model
    return await resolve_model(services, name, ["body", "model"])


def _render(transcript: Transcript, response_format: str) -> Response:
    usage = {"type": "duration", "seconds": math.ceil(transcript.duration)}
    if response_format == "json":
        return JSONResponse({"text": transcript.text, "usage": usage})
    if response_format == "verbose_json":
        return JSONResponse({**verbose_json_dict(transcript), "usage": usage})
    writer = WRITERS[OutputFormat(response_format)]
    return PlainTextResponse(render(transcript, response_format), media_type=writer.media_type)


async def _handle(
    request: Request, services: Services, principal: Principal, task: Task
) -> Response:
    await admit(services)
    task_id, form = await receive(request, services, FILE_FIELD)
    async with removed_on_error(form.upload):
        model = await _model(services, form.value("model"))
        response_format = form.value("response_format") or "json"
        if response_format not in RESPONSE_FORMATS:
            raise _invalid(
                f"response_format must be one of {', '.join(RESPONSE_FORMATS)}", "response_format"
            )
        granularities = set(form.values("timestamp_granularities[]")) | set(
            form.values("timestamp_granularities")
        )
        if granularities - {"word", "segment"}:
            raise _invalid(
                "timestamp_granularities must be word and/or segment", "timestamp_granularities"
            )
        raw_temperature = form.value("temperature")
        # A JSON number only: Python's float() would also take " 1", "1_0", "nan" or "inf".
        if raw_temperature is not None and not _NUMBER.fullmatch(raw_temperature):
            raise _invalid("temperature must be a number from 0 to 1", "temperature")
        temperature = float(raw_temperature) if raw_temperature is not None else 0.0
        options = await build_options_off_loop(
            principal,
            services,
            lambda name: ["body", name] if name else ["body"],
            task=task,
            language=form.value("language"),
            channel_mode="mix",  # like OpenAI: one transcript of the down-mix
            word_timestamps="word" in granularities,
            initial_prompt=form.value("prompt"),
            temperature=temperature_ladder(temperature),
        )
    record = await enqueue(
        request,
        services,
        principal,
        task_id,
        form,
        face=FACE,
        model=model,
        options=options,
        face_options={"response_format": response_format},
    )
    final, transcript = await wait_until_done(services, record, ["body", FILE_FIELD])
    await forget_result(services, final.id)
    return _render(transcript, response_format)


@router.post(
    "/audio/transcriptions",
    summary="Transcribe audio (OpenAI API)",
    responses=OPENAI_ERROR_RESPONSES,
    openapi_extra=_FORM,
)
async def transcriptions(
    request: Request, services: ServicesDep, principal: SubmitterDep
) -> Response:
    return await _handle(request, services, principal, Task.TRANSCRIBE)


@router.post(
    "/audio/translations",
    summary="Translate audio into English (OpenAI API)",
    responses=OPENAI_ERROR_RESPONSES,
    openapi_extra=_FORM,
)
async def translations(
    request: Request, services: ServicesDep, principal: SubmitterDep
) -> Response:
    return await _handle(request, services, principal, Task.TRANSLATE)


def _model_object(name: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "aural"}


@router.get("/models", summary="Models this server transcribes with (OpenAI API)")
async def list_models(services: ServicesDep, principal: PrincipalDep) -> JSONResponse:
    created = int(services.started_at or time.time())
    names = [DEFAULT_ALIAS, *(await served_models(services))]
    return JSONResponse({"object": "list", "data": [_model_object(n, created) for n in names]})


@router.get(
    "/models/{model_id}", summary="One model (OpenAI API)", responses=OPENAI_ERROR_RESPONSES
)
async def get_model(model_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONResponse:
    if model_id != DEFAULT_ALIAS:
        await resolve_model(services, model_id, ["path", "model"])
    return JSONResponse(_model_object(model_id, int(services.started_at or time.time())))
