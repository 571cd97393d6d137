"""Every writer against a golden file rendered from one fixed Transcript.

Regenerate after an intended change with ``AURAL_UPDATE_GOLDEN=1 pytest tests/test_formats.py``
and review the diff: the golden files are the contract clients parse.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from aural.formats import OutputFormat, render
from aural.types import ChannelInfo, Segment, Task, Transcript, Word

GOLDEN = Path(__file__).parent / "golden"


def _words(start: float, *texts: str) -> tuple[Word, ...]:
    return tuple(
        Word(start + 0.5 * i, start + 0.5 * i + 0.4, text, 0.9) for i, text in enumerate(texts)
    )


MONO = Transcript(
    language="en",
    duration=3723.5,
    task=Task.TRANSCRIBE,
    channels=(ChannelInfo(0, "en", 0.98, 3723.5, 12.25),),
    segments=(
        Segment(
            0, 0.0, 1.4, "Ask not what your country", 0, "en", _words(0.0, "Ask", "not", "what")
        ),
        Segment(1, 3661.25, 3662.5, "can do for you.", 0, "en", _words(3661.25, "can", "do")),
    ),
)

STEREO = Transcript(
    language="es",
    duration=10.0,
    task=Task.TRANSCRIBE,
    channels=(ChannelInfo(0, "es", 0.9, 10.0, 4.0), ChannelInfo(1, "en", 0.8, 10.0, 2.0)),
    segments=(
        Segment(
            0, 0.5, 2.0, "Hola, ¿qué tal?", 0, "es", (), seek=0, tokens=(1, 2), avg_logprob=-0.25
        ),
        Segment(1, 1.0, 2.5, "Hello\tthere", 1, "en"),
        Segment(2, 4.0, 6.5, "Muy bien.", 0, "es"),
    ),
)

CASES = [(name, fmt) for name in ("mono", "stereo") for fmt in OutputFormat]


@pytest.mark.parametrize(("name", "fmt"), CASES, ids=[f"{n}-{f.value}" for n, f in CASES])
def test_writer_matches_golden_file(name: str, fmt: OutputFormat) -> None:
    transcript = MONO if name == "mono" else STEREO
    rendered = render(transcript, fmt)
    golden = GOLDEN / f"{name}.{fmt.value}"
    if os.environ.get("AURAL_UPDATE_GOLDEN"):
        golden.write_text(rendered, encoding="utf-8")
    assert rendered == golden.read_text(encoding="utf-8")


def test_json_is_the_transcript_itself() -> None:
    body = json.loads(render(MONO, "json"))
    assert body["text"] == "Ask not what your country can do for you."
    assert set(body) >= {"text", "language", "duration", "segments"}
    first = body["segments"][0]
    assert set(first) == {"id", "start", "end", "text", "channel", "language", "words"}
    assert first["words"][0] == {"start": 0.0, "end": 0.4, "text": "Ask", "probability": 0.9}


def test_verbose_json_follows_openai() -> None:
    body = json.loads(render(MONO, "verbose_json"))
    assert body["language"] == "english"
    assert body["task"] == "transcribe"
    assert {"seek", "tokens", "avg_logprob", "compression_ratio", "no_speech_prob"} <= set(
        body["segments"][0]
    )
    assert body["words"][0] == {"word": "Ask", "start": 0.0, "end": 0.4}
