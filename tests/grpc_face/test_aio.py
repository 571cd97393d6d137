"""What the command-line client cannot show, with a ``grpc.aio`` client on the published stubs:
concurrent streams, cancellation and deadlines that free the slot, exhausted capacity, health
``Watch``, reflection, and the calls counted in ``/metrics``.

One server for the module: tiny.en, no keys on loopback (auth off), room for two active tasks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
from fidelity_shapes import load, write_wav
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from phonexia.grpc.common import core_pb2
from phonexia.grpc.technologies.enhanced_speech_to_text_built_on_whisper.v1 import (
    enhanced_speech_to_text_built_on_whisper_pb2 as pb,
)
from phonexia.grpc.technologies.enhanced_speech_to_text_built_on_whisper.v1 import (
    enhanced_speech_to_text_built_on_whisper_pb2_grpc as pb_grpc,
)

from aural.config import Settings
from aural.jobs.store import TaskStore

from .conftest import Server, aural_serve

SERVICE = "phonexia.grpc.technologies.enhanced_speech_to_text_built_on_whisper.v1.SpeechToText"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("grpc-aio")
    with aural_serve(
        root, settings.cache_dir, AURAL_MODEL="tiny.en", AURAL_MAX_ACTIVE_TASKS="2"
    ) as server:
        yield server


@pytest.fixture(scope="module")
def long_wav(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """Twenty minutes of mono speech (jfk 110 times): long enough to still be working when an
    8 s deadline passes, however quiet the machine, even with both cores to itself once the
    cancelled call's transcription has been stopped."""
    path = tmp_path_factory.mktemp("media") / "long.wav"
    return write_wav(path, [np.tile(load(data_dir / "jfk.flac"), 110)])


@pytest.fixture
def store(server: Server) -> Iterator[TaskStore]:
    tasks = TaskStore(Settings(data_dir=server.data_dir).resolved_store_url)
    yield tasks
    tasks.close()


async def requests(media: Path) -> AsyncIterator[pb.TranscribeRequest]:
    """What the official client sends: 32000-byte chunks, config and time range first."""
    data = media.read_bytes()
    config = pb.TranscribeConfig()
    yield pb.TranscribeRequest(
        audio=core_pb2.Audio(content=data[:32000], time_range=core_pb2.TimeRange()), config=config
    )
    for start in range(32000, len(data), 32000):
        yield pb.TranscribeRequest(audio=core_pb2.Audio(content=data[start : start + 32000]))


async def transcribe(target: str, media: Path) -> list[pb.TranscribeResponse]:
    async with grpc.aio.insecure_channel(target) as channel:
        call = pb_grpc.SpeechToTextStub(channel).Transcribe(requests(media))
        return [response async for response in call]


def wait_for(condition: object, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_concurrent_streams_each_get_their_transcript(server: Server, data_dir: Path) -> None:
    async def both() -> list[list[pb.TranscribeResponse]]:
        media = data_dir / "jfk.flac"
        return list(await asyncio.gather(transcribe(server.target, media),
                                         transcribe(server.target, media)))  # fmt: skip

    for responses in asyncio.run(both()):
        assert all(r.result.HasField("one_best") for r in responses)
        assert responses[-1].HasField("processed_audio_length")
        assert not any(r.HasField("processed_audio_length") for r in responses[:-1])
        text = " ".join(s.text for r in responses for s in r.result.one_best.segments)
        assert "ask not what your country" in text.lower()


def test_cancel_and_deadline_free_the_slots_and_capacity_is_refused(
    server: Server, long_wav: Path, store: TaskStore
) -> None:
    """Two long calls fill the capacity of two; a third is refused; cancelling one and the
    other's deadline passing delete their tasks at once, though the model is still busy."""

    async def scenario() -> tuple[grpc.StatusCode, str, grpc.StatusCode, grpc.StatusCode]:
        async with grpc.aio.insecure_channel(server.target) as channel:
            stub = pb_grpc.SpeechToTextStub(channel)
            cancelled = stub.Transcribe(requests(long_wav))
            expiring = stub.Transcribe(requests(long_wav), timeout=8.0)
            await asyncio.to_thread(wait_for, lambda: store.count_active() == 2, "two tasks")
            refused = stub.Transcribe(requests(long_wav))
            with pytest.raises(grpc.aio.AioRpcError) as busy:
                [r async for r in refused]
            cancelled.cancel()
            with pytest.raises(asyncio.CancelledError):
                [r async for r in cancelled]
            await asyncio.to_thread(wait_for, lambda: store.count_active() <= 1, "the cancel")
            with pytest.raises(grpc.aio.AioRpcError) as late:
                [r async for r in expiring]
            return (
                busy.value.code(),
                busy.value.details() or "",
                await cancelled.code(),
                late.value.code(),
            )

    started = time.monotonic()
    busy, details, cancelled, late = asyncio.run(scenario())
    assert busy == grpc.StatusCode.RESOURCE_EXHAUSTED, details
    assert details == "Licensed processing capacity exceeded."
    assert cancelled == grpc.StatusCode.CANCELLED
    assert late == grpc.StatusCode.DEADLINE_EXCEEDED
    # Both tasks are gone (the slots are free) while the transcriptions could not have ended.
    wait_for(lambda: store.count_active() == 0, "the deadline to delete its task", 10.0)
    assert time.monotonic() - started < 120
    metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
    for code in ("RESOURCE_EXHAUSTED", "CANCELLED", "DEADLINE_EXCEEDED"):
        assert f'aural_grpc_requests_total{{code="{code}",method="Transcribe"}} 1.0' in metrics


def test_health_watch_reflection_and_languages(server: Server) -> None:
    async def scenario() -> tuple[list[int], int, list[str], list[str]]:
        async with grpc.aio.insecure_channel(server.target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            watch = health.Watch(health_pb2.HealthCheckRequest(service=""))
            first = await watch.read()
            watch.cancel()
            check = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE))
            reflection = reflection_pb2_grpc.ServerReflectionStub(channel)

            async def ask() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
                yield reflection_pb2.ServerReflectionRequest(list_services="")

            services = [
                s.name
                async for answer in reflection.ServerReflectionInfo(ask())
                for s in answer.list_services_response.service
            ]
            languages = await pb_grpc.SpeechToTextStub(channel).ListSupportedLanguages(
                pb.ListSupportedLanguagesRequest()
            )
            return [first.status], check.status, services, list(languages.languages)

    watched, checked, services, languages = asyncio.run(scenario())
    assert watched == [health_pb2.HealthCheckResponse.SERVING]
    assert checked == health_pb2.HealthCheckResponse.SERVING
    assert SERVICE in services and "grpc.health.v1.Health" in services
    assert languages == ["en"]  # tiny.en
    metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
    assert 'aural_grpc_requests_total{code="OK",method="ListSupportedLanguages"} 1.0' in metrics
    assert "aural_grpc_request_duration_seconds_bucket" in metrics
