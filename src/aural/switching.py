"""Language switching: which language each stretch of speech is in.

Detection runs on ~30 s windows of speech (Whisper's own context). Where two neighbouring
windows disagree, the change is somewhere inside them; a bisection over the speech regions of
the pair finds the region where the language changes, so a run starts at the pause where the
speaker actually switched rather than at a window edge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aural.audio import SAMPLE_RATE, Samples
from aural.decoder import EncodedWindow
from aural.languages import most_probable_allowed
from aural.speech import SpeechRegion, gather, windows

Ranking = dict[str, float]
"""Language code -> probability, as Whisper's detector ranks one stretch of speech."""

ParallelMap = Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]]
"""``(function, items) -> [function(item) ...]``, possibly side by side."""

WINDOW_S = 30.0
# A window's language is detected on its first seconds of speech only (a fifth of the encoder
# cost of the whole window); a change later in the window makes it disagree with the next window,
# and the bisection over the pair finds the change either way. 10 s and 6 s gave the same labels
# (share 0.998 on the es/en/fr file); 6 s took switching on/off from 1.14 to 1.08.
WINDOW_PROBE_S = 6.0
# Less speech than this gives unreliable language ID: such a window follows its neighbour.
MIN_WINDOW_SPEECH_S = 2.0
MIN_PROBE_S = 1.5


@dataclass(frozen=True)
class LanguageRun:
    """Consecutive speech regions of one channel that are decoded in one language."""

    language: str
    probability: float
    regions: tuple[SpeechRegion, ...]
    # Set when the run's speech was already encoded for detection, so decoding reuses it.
    window: EncodedWindow | None = field(default=None, compare=False, repr=False)

    @property
    def speech_duration(self) -> float:
        return sum(r.duration for r in self.regions)


def _one_by_one(function: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    return [function(item) for item in items]


def _best(ranking: Ranking, allowed: frozenset[str] | None) -> tuple[str, float]:
    return most_probable_allowed(list(ranking.items()), allowed)


def _split_point(
    samples: Samples,
    pair: list[SpeechRegion],
    rank: Callable[[Samples], Ranking],
    before: str,
    after: str,
) -> int:
    """Index k where regions ``[0, k)`` of ``pair`` are ``before`` and ``[k, n)`` ``after``.

    A bisection: a speaker who switched stays switched within two windows, so about log2(n)
    rankings find the change instead of one per region.
    """
    low, high = 0, len(pair)
    while low < high:
        middle = (low + high) // 2
        probe = [pair[middle]]
        for region in pair[middle + 1 :]:  # too short a probe gives unreliable language ID
            if sum(r.duration for r in probe) >= MIN_PROBE_S:
                break
            probe.append(region)
        ranking = rank(gather(samples, probe))
        if ranking.get(before, 0.0) >= ranking.get(after, 0.0):
            low = middle + 1
        else:
            high = middle
    return low


def plan_runs(
    samples: Samples,
    regions: list[SpeechRegion],
    rank: Callable[[Samples], Ranking],
    allowed: frozenset[str] | None,
    parallel: ParallelMap | None = None,
) -> list[LanguageRun]:
    """Runs of one language each over ``regions`` (which must be at most ``WINDOW_S`` long).

    ``parallel`` runs the independent detections (the windows, then the bisection of each
    change) side by side; by default they run one after the other.
    """
    run_all: ParallelMap = parallel or _one_by_one
    groups = windows(regions, WINDOW_S)
    speeches = [gather(samples, group) for group in groups]
    probes = [
        s[: int(WINDOW_PROBE_S * SAMPLE_RATE)]
        for s in speeches
        if s.shape[0] >= MIN_WINDOW_SPEECH_S * SAMPLE_RATE
    ]
    rankings = iter(run_all(rank, probes))
    labels: list[tuple[str, float] | None] = [
        _best(next(rankings), allowed)
        if speech.shape[0] >= MIN_WINDOW_SPEECH_S * SAMPLE_RATE
        else None
        for speech in speeches
    ]
    if all(label is None for label in labels):
        labels = [_best(rank(gather(samples, regions)), allowed)] * len(groups)
    filled = _fill_gaps(labels)

    per_region: list[tuple[str, float]] = []
    for group, label in zip(groups, filled, strict=True):
        per_region.extend([label] * len(group))
    offsets = [0]
    for group in groups:
        offsets.append(offsets[-1] + len(group))
    changes = [i for i in range(len(groups) - 1) if filled[i][0] != filled[i + 1][0]]

    def split_point(i: int) -> int:
        pair = [*groups[i], *groups[i + 1]]
        return _split_point(samples, pair, rank, filled[i][0], filled[i + 1][0])

    for i, k in zip(changes, run_all(split_point, changes), strict=True):
        pair = [*groups[i], *groups[i + 1]]
        left = len(groups[i])
        for j in range(len(pair)):
            if j >= k:
                per_region[offsets[i] + j] = filled[i + 1]
            elif j >= left:  # keep the left window's labels: an earlier change may have set them
                per_region[offsets[i] + j] = filled[i]
    return _merge(regions, per_region)


def _fill_gaps(labels: list[tuple[str, float] | None]) -> list[tuple[str, float]]:
    """Windows without enough speech take the previous window's label (the next one's at the
    start)."""
    first = next(label for label in labels if label is not None)
    filled: list[tuple[str, float]] = []
    previous = first
    for label in labels:
        previous = label or previous
        filled.append(previous)
    return filled


def _merge(regions: list[SpeechRegion], labels: list[tuple[str, float]]) -> list[LanguageRun]:
    runs: list[LanguageRun] = []
    for region, (language, probability) in zip(regions, labels, strict=True):
        if runs and runs[-1].language == language:
            last = runs[-1]
            runs[-1] = LanguageRun(
                language, max(last.probability, probability), (*last.regions, region)
            )
        else:
            runs.append(LanguageRun(language, probability, (region,)))
    return runs
