"""The benchmark harness runs end to end (``python -m benchmarks --smoke``) and writes sane files.

This keeps the harness from rotting as the engine changes. Only the shape of the results is
checked, never a timing or an accuracy threshold: the smoke inputs are seconds long and the
machine running the suite is busy, so its numbers mean nothing.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

pytest.importorskip(
    "whisper_normalizer", reason="the bench extra is not installed: pip install -e '.[bench]'"
)


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench")
    before = sorted(RESULTS.glob("*")) if RESULTS.is_dir() else []
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    after = sorted(RESULTS.glob("*")) if RESULTS.is_dir() else []
    assert after == before, "the smoke run wrote into benchmarks/results/"
    (json_file,) = out.glob("*-smoke.json")
    (md_file,) = out.glob("*-smoke.md")
    assert json_file.stem == md_file.stem
    return json.loads(json_file.read_text(encoding="utf-8")), md_file.read_text(encoding="utf-8")


def _speed_systems() -> set[str]:
    systems = {"aural-cli", "faster-whisper"}
    if _has("pywhispercpp"):
        systems.add("whisper.cpp")
    return systems


def test_run_is_complete_and_described(smoke: tuple[dict[str, Any], str]) -> None:
    result, _ = smoke
    assert result["errors"] == []
    meta = result["meta"]
    assert meta["mode"] == "smoke"
    assert meta["threads"] == 2
    assert meta["machine"]["usable_cores"] >= 1
    assert meta["machine"]["packages"]["faster-whisper"] != "not installed"
    assert meta["machine_slug"].endswith("c")
    assert set(meta["models"]) == {"base", "tiny.en"}
    if not _has("pywhispercpp"):
        assert any("whisper.cpp skipped" in note for note in meta["notes"])


def test_speed_and_memory_are_measured(smoke: tuple[dict[str, Any], str]) -> None:
    summary = smoke[0]["summary"]
    speed = summary["speed_long"]
    assert _speed_systems() <= set(speed)
    for system in _speed_systems():
        entry = speed[system]
        assert entry["x_realtime"] > 0
        assert entry["wall_s"] > 0
        assert entry["load_s"] > 0
        assert 50 < entry["peak_rss_mb"] < 10_000
    process = summary["speed_minute"]["aural-cli-process"]
    assert process["process_wall_s"] > 0
    for system, entry in summary["latency"].items():
        assert 0 < entry["p50_s"] <= entry["p95_s"], system


def test_accuracy_figures_are_sane(smoke: tuple[dict[str, Any], str]) -> None:
    summary = smoke[0]["summary"]
    for name, systems in (
        ("fixtures", {"aural-cli", "faster-whisper"}),
        ("long", _speed_systems()),
    ):
        table = summary["wer_percent"][name]
        assert table["reference_words"] > 0
        for system in systems:
            assert 0 <= table[system] <= 200, (name, system)
    for system in ("aural-cli", "faster-whisper"):
        langid = summary["language_id"][system]
        assert langid["total"] == 2
        assert 0 <= langid["accuracy"] <= 1
    switching = summary["language_switching"]
    assert 0 <= switching["aural-cli"]["switch-on"]["language_share"] <= 1
    assert 0 <= switching["faster-whisper"]["switch-off"]["language_share"] <= 1
    assert summary["stereo_split"]["aural-cli"]["ratio"] > 0
    assert summary["switching_cost"]["aural-cli"]["ratio"] > 0
    for kind in ("silence", "noise"):
        for system in ("aural-cli", "faster-whisper"):
            assert summary["no_speech"][kind][system]["words"] >= 0


def test_ratios_come_first(smoke: tuple[dict[str, Any], str]) -> None:
    result, markdown = smoke
    ratios = result["ratios"]
    goals = ratios["issue_6"]
    assert len(goals) == 7
    assert all({"goal", "measured", "target", "met"} <= set(g) for g in goals)
    measurable = [g for g in goals if _has("pywhispercpp") or "whisper.cpp" not in g["goal"]]
    assert all(g["measured"] is not None for g in measurable)
    assert ratios["speed_long_x_realtime"]["aural-cli / faster-whisper"] > 0
    assert ratios["issue_2"]["end_to_end_time_ratio"] > 0
    assert "aural-cli - faster-whisper" in ratios["wer_points"]["fixtures"]
    positions = [markdown.index(h) for h in ("## Ratios", "## Absolute numbers", "## Machine")]
    assert positions == sorted(positions)


def test_issue12_figures_are_measured(smoke: tuple[dict[str, Any], str]) -> None:
    """The batched-pipeline baseline, RSS by duration and the server with two tasks at once."""
    result, markdown = smoke
    summary = result["summary"]
    batched = summary["speed_long"]["faster-whisper-batched"]
    assert batched["x_realtime"] > 0
    assert 50 < batched["peak_rss_mb"] < 10_000
    (duration,) = summary["streaming"]["duration"].values()
    assert 50 < duration["peak_rss_mb"] < 10_000
    server = summary["streaming"]["server_two"]
    assert server["peak_rss_tree_mb"] > 50
    assert server["peak_rss_main_mb"] > 50
    goals = {g["goal"]: g for g in result["ratios"]["issue_12"]}
    assert goals["`aural transcribe` peak RSS on the long file (MB)"]["measured"] > 0
    stereo = goals["stereo: both channels / one channel (time)"]["measured"]
    assert stereo == summary["stereo_split"]["aural-cli"]["ratio"]
    # the batched pipeline's reference row under aural's heap tunables ran and was compared
    assert (
        "aural-cli / faster-whisper-batched-huge-pages" in result["ratios"]["speed_long_x_realtime"]
    )
    assert "### Issue 12 goals" in markdown
