"""From raw records to the result files: ratios first, absolute numbers second, the machine last.

Ratios compare aural with a baseline measured in the same run (so they survive a noisy or
different machine far better than absolute numbers do):

* speed: aural's x-real-time / the baseline's (> 1: aural is faster);
* latency and time: aural's seconds / the baseline's (< 1: aural is faster);
* WER: aural's percentage minus the baseline's, in points (< 0: aural is more accurate).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import fidelity, metrics, streaming
from benchmarks import plan as p

Record = dict[str, Any]
Summary = dict[str, Any]

SPEED_BASELINES = (
    p.FASTER_WHISPER,
    p.FASTER_WHISPER_BATCHED,
    p.FASTER_WHISPER_BATCHED_HUGE_PAGES,
    p.WHISPER_CPP,
    p.FASTER_WHISPER_GREEDY,
    p.WHISPER_CPP_GREEDY,
)
AURAL_SYSTEMS = (p.AURAL_CLI, p.AURAL_HTTP)


def _tasks(plan: p.Plan) -> dict[str, p.Task]:
    return {t.name: t for r in plan.rounds for t in r.tasks}


class Calls:
    """Successful calls indexed by (system, task), in the order they ran."""

    def __init__(self, records: list[Record]) -> None:
        self.by: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self.records: dict[tuple[str, str], list[Record]] = defaultdict(list)
        for record in records:
            if record["error"]:
                continue
            for call in record["calls"]:
                self.by[(record["system"], call["task"])].append(call)
                if record not in self.records[(record["system"], call["task"])]:
                    self.records[(record["system"], call["task"])].append(record)

    def of(self, system: str, task: str) -> list[dict[str, Any]]:
        return self.by.get((system, task), [])

    def first(self, system: str, task: str) -> dict[str, Any] | None:
        calls = self.of(system, task)
        return calls[0] if calls else None

    def systems(self) -> list[str]:
        return sorted({s for s, _ in self.by})


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _speed(calls: Calls, tasks: dict[str, p.Task], tag: str) -> dict[str, Any]:
    """Per system: x real time over the calls of the task tagged ``tag``, load, peak RSS."""
    out: dict[str, Any] = {}
    for task in (t for t in tasks.values() if tag in t.tags):
        for system in calls.systems():
            runs = calls.of(system, task.name)
            if not runs:
                continue
            speeds = [task.duration / c["wall_s"] for c in runs]
            records = calls.records[(system, task.name)]
            single = [r["process_wall_s"] for r in records if len(r["calls"]) == 1]
            if system == p.AURAL_PROCESS:
                single = [c["wall_s"] for c in runs]
            out[system] = {
                "task": task.name,
                "model": records[0]["model"],
                "audio_s": task.duration,
                "x_realtime": _rounded(metrics.median(speeds), 2),
                "x_realtime_min": _rounded(min(speeds), 2),
                "x_realtime_max": _rounded(max(speeds), 2),
                "wall_s": _rounded(metrics.median([c["wall_s"] for c in runs])),
                "rtf": _rounded(metrics.median([c["wall_s"] / task.duration for c in runs]), 4),
                "process_wall_s": _rounded(metrics.median(single)),
                "load_s": _rounded(metrics.median([r["load_s"] for r in records if r["load_s"]])),
                "peak_rss_mb": _rounded(
                    metrics.median([r["peak_rss_mb"] for r in records if r["peak_rss_mb"]]), 1
                ),
                "runs": len(runs),
            }
    return out


def _latency(calls: Calls, tasks: dict[str, p.Task]) -> dict[str, Any]:
    names = [t.name for t in tasks.values() if "latency" in t.tags]
    out: dict[str, Any] = {}
    for system in calls.systems():
        walls = [c["wall_s"] for n in names for c in calls.of(system, n)]
        if walls:
            out[system] = {
                "p50_s": _rounded(metrics.percentile(walls, 50)),
                "p95_s": _rounded(metrics.percentile(walls, 95)),
                "mean_s": _rounded(sum(walls) / len(walls)),
                "calls": len(walls),
                "clips": len(names),
            }
    return out


def _wer(calls: Calls, tasks: dict[str, p.Task]) -> dict[str, Any]:
    """Corpus WER per set and system, from each task's first call; a system that misses a
    task of the set gets None rather than a figure over fewer words."""
    out: dict[str, Any] = {}
    sets = sorted({t.wer_set for t in tasks.values() if t.wer_set})
    for name in sets:
        members = [t for t in tasks.values() if t.wer_set == name and t.reference]
        out[name] = {
            "reference_words": metrics.word_errors((t.reference or "", "") for t in members)[1]
        }
        for system in calls.systems():
            firsts = [calls.first(system, t.name) for t in members]
            if any(firsts) and all(firsts):
                pairs = [
                    (t.reference or "", c["text"])
                    for t, c in zip(members, firsts, strict=True)
                    if c
                ]
                out[name][system] = metrics.wer_percent(pairs)
    return out


def _langid(calls: Calls, tasks: dict[str, p.Task]) -> dict[str, Any]:
    members = [t for t in tasks.values() if t.expected_language]
    out: dict[str, Any] = {}
    for system in calls.systems():
        firsts = [(t, calls.first(system, t.name)) for t in members]
        got = [(t, c) for t, c in firsts if c and c["language"]]
        if got:
            right = sum(1 for t, c in got if c["language"] == t.expected_language)
            wrong = {t.name: c["language"] for t, c in got if c["language"] != t.expected_language}
            out[system] = {
                "accuracy": round(right / len(got), 4),
                "right": right,
                "total": len(got),
                "wrong": wrong,
            }
    return out


def _switching(calls: Calls, tasks: dict[str, p.Task]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tag in ("switch-on", "switch-off"):
        for task in (t for t in tasks.values() if tag in t.tags):
            spans = [(s.start, s.end, s.language) for s in task.spans]
            for system in calls.systems():
                runs = calls.of(system, task.name)
                if not runs:
                    continue
                segments = [(s[0], s[1], s[2]) for s in runs[0]["segments"]]
                out.setdefault(system, {})[tag] = {
                    "language_share": metrics.language_share(spans, segments),
                    "languages": sorted({s[2] for s in segments if s[2]}),
                    "wall_s": _rounded(metrics.median([c["wall_s"] for c in runs])),
                    "runs": len(runs),
                }
    return out


def _time_ratio(calls: Calls, tasks: dict[str, p.Task], over: str, under: str) -> dict[str, Any]:
    """Median time of the task tagged ``over`` / that of ``under``, per system (aural only)."""
    out: dict[str, Any] = {}
    for system in calls.systems():
        times: dict[str, float | None] = {}
        for tag in (over, under):
            names = [t.name for t in tasks.values() if tag in t.tags]
            times[tag] = metrics.median([c["wall_s"] for n in names for c in calls.of(system, n)])
        a, b = times[over], times[under]
        if a and b:
            out[system] = {
                f"{over}_s": round(a, 3),
                f"{under}_s": round(b, 3),
                "ratio": round(a / b, 3),
            }
    return out


def _no_speech(calls: Calls, tasks: dict[str, p.Task]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in ("silence", "noise"):
        for task in (t for t in tasks.values() if kind in t.tags):
            for system in calls.systems():
                call = calls.first(system, task.name)
                if call:
                    out.setdefault(kind, {"audio_s": task.duration})[system] = {
                        "words": metrics.word_count(call["text"]),
                        "text": call["text"][:200],
                    }
    return out


def summarise(plan: p.Plan, records: list[Record]) -> Summary:
    """Every absolute figure of the run, keyed by what it measures and then by system."""
    tasks = _tasks(plan)
    calls = Calls(records)
    return {
        "speed_long": _speed(calls, tasks, "long"),
        "speed_minute": _speed(calls, tasks, "minute"),
        "latency": _latency(calls, tasks),
        "wer_percent": _wer(calls, tasks),
        "language_id": _langid(calls, tasks),
        "language_switching": _switching(calls, tasks),
        "stereo_split": _time_ratio(calls, tasks, "stereo-both", "stereo-one"),
        "switching_cost": _time_ratio(calls, tasks, "switch-on", "switch-off"),
        "no_speech": _no_speech(calls, tasks),
        "streaming": streaming.summarise(records),
        "fidelity": fidelity.summarise(calls, tasks),
    }


# --- ratios ----------------------------------------------------------------------------------


def _div(a: float | None, b: float | None, digits: int = 3) -> float | None:
    return round(a / b, digits) if a is not None and b else None


def _sub(a: float | None, b: float | None) -> float | None:
    return round(a - b, 2) if a is not None and b is not None else None


def _get(tree: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def ratios(s: Summary) -> dict[str, Any]:
    """aural against each baseline, every one measured in this run."""
    speed: dict[str, Any] = {}
    for aural in AURAL_SYSTEMS:
        for base in SPEED_BASELINES:
            value = _div(
                _get(s, "speed_long", aural, "x_realtime"),
                _get(s, "speed_long", base, "x_realtime"),
            )
            if value is not None:
                speed[f"{aural} / {base}"] = value
    latency: dict[str, Any] = {}
    memory: dict[str, Any] = {}
    for aural in AURAL_SYSTEMS:
        for base in (p.FASTER_WHISPER, p.FASTER_WHISPER_BATCHED, p.WHISPER_CPP):
            key = f"{aural} / {base}"
            for q in ("p50", "p95"):
                value = _div(
                    _get(s, "latency", aural, f"{q}_s"), _get(s, "latency", base, f"{q}_s")
                )
                if value is not None:
                    latency.setdefault(key, {})[q] = value
            rss = _div(
                _get(s, "speed_long", aural, "peak_rss_mb"),
                _get(s, "speed_long", base, "peak_rss_mb"),
            )
            if rss is not None:
                memory[key] = rss
    wer: dict[str, Any] = {}
    for name, table in s["wer_percent"].items():
        for aural in AURAL_SYSTEMS:
            for base in (
                p.FASTER_WHISPER,
                p.FASTER_WHISPER_BATCHED,
                p.WHISPER_CPP,
                p.FASTER_WHISPER_GREEDY,
            ):
                value = _sub(table.get(aural), table.get(base))
                if value is not None:
                    wer.setdefault(name, {})[f"{aural} - {base}"] = value
    return {
        "speed_long_x_realtime": speed,
        "latency_time": latency,
        "peak_rss_long": memory,
        "wer_points": wer,
        "issue_6": issue6_goals(s),
        "issue_12": streaming.goals(s),
        "issue_2": issue2_figures(s),
        "issue_10": fidelity.goals(s.get("fidelity") or {}),
    }


def _goal(goal: str, value: float | None, target: float, better: str) -> dict[str, Any]:
    met = None if value is None else (value >= target if better == "higher" else value <= target)
    op = ">=" if better == "higher" else "<="
    return {"goal": goal, "measured": value, "target": f"{op} {target:g}", "met": met}


def issue6_goals(s: Summary) -> list[dict[str, Any]]:
    """The figures issue 6 ("fast path") is judged on, exactly as it states them."""
    fw, cpp, cli = p.FASTER_WHISPER, p.WHISPER_CPP, p.AURAL_CLI

    def speed(system: str) -> float | None:
        value: float | None = _get(s, "speed_long", system, "x_realtime")
        return value

    return [
        _goal(
            "long file: aural speed / faster-whisper speed (same beam)",
            _div(speed(cli), speed(fw)),
            1.5,
            "higher",
        ),
        _goal(
            "long file: aural speed / whisper.cpp speed",
            _div(speed(cli), speed(cpp)),
            1.0,
            "higher",
        ),
        _goal(
            "WER points, aural - faster-whisper, English fixtures",
            _sub(_get(s, "wer_percent", "fixtures", cli), _get(s, "wer_percent", "fixtures", fw)),
            0.5,
            "lower",
        ),
        _goal(
            "WER points, aural - faster-whisper, long file",
            _sub(_get(s, "wer_percent", "long", cli), _get(s, "wer_percent", "long", fw)),
            0.5,
            "lower",
        ),
        _goal(
            "short clips: aural p50 latency / faster-whisper p50",
            _div(_get(s, "latency", cli, "p50_s"), _get(s, "latency", fw, "p50_s")),
            0.6,
            "lower",
        ),
        _goal(
            "split stereo: both channels time / one channel time",
            _get(s, "stereo_split", cli, "ratio"),
            1.3,
            "lower",
        ),
        _goal(
            "language switching: switching-on time / single-language time",
            _get(s, "switching_cost", cli, "ratio"),
            1.1,
            "lower",
        ),
    ]


def issue2_figures(s: Summary) -> dict[str, Any]:
    """Issue 2's closing-note figure: aural vs plain faster-whisper on the >= 60 s file."""
    cli = _get(s, "speed_minute", p.AURAL_CLI) or {}
    fw = _get(s, "speed_minute", p.FASTER_WHISPER) or {}
    proc = _get(s, "speed_minute", p.AURAL_PROCESS) or {}
    return {
        "audio_s": cli.get("audio_s") or fw.get("audio_s"),
        "model": cli.get("model") or fw.get("model"),
        "rtf_aural_transcription": cli.get("rtf"),
        "rtf_faster_whisper_transcription": fw.get("rtf"),
        "transcription_time_ratio": _div(cli.get("wall_s"), fw.get("wall_s")),
        "aural_process_wall_s": proc.get("process_wall_s"),
        "faster_whisper_process_wall_s": fw.get("process_wall_s"),
        "end_to_end_time_ratio": _div(proc.get("process_wall_s"), fw.get("process_wall_s")),
        "target": "aural's layers add under 5%: time ratio <= 1.05",
    }


# --- writing ---------------------------------------------------------------------------------


def _fmt(value: Any, suffix: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}{suffix}" if abs(value) < 100 else f"{value:.0f}{suffix}"
    return f"{value}{suffix}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _met(value: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "-"}[value]


def render_markdown(result: dict[str, Any]) -> str:
    meta, r, s = result["meta"], result["ratios"], result["summary"]
    kind = ", ".join(filter(None, [meta["mode"], meta.get("label")]))
    out = [f"# Benchmark {meta['date']} on {meta['machine_slug']} ({kind})", ""]
    if meta["mode"] != "full":
        out += [
            f"**{meta['mode']} run: fewer repetitions than the full benchmark; do not quote "
            "these numbers.**",
            "",
        ]
    load = meta["load_average"]
    out += [
        f"Model `{meta['model']}` (CTranslate2 int8 for aural and faster-whisper; the same weights "
        f"as f16 ggml for whisper.cpp), {meta['threads']} threads each, beam 5 unless marked "
        f"greedy. Load average at start {load['start']}, at end {load['end']}. How to read this: "
        "`benchmarks/README.md`.",
        "",
        "## Ratios (aural against baselines measured in the same run)",
        "",
        "### Issue 6 goals",
        "",
    ]
    out += _table(
        ["goal", "measured", "target", "met"],
        [[g["goal"], _fmt(g["measured"]), g["target"], _met(g["met"])] for g in r["issue_6"]],
    )
    out += streaming.render(result)
    i2 = r["issue_2"]
    out += ["", f"### Issue 2: aural vs plain faster-whisper on a {_fmt(i2['audio_s'])} s file", ""]
    out += _table(
        ["measure", "aural", "faster-whisper", "time ratio (target <= 1.05)"],
        [
            [
                "transcription only (model loaded), real-time factor",
                _fmt(i2["rtf_aural_transcription"]),
                _fmt(i2["rtf_faster_whisper_transcription"]),
                _fmt(i2["transcription_time_ratio"]),
            ],
            [
                f"whole process (`aural transcribe --model {i2['model']}`), s",
                _fmt(i2["aural_process_wall_s"]),
                _fmt(i2["faster_whisper_process_wall_s"]),
                _fmt(i2["end_to_end_time_ratio"]),
            ],
        ],
    )
    out += ["", "### Speed on the long file: x real time, aural / baseline (> 1: aural faster)", ""]
    out += _table(["pair", "ratio"], [[k, _fmt(v)] for k, v in r["speed_long_x_realtime"].items()])
    out += ["", "### Short clips: latency, aural / baseline (< 1: aural faster)", ""]
    out += _table(
        ["pair", "p50", "p95"],
        [[k, _fmt(v.get("p50")), _fmt(v.get("p95"))] for k, v in r["latency_time"].items()],
    )
    out += ["", "### Peak RSS on the long file, aural / baseline", ""]
    out += _table(["pair", "ratio"], [[k, _fmt(v)] for k, v in r["peak_rss_long"].items()])
    out += ["", "### WER, aural - baseline in points (< 0: aural more accurate)", ""]
    out += _table(
        ["set", "pair", "points"],
        [[name, k, _fmt(v)] for name, pairs in r["wer_points"].items() for k, v in pairs.items()],
    )
    out += ["", "## Absolute numbers", ""]
    for key, title in (("speed_long", "Long file"), ("speed_minute", ">= 60 s file")):
        rows = s[key]
        audio = next((v["audio_s"] for v in rows.values()), None)
        out += [f"### {title} ({_fmt(audio)} s of audio)", ""]
        out += _table(
            [
                "system",
                "x real time (median)",
                "min-max",
                "transcribe s",
                "process s",
                "model load s",
                "peak RSS MB",
                "runs",
            ],
            [
                [
                    name,
                    _fmt(v["x_realtime"]),
                    f"{_fmt(v['x_realtime_min'])}-{_fmt(v['x_realtime_max'])}",
                    _fmt(v["wall_s"]),
                    _fmt(v["process_wall_s"]),
                    _fmt(v["load_s"]),
                    _fmt(v["peak_rss_mb"]),
                    str(v["runs"]),
                ]
                for name, v in rows.items()
            ],
        )
        out.append("")
    out += ["### Short clips (latency per call, model loaded, after one warm-up call)", ""]
    out += _table(
        ["system", "p50 s", "p95 s", "mean s", "calls", "clips"],
        [
            [
                n,
                _fmt(v["p50_s"]),
                _fmt(v["p95_s"]),
                _fmt(v["mean_s"]),
                str(v["calls"]),
                str(v["clips"]),
            ]
            for n, v in s["latency"].items()
        ],
    )
    out += ["", "### WER % (Whisper English normalisation, corpus-level)", ""]
    systems = sorted({k for t in s["wer_percent"].values() for k in t if k != "reference_words"})
    out += _table(
        ["set", "reference words", *systems],
        [
            [n, str(t["reference_words"]), *(_fmt(t.get(x)) for x in systems)]
            for n, t in s["wer_percent"].items()
        ],
    )
    out += ["", "### Language identification (asterisk en/es/fr prompts)", ""]
    out += _table(
        ["system", "accuracy", "right / total", "wrong"],
        [
            [
                n,
                _fmt(v["accuracy"]),
                f"{v['right']} / {v['total']}",
                ", ".join(f"{k}: {x}" for k, x in v["wrong"].items()) or "-",
            ]
            for n, v in s["language_id"].items()
        ],
    )
    out += ["", "### Language switching (share of speech time in the right language)", ""]
    rows = []
    for name, modes in s["language_switching"].items():
        for mode, v in modes.items():
            rows.append(
                [name, mode, _fmt(v["language_share"]), ",".join(v["languages"]), _fmt(v["wall_s"])]
            )
    out += _table(["system", "mode", "share", "languages seen", "time s"], rows)
    out += ["", "### Split stereo and switching cost (aural, median times)", ""]
    rows = [
        [
            f"split: both / one ({n})",
            _fmt(v["stereo-both_s"]),
            _fmt(v["stereo-one_s"]),
            _fmt(v["ratio"]),
        ]
        for n, v in s["stereo_split"].items()
    ]
    rows += [
        [
            f"switching on / off ({n})",
            _fmt(v["switch-on_s"]),
            _fmt(v["switch-off_s"]),
            _fmt(v["ratio"]),
        ]
        for n, v in s["switching_cost"].items()
    ]
    out += _table(["case", "time s", "baseline time s", "ratio"], rows)
    out += ["", "### Hallucinated words on audio without speech", ""]
    rows = []
    for kind, table in s["no_speech"].items():
        for name, v in table.items():
            if name != "audio_s":
                rows.append(
                    [
                        f"{kind} ({_fmt(table['audio_s'])} s)",
                        name,
                        str(v["words"]),
                        f"`{v['text'][:80]}`" if v["text"] else "",
                    ]
                )
    out += _table(["input", "system", "words", "output (start)"], rows)
    out += fidelity.render(s.get("fidelity") or {}, r.get("issue_10") or [], meta)
    machine = meta["machine"]
    out += ["", "## Machine", ""]
    out += [
        f"- CPU: {machine['cpu_model']} ({', '.join(machine['cpu_flags'])}), "
        f"{machine['usable_cores']} usable of {machine['logical_cores']} logical cores",
        f"- memory: {machine['memory_gib']} GiB; {machine['os']}; Python {machine['python']}",
        "- " + ", ".join(f"{k} {v}" for k, v in machine["packages"].items()),
        "- environment: " + (", ".join(f"{k}={v}" for k, v in meta["environment"].items()) or "-"),
        f"- wall time of the run: {meta['run_wall_s']:.0f} s",
    ]
    if meta["notes"] or result["errors"]:
        out += ["", "## Notes and errors", ""]
        out += [f"- {note}" for note in meta["notes"]]
        out += [
            f"- error: {e['system']} in {e['round']} #{e['rep'] + 1}: {e['error'].splitlines()[0]}"
            for e in result["errors"]
        ]
    return "\n".join(out) + "\n"


def _slim(record: Record) -> Record:
    """A record for the JSON file: long texts and segment lists dropped (they are megabytes
    for the long file), short outputs kept (the no-speech junk is the point there)."""
    calls = []
    for call in record["calls"]:
        slim = {k: v for k, v in call.items() if k != "segments"}
        if len(slim["text"]) > 300:
            slim["text"] = slim["text"][:300] + "…"
        calls.append(slim)
    return {**record, "calls": calls}


def write(
    out_dir: Path, stem: str, result: dict[str, Any], on_write: Callable[[Path], None]
) -> None:
    """``<stem>.json`` (everything) and ``<stem>.md`` (for people) in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {**result, "records": [_slim(r) for r in result["records"]]}
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path = out_dir / f"{stem}.md"
    md_path.write_text(render_markdown(result), encoding="utf-8")
    on_write(json_path)
    on_write(md_path)
