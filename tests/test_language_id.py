"""When language ID looks again (``aural.language_id``), with stand-in rankers that record their
calls; the real detector on real prompts is in test_pipeline.py and the benchmark's LID round."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from aural.language_id import (
    EVIDENCE_SURE,
    Decoded,
    Ranker,
    Ranking,
    decide,
    is_looping,
    rank_carefully,
)
from aural.spool import Samples

SPEECH = np.zeros(16000 * 4, dtype=np.float32)


class Calls:
    """A ranker whose looks answer fixed rankings and decoding scores, counting each look."""

    def __init__(
        self,
        quick: Ranking,
        full: Ranking,
        decoded: dict[str, float],
        texts: dict[str, str] | None = None,
    ) -> None:
        self.answers = {"quick": quick, "full": full}
        self.decoded = decoded
        # By default each language's transcript says other words (a language of its own).
        self.texts = texts or {code: f"{code}1 {code}2 {code}3" for code in decoded}
        self.looks: list[str] = []

    def ranker(self) -> Ranker:
        return Ranker(
            quick=lambda s: self._look("quick"),
            full=lambda s: self._look("full"),
            by_decoding=self._decode,
        )

    def _look(self, name: str) -> Ranking:
        self.looks.append(name)
        return self.answers[name]

    def _decode(self, speech: Samples, candidates: Sequence[str]) -> dict[str, Decoded]:
        self.looks.append("decoding")
        return {code: Decoded(self.texts[code], self.decoded[code]) for code in candidates}


def test_a_sure_detector_is_taken_at_its_word() -> None:
    calls = Calls({"en": 0.97, "de": 0.02}, {"de": 0.9}, {"en": -1.0, "de": -0.1})
    assert decide(SPEECH, calls.ranker(), None)[0] == "en"
    assert calls.looks == ["quick"]


def test_a_decision_asks_more_of_the_quick_look_than_one_window_of_evidence() -> None:
    """A Spanish IVR prompt that the quick look calls Catalan at 0.918: a decision looks again
    (and the full look says Spanish); as one window among many for the Viterbi pass of
    language switching, the quick look is taken as it is."""
    calls = Calls({"ca": 0.918, "es": 0.056}, {"es": 0.6, "ca": 0.3}, {"es": -0.4, "ca": -0.6})
    assert decide(SPEECH, calls.ranker(), None)[0] == "es"
    assert calls.looks[:2] == ["quick", "full"]
    calls = Calls({"ca": 0.918, "es": 0.056}, {"es": 0.6, "ca": 0.3}, {"es": -0.4, "ca": -0.6})
    evidence = rank_carefully(SPEECH, calls.ranker(), None, sure=EVIDENCE_SURE)
    assert max(evidence, key=lambda code: evidence[code]) == "ca"
    assert calls.looks == ["quick"]


def test_a_leader_short_of_sure_gets_the_full_look_and_a_close_call_decoding() -> None:
    """A Spanish IVR prompt that Whisper base calls Italian at 0.63 (Spanish 0.13) on the quick
    look: not close, and wrong; on full context it is close, and Spanish decodes better."""
    calls = Calls({"it": 0.63, "es": 0.13}, {"it": 0.49, "es": 0.17}, {"it": -0.7, "es": -0.4})
    assert decide(SPEECH, calls.ranker(), None)[0] == "es"
    assert calls.looks == ["quick", "full", "decoding"]


def test_a_runner_up_with_little_support_never_wins_by_decoding() -> None:
    """Quiet whispered English: Welsh gibberish is a more probable transcript than the English
    one, but the detector gives Welsh a seventh of what it gives English."""
    calls = Calls({"en": 0.84, "cy": 0.06}, {"en": 0.77, "cy": 0.11}, {"en": -0.8, "cy": -0.28})
    assert decide(SPEECH, calls.ranker(), None)[0] == "en"
    assert calls.looks == ["quick", "full"]


def test_the_runner_up_must_decode_better_by_the_margin() -> None:
    calls = Calls({"ca": 0.6, "es": 0.3}, {"ca": 0.74, "es": 0.19}, {"ca": -0.519, "es": -0.477})
    assert decide(SPEECH, calls.ranker(), None)[0] == "ca"


def test_a_sure_full_look_ends_it() -> None:
    calls = Calls({"la": 0.5, "es": 0.4}, {"es": 0.93, "la": 0.02}, {"la": 0.0, "es": -1.0})
    assert decide(SPEECH, calls.ranker(), None)[0] == "es"
    assert calls.looks == ["quick", "full"]


def test_licensing_decides_sureness_among_the_allowed() -> None:
    # 0.6 of 0.8 allowed is 0.75: unsure, and decoding picks the licensed runner-up
    calls = Calls(
        {"it": 0.6, "es": 0.2, "en": 0.2}, {"it": 0.6, "es": 0.2}, {"it": -0.9, "es": -0.3}
    )
    assert decide(SPEECH, calls.ranker(), frozenset({"it", "es"}))[0] == "es"


def test_a_runner_up_whose_transcript_loops_does_not_win_by_decoding() -> None:
    """English espeak speech (en 0.60, fi 0.17 on full context) decoded greedily with the
    Finnish token looped on "koko ajan ja", more probably per token than the English sentence:
    a loop is a failed decode, not a reading, so the clip stays English (it was labelled
    Finnish)."""
    calls = Calls(
        {"en": 0.53, "fi": 0.21},
        {"en": 0.60, "fi": 0.17},
        {"en": -0.40, "fi": -0.27},
        {
            "en": "The library opened at night in the morning and closing at 6 in the evening.",
            "fi": "Väljää on" + " koko ajan ja" * 40,
        },
    )
    assert decide(SPEECH, calls.ranker(), None)[0] == "en"
    assert calls.looks == ["quick", "full", "decoding"]


def test_a_loop_is_told_from_a_sentence() -> None:
    assert is_looping("Väljää on" + " koko ajan ja" * 40)
    assert not is_looping("Por favor, marque el número de la conferencia seguido de la tecla.")
    assert not is_looping("")


def test_window_evidence_takes_the_full_look_on_one_view() -> None:
    """Switching ranks every window: its evidence uses the one-view full look (one encode per
    window), decisions the full look of several views."""
    calls = Calls({"ca": 0.6, "es": 0.3}, {"es": 0.6, "ca": 0.3}, {"es": -0.4, "ca": -0.6})
    once: list[str] = []
    ranker = replace(calls.ranker(), full_once=lambda s: once.append("once") or {"es": 0.9})
    evidence = rank_carefully(SPEECH, ranker.for_evidence(), None, sure=EVIDENCE_SURE)
    assert evidence == {"es": 0.9}
    assert (calls.looks, once) == (["quick"], ["once"])
    assert rank_carefully(SPEECH, ranker, None) == {"es": 0.6, "ca": 0.3}
    assert calls.looks == ["quick", "quick", "full"]
