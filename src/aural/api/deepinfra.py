"""DeepInfra-style inference: ``POST /v1/inference/openai/whisper-{model}``, multipart ``audio``.

Synchronous by default: the request is a task in the same job system (so capacity, quota and
worker limits hold) and the response waits for it. With ``webhook`` the answer is immediate
(``status: queued``) and the full result is POSTed to the webhook when the task ends. The
response carries every field the official ``deepinfra`` SDK parses.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aural.api.common import (
    admit,
    build_options_off_loop,
    enqueue,
    error_location,
    forget_result,
    receive,
    removed_on_error,
    resolve_model,
    temperature_ladder,
    wait_until_done,
)
from aural.api.deps import ServicesDep, SubmitterDep
from aural.api.errors import HTTPError, phonexia_body
from aural.api.openapi import ERROR_RESPONSES, multipart_body
from aural.errors import InvalidOptionError
from aural.jobs.records import transcript_from_record
from aural.jobs.store import TaskRecord, TaskState
from aural.types import MAX_SUPPRESS_TOKENS, Task, Transcript

FACE = "deepinfra"
FILE_FIELD = "audio"
# Whisper's encoder sees 50 positions per second of audio: the input "tokens" reported.
_ENCODER_POSITIONS_PER_S = 50

router = APIRouter(tags=["DeepInfra: inference"])


class DeepInfraForm(BaseModel):
    """The form fields of the DeepInfra Whisper endpoint and its official SDK."""

    model_config = ConfigDict(extra="ignore")

    task: Task = Task.TRANSCRIBE
    language: str | None = None
    chunk_level: Literal["segment", "word"] = "segment"
    chunk_length_s: int = Field(30, ge=1, le=30)
    temperature: float = Field(0.0, ge=0, le=1)
    temperature_increment_on_fallback: float = Field(0.2, ge=0, le=1)
    patience: float = Field(1.0, gt=0)
    suppress_tokens: str = "-1"
    initial_prompt: str | None = None
    condition_on_previous_text: bool = True
    compression_ratio_threshold: float | None = 2.4
    logprob_threshold: float | None = -1.0
    no_speech_threshold: float | None = 0.6
    webhook: str | None = None


_FIELDS = list(DeepInfraForm.model_fields)


def _suppress_tokens(value: str) -> tuple[int, ...]:
    parts = value.replace(" ", "").split(",", MAX_SUPPRESS_TOKENS)
    if len(parts) > MAX_SUPPRESS_TOKENS:
        error = InvalidOptionError(f"suppress_tokens may hold at most {MAX_SUPPRESS_TOKENS} ids")
        raise HTTPError.of(error, ["body", "suppress_tokens"])
    try:
        return tuple(int(part) for part in parts if part)
    except ValueError:
        error = InvalidOptionError(
            f"suppress_tokens must be comma-separated token ids like -1, not {value[:40]!r}"
        )
        raise HTTPError.of(error, ["body", "suppress_tokens"]) from None


def _confidence(avg_logprob: float) -> float:
    return round(math.exp(min(avg_logprob, 0.0)), 4)


def _status(record: TaskRecord, status: str, price_per_minute: float) -> dict[str, Any]:
    duration = record.audio_duration_s or 0.0
    tokens = sum(len(s.get("tokens", ())) for s in (record.result or {}).get("segments", ()))
    return {
        "status": status,
        "runtime_ms": round((record.runtime_s or 0.0) * 1000),
        "cost": round(price_per_minute * duration / 60.0, 6),
        "tokens_generated": tokens,
        "tokens_input": math.ceil(duration * _ENCODER_POSITIONS_PER_S),
    }


def inference_body(
    record: TaskRecord, transcript: Transcript, price_per_minute: float
) -> dict[str, Any]:
    """The DeepInfra response for a finished task."""
    words = [
        {"text": w.text, "start": round(w.start, 3), "end": round(w.end, 3),
         "confidence": w.probability}
        for w in transcript.words
    ]  # fmt: skip
    segments: list[dict[str, Any]] = []
    for s in transcript.segments:
        stats = {
            "seek": s.seek,
            "temperature": s.temperature,
            "avg_logprob": s.avg_logprob,
            "compression_ratio": s.compression_ratio,
            "no_speech_prob": s.no_speech_prob,
        }
        seg_words = [
            {"text": w.text, "start": round(w.start, 3), "end": round(w.end, 3),
             "confidence": w.probability}
            for w in s.words
        ]  # fmt: skip
        if record.face_options.get("chunk_level") == "word":
            for word in seg_words:
                segments.append(
                    {"id": len(segments), **stats, "start": word["start"], "end": word["end"],
                     "text": word["text"], "tokens": [], "confidence": word["confidence"],
                     "words": [word]}
                )  # fmt: skip
        else:
            segments.append(
                {"id": s.id, **stats, "start": round(s.start, 3), "end": round(s.end, 3),
                 "text": s.text, "tokens": list(s.tokens),
                 "confidence": _confidence(s.avg_logprob), "words": seg_words}
            )  # fmt: skip
    return {
        "text": transcript.text,
        "segments": segments,
        "language": transcript.language,
        "input_length_ms": round(transcript.duration * 1000),
        "words": words,
        "duration": round(transcript.duration, 3),
        "request_id": record.id,
        "inference_status": _status(record, "succeeded", record.face_options.get("price", 0.0)),
    }


def _queued_body(record: TaskRecord) -> dict[str, Any]:
    return {
        "text": "",
        "segments": [],
        "language": None,
        "input_length_ms": 0,
        "words": [],
        "duration": 0.0,
        "request_id": record.id,
        "inference_status": _status(record, "queued", 0.0),
    }


def webhook_payload(record: TaskRecord) -> dict[str, Any]:
    """What the webhook receives when the task ends: the full result, or the error."""
    if record.state == TaskState.DONE and record.result is not None:
        return inference_body(
            record, transcript_from_record(record.result), record.face_options.get("price", 0.0)
        )
    body = _queued_body(record)
    body["inference_status"] = _status(record, "failed", 0.0)
    error = HTTPError.from_record(record.error or {}, error_location(record, ["body", FILE_FIELD]))
    body["error"] = phonexia_body(error)
    return body


@router.post(
    "/v1/inference/openai/whisper-{model}",
    summary="Transcribe or translate audio (DeepInfra Whisper API)",
    responses=ERROR_RESPONSES,
    openapi_extra=multipart_body(
        {
            FILE_FIELD: {"type": "string", "format": "binary"},
            **{
                name: {"type": "string", "description": info.description or ""}
                for name, info in DeepInfraForm.model_fields.items()
            },
        },
        required=[FILE_FIELD],
    ),
)
async def inference(
    model: str, request: Request, services: ServicesDep, principal: SubmitterDep
) -> JSONResponse:
    model_name = await resolve_model(services, model, ["path", "model"])
    await admit(services)
    task_id, form = await receive(request, services, FILE_FIELD)
    async with removed_on_error(form.upload):
        raw = {name: form.value(name) for name in _FIELDS}
        try:
            fields = DeepInfraForm.model_validate({k: v for k, v in raw.items() if v is not None})
        except ValidationError as exc:
            first = exc.errors()[0]
            location = ["body", *(p for p in first["loc"] if isinstance(p, str | int))]
            error = InvalidOptionError(f"{'.'.join(map(str, location[1:]))}: {first['msg']}")
            raise HTTPError.of(error, location) from exc
        try:
            ladder = temperature_ladder(
                fields.temperature, fields.temperature_increment_on_fallback
            )
        except InvalidOptionError as exc:
            raise HTTPError.of(exc, ["body", "temperature_increment_on_fallback"]) from exc
        options = await build_options_off_loop(
            principal,
            services,
            lambda name: ["body", name] if name else ["body"],
            task=fields.task,
            language=fields.language,
            channel_mode="mix",  # like DeepInfra (and Whisper): one transcript of the mix
            word_timestamps=True,
            initial_prompt=fields.initial_prompt,
            temperature=ladder,
            patience=fields.patience,
            suppress_tokens=_suppress_tokens(fields.suppress_tokens),
            condition_on_previous_text=fields.condition_on_previous_text,
            compression_ratio_threshold=fields.compression_ratio_threshold,
            log_prob_threshold=fields.logprob_threshold,
            no_speech_threshold=fields.no_speech_threshold,
            chunk_length_s=fields.chunk_length_s,
        )
    record = await enqueue(
        request,
        services,
        principal,
        task_id,
        form,
        face=FACE,
        model=model_name,
        options=options,
        face_options={
            "chunk_level": fields.chunk_level,
            "price": services.settings.price_per_audio_minute,
        },
        webhook_url=fields.webhook,
        webhook_location=["body", "webhook"],
    )
    if fields.webhook:
        return JSONResponse(_queued_body(record))
    final, transcript = await wait_until_done(services, record, ["body", FILE_FIELD])
    body = inference_body(final, transcript, services.settings.price_per_audio_minute)
    await forget_result(services, final.id)
    return JSONResponse(body)
