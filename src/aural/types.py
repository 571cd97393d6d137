"""The one request type and the one result type every face maps onto.

Frozen dataclasses, so a request can be stored, queued and compared, and a result can be
formatted by any writer without anyone changing it underneath.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from aural.errors import InvalidOptionError


class Task(StrEnum):
    """What the decoder produces: text in the spoken language, or English."""

    TRANSCRIBE = "transcribe"
    TRANSLATE = "translate"


class ChannelMode(StrEnum):
    """How several channels become transcripts: each on its own, or down-mixed into one."""

    SPLIT = "split"
    MIX = "mix"


DEFAULT_TEMPERATURES: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)

# Bounds of every client-controlled option (docs/api.md lists them). They keep one request's
# cost bounded and keep values that crash or stall the engine (a 1e308 patience, a token id
# past the vocabulary, a million-step temperature ladder) from ever being built.
MAX_TEMPERATURES = 21
"""Fallback temperatures of one request: Whisper's ladder in steps of 0.05 from 0."""
MAX_BEAM_SIZE = 16
MIN_PATIENCE = 0.1
MAX_PATIENCE = 5.0
MAX_COMPRESSION_RATIO_THRESHOLD = 100.0
MIN_LOG_PROB_THRESHOLD = -100.0
MAX_CHUNK_LENGTH_S = 30
MAX_BATCH_SIZE = 64
MAX_CHANNELS = 64
"""Most channels a request may select (and most channel lanes a file may have)."""
MAX_SUPPRESS_TOKENS = 1024
VOCABULARY_BOUND = 51866
"""The largest Whisper vocabulary (large-v3); the loaded model's own size is checked later."""
MAX_PROMPT_CHARS = 4000
MAX_LANGUAGE_CHARS = 64
MAX_LICENSED_LANGUAGES = 500
MAX_TIME_S = 7 * 24 * 3600.0
"""Bound of ``start_s``/``end_s`` (finite; the media's own limits apply when it is decoded)."""


@dataclass(frozen=True)
class TranscriptionOptions:
    """Everything that shapes one transcription, independent of the model that runs it.

    ``language`` is ``None`` for detection; any RFC 5646 tag or ISO 639-1 code is accepted and
    normalised by :mod:`aural.languages`. ``licensed_languages`` of ``None`` means every language
    the model knows. The decoding knobs mirror Whisper's own and keep its defaults.

    Every value is checked against its bounds when the options are built (by :meth:`create`,
    the constructor or :func:`dataclasses.replace`), so no face and no stored record can hand
    the engine a value outside them.
    """

    task: Task = Task.TRANSCRIBE
    language: str | None = None
    language_switching: bool = False
    licensed_languages: frozenset[str] | None = None
    channel_mode: ChannelMode = ChannelMode.SPLIT
    channels: tuple[int, ...] | None = None
    word_timestamps: bool = False
    initial_prompt: str | None = None
    temperature: tuple[float, ...] = DEFAULT_TEMPERATURES
    beam_size: int = 5
    patience: float = 1.0
    compression_ratio_threshold: float | None = 2.4
    log_prob_threshold: float | None = -1.0
    no_speech_threshold: float | None = 0.6
    condition_on_previous_text: bool = True
    suppress_tokens: tuple[int, ...] = (-1,)
    chunk_length_s: int = 30
    vad: bool = True
    batch_size: int = 8
    start_s: float = 0.0
    end_s: float | None = None

    def __post_init__(self) -> None:
        _check(self)

    @classmethod
    def create(cls, **values: Any) -> TranscriptionOptions:
        """Options from loose Python values (strings for enums, lists, a single temperature).

        The CLI, the Python API and the HTTP faces all build options here, so every face
        accepts the same spellings and rejects the same mistakes.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidOptionError(f"unknown option {unknown[0]!r}", option=unknown[0])
        coerced = {
            name: _coerce(name, value) for name, value in values.items() if value is not None
        }
        return cls(**coerced)


def _invalid(name: str, message: str) -> InvalidOptionError:
    return InvalidOptionError(f"{name} {message}", option=name)


def _enum(kind: type[StrEnum], name: str, value: object) -> StrEnum:
    try:
        return kind(str(value).lower())
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidOptionError(
            f"{name} must be one of {allowed}, not {str(value)[:40]!r}", option=name
        ) from None


def _items(name: str, value: object, most: int) -> list[Any]:
    """A bounded list from one value or an iterable (its length checked before its items)."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return [value]
    items: list[Any] = []
    for item in value:
        items.append(item)
        if len(items) > most:
            raise _invalid(name, f"may hold at most {most} values")
    return items


def _integer(name: str, value: object) -> int:
    if isinstance(value, bool):
        raise _invalid(name, f"must be an integer, not {value!r}")
    if isinstance(value, int):
        return value
    try:
        number = float(str(value)) if isinstance(value, str) else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise _invalid(name, f"must be an integer, not {str(value)[:40]!r}") from None
    if not math.isfinite(number) or not number.is_integer():
        raise _invalid(name, f"must be an integer, not {str(value)[:40]!r}")
    return int(number)


def _number(name: str, value: object) -> float:
    if isinstance(value, bool):
        raise _invalid(name, f"must be a number, not {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise _invalid(name, f"must be a number, not {str(value)[:40]!r}") from None
    if not math.isfinite(number):
        raise _invalid(name, f"must be a finite number, not {str(value)[:40]!r}")
    return number


_INTEGERS = {"beam_size", "chunk_length_s", "batch_size"}
_NUMBERS = {
    "patience",
    "compression_ratio_threshold",
    "log_prob_threshold",
    "no_speech_threshold",
    "start_s",
    "end_s",
}


def _coerce(name: str, value: Any) -> Any:
    if name == "task":
        return _enum(Task, name, value)
    if name == "channel_mode":
        return _enum(ChannelMode, name, value)
    if name == "temperature":
        return tuple(_number(name, item) for item in _items(name, value, MAX_TEMPERATURES))
    if name == "channels":
        return tuple(_integer(name, item) for item in _items(name, value, MAX_CHANNELS)) or None
    if name == "suppress_tokens":
        return tuple(_integer(name, item) for item in _items(name, value, MAX_SUPPRESS_TOKENS))
    if name == "licensed_languages":
        return frozenset(str(item) for item in _items(name, value, MAX_LICENSED_LANGUAGES))
    if name in _INTEGERS:
        return _integer(name, value)
    if name in _NUMBERS:
        return _number(name, value)
    return value


def _in_range(name: str, value: object, low: float, high: float, integer: bool = False) -> None:
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    valid = isinstance(value, kinds) and not isinstance(value, bool)
    try:
        number = float(value) if valid else math.nan  # type: ignore[arg-type]
    except OverflowError:  # an int past float's range
        number = math.inf
    if not (math.isfinite(number) and low <= number <= high):
        kind = "an integer" if integer else "a number"
        raise _invalid(name, f"must be {kind} from {low:g} to {high:g}, not {str(value)[:40]}")


def _check(options: TranscriptionOptions) -> None:
    """Every bound of :class:`TranscriptionOptions`; the message names the option."""
    if not isinstance(options.task, Task):
        raise _invalid("task", "must be transcribe or translate")
    if not isinstance(options.channel_mode, ChannelMode):
        raise _invalid("channel_mode", "must be split or mix")
    for name in ("language_switching", "word_timestamps", "condition_on_previous_text", "vad"):
        if not isinstance(getattr(options, name), bool):
            raise _invalid(name, "must be true or false")
    for name, most in (("language", MAX_LANGUAGE_CHARS), ("initial_prompt", MAX_PROMPT_CHARS)):
        text = getattr(options, name)
        if text is not None and (not isinstance(text, str) or len(text) > most):
            raise _invalid(name, f"must be text of at most {most} characters")
    temperatures = options.temperature
    if not isinstance(temperatures, tuple) or not 1 <= len(temperatures) <= MAX_TEMPERATURES:
        raise _invalid("temperature", f"must hold 1 to {MAX_TEMPERATURES} values")
    for value in temperatures:
        _in_range("temperature", value, 0.0, 1.0)
    _in_range("beam_size", options.beam_size, 1, MAX_BEAM_SIZE, integer=True)
    _in_range("patience", options.patience, MIN_PATIENCE, MAX_PATIENCE)
    if options.beam_size * options.patience < 1:
        # Beam search stops after beam_size x patience finished hypotheses: at least one.
        raise _invalid("patience", "times beam_size must be at least 1")
    if options.compression_ratio_threshold is not None:
        _in_range(
            "compression_ratio_threshold",
            options.compression_ratio_threshold,
            0.0,
            MAX_COMPRESSION_RATIO_THRESHOLD,
        )
    if options.log_prob_threshold is not None:
        _in_range("log_prob_threshold", options.log_prob_threshold, MIN_LOG_PROB_THRESHOLD, 0.0)
    if options.no_speech_threshold is not None:
        _in_range("no_speech_threshold", options.no_speech_threshold, 0.0, 1.0)
    _in_range("chunk_length_s", options.chunk_length_s, 1, MAX_CHUNK_LENGTH_S, integer=True)
    _in_range("batch_size", options.batch_size, 0, MAX_BATCH_SIZE, integer=True)
    _check_ids(
        "suppress_tokens", options.suppress_tokens, MAX_SUPPRESS_TOKENS, -1, VOCABULARY_BOUND
    )
    if options.channels is not None:
        _check_ids("channels", options.channels, MAX_CHANNELS, 0, MAX_CHANNELS)
    _in_range("start_s", options.start_s, 0.0, MAX_TIME_S)
    if options.end_s is not None:
        _in_range("end_s", options.end_s, 0.0, MAX_TIME_S)
        if not options.start_s < options.end_s:
            raise _invalid(
                "end_s", f"({options.end_s:g} s) must be after start_s ({options.start_s:g} s)"
            )
    licensed = options.licensed_languages
    if licensed is not None and len(licensed) > MAX_LICENSED_LANGUAGES:
        raise _invalid("licensed_languages", f"may hold at most {MAX_LICENSED_LANGUAGES} values")


def _check_ids(name: str, ids: object, most: int, low: int, end: int) -> None:
    """A tuple of at most ``most`` integers in ``[low, end)``."""
    if not isinstance(ids, tuple) or len(ids) > most:
        raise _invalid(name, f"may hold at most {most} values")
    for item in ids:
        if isinstance(item, bool) or not isinstance(item, int) or not low <= item < end:
            raise _invalid(
                name, f"values must be integers from {low} to {end - 1}, not {str(item)[:40]}"
            )


@dataclass(frozen=True)
class TranscriptionRequest:
    """A media file to transcribe with a model and options: what a job stores and runs."""

    media_path: str
    model: str
    options: TranscriptionOptions = field(default_factory=TranscriptionOptions)


@dataclass(frozen=True)
class Word:
    """One word with its timing in seconds from the start of the media."""

    start: float
    end: float
    text: str
    probability: float


@dataclass(frozen=True)
class Segment:
    """A stretch of speech on one channel, in one language.

    ``channel`` is the source channel index (``0`` for a mix); the decoder statistics after
    ``words`` are what the OpenAI and DeepInfra formats expose.
    """

    id: int
    start: float
    end: float
    text: str
    channel: int
    language: str
    words: tuple[Word, ...] = ()
    seek: int = 0
    tokens: tuple[int, ...] = ()
    temperature: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    no_speech_prob: float = 0.0


@dataclass(frozen=True)
class ChannelInfo:
    """What was found on one transcribed channel (or the mix)."""

    channel: int
    language: str
    language_probability: float
    duration: float
    speech_duration: float


@dataclass(frozen=True)
class Transcript:
    """The result of one transcription: segments of every channel, ordered by start time."""

    language: str
    duration: float
    task: Task
    channels: tuple[ChannelInfo, ...]
    segments: tuple[Segment, ...]

    @property
    def text(self) -> str:
        """All segment texts joined in time order, as one string."""
        return " ".join(s.text for s in self.segments if s.text).strip()

    @property
    def words(self) -> tuple[Word, ...]:
        """Every word of every segment, in segment order."""
        return tuple(w for s in self.segments for w in s.words)
