"""The one request type and the one result type every face maps onto.

Frozen dataclasses, so a request can be stored, queued and compared, and a result can be
formatted by any writer without anyone changing it underneath.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class TranscriptionOptions:
    """Everything that shapes one transcription, independent of the model that runs it.

    ``language`` is ``None`` for detection; any RFC 5646 tag or ISO 639-1 code is accepted and
    normalised by :mod:`aural.languages`. ``licensed_languages`` of ``None`` means every language
    the model knows. The decoding knobs mirror Whisper's own and keep its defaults.
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


def _enum(kind: type[StrEnum], name: str, value: object) -> StrEnum:
    try:
        return kind(str(value).lower())
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidOptionError(
            f"{name} must be one of {allowed}, not {value!r}", option=name
        ) from None


def _coerce(name: str, value: Any) -> Any:
    if name == "task":
        return _enum(Task, name, value)
    if name == "channel_mode":
        return _enum(ChannelMode, name, value)
    if name == "temperature":
        items = value if isinstance(value, Iterable) and not isinstance(value, str) else [value]
        return tuple(float(item) for item in items)
    if name == "channels":
        return tuple(int(item) for item in value) or None
    if name == "suppress_tokens":
        return tuple(int(item) for item in value)
    if name == "licensed_languages":
        return frozenset(value)
    return value


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
