"""Whisper's sound labels (``aural.labels``): allowed while decoding, taken out of transcripts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from faster_whisper.transcribe import Segment as WhisperSegment
from faster_whisper.transcribe import Word as WhisperWord

import aural
from aural.labels import strip_labels, without_labels
from aural.model_pool import ModelPool

DATA = Path(__file__).parent / "data"


def _segment(text: str, words: list[str] | None = None) -> WhisperSegment:
    timed = None
    if words is not None:
        timed = [
            WhisperWord(start=i, end=i + 1, word=w, probability=0.9) for i, w in enumerate(words)
        ]
    return WhisperSegment(
        id=1, seek=0, start=0.0, end=5.0, text=text, tokens=[1, 2], avg_logprob=-0.3,
        compression_ratio=1.2, no_speech_prob=0.1, words=timed, temperature=0.0,
    )  # fmt: skip


def test_labels_and_notes_leave_the_text_and_words_stay() -> None:
    assert strip_labels(" (upbeat music) [MUSIC] ♪♪") == ""
    assert strip_labels(" Hello (laughs) there, [inaudible] friend.") == "Hello there, friend."
    assert strip_labels(" a stray ) and ( bracket") == "a stray and bracket"
    assert strip_labels(" 3.5 % of 20 people, ok?") == "3.5 % of 20 people, ok?"


def test_a_segment_of_labels_only_is_dropped_and_a_mixed_one_keeps_its_words() -> None:
    assert without_labels(_segment(" (upbeat music)", [" (upbeat", " music)"])) is None
    plain = _segment(" Thank you.", [" Thank", " you."])
    assert without_labels(plain) is plain
    mixed = without_labels(
        _segment(" Hello (soft music) there ♪", [" Hello", " (soft", " music)", " there", " ♪"])
    )
    assert mixed is not None
    assert mixed.text == " Hello there"
    assert [w.word for w in mixed.words or []] == [" Hello", " there"]
    assert [w.start for w in mixed.words or []] == [0, 3]


def test_a_mixed_segment_keeps_the_token_ids_of_its_words_only(pool: ModelPool) -> None:
    """Given the vocabulary, the ids go with the text: a label's brackets and words and a
    music note (several byte tokens) leave ``tokens`` too, and what is left decodes to the
    words said."""
    vocabulary = pool.get().whisper.hf_tokenizer
    said = " Hello (soft music) there ♪ friend."
    ids = vocabulary.encode(said, add_special_tokens=False).ids
    segment = without_labels(replace(_segment(said), tokens=ids), vocabulary)
    assert segment is not None
    assert vocabulary.decode(segment.tokens) == " Hello there friend."
    assert without_labels(replace(_segment(said), tokens=ids)).tokens == ids  # type: ignore[union-attr]


def test_hold_music_gives_no_words(pool: ModelPool) -> None:
    """20 s of an instrumental Asterisk hold-music track. Forbidden the brackets of its sound
    labels, Whisper wrote "I'm No?" over it (and over the same 20 s dithered, "I'm not sure if
    I can make it." twice); allowed them, it labels the music, and labels are no words."""
    transcript = aural.transcribe(DATA / "music" / "hold_music_the_simplicity.flac", pool=pool)
    assert transcript.text.split() == [], transcript.text
