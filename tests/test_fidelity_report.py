"""The fidelity round's arithmetic (benchmarks/fidelity.py) on records whose answers we know.

The round itself runs the real systems (``python -m benchmarks --rounds fidelity``); here the
records are written by hand so that every figure has one right value: a WER delta over the clip
alone, a right-language share, a per-language LID accuracy, words on a negative, and the issue
goals derived from them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("whisper_normalizer", reason="the bench extra is not installed")
# The harness is a directory of the repository, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import audio_sets as sets
from benchmarks import fidelity, report
from benchmarks import plan as p

JFK = "And so my fellow Americans, ask not what your country can do for you"  # 14 words


def _clip(variant: str, reference: str = JFK) -> dict[str, Any]:
    return {
        "id": f"clip/jfk/{variant}",
        "kind": "clip",
        "path": f"clip/jfk/{variant}.wav",
        "duration": 11.0,
        "language": "en",
        "reference": reference,
        "channel_references": [],
        "clip": "jfk",
        "variant": variant,
    }


def _item(kind: str, item_id: str, language: str | None, reference: str = "") -> dict[str, Any]:
    return {
        "id": item_id,
        "kind": kind,
        "path": f"/x/{item_id}.wav",
        "duration": 4.0,
        "language": language,
        "reference": reference,
        "channel_references": [],
        "clip": "",
        "variant": "",
        "prompts": [
            {"start": 0.0, "end": 10.0, "language": "es", "text": "hola"},
            {"start": 10.0, "end": 20.0, "language": "en", "text": "hello"},
        ],
    }


def _call(task: str, text: str = "", language: str | None = "en", **extra: Any) -> dict[str, Any]:
    return {"task": task, "wall_s": 1.0, "text": text, "language": language, **extra}


def test_figures_and_goals_from_known_answers(tmp_path: Any) -> None:
    tasks = [
        *fidelity._item_tasks(_clip("alone"), tmp_path),
        *fidelity._item_tasks(_clip("pink-50dB-27"), tmp_path),
        *fidelity._item_tasks(_clip("level-35dB"), tmp_path),
        *fidelity._item_tasks(_clip("telephone-8k"), tmp_path),
        *fidelity._item_tasks(_clip("quieter-0.5dB"), tmp_path),
        *fidelity._item_tasks(_clip("twice", f"{JFK} {JFK}"), tmp_path),
        *fidelity._item_tasks(_clip("hold-music-20"), tmp_path),
        *fidelity._item_tasks(_item("lid", "lid/es/a", "es", "hola"), tmp_path),
        *fidelity._item_tasks(_item("lid", "lid/es/b", "es", "adios"), tmp_path),
        *fidelity._item_tasks(_item("negative", "negative/tone", None), tmp_path),
        *fidelity._item_tasks(_item("runs", "runs/es-en", None), tmp_path),
    ]
    plan = p.Plan("quick", 2, (p.Round("fidelity-set", "base", fidelity.SYSTEMS, tuple(tasks)),))
    lost_two = "ask not what your country can do for you"  # 5 of 14 words deleted
    calls = [
        _call("fidelity/clip/jfk/alone", JFK),
        _call("fidelity/clip/jfk/pink-50dB-27", lost_two),
        # six words heard wrong, none left out
        _call(
            "fidelity/clip/jfk/level-35dB",
            "And so my follow Americans, ask nut wat your county con dew for you",
        ),
        _call("fidelity/clip/jfk/telephone-8k", "And so my fellow"),  # 10 of 14 words deleted
        # the clip alone, 0.5 dB quieter: one word heard differently (its own spread)
        _call("fidelity/clip/jfk/quieter-0.5dB", JFK.replace("fellow", "follow")),
        # said twice, heard once: 14 of its 28 words dropped
        _call("fidelity/clip/jfk/twice", JFK),
        # behind hold music, the sentence written twice: 14 words inserted
        _call("fidelity/clip/jfk/hold-music-20", f"{JFK} {JFK}"),
        _call("fidelity/lid/es/a", "hola", "es"),
        _call("fidelity/lid/es/b", "adios", "la"),
        _call("fidelity/negative/tone", "Thank you."),
        _call("fidelity/runs/es-en/on", segments=[[0.0, 10.0, "es"], [10.0, 20.0, "en"]]),
        _call("fidelity/runs/es-en/off", segments=[[0.0, 20.0, "es"]]),
    ]
    record = {"system": p.AURAL_CLI, "error": None, "calls": calls}
    summary = report.summarise(plan, [record])
    f = summary["fidelity"]
    clips = f["clips"][p.AURAL_CLI]
    assert clips["per_clip_delta"]["jfk"] == {
        "alone": 0.0,
        "pink-50dB-27": round(500 / 14, 2),
        "level-35dB": round(600 / 14, 2),
        "telephone-8k": round(1000 / 14, 2),
        "quieter-0.5dB": round(100 / 14, 2),
        "twice": 50.0,
        "hold-music-20": 100.0,
    }
    # The telephone band is not a lead-in: it is the worst cell of its own, not the invariant's.
    assert clips["worst"] == {"delta": round(600 / 14, 2), "clip": "jfk", "variant": "level-35dB"}
    assert clips["worst_band"]["variant"] == "telephone-8k"
    # Nor is hold music one the issue names: its worst cell is reported apart too.
    assert clips["worst_music"] == {"delta": 100.0, "clip": "jfk", "variant": "hold-music-20"}
    # Said twice is measured against the clip's text twice, in a row of its own.
    assert clips["worst_repeat_dropped"] == {"delta": 50.0, "clip": "jfk", "variant": "twice"}
    assert clips["total"]["twice"]["vs_alone_transcript_wer"] == 50.0
    # A quieter reading of the clip alone is its own spread, not a shape under test; the
    # invariant's cells are also counted over the worst of the clip alone and that spread.
    assert clips["worst_spread"]["variant"] == "quieter-0.5dB"
    assert clips["worst_beyond_spread"] == {
        "delta": round(round(600 / 14, 2) - round(100 / 14, 2), 2),
        "clip": "jfk",
        "variant": "level-35dB",
    }
    # A word heard differently is not a word dropped.
    assert clips["worst_dropped"] == {
        "delta": round(500 / 14, 2),
        "clip": "jfk",
        "variant": "pink-50dB-27",
    }
    assert f["language_id"][p.AURAL_CLI]["per_language"]["es"]["wrong"] == {"la": 1}
    assert f["language_id"][p.AURAL_CLI]["accuracy"] == 0.5
    assert f["negatives"][p.AURAL_CLI]["words"] == 2
    runs = f["runs"][p.AURAL_CLI]
    assert runs["on"]["language_share"] == 1.0
    assert runs["off"]["language_share"] == 0.5
    assert runs["on_off_time_ratio"] == 1.0
    goals = {g["goal"]: g for g in report.ratios(summary)["issue_10"]}
    beyond = "clips: the same cells over the worst of the clip alone and its own spread, points"
    assert goals[beyond]["measured"] == clips["worst_beyond_spread"]["delta"]
    twice = next(g for g in goals.values() if g["goal"].startswith("clips said twice"))
    assert twice["measured"] == 50.0
    assert twice["met"] is False
    assert goals["LID, worst language"]["measured"] == 0.5
    assert goals["LID, worst language"]["met"] is False
    assert goals["negatives: words on silence, noise, modem, tones and music"]["met"] is False
    assert goals["switching: right-language time, worst alternating-runs file"]["met"] is True
    markdown = "\n".join(fidelity.render(f, report.ratios(summary)["issue_10"], {}))
    assert "## Fidelity (issue 10)" in markdown


def test_runs_spans_are_the_prompts() -> None:
    tasks = fidelity._item_tasks(_item("runs", "runs/es-en", None), sets.REPO_ROOT)
    assert [t.name for t in tasks] == ["fidelity/runs/es-en/on", "fidelity/runs/es-en/off"]
    assert tasks[0].language_switching and not tasks[1].language_switching
    assert tasks[0].systems == fidelity.AURAL and tasks[1].systems is None
    assert [(s.start, s.end, s.language) for s in tasks[0].spans] == [
        (0.0, 10.0, "es"),
        (10.0, 20.0, "en"),
    ]


def test_whole_set_counts_a_cell_against_the_clips_own_shifted_readings() -> None:
    """A lead-in cell 10 points over the clip alone, within the clip's readings shifted by under
    10 ms (``benchmarks.phase_spread``), is over the clip alone but not over the model's floor;
    one beyond them is over both."""
    from benchmarks.whole_set import clip_lines

    reference = "ask not what your country can do for you friend"
    items, results = [], {}
    for clip, behind in (
        ("steady", "ask not what your country can do for you"),
        ("shaky", "ask not what your country can do for you"),
    ):
        for variant, text in (
            ("alone", reference),
            ("quieter-1dB", reference),
            ("pink-40dB-27", behind),
        ):
            item = {
                "id": f"clip/{clip}/{variant}",
                "clip": clip,
                "variant": variant,
                "language": "en",
                "reference": reference,
            }
            items.append(item)
            results[item["id"]] = {"text": text, "language": "en"}
    lines = clip_lines(items, results, {"steady": [0.0, 0.0, 0.0], "shaky": [0.0, 10.0, 0.0]})
    report = "\n".join(lines)
    assert "over the clip alone (2): shaky/pink-40dB-27 +10.0, steady/pink-40dB-27 +10.0" in report
    assert "(1 of 2): shaky 0.0-10.0" in report
    assert "shifted readings (1): steady/pink-40dB-27 +10.0" in report
