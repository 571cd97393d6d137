"""The change-point logic of language switching, on labelled synthetic regions.

The ranking function stands in for Whisper's detector by reading a language marker planted in
each region's samples, so the algorithm is checked exactly; the real detector is exercised in
test_pipeline.py on real speech.
"""

from __future__ import annotations

import numpy as np

from aural.audio import SAMPLE_RATE
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


def test_change_is_placed_at_the_region_where_the_language_changes() -> None:
    plan = [("es", 6.0)] * 6 + [("en", 6.0)] * 6 + [("fr", 6.0)] * 5
    samples, regions = _signal(plan)
    runs = plan_runs(samples, regions, _rank, None)
    assert [r.language for r in runs] == ["es", "en", "fr"]
    assert [len(r.regions) for r in runs] == [6, 6, 5]


def test_windows_with_little_speech_follow_their_neighbour() -> None:
    samples, regions = _signal([("es", 1.0)] + [("en", 10.0)] * 3)
    runs = plan_runs(samples, regions, _rank, None)
    assert [r.language for r in runs] == ["en"]


def test_only_allowed_languages_are_chosen() -> None:
    samples, regions = _signal([("es", 8.0)] * 4 + [("fr", 8.0)] * 4)
    runs = plan_runs(samples, regions, _rank, frozenset({"en", "fr"}))
    assert {r.language for r in runs} <= {"en", "fr"}
    assert runs[-1].language == "fr"
