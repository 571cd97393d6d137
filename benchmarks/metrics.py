"""Accuracy and statistics: Whisper-normalised WER, percentiles, language share, junk words.

WER uses OpenAI Whisper's own ``EnglishTextNormalizer`` (from the ``whisper-normalizer``
package, which ships it without torch): lower case, no punctuation, British -> American
spelling, numbers written as digits ("twenty five" -> "25"), "mr." -> "mister" and so on. Without
it a system is penalised for writing "1" where the reference says "one", which is a formatting
choice, not a recognition error; every Whisper paper reports WER this way.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from functools import cache

import jiwer
import numpy as np

Segment = tuple[float, float, str | None]


@cache
def _normaliser() -> object:
    from whisper_normalizer.english import EnglishTextNormalizer  # type: ignore[import-untyped]

    return EnglishTextNormalizer()


def normalise(text: str) -> str:
    """Whisper's English normalisation, with whitespace collapsed."""
    normalised: str = _normaliser()(text)  # type: ignore[operator]
    return " ".join(normalised.split())


def word_errors(pairs: Iterable[tuple[str, str]]) -> tuple[int, int]:
    """(edit operations, reference words) over (reference, hypothesis) pairs, normalised.

    Summing over pairs gives the corpus WER (total errors / total reference words), which
    weighs every word alike instead of every clip alike.
    """
    errors = words = 0
    for reference, hypothesis in pairs:
        ref, hyp = normalise(reference), normalise(hypothesis)
        if not ref:
            continue
        words += len(ref.split())
        if not hyp:
            errors += len(ref.split())
            continue
        out = jiwer.process_words(ref, hyp)
        errors += out.substitutions + out.deletions + out.insertions
    return errors, words


def wer_percent(pairs: Iterable[tuple[str, str]]) -> float | None:
    """Corpus WER in percent (None when there is no reference word)."""
    errors, words = word_errors(pairs)
    return round(100.0 * errors / words, 2) if words else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default), None for no values."""
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else None


def median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def language_share(
    spans: Sequence[tuple[float, float, str]], segments: Sequence[Segment], step_s: float = 0.01
) -> float | None:
    """Share of reference speech time whose transcript language is the reference language.

    Every 10 ms of reference speech takes the language of the segment covering it, or of the
    nearest segment when it falls between segments (a segment edge a few hundred milliseconds
    off is a timestamp question, not a language one). Speech with no segment at all counts as
    wrong. None when there is no reference speech.
    """
    if not spans:
        return None
    starts = np.array([s[0] for s in segments], dtype=float)
    ends = np.array([s[1] for s in segments], dtype=float)
    languages = [s[2] for s in segments]
    right = total = 0
    for start, end, language in spans:
        times = np.arange(start, end, step_s) + step_s / 2
        total += times.size
        if not segments:
            continue
        # Distance from each instant to each segment (0 inside it); nearest segment wins.
        distance = np.maximum(starts[None, :] - times[:, None], times[:, None] - ends[None, :])
        nearest = np.argmin(np.maximum(distance, 0.0), axis=1)
        right += sum(1 for i in nearest if languages[i] == language)
    return round(right / total, 4) if total else None


def word_count(text: str) -> int:
    """Words a listener would see: whitespace-separated tokens of the raw output."""
    return len(text.split())
