"""Language switching: which language each stretch of speech is in.

Detection runs on ~30 s windows of speech (Whisper's own context). Where two neighbouring
windows disagree, the change is somewhere inside them; a bisection over the speech regions of
the pair finds the region where the language changes, so a run starts at the pause where the
speaker actually switched rather than at a window edge.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aural.audio import SAMPLE_RATE
from aural.decoder import EncodedWindow
from aural.language_id import (
    CLOSE_RATIO,
    EVIDENCE_SURE,
    Ranker,
    Ranking,
    RankSpeech,
    best,
    is_close,
    log_support,
    rank_carefully,
)
from aural.speech import SpeechRegion, gather, head, middle, windows
from aural.spool import ChannelSamples, Samples

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
# Prior odds of 1 in 20 against a change of language between two neighbouring ~30 s windows: a
# window starts a run only if it prefers its language 20 times over its neighbours' (400 times
# for a window on its own between two of the same language).
SWITCH_COST = math.log(20.0)


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


def _split_point(
    samples: ChannelSamples,
    pair: list[SpeechRegion],
    rank: RankSpeech,
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
    samples: ChannelSamples,
    regions: list[SpeechRegion],
    ranker: Ranker,
    allowed: frozenset[str] | None,
    parallel: ParallelMap | None = None,
) -> list[LanguageRun]:
    """Runs of one language each over ``regions`` (which must be at most ``WINDOW_S`` long).

    1. Evidence: each window is ranked on a quick probe of its speech, and again on all of it
       with full context when the probe's two best languages are close.
    2. A Viterbi pass over the windows' rankings, with a cost for every change of language,
       labels the windows: one weak window cannot start a run of its own.
    3. A bisection places each change at the pause where the speaker switched.
    4. Every run is ranked again on up to a window of its own speech, which adds to the
       evidence of the windows it holds; where the two best languages are still close, the
       language with more support over the whole channel wins.

    ``parallel`` runs the independent detections side by side; by default one after the other.
    """
    run_all: ParallelMap = parallel or _one_by_one
    groups = windows(regions, WINDOW_S)
    enough = [sum(r.duration for r in group) >= MIN_WINDOW_SPEECH_S for group in groups]

    evidence_ranker = ranker.for_evidence()

    def window_evidence(group: list[SpeechRegion]) -> Ranking:
        speech = gather(samples, group)  # one window at a time: memory stays flat
        probe = ranker.quick(speech[: int(WINDOW_PROBE_S * SAMPLE_RATE)])
        return rank_carefully(speech, evidence_ranker, allowed, first=probe, sure=EVIDENCE_SURE)

    found = iter(run_all(window_evidence, [g for g, e in zip(groups, enough, strict=True) if e]))
    evidence: list[Ranking | None] = [next(found) if e else None for e in enough]
    if not any(enough):
        # Ranking looks at one window at most: gather no more than that.
        whole = rank_carefully(gather(samples, head(regions, WINDOW_S)), ranker, allowed)
        evidence = [whole] * len(groups)
    labels = _viterbi(evidence)

    per_region: list[str] = []
    for group, label in zip(groups, labels, strict=True):
        per_region.extend([label] * len(group))
    offsets = [0]
    for group in groups:
        offsets.append(offsets[-1] + len(group))
    changes = [i for i in range(len(groups) - 1) if labels[i] != labels[i + 1]]

    def split_point(i: int) -> int:
        pair = [*groups[i], *groups[i + 1]]
        return _split_point(samples, pair, ranker.quick, labels[i], labels[i + 1])

    for i, k in zip(changes, run_all(split_point, changes), strict=True):
        pair = [*groups[i], *groups[i + 1]]
        left = len(groups[i])
        for j in range(len(pair)):
            if j >= k:
                per_region[offsets[i] + j] = labels[i + 1]
            elif j >= left:  # keep the left window's labels: an earlier change may have set them
                per_region[offsets[i] + j] = labels[i]
    drafts = _merge(regions, [(label, 0.0) for label in per_region])
    support = _channel_support(evidence)
    owner = {region: index for index, run in enumerate(drafts) for region in run.regions}
    # The evidence of the windows a run holds whole (a window across a change was probed on
    # speech that may lie in the other run).
    inside: list[list[Ranking]] = [[] for _ in drafts]
    for group, ranking in zip(groups, evidence, strict=True):
        holders = {owner[region] for region in group}
        if ranking and len(holders) == 1:
            inside[holders.pop()].append(ranking)

    def settle(index: int) -> tuple[str, float]:
        run = drafts[index]
        held = inside[index]
        if held and all(not is_close(r) and best(r)[0] == run.language for r in held):
            # Whole windows of its own already name the run's language clearly.
            return run.language, sum(r.get(run.language, 0.0) for r in held) / len(held)
        # Up to a window of the run's own speech, from its middle (never the whole run).
        speech = _centre(gather(samples, middle(list(run.regions), WINDOW_S)), WINDOW_S - 1.0)
        ranking = rank_carefully(speech, ranker, allowed)
        score = {
            code: log_support(ranking, code) + sum(log_support(r, code) for r in inside[index])
            for code in ranking
        }
        ordered = sorted(score.values(), reverse=True)
        if len(ordered) > 1 and ordered[0] - ordered[1] < -math.log(CLOSE_RATIO):
            score = {code: value + log_support(support, code) for code, value in score.items()}
        code = max(score, key=lambda c: score[c])
        return code, ranking.get(code, 0.0)

    settled = run_all(settle, list(range(len(drafts))))
    return _merge(
        [r for run in drafts for r in run.regions],
        [label for run, label in zip(drafts, settled, strict=True) for _ in run.regions],
    )


def _viterbi(evidence: list[Ranking | None]) -> list[str]:
    """The most probable language per window given each window's ranking and a cost of
    ``SWITCH_COST`` for every change between neighbouring windows."""
    candidates = sorted(
        {code for ranking in evidence if ranking for code, p in ranking.items() if p >= 0.05}
        | {best(ranking)[0] for ranking in evidence if ranking}
    )
    scores = {code: log_support(evidence[0], code) for code in candidates}
    back: list[dict[str, str]] = []
    for ranking in evidence[1:]:
        leader = max(scores, key=lambda code: scores[code])
        step: dict[str, float] = {}
        came_from: dict[str, str] = {}
        for code in candidates:
            stay, switch = scores[code], scores[leader] - SWITCH_COST
            came_from[code] = code if stay >= switch else leader
            step[code] = max(stay, switch) + log_support(ranking, code)
        scores = step
        back.append(came_from)
    label = max(scores, key=lambda code: scores[code])
    labels = [label]
    for came_from in reversed(back):
        label = came_from[label]
        labels.append(label)
    return labels[::-1]


def _channel_support(evidence: list[Ranking | None]) -> Ranking:
    """How much of the channel's evidence each language has: the mean of its windows'
    probabilities."""
    rankings = [ranking for ranking in evidence if ranking]
    codes = {code for ranking in rankings for code in ranking}
    return {code: sum(r.get(code, 0.0) for r in rankings) / len(rankings) for code in codes}


def _centre(speech: Samples, seconds: float) -> Samples:
    """At most ``seconds`` from the middle of ``speech``."""
    keep = int(seconds * SAMPLE_RATE)
    if speech.shape[0] <= keep:
        return speech
    first = (speech.shape[0] - keep) // 2
    return speech[first : first + keep]


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
