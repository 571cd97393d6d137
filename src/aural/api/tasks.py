"""A key's own Phonexia tasks: the paginated list of recent ones, and a finished one exported.

Both sit under the Phonexia path, next to the task itself, and see what ``GET`` of a task sees: a
key only its own tasks (a server without keys: every task). The export renders the stored
transcript with :func:`aural.formats.render`, so it is byte for byte what ``aural transcribe -f``
writes for the same transcript.
"""

from __future__ import annotations

from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from aural.api.deps import PrincipalDep, ServicesDep
from aural.api.errors import HTTPError, TaskNotDoneError
from aural.api.openapi import ERROR_RESPONSES
from aural.api.phonexia import FACE, PATH, task_of
from aural.formats import WRITERS, OutputFormat, render
from aural.jobs.records import transcript_from_record
from aural.jobs.store import TaskRecord, TaskState

MAX_PAGE = 100

router = APIRouter(prefix=PATH, tags=["Phonexia: speech to text tasks"])


def _summary(record: TaskRecord, retention_s: float) -> dict[str, Any]:
    """One task of the list: its state and times, without the transcript."""
    item: dict[str, Any] = {
        "task_id": record.id,
        "state": record.state.value,
        "created_at": record.created_at,
        "finished_at": record.finished_at,
        "audio_duration_s": record.audio_duration_s,
        "processing_s": record.runtime_s,
        "progress": record.progress,
        # Until then GET and export answer (the result retention); null while unfinished.
        "expires_at": None if record.finished_at is None else record.finished_at + retention_s,
    }
    if record.state in (TaskState.FAILED, TaskState.REJECTED) and record.error is not None:
        item["error"] = {
            "type": record.error.get("code", "internal"),
            "message": record.error.get("message", ""),
        }
    return item


@router.get("", summary="This key's recent tasks, newest first", responses=ERROR_RESPONSES)
async def list_tasks(
    services: ServicesDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Tasks per page.")] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Tasks to skip.")] = 0,
) -> JSONResponse:
    records, total = await to_thread.run_sync(
        lambda: services.store.list_tasks(FACE, principal.key_id, limit=limit, offset=offset)
    )
    retention = services.settings.result_retention_s
    following = offset + len(records)
    return JSONResponse(
        {
            "tasks": [_summary(record, retention) for record in records],
            "total": total,
            "limit": limit,
            "offset": offset,
            "next_offset": following if following < total else None,
        }
    )


@router.get(
    "/{task_id}/export",
    summary="A finished task's transcript in one of the core's output formats",
    response_class=Response,
    responses={
        200: {
            "description": "The transcript, as `aural transcribe --format` writes it.",
            "content": {w.media_type.split(";")[0]: {} for w in WRITERS.values()},
        },
        **ERROR_RESPONSES,
    },
)
async def export_task(
    task_id: str,
    services: ServicesDep,
    principal: PrincipalDep,
    format: Annotated[OutputFormat, Query(description="Output format.")] = OutputFormat.JSON,
) -> Response:
    record = await to_thread.run_sync(task_of, services, principal, task_id)
    if record.state != TaskState.DONE or record.result is None:
        error = TaskNotDoneError(f"task {task_id} is {record.state.value}: it has no transcript")
        raise HTTPError.of(error, ["path", "task_id"])
    result = record.result
    body = await to_thread.run_sync(lambda: render(transcript_from_record(result), format))
    writer = WRITERS[format]
    return Response(
        body,
        media_type=writer.media_type,
        headers={"Content-Disposition": f'attachment; filename="{task_id}.{writer.extension}"'},
    )
