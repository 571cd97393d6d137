"""``SpeechToText`` (Transcribe, Translate, ListSupportedLanguages) over the one job system.

A call goes the way of a synchronous HTTP request (DeepInfra, OpenAI): authenticate, count the
rate limit, admit against the licensed capacity, store the audio (streamed to disk), queue one
task, wait for it, hand the transcript back and forget it. Cancelling the call or passing its
deadline deletes the task, which frees its slot at once (a transcription already running is
stopped or its result dropped, as after a REST ``DELETE``).

The engine yields the whole transcript at the end, so its segments are streamed in several
small responses once it is done; each sets ``result.one_best`` (the official client needs it)
and the last carries ``processed_audio_length``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import grpc
from anyio import to_thread
from google.protobuf.duration_pb2 import Duration
from phonexia.grpc.technologies.enhanced_speech_to_text_built_on_whisper.v1 import (
    enhanced_speech_to_text_built_on_whisper_pb2 as pb,
)
from phonexia.grpc.technologies.enhanced_speech_to_text_built_on_whisper.v1 import (
    enhanced_speech_to_text_built_on_whisper_pb2_grpc as pb_grpc,
)

from aural.api.auth import Principal, licensed_for
from aural.api.common import admit, build_options, enqueue_upload, forget_result, wait_until_done
from aural.api.errors import HTTPError
from aural.api.services import Services
from aural.audio import probe_channels
from aural.errors import AuralError
from aural.grpc.media import MAX_SAMPLE_RATE, AudioSink, known_encoding
from aural.grpc.status import GrpcError
from aural.jobs.context import bound
from aural.jobs.store import new_task_id
from aural.languages import WHISPER_LANGUAGES
from aural.types import Segment, Task, Transcript

log = logging.getLogger(__name__)

FACE = "phonexia-grpc"
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["SpeechToText"].full_name
# Responses stay far below gRPC's default 4 MiB receive limit of the client.
MAX_RESPONSE_BYTES = 256 * 1024
MAX_SEGMENTS_PER_RESPONSE = 20
_DRAIN_BYTES = 64 * 1024 * 1024
# gRPC cancels a handler as its deadline passes, and the time it then reports as remaining can
# still be a hair above zero: a cancellation this close to the deadline is the deadline's.
_DEADLINE_SLACK_S = 0.05
_SANE_ID = re.compile(r"^[A-Za-z0-9._:/+=@-]{1,200}$")


@dataclass(frozen=True)
class _Call:
    """What one call carries besides its messages: ids, caller address, start time."""

    method: str
    correlation_id: str
    request_id: str
    peer: str
    authorization: str | None
    started: float

    @classmethod
    def of(cls, method: str, context: grpc.aio.ServicerContext[Any, Any]) -> _Call:
        metadata = {k.lower(): v for k, v in (context.invocation_metadata() or ())}

        def sane(name: str) -> str:
            value = metadata.get(name)
            return value if isinstance(value, str) and _SANE_ID.match(value) else str(uuid.uuid4())

        authorization = metadata.get("authorization")
        return cls(
            method=method,
            correlation_id=sane("x-correlation-id"),
            request_id=sane("x-request-id"),
            peer=_peer_host(context.peer() or ""),
            authorization=authorization if isinstance(authorization, str) else None,
            started=time.perf_counter(),
        )


def _peer_host(peer: str) -> str:
    """``ipv4:127.0.0.1:5000`` / ``ipv6:[::1]:5000`` -> the address (rate limits count it)."""
    _, _, rest = peer.partition(":")
    host, _, _ = rest.rpartition(":")
    return host.strip("[]") or peer or "unknown"


_MAX_NANOS = 999_999_999


def _seconds(duration: Duration, field: str) -> float:
    """A ``Duration``'s seconds; one that protobuf calls invalid (``nanos`` out of range, or
    of the other sign than ``seconds``) is refused rather than read as some other time."""
    seconds, nanos = duration.seconds, duration.nanos
    if abs(nanos) > _MAX_NANOS or (seconds > 0 > nanos) or (seconds < 0 < nanos):
        raise GrpcError.invalid(
            f"{field} is not a valid Duration (seconds={seconds}, nanos={nanos}): nanos must be "
            f"from -999999999 to 999999999 and of the same sign as seconds"
        )
    return seconds + nanos / 1e9


def _duration(seconds: float) -> Duration:
    value = Duration()
    value.FromNanoseconds(round(max(seconds, 0.0) * 1e9))
    return value


class SpeechToTextFace(pb_grpc.SpeechToTextServicer):
    """The servicer; one per server, holding the app's :class:`Services`."""

    def __init__(self, services: Services) -> None:
        self.services = services

    # --- the RPCs -------------------------------------------------------------------------

    async def Transcribe(
        self,
        request_iterator: AsyncIterator[pb.TranscribeRequest],
        context: grpc.aio.ServicerContext[pb.TranscribeRequest, pb.TranscribeResponse],
    ) -> AsyncIterator[pb.TranscribeResponse]:
        async for batch, last, length in self._serve(
            "Transcribe", Task.TRANSCRIBE, request_iterator, context
        ):
            response = pb.TranscribeResponse(result=pb.TranscribeResult(one_best=batch))
            if last:
                response.processed_audio_length.CopyFrom(length)
            yield response

    async def Translate(
        self,
        request_iterator: AsyncIterator[pb.TranslateRequest],
        context: grpc.aio.ServicerContext[pb.TranslateRequest, pb.TranslateResponse],
    ) -> AsyncIterator[pb.TranslateResponse]:
        async for batch, last, length in self._serve(
            "Translate", Task.TRANSLATE, request_iterator, context
        ):
            response = pb.TranslateResponse(result=pb.TranslateResult(one_best=batch))
            if last:
                response.processed_audio_length.CopyFrom(length)
            yield response

    async def ListSupportedLanguages(
        self,
        request: pb.ListSupportedLanguagesRequest,
        context: grpc.aio.ServicerContext[
            pb.ListSupportedLanguagesRequest, pb.ListSupportedLanguagesResponse
        ],
    ) -> pb.ListSupportedLanguagesResponse:
        call = _Call.of("ListSupportedLanguages", context)
        with self._observed(call, context):
            try:
                principal = await self._authenticate(call)
            except GrpcError as exc:
                await self._abort(context, exc)
            if self.services.settings.model.endswith(".en"):
                languages = ["en"]
            else:
                licensed = licensed_for(principal, self.services.settings.licensed_languages)
                languages = sorted(licensed if licensed is not None else WHISPER_LANGUAGES)
            return pb.ListSupportedLanguagesResponse(
                languages=languages, translation_languages=languages
            )

    # --- one streaming call ---------------------------------------------------------------

    async def _serve(
        self,
        method: str,
        task: Task,
        requests: AsyncIterator[Any],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[tuple[pb.OneBest, bool, Duration]]:
        call = _Call.of(method, context)
        with self._observed(call, context):
            await context.send_initial_metadata(
                (("x-correlation-id", call.correlation_id), ("x-request-id", call.request_id))
            )
            try:
                transcript = await self._transcribe(call, task, requests)
            except GrpcError as exc:
                log.info("%s refused: %s %s", method, exc.code.name, exc.details)
                if exc.drain:
                    await _drain(requests, self.services.settings.connection_idle_timeout_s)
                await self._abort(context, exc)
            length = _duration(transcript.duration)
            batches = list(_batches(transcript))
            for index, batch in enumerate(batches):
                yield batch, index == len(batches) - 1, length
            log.info(
                "%s answered: %d segments in %d responses, %.1f s of audio",
                method,
                len(transcript.segments),
                len(batches),
                transcript.duration,
            )

    async def _transcribe(
        self, call: _Call, task: Task, requests: AsyncIterator[Any]
    ) -> Transcript:
        services = self.services
        principal = await self._authenticate(call)
        _, refused = services.limiter.count(principal.identity, principal.rate_limit)
        if refused is not None:
            raise GrpcError.of(refused)
        await _shared(admit(services))
        first: Any = await self._next(requests)
        if first is None:
            raise GrpcError.invalid("the request stream is empty: send the audio", "media.empty")
        options = self._options(principal, task, first)
        raw = _raw_config(first)
        task_id = new_task_id()
        sink = await AudioSink.open(services.storage, task_id, raw)
        with sink.upload.removed_on_error():
            await _shared(self._receive(sink, first, requests))
            if sink.audio_bytes == 0:
                raise GrpcError.invalid("the request stream holds no audio bytes", "media.empty")
            if raw is None:
                await self._ensure_mono(sink)
        record = await _shared(
            enqueue_upload(
                services,
                principal,
                task_id,
                sink.upload,
                face=FACE,
                model=services.settings.model,
                options=options,
                correlation_id=call.correlation_id,
                request_id=call.request_id,
            )
        )
        log.info("%s queued as task %s", call.method, record.id)
        try:
            final, transcript = await _shared(wait_until_done(services, record, ["audio"]))
            assert isinstance(transcript, Transcript)
        except asyncio.CancelledError:  # the client cancelled or the deadline passed
            # Off the event loop (a store write, a file removal, stopping the transcription),
            # and not awaited: this coroutine is being cancelled.
            dropping = asyncio.get_running_loop().run_in_executor(None, self._drop, record.id)
            dropping.add_done_callback(_log_failure)
            raise
        await forget_result(services, final.id)
        return transcript

    async def _authenticate(self, call: _Call) -> Principal:
        try:
            return await to_thread.run_sync(
                self.services.auth.authenticate, call.authorization, call.peer
            )
        except AuralError as exc:
            raise GrpcError.of(exc) from exc

    def _options(self, principal: Principal, task: Task, first: Any) -> Any:
        config = first.config
        language = config.language if task is Task.TRANSCRIBE else config.source_language
        start_s = end_s = None
        if first.audio.HasField("time_range"):
            window = first.audio.time_range
            if window.HasField("start"):
                start_s = _seconds(window.start, "audio.time_range.start")
            if window.HasField("end"):
                end_s = _seconds(window.end, "audio.time_range.end")
        return _shared_sync(
            lambda: build_options(
                principal,
                self.services,
                lambda name: ["config", name] if name else ["config"],
                task=task,
                language=language or None,
                # Ignored when a language is forced, as the proto says.
                language_switching=config.enable_language_switching and not language,
                word_timestamps=config.enable_word_segmentation,
                channel_mode="mix",
                start_s=start_s,
                end_s=end_s,
            )
        )

    async def _receive(self, sink: AudioSink, first: Any, requests: AsyncIterator[Any]) -> None:
        """Concatenate ``audio.content`` until the client half-closes.

        The settings (``config``, ``audio.time_range``, ``audio.raw_audio_config``) are read
        from the first message only; a later message may repeat them but not change them (a
        change would otherwise be ignored without a word, e.g. a raw-audio header sent late)."""
        await sink.write(first.audio.content)
        while (message := await self._next(requests)) is not None:
            _check_same_settings(first, message)
            await sink.write(message.audio.content)
        await sink.close()

    async def _next(self, requests: AsyncIterator[Any]) -> Any:
        """The next request message, or ``None`` at the end of the stream. A client that sends
        nothing for ``connection_idle_timeout_s`` (a stalled upload) is refused, as the HTTP
        faces close such a connection: it would hold its upload open for ever."""
        idle_s = self.services.settings.connection_idle_timeout_s
        try:
            return await asyncio.wait_for(anext(requests, None), idle_s)
        except TimeoutError:
            raise GrpcError(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"the request stream sent nothing for {idle_s:g} s "
                "(AURAL_CONNECTION_IDLE_TIMEOUT_S); send the audio without pausing, then "
                "half-close the stream",
                "request.stalled",
                drain=False,
            ) from None

    async def _ensure_mono(self, sink: AudioSink) -> None:
        try:
            channels = await to_thread.run_sync(probe_channels, sink.upload.path)
        except AuralError as exc:
            exc.message = exc.message.replace(str(sink.upload.path), "the audio")
            raise GrpcError.of(exc) from exc
        if channels != 1:
            raise GrpcError.invalid(
                f"the audio has {channels} channels; only mono (1 channel) audio is supported",
                "channels.not-mono",
            )

    def _drop(self, task_id: str) -> None:
        """Delete an abandoned call's task (on a worker thread)."""
        if self.services.delete_task(task_id) is not None:
            log.info("call cancelled; task %s deleted", task_id)

    # --- bookkeeping ----------------------------------------------------------------------

    @contextmanager
    def _observed(self, call: _Call, context: grpc.aio.ServicerContext[Any, Any]) -> Iterator[None]:
        """Log ids for everything the call does; count it by method and final status."""
        status = "OK"
        with bound(call.correlation_id, call.request_id):
            try:
                yield
            except GeneratorExit:  # the client went away between two responses
                status = "CANCELLED"
                raise
            except asyncio.CancelledError:
                remaining = context.time_remaining()
                expired = remaining is not None and remaining <= _DEADLINE_SLACK_S
                status = "DEADLINE_EXCEEDED" if expired else "CANCELLED"
                raise
            except Exception:
                code = context.code()
                status = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
                if status == "UNKNOWN":
                    log.exception("%s failed", call.method)
                raise
            finally:
                code = context.code()
                if status == "OK" and isinstance(code, grpc.StatusCode):
                    status = code.name
                self.services.metrics.observe_grpc(
                    call.method, status, time.perf_counter() - call.started
                )

    @staticmethod
    async def _abort(context: grpc.aio.ServicerContext[Any, Any], error: GrpcError) -> NoReturn:
        context.set_code(error.code)
        await context.abort(
            error.code, error.details, trailing_metadata=(("aural-error-code", error.error_code),)
        )
        raise AssertionError("abort returned")  # pragma: no cover


async def _drain(requests: AsyncIterator[Any], idle_s: float) -> None:
    """Read (and drop) what the client still sends, up to a bound, before refusing: a server
    that ends the call mid-upload can reach the client as a reset (``INTERNAL``) instead of
    the refusal; the HTTP upload reader drains for the same reason. A client that pauses for
    ``idle_s`` is refused at once (a stalled stream must not hold the call open)."""
    drained = 0
    with contextlib.suppress(Exception):
        while (message := await asyncio.wait_for(anext(requests, None), idle_s)) is not None:
            drained += len(message.audio.content)
            if drained > _DRAIN_BYTES:
                break


async def _shared(step: Any) -> Any:
    """Await one of the shared request steps, turning its :class:`HTTPError` into a gRPC one."""
    try:
        return await step
    except HTTPError as exc:
        raise GrpcError.of(exc) from exc
    except AuralError as exc:
        raise GrpcError.of(exc) from exc


def _shared_sync(step: Any) -> Any:
    try:
        return step()
    except HTTPError as exc:
        raise GrpcError.of(exc) from exc


_SETTINGS = (("config", None), ("time_range", "audio"), ("raw_audio_config", "audio"))


def _check_same_settings(first: Any, message: Any) -> None:
    """Refuse a later message that sets ``config``, ``time_range`` or ``raw_audio_config``
    other than the first message did (repeating them unchanged is harmless)."""
    for name, parent in _SETTINGS:
        holder, first_holder = (message, first) if parent is None else (message.audio, first.audio)
        if holder.HasField(name) and getattr(holder, name) != getattr(first_holder, name):
            where = name if parent is None else f"{parent}.{name}"
            raise GrpcError.invalid(
                f"{where} is read from the first message of the stream only; a later message "
                "changed it (send the settings once, in the first message)"
            )


def _raw_config(first: Any) -> tuple[int, int, int] | None:
    """``(encoding, sample rate, channels)`` of raw audio, checked; ``None`` for a container."""
    if not first.audio.HasField("raw_audio_config"):
        return None
    raw = first.audio.raw_audio_config
    channels = raw.channels or 1
    if channels != 1:
        raise GrpcError.invalid(
            f"the audio has {channels} channels; only mono (1 channel) audio is supported",
            "channels.not-mono",
        )
    if not known_encoding(raw.encoding):
        raise GrpcError.invalid(f"raw_audio_config.encoding {raw.encoding} is not known")
    if not 0 < raw.sample_rate_hertz <= MAX_SAMPLE_RATE:
        raise GrpcError.invalid(
            f"raw_audio_config.sample_rate_hertz must be between 1 and {MAX_SAMPLE_RATE}, "
            f"not {raw.sample_rate_hertz}"
        )
    return raw.encoding, raw.sample_rate_hertz, channels


def _segment(segment: Segment, transcript: Transcript) -> pb.OneBestSegment:
    """One segment; ``detected_source_language`` is aural's detection, which only ever picks a
    licensed language, so it equals ``source_language``."""
    language = "en" if transcript.task is Task.TRANSLATE else segment.language
    words = [
        pb.Word(
            text=word.text.strip().strip(".,!?;:\"'()[]¿¡…").lower() or word.text.strip(),
            start_time=_duration(word.start),
            end_time=_duration(word.end),
            punctuated_text=word.text.strip(),
        )
        for word in segment.words
    ]
    return pb.OneBestSegment(
        text=segment.text.strip(),
        start_time=_duration(segment.start),
        end_time=_duration(segment.end),
        language=language,
        source_language=segment.language,
        detected_source_language=segment.language,
        words=words,
    )


def _batches(transcript: Transcript) -> Iterator[pb.OneBest]:
    """The segments in responses of at most 20 segments and 256 KiB; at least one (maybe
    empty) batch, so the last response always exists."""
    batch = pb.OneBest()
    size = 0
    for segment in transcript.segments:
        message = _segment(segment, transcript)
        message_size = message.ByteSize()
        full = len(batch.segments) >= MAX_SEGMENTS_PER_RESPONSE
        if batch.segments and (full or size + message_size > MAX_RESPONSE_BYTES):
            yield batch
            batch, size = pb.OneBest(), 0
        batch.segments.append(message)
        size += message_size
    yield batch


def _log_failure(done: asyncio.Future[None]) -> None:
    """Log what a fire-and-forget job raised (nobody awaits it)."""
    if not done.cancelled() and done.exception() is not None:
        log.error("deleting a cancelled call's task failed", exc_info=done.exception())
