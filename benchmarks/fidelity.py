"""Issue 10's fidelity rounds: no word lost, every run in its language, at what speed cost.

Three rounds, selected together with ``--rounds fidelity``:

* ``fidelity-set``: the broad set of ``benchmarks/fidelity_set.py`` (its quick subset with
  ``--quick``), once, by aural, by the previous release (``aural-previous``) and by plain
  faster-whisper without VAD (the reference that has no speech detector to lose words in);
* ``fidelity-long``: the long English file (the >= 60 s prefix with ``--quick``), aural against
  the previous release: speed and WER;
* ``fidelity-short``: the short clips' latency, aural against the previous release.

The previous release is a git commit (``--previous``, default :data:`PREVIOUS_RELEASE`) whose
``src/`` is exported with ``git archive`` into the work directory; its process runs this very
harness with ``PYTHONPATH`` pointing there, in the same venv, so only aural's code differs.

Figures (``summary["fidelity"]``):

* clips: per system, WER of every clip variant (lead-ins of silence and faint noise, quiet speech,
  telephone band, a noisy room) minus the WER of the clip alone, in points, per clip and in
  total; plus the WER of each variant's transcript against the clip-alone transcript (the
  invariant form); the worst cell of the invariant's variants (lead-ins, -35 dBFS) by WER and
  by words dropped (deletions only: a word left out, not one heard differently), and the worst
  of the telephone band and the noisy room apart; the clip's own spread (the worst of its
  readings 0.5 and 1 dB quieter) and the invariant's worst cell over the worst of the clip
  alone and that spread;
* stereo: per-channel WER of the files whose second channel starts late (faster-whisper gets
  each channel as a mono file);
* runs: share of speech time in the right language with switching on and off, and aural's
  switching on / off time ratio;
* LID: accuracy per language on every Asterisk prompt >= 3 s;
* negatives: words output on silence, pink noise, a modem tone, a dial tone, a sine sweep, a
  phone line's call-progress tones, a tune of pure tones, a tremolo tone and hold music;
* speed: aural / previous release on the long file, its WER, short-clip p50 latency.

WER here normalises English with Whisper's ``EnglishTextNormalizer`` (as the rest of the
harness) and other languages with Whisper's ``BasicTextNormalizer`` (diacritics removed: the
Asterisk texts sometimes drop accents).
"""

from __future__ import annotations

import subprocess
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import jiwer

from benchmarks import audio_sets as sets
from benchmarks import fidelity_set, metrics
from benchmarks import plan as p

PREVIOUS_RELEASE = "94e4bbc"
ROUNDS = ("fidelity-set", "fidelity-long", "fidelity-short")  # `--rounds fidelity`: all three
SYSTEMS = (p.AURAL_CLI, p.AURAL_PREVIOUS, p.FASTER_WHISPER)
AURAL = (p.AURAL_CLI, p.AURAL_PREVIOUS)
PREFIX = "fidelity/"
# Variants that change the audio itself rather than put something before it or change its level:
# the 8 kHz telephone band takes away what Whisper hears above 3.4 kHz, so its words may differ
# for any engine (plain faster-whisper's too). Issue 10's invariant (the same words behind any
# lead-in and at -35 dBFS) does not cover it; its worst cell is reported beside the invariant's.
# Nor does speech in noise throughout (``fidelity_set.NOISY``): the noise is over the words.
ALTERED_VARIANTS = frozenset({"telephone-8k", fidelity_set.NOISY[0]})
# Behind hold music (``fidelity_set.HOLD_LEAD``): a lead-in the issue does not name, reported
# apart (Whisper wrote the sentence after it twice before ``aural.echoes``).
MUSIC_VARIANTS = frozenset({fidelity_set.HOLD_LEAD[0]})
# The clip said twice (its reference is the clip's text twice): not a lead-in either; its worst
# share of words dropped is a goal row of its own.
REPEAT_VARIANTS = frozenset(v for v, _ in fidelity_set.REPEATS)
# Variants outside the invariant's cells.
APART = ALTERED_VARIANTS | REPEAT_VARIANTS | MUSIC_VARIANTS


# --- the plan --------------------------------------------------------------------------------


def _task(item: dict[str, Any], audio: Path, tag: str, **extra: Any) -> p.Task:
    role = p.FidelityRole(
        kind=item["kind"],
        item=item["id"],
        clip=item["clip"],
        variant=item["variant"],
        channel_references=tuple(item["channel_references"]),
        language=item["language"] or "",
    )
    fields: dict[str, Any] = {
        "name": PREFIX + item["id"],
        "audio": str(audio),
        "duration": item["duration"],
        "tags": (tag,),
        "reference": item["reference"] or None,
        "fidelity": role,
        **extra,
    }
    return p.Task(**fields)


def _item_tasks(item: dict[str, Any], base: Path) -> list[p.Task]:
    audio = fidelity_set.resolve(base, item)
    kind = item["kind"]
    if kind == "stereo":
        tasks = [_task(item, audio, "fidelity-stereo", systems=AURAL)]
        for channel, path in enumerate(item["channel_paths"]):
            role = p.FidelityRole(kind, item["id"], channel=channel, language="en")
            tasks.append(
                p.Task(
                    name=f"{PREFIX}{item['id']}/ch{channel}",
                    audio=str(base / path),
                    duration=item["duration"],
                    tags=("fidelity-stereo",),
                    reference=item["channel_references"][channel],
                    fidelity=role,
                    systems=(p.FASTER_WHISPER,),
                )
            )
        # the late channel's speech without its late start: what "kept" is measured against
        alone = p.FidelityRole(kind, item["id"], variant="alone", channel=1, language="en")
        tasks.append(
            p.Task(
                name=f"{PREFIX}{item['id']}/ch1-alone",
                audio=str(base / item["late_alone_path"]),
                duration=item["late_alone_duration"],
                tags=("fidelity-stereo",),
                reference=item["channel_references"][1],
                fidelity=alone,
            )
        )
        return tasks
    if kind == "runs":
        spans = tuple(
            sets.Placed(s["start"], s["end"], s["text"], s["language"]) for s in item["prompts"]
        )
        on = _task(item, audio, "fidelity-switch-on", spans=spans, language_switching=True)
        on = replace(on, name=on.name + "/on", systems=AURAL)
        off = _task(item, audio, "fidelity-switch-off", spans=spans)
        return [on, replace(off, name=off.name + "/off")]
    tag = {"clip": "fidelity-clip", "lid": "fidelity-lid", "negative": "fidelity-negative"}[kind]
    return [_task(item, audio, tag)]


def rounds(
    work: Path,
    reps: int,
    clip_repeats: int,
    quick: bool,
    long: sets.BuiltAudio,
    minute: sets.BuiltAudio,
) -> tuple[p.Round, ...]:
    """The fidelity rounds; the set is built (or reused) under ``work/fidelity``."""
    base = work / "fidelity"
    try:
        manifest = fidelity_set.build(base)
    except fidelity_set.MissingSourceError as exc:
        raise sets.MissingInputError(str(exc)) from None
    tasks: list[p.Task] = []
    for item in manifest["items"]:
        if item["quick"] or not quick:
            tasks += _item_tasks(item, base)
    speed = minute if quick else long
    long_task = p.Task(
        name=PREFIX + "long",
        audio=speed.path,
        duration=speed.duration,
        tags=("fidelity-long",),
        reference=speed.reference,
        wer_set="fidelity-long",
        spans=speed.placed,
    )
    lang_clips = sorted((sets.TEST_DATA / "lang").glob("*.flac"))
    librivox = sorted((sets.TEST_DATA / "librivox").glob("*.flac"))
    short = [
        replace(
            t,
            name=PREFIX + t.name,
            tags=("fidelity-latency",),
            wer_set=None,
            reference=None,
            expected_language=None,
        )
        for t in p._short_tasks(clip_repeats, lang_clips, librivox)
        if "latency" in t.tags
    ]
    return (
        p.Round("fidelity-set", "base", SYSTEMS, tuple(tasks)),
        p.Round("fidelity-long", "base", AURAL, (long_task,), reps=reps),
        p.Round("fidelity-short", "base", AURAL, tuple(short), reps=reps, warmup=True),
    )


def previous_release(work: Path, ref: str) -> tuple[str, Path]:
    """(full commit, its ``src`` directory): ``git archive`` of ``ref``'s ``src/``, cached."""
    root = sets.REPO_ROOT
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{ref}^{{commit}}"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    target = work / "previous" / commit
    src = target / "src"
    if not (src / "aural" / "__init__.py").is_file():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", "--format=tar", commit, "src"],
            cwd=root,
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return commit, src.resolve()


# --- figures ---------------------------------------------------------------------------------


class CallIndex(Protocol):
    """What the report's ``Calls`` offers (kept apart to avoid an import cycle)."""

    def of(self, system: str, task: str) -> list[dict[str, Any]]: ...
    def first(self, system: str, task: str) -> dict[str, Any] | None: ...
    def systems(self) -> list[str]: ...


@cache
def _basic() -> Any:
    from whisper_normalizer.basic import BasicTextNormalizer  # type: ignore[import-untyped]

    return BasicTextNormalizer(remove_diacritics=True)


def normalise(text: str, language: str) -> str:
    """Whisper's English normaliser for English, its basic one (no diacritics) otherwise."""
    if language == "en" or not language:
        return metrics.normalise(text)
    return " ".join(str(_basic()(text)).split())


def errors(reference: str, hypothesis: str, language: str) -> tuple[int, int]:
    """(word edits, reference words) after normalisation."""
    edits, _, words = _edits(reference, hypothesis, language)
    return edits, words


def dropped(reference: str, hypothesis: str, language: str) -> tuple[int, int]:
    """(reference words deleted, reference words) after normalisation: the words a transcript
    left out, as against the ones it heard differently (substitutions) or added."""
    _, deleted, words = _edits(reference, hypothesis, language)
    return deleted, words


def _edits(reference: str, hypothesis: str, language: str) -> tuple[int, int, int]:
    """(all word edits, deletions, reference words) after normalisation."""
    ref, hyp = normalise(reference, language), normalise(hypothesis, language)
    words = len(ref.split())
    if not words:
        return 0, 0, 0
    if not hyp:
        return words, words, words
    out = jiwer.process_words(ref, hyp)
    return out.substitutions + out.deletions + out.insertions, out.deletions, words


def _pct(counts: Iterable[tuple[int, int]]) -> float | None:
    e = w = 0
    for a, b in counts:
        e, w = e + a, w + b
    return round(100.0 * e / w, 2) if w else None


def _by_kind(tasks: dict[str, p.Task], kind: str) -> list[p.Task]:
    return [t for t in tasks.values() if t.fidelity and t.fidelity.kind == kind]


def _clips(calls: CallIndex, tasks: dict[str, p.Task]) -> dict[str, Any]:
    """Per system: WER per variant (corpus over clips), delta over alone per clip and total."""
    clips: dict[str, dict[str, p.Task]] = defaultdict(dict)
    for t in _by_kind(tasks, "clip"):
        assert t.fidelity is not None
        clips[t.fidelity.clip][t.fidelity.variant] = t
    out: dict[str, Any] = {}
    for system in calls.systems():
        per_variant: dict[str, list[tuple[int, int]]] = defaultdict(list)
        invariant: dict[str, list[tuple[int, int]]] = defaultdict(list)
        per_clip: dict[str, dict[str, float]] = {}
        worst: dict[str, Any] = {"delta": None}
        worst_dropped: dict[str, Any] = {"delta": None}
        worst_band: dict[str, Any] = {"delta": None}
        worst_spread: dict[str, Any] = {"delta": None}
        worst_beyond: dict[str, Any] = {"delta": None}
        worst_repeat: dict[str, Any] = {"delta": None}
        worst_music: dict[str, Any] = {"delta": None}
        for clip, variants in sorted(clips.items()):
            alone = variants.get("alone")
            alone_call = calls.first(system, alone.name) if alone else None
            if alone is None or alone_call is None or not alone.reference:
                continue
            language = alone.fidelity.language if alone.fidelity else "en"
            base = errors(alone.reference, alone_call["text"], language)
            base_pct = 100.0 * base[0] / base[1] if base[1] else 0.0
            per_clip[clip] = {"alone": round(base_pct, 2)}
            base_dropped = _pct([dropped(alone.reference, alone_call["text"], language)]) or 0.0
            deltas: dict[str, float] = {}
            for variant, task in variants.items():
                call = calls.first(system, task.name)
                if call is None:
                    continue
                reference = task.reference or alone.reference
                counts = errors(reference, call["text"], language)
                per_variant[variant].append(counts)
                if variant == "alone":
                    continue
                said = alone_call["text"]
                expected = f"{said} {said}" if variant in REPEAT_VARIANTS else said
                invariant[variant].append(errors(expected, call["text"], language))
                delta = round(100.0 * counts[0] / counts[1] - base_pct, 2) if counts[1] else 0.0
                per_clip[clip][variant] = deltas[variant] = delta
                here = {"delta": delta, "clip": clip, "variant": variant}
                lost = _pct([dropped(reference, call["text"], language)]) or 0.0
                lost_here = {**here, "delta": round(lost - base_dropped, 2)}
                if variant in MUSIC_VARIANTS:
                    worst_music = _worse(worst_music, here)
                elif variant in ALTERED_VARIANTS:
                    worst_band = _worse(worst_band, here)
                elif variant in REPEAT_VARIANTS:
                    worst_repeat = _worse(worst_repeat, lost_here)
                elif is_spread(variant):
                    worst_spread = _worse(worst_spread, here)
                else:
                    worst = _worse(worst, here)
                    worst_dropped = _worse(worst_dropped, lost_here)
            # The same cells against the worst of the clip alone and its quieter readings: a
            # cell within that spread was read differently as any change of input may be.
            own = max([0.0, *(d for v, d in deltas.items() if is_spread(v))])
            for variant, delta in deltas.items():
                if variant not in APART and not is_spread(variant):
                    here = {"delta": round(delta - own, 2), "clip": clip, "variant": variant}
                    worst_beyond = _worse(worst_beyond, here)
        if not per_clip:
            continue
        alone_total = _pct(per_variant["alone"])
        totals = {}
        for variant, variant_counts in per_variant.items():
            wer = _pct(variant_counts)
            totals[variant] = {
                "wer": wer,
                "delta": None
                if wer is None or alone_total is None
                else round(wer - alone_total, 2),
                "vs_alone_transcript_wer": _pct(invariant[variant]) if variant != "alone" else None,
                "clips": len(variant_counts),
            }
        out[system] = {
            "total": totals,
            "per_clip_delta": per_clip,
            "worst": worst,
            "worst_dropped": worst_dropped,
            "worst_band": worst_band,
            "worst_spread": worst_spread,
            "worst_beyond_spread": worst_beyond,
            "worst_repeat_dropped": worst_repeat,
            "worst_music": worst_music,
        }
    return out


def is_spread(variant: str) -> bool:
    """A reading of the clip alone, a little quieter (its own spread), not a shape under test."""
    return variant.startswith(fidelity_set.SPREAD_PREFIX)


def _worse(worst: dict[str, Any], here: dict[str, Any]) -> dict[str, Any]:
    """The cell with the larger delta of the two (``worst`` until one is known)."""
    return here if worst["delta"] is None or here["delta"] > worst["delta"] else worst


def _channel_texts(call: dict[str, Any]) -> dict[int, str]:
    return {int(k): v for k, v in (call.get("channel_texts") or {}).items()}


def _stereo(calls: CallIndex, tasks: dict[str, p.Task]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    stereo = _by_kind(tasks, "stereo")
    for system in calls.systems():
        for t in stereo:
            assert t.fidelity is not None
            call = calls.first(system, t.name)
            if call is None:
                continue
            item = t.fidelity.item
            entry = out.setdefault(system, {}).setdefault(item, {})
            if t.fidelity.channel is not None:  # one channel (or its speech alone) as mono
                counts = errors(t.reference or "", call["text"], "en")
                key = "1-alone" if t.fidelity.variant == "alone" else str(t.fidelity.channel)
                entry[key] = _pct([counts])
                continue
            texts = _channel_texts(call)
            for channel, reference in enumerate(t.fidelity.channel_references):
                counts = errors(reference, texts.get(channel, ""), "en")
                entry[str(channel)] = _pct([counts])
    return out


def _runs(calls: CallIndex, tasks: dict[str, p.Task]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for system in calls.systems():
        files: dict[str, Any] = {}
        speech: dict[str, float] = defaultdict(float)
        right: dict[str, float] = defaultdict(float)
        wall: dict[str, list[float]] = defaultdict(list)
        for t in _by_kind(tasks, "runs"):
            assert t.fidelity is not None
            mode = "on" if t.language_switching else "off"
            runs = calls.of(system, t.name)
            if not runs:
                continue
            spans = [(s.start, s.end, s.language) for s in t.spans]
            segments = [(s[0], s[1], s[2]) for s in runs[0]["segments"]]
            share = metrics.language_share(spans, segments)
            seconds = sum(e - s for s, e, _ in spans)
            speech[mode] += seconds
            right[mode] += (share or 0.0) * seconds
            wall[mode].append(sum(c["wall_s"] for c in runs) / len(runs))
            files.setdefault(t.fidelity.item, {})[mode] = {
                "language_share": share,
                "languages": sorted({s[2] for s in segments if s[2]}),
                "wall_s": round(wall[mode][-1], 3),
            }
        if not files:
            continue
        summary: dict[str, Any] = {"files": files}
        for mode in ("on", "off"):
            if speech[mode]:
                shares = [f[mode]["language_share"] or 0.0 for f in files.values() if mode in f]
                summary[mode] = {
                    "language_share": round(right[mode] / speech[mode], 4),
                    "min_share": round(min(shares), 4),
                    "wall_s": round(sum(wall[mode]), 3),
                }
        if "on" in summary and "off" in summary and summary["off"]["wall_s"]:
            summary["on_off_time_ratio"] = round(
                summary["on"]["wall_s"] / summary["off"]["wall_s"], 3
            )
        out[system] = summary
    return out


def _lid(calls: CallIndex, tasks: dict[str, p.Task]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    lid = _by_kind(tasks, "lid")
    for system in calls.systems():
        per: dict[str, dict[str, Any]] = {}
        for t in lid:
            assert t.fidelity is not None
            call = calls.first(system, t.name)
            if call is None:
                continue
            expected = t.fidelity.language
            entry = per.setdefault(expected, {"right": 0, "total": 0, "wrong": {}})
            entry["total"] += 1
            got = call["language"] or "none"
            if got == expected:
                entry["right"] += 1
            else:
                entry["wrong"][got] = entry["wrong"].get(got, 0) + 1
        if not per:
            continue
        for entry in per.values():
            entry["accuracy"] = round(entry["right"] / entry["total"], 4)
        right = sum(e["right"] for e in per.values())
        total = sum(e["total"] for e in per.values())
        out[system] = {
            "accuracy": round(right / total, 4),
            "right": right,
            "total": total,
            "per_language": dict(sorted(per.items())),
        }
    return out


def _negatives(calls: CallIndex, tasks: dict[str, p.Task]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for system in calls.systems():
        for t in _by_kind(tasks, "negative"):
            assert t.fidelity is not None
            call = calls.first(system, t.name)
            if call is not None:
                entry = out.setdefault(system, {"words": 0, "items": {}})
                words = metrics.word_count(call["text"])
                entry["words"] += words
                entry["items"][t.fidelity.item] = {"words": words, "text": call["text"][:120]}
    return out


def _speed(calls: CallIndex, tasks: dict[str, p.Task]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    long = next((t for t in tasks.values() if "fidelity-long" in t.tags), None)
    short = [t.name for t in tasks.values() if "fidelity-latency" in t.tags]
    for system in calls.systems():
        entry: dict[str, Any] = {}
        if long is not None and (runs := calls.of(system, long.name)):
            entry["long_audio_s"] = long.duration
            entry["long_x_realtime"] = round(
                metrics.median([long.duration / c["wall_s"] for c in runs]) or 0.0, 2
            )
            entry["long_runs"] = len(runs)
            entry["long_wer"] = metrics.wer_percent([(long.reference or "", runs[0]["text"])])
        walls = [c["wall_s"] for n in short for c in calls.of(system, n)]
        if walls:
            entry["short_p50_s"] = round(metrics.percentile(walls, 50) or 0.0, 3)
            entry["short_calls"] = len(walls)
        if entry:
            out[system] = entry
    return out


def summarise(calls: CallIndex, tasks: dict[str, p.Task]) -> dict[str, Any]:
    """Every fidelity figure, by what it measures and then by system; {} without the rounds."""
    if not any(t.fidelity or t.name.startswith(PREFIX) for t in tasks.values()):
        return {}
    return {
        "clips": _clips(calls, tasks),
        "stereo_late_channel": _stereo(calls, tasks),
        "runs": _runs(calls, tasks),
        "language_id": _lid(calls, tasks),
        "negatives": _negatives(calls, tasks),
        "speed": _speed(calls, tasks),
    }


def _get(tree: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def _goal(goal: str, value: float | None, target: float, better: str) -> dict[str, Any]:
    met = None if value is None else (value >= target if better == "higher" else value <= target)
    op = ">=" if better == "higher" else "<="
    return {"goal": goal, "measured": value, "target": f"{op} {target:g}", "met": met}


def goals(f: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 10's "done when", as it states them, for ``aural-cli``."""
    if not f:
        return []
    cli, prev = p.AURAL_CLI, p.AURAL_PREVIOUS
    lid = _get(f, "language_id", cli) or {}
    per_lang = [e["accuracy"] for e in (lid.get("per_language") or {}).values()]
    late = [
        (v.get("1"), v.get("1-alone"))
        for item, v in (_get(f, "stereo_late_channel", cli) or {}).items()
    ]
    late_delta = [a - b for a, b in late if a is not None and b is not None]
    speed = _get(f, "speed") or {}

    def ratio(key: str) -> float | None:
        a, b = _get(speed, cli, key), _get(speed, prev, key)
        return round(a / b, 3) if a is not None and b else None

    wer_a, wer_b = _get(speed, cli, "long_wer"), _get(speed, prev, "long_wer")
    return [
        _goal(
            "clips: worst WER delta over the clip alone, any lead-in or -35 dBFS, points",
            _get(f, "clips", cli, "worst", "delta"),
            1.0,
            "lower",
        ),
        _goal(
            "clips: the same cells over the worst of the clip alone and its own spread, points",
            _get(f, "clips", cli, "worst_beyond_spread", "delta"),
            1.0,
            "lower",
        ),
        _goal(
            "clips: worst share of words dropped (deletions) over the clip alone, the same cells",
            _get(f, "clips", cli, "worst_dropped", "delta"),
            1.0,
            "lower",
        ),
        _goal(
            "clips said twice (the second also at -46 dBFS): worst share of words dropped over "
            "the clip alone, points",
            _get(f, "clips", cli, "worst_repeat_dropped", "delta"),
            1.0,
            "lower",
        ),
        _goal(
            "negatives: words on silence, noise, modem, tones and music",
            _get(f, "negatives", cli, "words"),
            0,
            "lower",
        ),
        _goal(
            "late stereo channel: WER points over its speech alone (mono, no late start)",
            round(max(late_delta), 2) if late_delta else None,
            1.0,
            "lower",
        ),
        _goal(
            "switching: right-language time, worst alternating-runs file",
            _get(f, "runs", cli, "on", "min_share"),
            0.97,
            "higher",
        ),
        _goal("switching on / off time", _get(f, "runs", cli, "on_off_time_ratio"), 1.1, "lower"),
        _goal("LID, every Asterisk prompt >= 3 s", lid.get("accuracy"), 0.99, "higher"),
        _goal("LID, worst language", min(per_lang) if per_lang else None, 0.95, "higher"),
        _goal("long file: speed / previous release", ratio("long_x_realtime"), 0.95, "higher"),
        _goal(
            "long file: WER points over previous release",
            round(wer_a - wer_b, 2) if wer_a is not None and wer_b is not None else None,
            0.0,
            "lower",
        ),
        _goal("short clips: p50 latency / previous release", ratio("short_p50_s"), 1.1, "lower"),
    ]


# --- markdown --------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


WORST_KEYS = (
    "worst",
    "worst_beyond_spread",
    "worst_dropped",
    "worst_band",
    "worst_spread",
    "worst_repeat_dropped",
    "worst_music",
)


def _worst_cell(worst: dict[str, Any]) -> str:
    if worst.get("delta") is None:
        return "-"
    return f"{_fmt(worst['delta'])} ({worst['clip']}/{worst['variant']})"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def render(f: dict[str, Any], goal_list: list[dict[str, Any]], meta: dict[str, Any]) -> list[str]:
    """The fidelity section of the Markdown result; [] when the rounds did not run."""
    if not f:
        return []
    met = {True: "yes", False: "**no**", None: "-"}
    previous = meta.get("previous_release") or PREVIOUS_RELEASE
    out = [
        "",
        "## Fidelity (issue 10)",
        "",
        f"`aural-previous` is the previous release, commit `{previous}`, run by this harness in "
        "the same venv; `faster-whisper` is plain faster-whisper without VAD. The set: "
        "`benchmarks/fidelity_set.py`.",
        "",
        "### Issue 10 goals (aural-cli)",
        "",
    ]
    out += _table(
        ["goal", "measured", "target", "met"],
        [[g["goal"], _fmt(g["measured"]), g["target"], met[g["met"]]] for g in goal_list],
    )
    clips = f["clips"]
    variants: list[str] = []
    for v in clips.values():
        variants += [x for x in v["total"] if x not in variants]
    out += ["", "### Words kept: WER % per variant (delta over the clip alone, points)", ""]
    out += _table(
        ["variant", *clips],
        [
            [
                variant,
                *(
                    f"{_fmt(_get(v, 'total', variant, 'wer'))} "
                    f"({_fmt(_get(v, 'total', variant, 'delta'))})"
                    for v in clips.values()
                ),
            ]
            for variant in variants
        ],
    )
    out += ["", "Worst cell per system, delta over the clip alone in points:", ""]
    out += _table(
        [
            "system",
            "WER, lead-ins and -35 dBFS",
            "same, over the clip's own spread",
            "words dropped, same cells",
            "WER, telephone or noisy room",
            "WER, alone 0.5-1 dB quieter",
            "words dropped, said twice",
            "WER, behind hold music",
        ],
        [
            [system, *(_worst_cell(v.get(key) or {}) for key in WORST_KEYS)]
            for system, v in clips.items()
        ],
    )
    out += ["", "WER of each variant's transcript against the clip-alone transcript, %:", ""]
    out += _table(
        ["variant", *clips],
        [
            [
                variant,
                *(
                    _fmt(_get(v, "total", variant, "vs_alone_transcript_wer"))
                    for v in clips.values()
                ),
            ]
            for variant in variants
            if variant != "alone"
        ],
    )
    for system, v in clips.items():
        columns = [x for x in variants if x != "alone"]
        out += ["", f"Per clip, {system}: WER % alone, then delta in points per variant", ""]
        out += _table(
            ["clip", "alone", *columns],
            [
                [clip, _fmt(d.get("alone")), *(_fmt(d.get(c)) for c in columns)]
                for clip, d in v["per_clip_delta"].items()
            ],
        )
    out += ["", "### Stereo with a late second channel: WER % per channel", ""]
    out += _table(
        ["system", "file", "channel 0", "channel 1 (late)", "channel 1's speech alone"],
        [
            [system, item, _fmt(ch.get("0")), _fmt(ch.get("1")), _fmt(ch.get("1-alone"))]
            for system, items in f["stereo_late_channel"].items()
            for item, ch in items.items()
        ],
    )
    out += ["", "### Alternating-language runs: share of speech time in the right language", ""]
    rows = []
    for system, v in f["runs"].items():
        for item, modes in v["files"].items():
            for mode, m in modes.items():
                rows.append(
                    [
                        system,
                        item,
                        mode,
                        _fmt(m["language_share"]),
                        ",".join(m["languages"]),
                        _fmt(m["wall_s"]),
                    ]
                )
        for mode in ("on", "off"):
            if mode in v:
                rows.append(
                    [
                        system,
                        "all",
                        mode,
                        _fmt(v[mode]["language_share"]),
                        "",
                        _fmt(v[mode]["wall_s"]),
                    ]
                )
        rows.append([system, "on / off time", "", _fmt(v.get("on_off_time_ratio")), "", ""])
    out += _table(["system", "file", "switching", "share", "languages seen", "time s"], rows)
    out += ["", "### Language ID on every Asterisk prompt >= 3 s", ""]
    rows = []
    for system, v in f["language_id"].items():
        rows.append([system, "all", _fmt(v["accuracy"]), f"{v['right']} / {v['total']}", ""])
        for lang, e in v["per_language"].items():
            wrong = ", ".join(f"{k}: {n}" for k, n in sorted(e["wrong"].items()))
            rows.append([system, lang, _fmt(e["accuracy"]), f"{e['right']} / {e['total']}", wrong])
    out += _table(["system", "language", "accuracy", "right / total", "wrong answers"], rows)
    out += ["", "### Hallucinated words on audio without speech", ""]
    out += _table(
        ["system", "input", "words", "output (start)"],
        [
            [system, item, str(e["words"]), f"`{e['text'][:60]}`" if e["text"] else ""]
            for system, v in f["negatives"].items()
            for item, e in v["items"].items()
        ],
    )
    out += ["", "### Speed against the previous release", ""]
    out += _table(
        [
            "system",
            "long file s of audio",
            "x real time (median)",
            "runs",
            "long WER %",
            "short p50 s",
        ],
        [
            [
                system,
                _fmt(v.get("long_audio_s")),
                _fmt(v.get("long_x_realtime")),
                _fmt(v.get("long_runs")),
                _fmt(v.get("long_wer")),
                _fmt(v.get("short_p50_s")),
            ]
            for system, v in f["speed"].items()
        ],
    )
    return out
