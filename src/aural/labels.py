"""Whisper's labels for sounds that are not speech: let it write them, then take them out.

Whisper learnt from subtitles that mark music and noises, "(upbeat music)", "[MUSIC]", "♪".
faster-whisper (like OpenAI's Whisper) forbids the brackets and notes those labels start with,
so over music Whisper has to write words instead, and it does: on the first minute of
Asterisk's hold-music tracks, "Thank you very much. This is the first time I've ever seen a
movie like this, ..." (42 words), "I'm sorry, I'm sorry, I'm sorry.". Allowed to, it writes
"(upbeat music) (upbeat music) [Music]" there, which says what the sound is and is no word
anyone said. So with the default suppression aural lets the brackets and notes through
(:func:`label_tokens`) and drops every label from the text, the words and, given the
vocabulary, the token ids (:func:`without_labels`). The other symbols the default forbids stay
forbidden.
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


def without_labels(segment: WhisperSegment, vocabulary: Any = None) -> WhisperSegment | None:
    """``segment`` with its labels taken out of its text, its words and (given the model's
    ``tokenizers`` vocabulary) its token ids; None when nothing else was said in it."""
    if not any(c in segment.text for c in _OPENERS + _CLOSERS + _NOTES):
        return segment
    text = strip_labels(segment.text)
    words = None if segment.words is None else _spoken(segment.words)
    if not text:
        return None
    tokens = segment.tokens if vocabulary is None else _spoken_tokens(segment.tokens, vocabulary)
    return replace(segment, text=" " + text, words=words, tokens=tokens)


def _spoken(words: list[WhisperWord]) -> list[WhisperWord]:
    """The words outside labels (a label may run over several words: "(upbeat", "music)")."""
    kept: list[WhisperWord] = []
    for word, inside in zip(words, _in_labels([w.word for w in words]), strict=True):
        spoken = "" if inside else strip_labels(word.word)
        if spoken:
            kept.append(replace(word, word=word.word.replace(word.word.strip(), spoken)))
    return kept


def _spoken_tokens(tokens: list[int], vocabulary: Any) -> list[int]:
    """The token ids outside labels. A music note is several byte tokens, so ids are read in
    pieces that decode to whole characters; a piece that holds a bracket or a note goes."""
    pieces: list[list[int]] = []
    pending: list[int] = []
    for token in tokens:
        pending.append(token)
        if "\ufffd" not in vocabulary.decode(pending):
            pieces.append(pending)
            pending = []
    if pending:
        pieces.append(pending)
    texts = [vocabulary.decode(piece) for piece in pieces]
    return [
        token
        for piece, text, inside in zip(pieces, texts, _in_labels(texts), strict=True)
        if not inside and not any(c in text for c in _CLOSERS + _NOTES)
        for token in piece
    ]


def _in_labels(texts: list[str]) -> list[bool]:
    """For each of a segment's consecutive texts (words, tokens): whether it opens or lies in a
    bracketed label."""
    inside: list[bool] = []
    depth = 0
    for text in texts:
        opened = sum(text.count(c) for c in _OPENERS)
        closed = sum(text.count(c) for c in _CLOSERS)
        inside.append(depth > 0 or opened > 0)
        depth = max(0, depth + opened - closed)
    return inside
