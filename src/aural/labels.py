"""Whisper's labels for sounds that are not speech: let it write them, then take them out.

Whisper learnt from subtitles that mark music and noises, "(upbeat music)", "[MUSIC]", "♪".
faster-whisper (like OpenAI's Whisper) forbids the brackets and notes those labels start with,
so over music Whisper has to write words instead, and it does: on the first minute of
Asterisk's hold-music tracks, "Thank you very much. This is the first time I've ever seen a
movie like this, ..." (42 words), "I'm sorry, I'm sorry, I'm sorry.". Allowed to, it writes
"(upbeat music) (upbeat music) [Music]" there, which says what the sound is and is no word
anyone said. So with the default suppression aural lets the brackets and notes through
(:func:`label_tokens`) and drops every label from the text and the words
(:func:`without_labels`). The other symbols the default forbids stay forbidden.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache
from typing import Any

from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import Segment as WhisperSegment
from faster_whisper.transcribe import Word as WhisperWord

_OPENERS = "(["
_CLOSERS = ")]"
_NOTES = "♩♪♫♬"
_LABEL = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|[♩♪♫♬]+")
_SPACES = re.compile(r"\s{2,}")


def label_tokens(tokenizer: Tokenizer) -> frozenset[int]:
    """The tokens a label is written with: brackets and music notes, alone or after a space
    (worked out once per model vocabulary; every decoding call asks)."""
    return _label_tokens(tokenizer.tokenizer)


@lru_cache(maxsize=8)
def _label_tokens(vocabulary: Any) -> frozenset[int]:
    found: set[int] = set()
    for symbol in [*_OPENERS, *_CLOSERS, *_NOTES, "♪♪", "♪♪♪"]:
        for text in (symbol, " " + symbol):
            tokens = vocabulary.encode(text, add_special_tokens=False).ids
            if len(tokens) == 1 or symbol[0] in _NOTES:
                found.add(tokens[0])
    return frozenset(found)


def strip_labels(text: str) -> str:
    """``text`` without bracketed labels and music notes (and a bracket left unclosed)."""
    kept = _LABEL.sub(" ", text)
    kept = "".join(c for c in kept if c not in _OPENERS + _CLOSERS)
    return _SPACES.sub(" ", kept).strip()


def without_labels(segment: WhisperSegment) -> WhisperSegment | None:
    """``segment`` with its labels taken out of its text and its words; None when nothing
    else was said in it."""
    if not any(c in segment.text for c in _OPENERS + _CLOSERS + _NOTES):
        return segment
    text = strip_labels(segment.text)
    words = None if segment.words is None else _spoken(segment.words)
    if not text:
        return None
    return replace(segment, text=" " + text, words=words)


def _spoken(words: list[WhisperWord]) -> list[WhisperWord]:
    """The words outside labels (a label may run over several words: "(upbeat", "music)")."""
    kept: list[WhisperWord] = []
    depth = 0
    for word in words:
        opened = sum(word.word.count(c) for c in _OPENERS)
        closed = sum(word.word.count(c) for c in _CLOSERS)
        inside = depth > 0 or opened > 0
        depth = max(0, depth + opened - closed)
        if inside:
            continue
        spoken = strip_labels(word.word)
        if spoken:
            kept.append(replace(word, word=word.word.replace(word.word.strip(), spoken)))
    return kept
