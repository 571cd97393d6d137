"""The change-point logic of language switching, on labelled synthetic regions.

The ranking function stands in for Whisper's detector by reading a language marker planted in
each region's samples, so the algorithm is checked exactly; the real detector is exercised in
test_pipeline.py on real speech.
"""

from __future__ import annotations

import numpy as np

from aural.audio import SAMPLE_RATE
from aural.language_id import Ranker
from aural.speech import SpeechRegion
from aural.switching import plan_runs

CODES = {1.0: "es", 2.0: "en", 3.0: "fr"}


def _signal(plan: list[tuple[str, float]]) -> tuple[np.ndarray, list[SpeechRegion]]:
    """Regions of the given languages and lengths, each filled with its language's marker."""
    marker = {code: value for value, code in CODES.items()}
    pieces, regions, cursor = [], [], 0
    for code, seconds in plan:
        n = int(seconds * SAMPLE_RATE)
        pieces.append(np.full(n, marker[code], dtype=np.float32))
        regions.append(SpeechRegion(cursor, cursor + n))
        cursor += n
    return np.concatenate(pieces), regions


def _rank(samples: np.ndarray) -> dict[str, float]:
    """Probability of each language = its share of the samples."""
    values, counts = np.unique(samples, return_counts=True)
    share = {CODES[float(v)]: c / samples.size for v, c in zip(values, counts, strict=True)}
    return {code: share.get(code, 0.0) * 0.98 + 0.0066 for code in CODES.values()}


# The stand-in has no context to gain: the full look ranks the same way.
RANKER = Ranker(quick=_rank, full=_rank)


def test_change_is_placed_at_the_region_where_the_language_changes() -> None:
    plan = [("es", 6.0)] * 6 + [("en", 6.0)] * 6 + [("fr", 6.0)] * 5
    samples, regions = _signal(plan)
    runs = plan_runs(samples, regions, RANKER, None)
    assert [r.language for r in runs] == ["es", "en", "fr"]
    assert [len(r.regions) for r in runs] == [6, 6, 5]


def test_windows_with_little_speech_follow_their_neighbour() -> None:
    samples, regions = _signal([("es", 1.0)] + [("en", 10.0)] * 3)
    runs = plan_runs(samples, regions, RANKER, None)
    assert [r.language for r in runs] == ["en"]


def test_only_allowed_languages_are_chosen() -> None:
    samples, regions = _signal([("es", 8.0)] * 4 + [("fr", 8.0)] * 4)
    runs = plan_runs(samples, regions, RANKER, frozenset({"en", "fr"}))
    assert {r.language for r in runs} <= {"en", "fr"}
    assert runs[-1].language == "fr"


# Markers whose detector answer is uncertain, as Whisper's is on some short Spanish speech.
_WEAK = {4.0: {"fr": 0.5, "es": 0.4, "en": 0.1}, 5.0: {"la": 0.5, "es": 0.45, "en": 0.001}}


def _rank_weak(samples: np.ndarray) -> dict[str, float]:
    """Like ``_rank``, but the weak markers rank as ``_WEAK`` says."""
    values, counts = np.unique(samples, return_counts=True)
    ranking: dict[str, float] = dict.fromkeys(["es", "en", "fr", "la"], 0.0)
    for value, count in zip(values, counts, strict=True):
        share = count / samples.size
        answer = _WEAK.get(float(value), {CODES.get(float(value), "en"): 0.98})
        for code, p in answer.items():
            ranking[code] += share * p
    return {code: p + 0.0005 for code, p in ranking.items()}


WEAK_RANKER = Ranker(quick=_rank_weak, full=_rank_weak)


def _windows_signal(markers: list[float]) -> tuple[np.ndarray, list[SpeechRegion]]:
    """One 25 s region (one switching window) per marker."""
    n = 25 * SAMPLE_RATE
    samples = np.concatenate([np.full(n, m, dtype=np.float32) for m in markers])
    return samples, [SpeechRegion(i * n, (i + 1) * n) for i in range(len(markers))]


def test_one_weak_window_does_not_start_a_run() -> None:
    samples, regions = _windows_signal([1.0, 1.0, 4.0, 1.0, 1.0])
    runs = plan_runs(samples, regions, WEAK_RANKER, None)
    assert [r.language for r in runs] == ["es"]


def test_one_clear_window_does_start_a_run() -> None:
    samples, regions = _windows_signal([1.0, 1.0, 3.0, 1.0, 1.0])
    runs = plan_runs(samples, regions, WEAK_RANKER, None)
    assert [r.language for r in runs] == ["es", "fr", "es"]


def test_a_weakly_supported_language_does_not_win_a_close_run() -> None:
    # A Spanish run that the detector calls Latin by a hair, after a clear English run and
    # beside clearly Spanish speech elsewhere on the channel.
    samples, regions = _windows_signal([2.0, 2.0, 5.0, 5.0, 2.0, 2.0, 1.0, 1.0])
    runs = plan_runs(samples, regions, WEAK_RANKER, None)
    assert [r.language for r in runs] == ["en", "es", "en", "es"]
    assert "la" not in {r.language for r in runs}
