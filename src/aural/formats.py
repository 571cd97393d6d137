"""Writers from one :class:`Transcript` to every output format a client may want.

``json`` is aural's own shape (the Transcript itself); ``verbose_json`` is OpenAI's; ``text``,
``srt``, ``vtt`` and ``tsv`` are the subtitle and plain formats of Whisper's own CLI. With more
than one channel, text-like formats label each line with its channel.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aural.languages import WHISPER_LANGUAGES
from aural.types import Segment, Transcript, Word


class OutputFormat(StrEnum):
    JSON = "json"
    VERBOSE_JSON = "verbose_json"
    TEXT = "text"
    SRT = "srt"
    VTT = "vtt"
    TSV = "tsv"


def _seconds(value: float) -> float:
    return round(float(value), 3)


def word_dict(word: Word) -> dict[str, Any]:
    return {
        "start": _seconds(word.start),
        "end": _seconds(word.end),
        "text": word.text,
        "probability": word.probability,
    }


def transcript_dict(transcript: Transcript) -> dict[str, Any]:
    """aural's JSON: text, language, duration, per-channel info and channel-tagged segments."""
    return {
        "text": transcript.text,
        "language": transcript.language,
        "duration": _seconds(transcript.duration),
        "task": transcript.task.value,
        "channels": [
            {
                "channel": info.channel,
                "language": info.language,
                "language_probability": info.language_probability,
                "duration": _seconds(info.duration),
                "speech_duration": _seconds(info.speech_duration),
            }
            for info in transcript.channels
        ],
        "segments": [
            {
                "id": s.id,
                "start": _seconds(s.start),
                "end": _seconds(s.end),
                "text": s.text,
                "channel": s.channel,
                "language": s.language,
                "words": [word_dict(w) for w in s.words],
            }
            for s in transcript.segments
        ],
    }


def verbose_json_dict(transcript: Transcript) -> dict[str, Any]:
    """OpenAI's ``verbose_json``: language as an English name, decoder statistics per segment."""
    body: dict[str, Any] = {
        "task": transcript.task.value,
        "language": WHISPER_LANGUAGES.get(transcript.language, transcript.language),
        "duration": _seconds(transcript.duration),
        "text": transcript.text,
        "segments": [
            {
                "id": s.id,
                "seek": s.seek,
                "start": _seconds(s.start),
                "end": _seconds(s.end),
                "text": s.text,
                "tokens": list(s.tokens),
                "temperature": s.temperature,
                "avg_logprob": s.avg_logprob,
                "compression_ratio": s.compression_ratio,
                "no_speech_prob": s.no_speech_prob,
            }
            for s in transcript.segments
        ],
    }
    if transcript.words:
        body["words"] = [
            {"word": w.text, "start": _seconds(w.start), "end": _seconds(w.end)}
            for w in transcript.words
        ]
    return body


def _multichannel(transcript: Transcript) -> bool:
    return len(transcript.channels) > 1


def _clock(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def write_json(transcript: Transcript) -> str:
    return json.dumps(transcript_dict(transcript), ensure_ascii=False, indent=2) + "\n"


def write_verbose_json(transcript: Transcript) -> str:
    return json.dumps(verbose_json_dict(transcript), ensure_ascii=False, indent=2) + "\n"


def write_text(transcript: Transcript) -> str:
    if not _multichannel(transcript):
        return transcript.text + "\n"
    lines = []
    for info in transcript.channels:
        spoken = " ".join(s.text for s in transcript.segments if s.channel == info.channel)
        lines.append(f"[channel {info.channel}] {spoken}".rstrip())
    return "\n".join(lines) + "\n"


def _cue_text(segment: Segment, multichannel: bool, vtt: bool) -> str:
    if not multichannel:
        return segment.text
    if vtt:
        return f"<v Channel {segment.channel}>{segment.text}"
    return f"[channel {segment.channel}] {segment.text}"


def write_srt(transcript: Transcript) -> str:
    multi = _multichannel(transcript)
    cues = [
        f"{n}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{_cue_text(s, multi, False)}\n"
        for n, s in enumerate(transcript.segments, start=1)
    ]
    return "\n".join(cues)


def write_vtt(transcript: Transcript) -> str:
    multi = _multichannel(transcript)
    cues = [
        f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{_cue_text(s, multi, True)}\n"
        for s in transcript.segments
    ]
    return "WEBVTT\n\n" + "\n".join(cues)


def write_tsv(transcript: Transcript) -> str:
    """Whisper's TSV (integer milliseconds) with the channel and language of each segment."""
    rows = ["start\tend\tchannel\tlanguage\ttext"]
    for s in transcript.segments:
        text = s.text.replace("\t", " ").replace("\n", " ")
        rows.append(
            f"{round(s.start * 1000)}\t{round(s.end * 1000)}\t{s.channel}\t{s.language}\t{text}"
        )
    return "\n".join(rows) + "\n"


@dataclass(frozen=True)
class Writer:
    """How to render one format, and how to label it as a file or an HTTP body."""

    render: Callable[[Transcript], str]
    extension: str
    media_type: str


WRITERS: dict[OutputFormat, Writer] = {
    OutputFormat.JSON: Writer(write_json, "json", "application/json"),
    OutputFormat.VERBOSE_JSON: Writer(write_verbose_json, "verbose.json", "application/json"),
    OutputFormat.TEXT: Writer(write_text, "txt", "text/plain; charset=utf-8"),
    OutputFormat.SRT: Writer(write_srt, "srt", "application/x-subrip"),
    OutputFormat.VTT: Writer(write_vtt, "vtt", "text/vtt; charset=utf-8"),
    OutputFormat.TSV: Writer(write_tsv, "tsv", "text/tab-separated-values; charset=utf-8"),
}


def render(transcript: Transcript, output_format: OutputFormat | str) -> str:
    """``transcript`` in ``output_format``."""
    return WRITERS[OutputFormat(output_format)].render(transcript)
