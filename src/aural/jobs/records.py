"""Options and transcripts as plain JSON values, so a task row can hold them losslessly.

The formats in :mod:`aural.formats` are views for clients and drop fields (decoder statistics,
tokens); a stored result must keep all of them, because every face renders it differently.
"""

from __future__ import annotations

from dataclasses import asdict, fields, replace
from typing import Any

from aural.types import ChannelInfo, Segment, Task, Transcript, TranscriptionOptions, Word


def options_to_record(options: TranscriptionOptions) -> dict[str, Any]:
    """``options`` as a JSON object (enums as strings, tuples and sets as lists)."""
    record: dict[str, Any] = {}
    for item in fields(options):
        value = getattr(options, item.name)
        if isinstance(value, frozenset):
            value = sorted(value)
        elif isinstance(value, tuple):
            value = list(value)
        elif hasattr(value, "value"):  # StrEnum
            value = str(value.value)
        record[item.name] = value
    return record


def options_from_record(record: dict[str, Any]) -> TranscriptionOptions:
    """The options a record was made from; ``None`` values (a disabled threshold) survive."""
    options = TranscriptionOptions.create(**{k: v for k, v in record.items() if v is not None})
    nulls: dict[str, Any] = {k: None for k, v in record.items() if v is None}
    return replace(options, **nulls) if nulls else options


def transcript_to_record(transcript: Transcript) -> dict[str, Any]:
    """Every field of ``transcript`` as JSON values."""
    record = asdict(transcript)
    record["task"] = transcript.task.value
    return record


def transcript_from_record(record: dict[str, Any]) -> Transcript:
    """The :class:`Transcript` stored by :func:`transcript_to_record`."""
    segments = tuple(
        Segment(
            **{
                **segment,
                "words": tuple(Word(**word) for word in segment["words"]),
                "tokens": tuple(segment["tokens"]),
            }
        )
        for segment in record["segments"]
    )
    return Transcript(
        language=record["language"],
        duration=float(record["duration"]),
        task=Task(record["task"]),
        channels=tuple(ChannelInfo(**info) for info in record["channels"]),
        segments=segments,
    )
