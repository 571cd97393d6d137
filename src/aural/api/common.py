"""What every face does the same way: check options, admit, store the upload, queue, wait.

A face only maps its wire fields onto :class:`TranscriptionOptions` (built here, through
``TranscriptionOptions.create``) and renders the stored :class:`Transcript` back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from anyio import to_thread
from starlette.requests import Request

from aural.api.auth import Principal, licensed_for
from aural.api.errors import HTTPError, Location, SyncTimeoutError
from aural.api.services import Services
from aural.api.uploads import Form, read_form
from aural.errors import (
    AuralError,
    InvalidOptionError,
    ModelNotAvailableError,
    UnlicensedLanguageError,
    UnsupportedLanguageError,
)
from aural.jobs.errors import CapacityExceededError
from aural.jobs.records import options_to_record, transcript_from_record
from aural.jobs.storage import Upload
from aural.jobs.store import NewTask, TaskRecord, TaskState, new_task_id
from aural.jobs.waiting import wait_for_task
from aural.languages import ensure_licensed, normalise_language_set, parse_language_option
from aural.pipeline import validate_options
from aural.types import Transcript, TranscriptionOptions

LocationOf = Callable[[str | None], Location]

MEDIA_ERROR_PREFIX = "media."


def build_options(
    principal: Principal,
    services: Services,
    location_of: LocationOf,
    **values: Any,
) -> TranscriptionOptions:
    """Options for this caller, checked now so that a bad request fails before it is queued.

    The caller's licensed languages (its key's within the deployment's) are part of the
    options, so the engine applies them too; the language is checked here for a quick 403.
    """
    try:
        options = TranscriptionOptions.create(
            **values,
            licensed_languages=licensed_for(principal, services.settings.licensed_languages),
        )
        validate_options(options)
        language = parse_language_option(options.language)
        if language is not None:
            ensure_licensed(language, normalise_language_set(options.licensed_languages))
    except (UnsupportedLanguageError, UnlicensedLanguageError) as exc:
        raise HTTPError.of(exc, location_of("language")) from exc
    except AuralError as exc:
        option = exc.context.get("option")
        raise HTTPError.of(exc, location_of(str(option) if option else None)) from exc
    except (TypeError, ValueError) as exc:
        error = InvalidOptionError(f"invalid option value: {exc}")
        raise HTTPError.of(error, location_of(None)) from exc
    return options


def temperature_ladder(start: float, increment: float | None = 0.2) -> tuple[float, ...]:
    """Whisper's fallback temperatures: ``start``, then up by ``increment`` to 1.0."""
    if not increment or increment <= 0:
        return (start,)
    ladder = []
    value = start
    while value <= 1.0 + 1e-6:
        ladder.append(round(value, 4))
        value += increment
    return tuple(ladder) or (start,)


def resolve_model(services: Services, name: str, location: Location) -> str:
    """A model a request may use: the default or an installed catalogue model."""
    if name in services.served_models():
        return name
    error = ModelNotAvailableError(
        f"model {name!r} is not served here; available: {', '.join(services.served_models())}",
        model=name,
    )
    raise HTTPError.of(error, location)


async def admit(services: Services) -> None:
    """Refuse before reading the body when the licensed capacity is already in use."""
    active = await to_thread.run_sync(services.store.count_active)
    if active >= services.settings.max_active_tasks:
        raise HTTPError.of(
            CapacityExceededError("Licensed processing capacity exceeded."), ["license"]
        )


async def receive(request: Request, services: Services, file_field: str) -> tuple[str, Form]:
    """A new task id and the form, its media already stored under that id."""
    task_id = new_task_id()
    return task_id, await read_form(request, services.storage, task_id, file_field)


async def enqueue(
    request: Request,
    services: Services,
    principal: Principal,
    task_id: str,
    form: Form,
    *,
    face: str,
    model: str,
    options: TranscriptionOptions,
    face_options: dict[str, Any] | None = None,
    webhook_url: str | None = None,
    webhook_location: Location = (),
) -> TaskRecord:
    """Store the task row (pending) and wake a worker; the upload is removed on failure."""
    state = request.scope.get("state", {})
    return await enqueue_upload(
        services,
        principal,
        task_id,
        form.upload,
        face=face,
        model=model,
        options=options,
        face_options=face_options,
        correlation_id=state.get("correlation_id"),
        request_id=state.get("request_id"),
        webhook_url=webhook_url,
        webhook_location=webhook_location,
    )


async def enqueue_upload(
    services: Services,
    principal: Principal,
    task_id: str,
    upload: Upload,
    *,
    face: str,
    model: str,
    options: TranscriptionOptions,
    face_options: dict[str, Any] | None = None,
    correlation_id: str | None = None,
    request_id: str | None = None,
    webhook_url: str | None = None,
    webhook_location: Location = (),
) -> TaskRecord:
    """:func:`enqueue` for any face (no HTTP request needed): the stored ``upload`` as a task."""
    new = NewTask(
        face=face,
        model=model,
        options=options_to_record(options),
        face_options=face_options,
        media_path=str(upload.path),
        media_bytes=upload.size,
        correlation_id=correlation_id,
        request_id=request_id,
        api_key_id=principal.key_id,
        webhook_url=webhook_url,
        task_id=task_id,
    )
    try:
        if webhook_url:
            try:
                await to_thread.run_sync(services.sender.check, webhook_url)
            except AuralError as exc:
                raise HTTPError.of(exc, webhook_location) from exc
        try:
            record = await to_thread.run_sync(
                services.store.create, new, services.settings.max_active_tasks
            )
        except CapacityExceededError as exc:
            raise HTTPError.of(exc, ["license"]) from exc
    except BaseException:
        upload.abort()
        raise
    upload.release()
    await to_thread.run_sync(services.executor.submit, record.id)
    return record


async def wait_until_done(
    services: Services, record: TaskRecord, media_location: Location
) -> tuple[TaskRecord, Transcript]:
    """Wait for a synchronous request's task; its error becomes this request's error."""
    settings = services.settings
    final = await wait_for_task(
        services.store,
        services.events,
        record.id,
        settings.sync_timeout_s,
        settings.task_poll_interval_s,
    )
    if final is None:
        raise HTTPError.of(
            SyncTimeoutError(
                f"the task did not finish within {settings.sync_timeout_s:.0f} s; it goes on",
                task_id=record.id,
            )
        )
    if final.state != TaskState.DONE or final.result is None:
        raise HTTPError.from_record(final.error or {}, error_location(final, media_location))
    return final, transcript_from_record(final.result)


def error_location(record: TaskRecord, media_location: Location) -> Location:
    """Where a task's stored error points: the media for media errors, else the option."""
    error = record.error or {}
    code = str(error.get("code", ""))
    if code.startswith(MEDIA_ERROR_PREFIX):
        return media_location
    option = (error.get("context") or {}).get("option")
    if code.startswith("language."):
        option = "language"
    return ["body", str(option)] if option else []


async def forget_result(services: Services, task_id: str) -> None:
    """A synchronous result was handed over: do not keep it (nor count it against quota)."""
    await to_thread.run_sync(services.store.discard_result, task_id)
