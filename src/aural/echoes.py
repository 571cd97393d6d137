"""Whisper's echo: a segment that says again what was just said, in a time nobody could say it in.

Behind hold music the speech detector hears speech in some of the music, and those stretches
are decoded in one window with the speech after them. Whisper labels the music, transcribes the
speech, and then may write it again as a last segment squeezed into the end of the window. Of 72
mixes of 20 s of Asterisk hold music and a fixture sentence (jfk, 5 LibriVox clips, 12 Asterisk
prompts in en, es, fr; music at -22 and -30 dBFS, with and without a 0.7 s pause), 28 came out
with such an echo: the sentence again in 0.36-0.58 s (50-150 letters a second), word for word or
most of it ("You can see the first three letters of your party's first name..." in 0.5 s after a
prompt that said so), twice from two segments back. The rule below takes out 27 of them; the
28th, one word ("Número." in 0.18 s, 33 letters a second), stays.

Over 817 segments of real speech (every clip variant of the fidelity set, its language runs and
a quarter of its language prompts) Whisper's timestamps gave at most 26.5 letters a second, 16.7
at the 99th percentile. A repeat alone proves nothing (people say things twice, and so do IVR
prompts), and neither does a short segment (Whisper's timestamps are coarse); together they do:
a segment more than half of whose words were said in the window before it
(:data:`ECHO_REACH_S`), at over :data:`MAX_LETTERS_PER_S`, is dropped. Any other is kept.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

from faster_whisper.transcribe import Segment as WhisperSegment

# Letters (and digits) a second that no speech was given: 1.5 times the most of 817 segments.
MAX_LETTERS_PER_S = 40.0
# How far back an echo reaches: what Whisper has in view, one window.
ECHO_REACH_S = 30.0


def without_echoes(segments: Iterable[WhisperSegment]) -> Iterator[WhisperSegment]:
    """``segments`` (one decoding's, in order) less each that mostly repeats what was said in
    the window before it and is too short to have been said."""
    said: deque[tuple[float, list[str]]] = deque()  # (end, words) of the segments kept
    for segment in segments:
        words = said_words(segment.text)
        while said and said[0][0] <= segment.start - ECHO_REACH_S:
            said.popleft()
        if words and _mostly_repeats(words, said) and _too_fast(segment, words):
            continue
        said.append((float(segment.end), words))
        yield segment


def said_words(text: str) -> list[str]:
    """The words of ``text`` as letters and digits, lower case: what was said, not how it was
    written."""
    words = ("".join(c for c in word.casefold() if c.isalnum()) for word in text.split())
    return [word for word in words if word]


def _mostly_repeats(words: list[str], said: Iterable[tuple[float, list[str]]]) -> bool:
    """Whether more than half of ``words`` were said in ``said``."""
    before = {word for _, earlier in said for word in earlier}
    return sum(word in before for word in words) * 2 > len(words)


def _too_fast(segment: WhisperSegment, words: list[str]) -> bool:
    seconds = float(segment.end - segment.start)
    letters = sum(len(word) for word in words)
    return seconds <= 0 or letters / seconds > MAX_LETTERS_PER_S
