"""A key's task list, the export of a finished task, and progress while a task runs (real server).

Covered: the list is newest first, paginated, bounded, and a key sees only its own tasks; the
export renders every format exactly as :func:`aural.formats.render` does for the stored
transcript, and refuses unfinished, rejected, unknown and other keys' tasks in the Phonexia error
schema; a running task's GET reports the progress the runner stores.
"""

from __future__ import annotations

import time
import wave
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from aural.api.auth import create_key
from aural.audio import SAMPLE_RATE, decode_audio
from aural.formats import WRITERS, OutputFormat, render
from aural.jobs.records import transcript_from_record

from .conftest import LiveServer, ServerFactory

PATH = "/api/technology/speech-to-text-whisper-enhanced"


def _post(client: httpx.Client, media: Path) -> str:
    response = client.post(PATH, files={"file": (media.name, media.read_bytes())})
    assert response.status_code == 202, response.text
    task_id: str = response.json()["task"]["task_id"]
    return task_id


def _detail(response: httpx.Response) -> dict[str, Any]:
    detail: dict[str, Any] = response.json()["detail"][0]
    return detail


@pytest.fixture(scope="module")
def keyed(serve: ServerFactory) -> tuple[LiveServer, str, str]:
    """A server that runs nothing (tasks stay pending) with two keys."""
    server = serve(workers=0)
    _, first = create_key(server.services.store, "first")
    _, second = create_key(server.services.store, "second")
    server.services.auth._keys_checked = 0.0  # skip the 2 s cache of "are there keys"
    return server, first, second


def test_the_list_is_newest_first_paginated_and_a_key_sees_only_its_own(
    keyed: tuple[LiveServer, str, str], data_dir: Path
) -> None:
    server, first, second = keyed
    media = data_dir / "jfk.flac"
    with server.client(headers={"Authorization": f"Bearer {first}"}) as client:
        mine = [_post(client, media) for _ in range(3)]
        page = client.get(PATH, params={"limit": 2}).json()
        rest = client.get(PATH, params={"limit": 2, "offset": 2}).json()
    with server.client(headers={"Authorization": f"Bearer {second}"}) as client:
        theirs = _post(client, media)
        other = client.get(PATH).json()
    assert [t["task_id"] for t in page["tasks"]] == mine[::-1][:2]
    assert (page["total"], page["limit"], page["offset"], page["next_offset"]) == (3, 2, 0, 2)
    assert [t["task_id"] for t in rest["tasks"]] == mine[:1]
    assert rest["next_offset"] is None
    assert [t["task_id"] for t in other["tasks"]] == [theirs]
    item = page["tasks"][0]
    assert item["state"] == "pending"
    assert item["created_at"] <= time.time()
    assert item["finished_at"] is None and item["expires_at"] is None
    assert item["audio_duration_s"] is None and item["processing_s"] is None


def test_the_list_bounds_its_parameters_and_needs_a_key(
    keyed: tuple[LiveServer, str, str],
) -> None:
    server, first, _ = keyed
    with server.client() as client:
        anonymous = client.get(PATH)
        wrong = client.get(PATH, headers={"Authorization": "Bearer aural_wrong"})
        client.headers["Authorization"] = f"Bearer {first}"
        too_many = client.get(PATH, params={"limit": 101})
        none = client.get(PATH, params={"limit": 0})
        negative = client.get(PATH, params={"offset": -1})
    assert anonymous.status_code == wrong.status_code == 401
    assert _detail(anonymous)["location"] == ["header", "authorization"]
    for response, name in ((too_many, "limit"), (none, "limit"), (negative, "offset")):
        assert response.status_code == 422
        assert _detail(response)["location"] == ["query", name]


def test_export_of_a_task_that_is_not_done_is_a_conflict(
    keyed: tuple[LiveServer, str, str], data_dir: Path
) -> None:
    server, first, second = keyed
    with server.client(headers={"Authorization": f"Bearer {first}"}) as client:
        task_id = _post(client, data_dir / "jfk.flac")
        pending = client.get(f"{PATH}/{task_id}/export", params={"format": "srt"})
    with server.client(headers={"Authorization": f"Bearer {second}"}) as client:
        foreign = client.get(f"{PATH}/{task_id}/export", params={"format": "srt"})
    assert pending.status_code == 409
    assert pending.json()["type"] == "request.conflict"
    assert _detail(pending)["type"] == "task.not-done"
    assert "pending" in _detail(pending)["message"]
    assert foreign.status_code == 404, "another key's task does not exist"


def test_export_renders_every_format_as_the_core_writes_it(
    server: LiveServer, data_dir: Path
) -> None:
    with server.client() as client:
        task_id = _post(client, data_dir / "stereo_two_speakers.flac")
        record = server.wait_task(task_id)
        assert record.result is not None
        transcript = transcript_from_record(record.result)
        for output in OutputFormat:
            response = client.get(f"{PATH}/{task_id}/export", params={"format": output.value})
            assert response.status_code == 200, response.text
            assert response.text == render(transcript, output)
            writer = WRITERS[output]
            assert response.headers["content-type"].split(";")[0] == writer.media_type.split(";")[0]
            assert response.headers["content-disposition"] == (
                f'attachment; filename="{task_id}.{writer.extension}"'
            )
        listed = client.get(PATH).json()["tasks"]
        bad_format = client.get(f"{PATH}/{task_id}/export", params={"format": "docx"})
        unknown = client.get(f"{PATH}/00000000-0000-0000-0000-000000000000/export")
    assert "[channel 1]" in render(transcript, "srt"), "both channels are in the export"
    done = next(t for t in listed if t["task_id"] == task_id)
    assert done["state"] == "done" and done["progress"] == 1.0
    assert done["audio_duration_s"] == pytest.approx(11.0)
    assert done["expires_at"] == pytest.approx(
        done["finished_at"] + server.settings.result_retention_s
    )
    assert bad_format.status_code == 422
    assert _detail(bad_format)["location"] == ["query", "format"]
    assert unknown.status_code == 404


def test_export_of_a_rejected_task_is_a_conflict(server: LiveServer, data_dir: Path) -> None:
    with server.client() as client:
        task_id = _post(client, data_dir / "bad" / "not_media.wav")
        assert server.wait_task(task_id).state == "rejected"
        response = client.get(f"{PATH}/{task_id}/export", params={"format": "text"})
        listed = client.get(PATH).json()["tasks"]
    assert response.status_code == 409
    assert "rejected" in _detail(response)["message"]
    rejected = next(t for t in listed if t["task_id"] == task_id)
    assert rejected["error"]["type"].startswith("media.")


def _repeated(source: Path, times: int, target: Path) -> Path:
    """``source`` said ``times`` over, as a 16-bit WAV: speech long enough to watch it run."""
    samples = np.tile(decode_audio(source).samples[0], times)
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return target


def test_a_running_task_reports_its_progress(
    server: LiveServer, data_dir: Path, tmp_path: Path
) -> None:
    """Poll 132 s of speech as a client would: progress rises between 0 and 1 while it runs.

    Progress is stored as decoding pieces finish; 132 s makes more pieces than the two model
    workers take at once, so one finishes well before the last (with 44 s the two pieces could
    finish within one poll of each other)."""
    media = _repeated(data_dir / "jfk.flac", 12, tmp_path / "jfk12.wav")
    seen: list[float] = []
    with server.client() as client:
        task_id = _post(client, media)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            task = client.get(f"{PATH}/{task_id}").json()["task"]
            if task["state"] == "running" and "progress" in task:
                seen.append(task["progress"])
            if task["state"] in ("done", "failed", "rejected"):
                break
            time.sleep(0.02)
    assert task["state"] == "done"
    assert "progress" not in task, "a finished task's body is unchanged"
    assert any(0 < p < 1 for p in seen), seen
    assert seen == sorted(seen), "progress never steps back"
