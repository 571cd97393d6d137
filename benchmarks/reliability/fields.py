"""Hostile form fields for each face and the status each must get (never a 5xx, never a hang).

Each entry is (face, form fields, query parameters, expected status). Statuses follow each
face's schema: OpenAI reports client mistakes as 400, the others as 422 (400 for a body that
cannot be parsed). The gRPC face's hostile requests (:data:`GRPC_BAD_FIELDS`) are whole message
streams, each with the gRPC status code it must get.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.duration_pb2 import Duration

from benchmarks.reliability.corpus import MAX_UPLOAD_BYTES
from benchmarks.reliability.harness import core_pb2, file_requests, pb

BadField = tuple[str, dict[str, str], dict[str, str], int]


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


BAD_FIELDS: list[BadField] = [
    ("deepinfra", {"temperature_increment_on_fallback": "1e-300"}, {}, 422),
    ("deepinfra", {"temperature_increment_on_fallback": "0.0001"}, {}, 422),
    ("deepinfra", {"suppress_tokens": "2147483647"}, {}, 422),
    ("deepinfra", {"suppress_tokens": "1000000"}, {}, 422),
    ("deepinfra", {"suppress_tokens": "51865"}, {}, 422),  # past tiny.en's vocabulary
    ("deepinfra", {"suppress_tokens": ",".join(["1"] * 5000)}, {}, 422),
    ("deepinfra", {"suppress_tokens": "9" * 5000}, {}, 422),
    ("deepinfra", {"patience": "1e308"}, {}, 422),
    ("deepinfra", {"patience": "1e-300"}, {}, 422),
    ("deepinfra", {"patience": "nan"}, {}, 422),
    ("deepinfra", {"chunk_length_s": "0"}, {}, 422),
    ("deepinfra", {"chunk_length_s": "abc"}, {}, 422),
    ("deepinfra", {"temperature": "inf"}, {}, 422),
    ("deepinfra", {"compression_ratio_threshold": "1e308"}, {}, 422),
    ("deepinfra", {"logprob_threshold": "-1e308"}, {}, 422),
    ("deepinfra", {"no_speech_threshold": "2"}, {}, 422),
    ("deepinfra", {"initial_prompt": "x" * 5000}, {}, 422),
    ("deepinfra", {"language": "x" * 500}, {}, 422),
    ("openai", {"temperature": "abc"}, {}, 400),
    ("openai", {"temperature": "1e308"}, {}, 400),
    ("openai", {"temperature": "-0.5"}, {}, 400),
    ("openai", {"prompt": "y" * 5000}, {}, 400),
    ("openai", {"response_format": "xml"}, {}, 400),
    ("openai", {"language": "\u0000" * 100}, {}, 400),
    ("phonexia", {"config": _deep(100_000)}, {}, 422),
    ("phonexia", {"config": json.dumps({"channels": list(range(1000))})}, {}, 422),
    ("phonexia", {"config": json.dumps({"channels": [2**70]})}, {}, 422),
    ("phonexia", {"config": "{" + '"a":1,' * 5000 + '"b":2}'}, {}, 422),
    ("phonexia", {"config": "not json"}, {}, 400),
    ("phonexia", {}, {"channels": "abc"}, 422),
    ("phonexia", {}, {"channels": ",".join(["0"] * 100)}, 422),
    ("phonexia", {}, {"channels": "99999999999999999999"}, 422),
    ("phonexia", {}, {"channel_mode": "stereo"}, 422),
    ("phonexia", {}, {"language_switching": "maybe"}, 422),
    ("phonexia", {}, {"language_switching": "yes"}, 422),
    ("phonexia", {}, {"language_switching": "1"}, 422),
    ("phonexia", {"config": json.dumps({"language_switching": "yes"})}, {}, 422),
    ("openai", {"temperature": " 0.5"}, {}, 400),
    ("openai", {"temperature": "0_0"}, {}, 400),
    ("openai", {"temperature": "nan"}, {}, 400),
]


# --- the Phonexia gRPC face ---------------------------------------------------------------------


@dataclass(frozen=True)
class GrpcBadField:
    """Hostile request messages for the gRPC face (built around a valid mono WAV) and the status
    they must get: the spec's code (``INVALID_ARGUMENT`` for bad config, audio or channels),
    aural's error code in the ``aural-error-code`` trailer, never ``UNKNOWN``/``INTERNAL``."""

    name: str
    build: Callable[[bytes], list[Any]]
    code: str  # gRPC status code name; "OK" where the odd value is valid
    error_code: str | None = None  # the trailer, where the refusal has a specific one
    fast: bool = True  # part of the fast slice (tests/reliability)


def _d(seconds: int = 0, nanos: int = 0) -> Duration:
    return Duration(seconds=seconds, nanos=nanos)


def _first(
    content: bytes,
    config: pb.TranscribeConfig | None = None,
    time_range: core_pb2.TimeRange | None = None,
    raw: core_pb2.RawAudioConfig | None = None,
) -> pb.TranscribeRequest:
    audio = core_pb2.Audio(content=content, time_range=time_range, raw_audio_config=raw)
    return pb.TranscribeRequest(audio=audio, config=config)


def _more(content: bytes, **audio: Any) -> pb.TranscribeRequest:
    return pb.TranscribeRequest(audio=core_pb2.Audio(content=content, **audio))


def _language(language: str) -> Callable[[bytes], list[Any]]:
    return lambda media: file_requests(media, pb.TranscribeConfig(language=language))


def _window(start: Duration | None = None, end: Duration | None = None) -> Callable[..., Any]:
    return lambda media: [_first(media, time_range=core_pb2.TimeRange(start=start, end=end))]


def _raw(
    encoding: int = 0, rate: int = 16_000, channels: int = 1, content: bytes | None = None
) -> Callable[[bytes], list[Any]]:
    config = core_pb2.RawAudioConfig(
        encoding=encoding,  # type: ignore[arg-type]  # out-of-range values on purpose
        sample_rate_hertz=rate,
        channels=channels,
    )
    return lambda media: [_first(media[44:] if content is None else content, raw=config)]


def _translate(source_language: str) -> Callable[[bytes], list[Any]]:
    config = pb.TranslateConfig(source_language=source_language)
    return lambda media: [pb.TranslateRequest(audio=core_pb2.Audio(content=media), config=config)]


_INVALID, _OPTION, _LANGUAGE = "INVALID_ARGUMENT", "options.invalid", "language.unsupported"
_MIB = 1024 * 1024

GRPC_BAD_FIELDS: list[GrpcBadField] = [
    # config.language (translate: config.source_language)
    GrpcBadField("language-unknown", _language("xx"), _INVALID, _LANGUAGE),
    GrpcBadField("language-500-chars", _language("x" * 500), _INVALID, _OPTION),
    GrpcBadField("language-100k-chars", _language("x" * 100_000), _INVALID, _OPTION, False),
    GrpcBadField("language-nul", _language("\u0000" * 10), _INVALID),
    GrpcBadField("language-not-on-model", _language("es"), _INVALID, _LANGUAGE),  # tiny.en
    GrpcBadField("language-region-tag", _language("en-US"), "OK"),
    GrpcBadField("language-upper-case", _language("EN"), "OK", fast=False),
    GrpcBadField("translate-language-unknown", _translate("xx"), _INVALID, _LANGUAGE),
    GrpcBadField(
        "all-flags",
        lambda media: file_requests(
            media,
            pb.TranscribeConfig(enable_language_switching=True, enable_word_segmentation=True),
        ),
        "OK",
        fast=False,
    ),
    # audio.time_range
    GrpcBadField("time-start-after-end", _window(_d(2), _d(1)), _INVALID, _OPTION),
    GrpcBadField("time-start-equals-end", _window(_d(0, 2), _d(0, 2)), _INVALID, _OPTION, False),
    GrpcBadField("time-negative-start", _window(_d(-5)), _INVALID, _OPTION),
    GrpcBadField("time-negative-end", _window(end=_d(-1)), _INVALID, _OPTION, False),
    GrpcBadField("time-negative-nanos", _window(_d(0, -5)), _INVALID, _OPTION, False),
    GrpcBadField("time-nanos-over-1s", _window(_d(0, 2_000_000_000)), _INVALID, "request.invalid"),
    GrpcBadField("time-mixed-signs", _window(_d(1, -500_000_000)), _INVALID, "request.invalid"),
    GrpcBadField("time-max-duration", _window(_d(315_576_000_000)), _INVALID, _OPTION),
    GrpcBadField("time-past-duration-max", _window(end=_d(10**15)), _INVALID, _OPTION, False),
    GrpcBadField("time-past-the-audio", _window(_d(100)), _INVALID, _OPTION),
    GrpcBadField("time-end-1ns", _window(end=_d(0, 1)), "OK", fast=False),
    # audio.raw_audio_config
    GrpcBadField("raw-stereo", _raw(channels=2), _INVALID, "channels.not-mono"),
    GrpcBadField("raw-negative-channels", _raw(channels=-1), _INVALID, "channels.not-mono", False),
    GrpcBadField("raw-unknown-encoding", _raw(encoding=99), _INVALID, "request.invalid"),
    GrpcBadField("raw-rate-0", _raw(rate=0), _INVALID, "request.invalid"),
    GrpcBadField("raw-rate-negative", _raw(rate=-16_000), _INVALID, "request.invalid", False),
    GrpcBadField("raw-rate-int32-max", _raw(rate=2**31 - 1), _INVALID, "request.invalid"),
    GrpcBadField("raw-rate-1hz", _raw(rate=1), _INVALID, "media.over-memory-budget"),
    GrpcBadField("raw-pcm32-1hz", _raw(1, 1, content=bytes(64_000)), _INVALID, "media.too-long"),
    GrpcBadField("raw-one-byte", _raw(content=b"\x01"), _INVALID, "media.invalid"),
    GrpcBadField("raw-mulaw-8k", _raw(encoding=2, rate=8_000), "OK", fast=False),
    # the stream: missing, empty, huge and out-of-order messages
    GrpcBadField("no-config", lambda media: [_first(media)], "OK"),
    GrpcBadField(
        "config-without-audio-first",
        lambda media: [pb.TranscribeRequest(config=pb.TranscribeConfig()), _more(media)],
        "OK",
    ),
    GrpcBadField(
        "config-repeated-unchanged",
        lambda media: [
            _first(media[:1000], pb.TranscribeConfig()),
            pb.TranscribeRequest(
                audio=core_pb2.Audio(content=media[1000:]), config=pb.TranscribeConfig()
            ),
        ],
        "OK",
    ),
    GrpcBadField(
        "config-changed-later",
        lambda media: [
            _first(media[:1000]),
            pb.TranscribeRequest(
                audio=core_pb2.Audio(content=media[1000:]),
                config=pb.TranscribeConfig(language="xx"),
            ),
        ],
        _INVALID,
        "request.invalid",
    ),
    GrpcBadField(
        "raw-config-late",
        lambda media: [
            _first(media[44:1000]),
            _more(
                media[1000:],
                raw_audio_config=core_pb2.RawAudioConfig(sample_rate_hertz=16_000, channels=1),
            ),
        ],
        _INVALID,
        "request.invalid",
    ),
    GrpcBadField(
        "time-range-late",
        lambda media: [
            _first(media[:1000]),
            _more(media[1000:], time_range=core_pb2.TimeRange(start=_d(5))),
        ],
        _INVALID,
        "request.invalid",
        fast=False,
    ),
    GrpcBadField(
        "empty-chunks-only",
        lambda media: [_first(b"")] + [_more(b"")] * 100,
        _INVALID,
        "media.empty",
    ),
    GrpcBadField(
        "empty-chunks-around",
        lambda media: [_first(b"")] + [_more(b"")] * 2000 + [_more(media)],
        "OK",
        fast=False,
    ),
    GrpcBadField("7-byte-chunks", lambda media: file_requests(media, chunk=7), "OK", fast=False),
    # gRPC's own 4 MiB message limit: the message never reaches aural, so no trailer.
    GrpcBadField(
        "chunk-over-4MiB", lambda media: [_first(media + bytes(5 * _MIB))], "RESOURCE_EXHAUSTED"
    ),
    GrpcBadField(
        "audio-over-upload-limit",
        lambda media: file_requests(media + bytes(MAX_UPLOAD_BYTES), chunk=_MIB),
        _INVALID,
        "media.too-large",
    ),
]
