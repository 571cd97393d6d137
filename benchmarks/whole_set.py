"""Issue 10's whole fidelity set in one process: every LID prompt and every clip variant.

The harness's fidelity round runs the CLI once per item, which is right for timing but takes
about an hour for the whole set (605 items, two systems); its quick subset has 8 prompts per
language and 5 clips. This runs the engine in-process, two calls at a time (the pool's two
model lanes), over all of it:

- **LID**: every Asterisk prompt >= 3 s (en 121, es 168, fr 130), language auto: accuracy per
  language and the wrong answers;
- **clips**: every clip (22) in every variant (alone, behind 5/27/60 s of silence, behind 27 s of
  -50/-40 dBFS pink noise, at -35 dBFS, 8 kHz telephone band), language auto: WER per variant,
  the cells whose WER is more than 1 point over the clip alone, how many silence variants give
  the clip-alone text word for word, and the detected language where it is not the clip's;
- **said twice**: every clip followed by itself after a second's pause, at its own level and at
  -46 dBFS (``twice``, ``twice-46dB``): words dropped, against the clip's text twice;
- **the clip's own spread**: every clip alone again 0.5 and 1 dB quieter (the set's ``quieter-*``
  variants): level changes nobody hears, which the int8 model may still read differently.
  A lead-in cell then also counts against the worst of those readings: a cell over the clip
  alone but within its own spread differs by the model's sensitivity to any change of input,
  not by what the lead-in did;
- **the model's own floor**: every clip alone, as the engine gathers it, read again with 53 and
  107 samples (1/3 and 2/3 of Whisper's 10 ms hop) of silence before its speech
  (:mod:`benchmarks.phase_spread`): a lead-in and level cell also counts against the worst of
  those readings. Behind pink noise the audio before the speech and the onset found differ by
  that little, and many clips read differently for it with no lead-in at all.

    python -m benchmarks.whole_set --out benchmarks/results/x.md --label now
    PYTHONPATH=<exported src of another commit> python -m benchmarks.whole_set ...  # before

No timing is claimed from it (two calls share the cores); the set is built by
``benchmarks.fidelity_set`` under ``benchmarks/.work/fidelity``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks import fidelity, fidelity_set, in_process, phase_spread
from benchmarks.metrics import normalise

Item = dict[str, Any]


def _run_all(items: list[Item], call: Callable[[Item], dict[str, Any]]) -> dict[str, Any]:
    with ThreadPoolExecutor(2) as pool:
        return dict(zip((i["id"] for i in items), pool.map(call, items), strict=True))


def lid_lines(items: list[Item], results: dict[str, Any]) -> list[str]:
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    wrong: dict[str, list[str]] = defaultdict(list)
    for item in items:
        language, found = item["language"], results[item["id"]]["language"]
        total[language] += 1
        if found == language:
            right[language] += 1
        else:
            wrong[language].append(f"{item['id'].rsplit('/', 1)[-1]}:{found}")
    lines = ["| language | right / total | accuracy | wrong answers |", "| --- | --- | --- | --- |"]
    for language in sorted(total):
        share = right[language] / total[language]
        answers = ", ".join(wrong[language])
        lines.append(
            f"| {language} | {right[language]} / {total[language]} | {share:.3f} | {answers} |"
        )
    all_right, all_total = sum(right.values()), sum(total.values())
    lines.append(f"| all | {all_right} / {all_total} | {all_right / all_total:.3f} | |")
    return lines


def _wer_pct(reference: str, text: str, language: str) -> float:
    edits, words = fidelity.errors(reference, text, language)
    return 100.0 * edits / words


def clip_lines(
    items: list[Item], results: dict[str, Any], shifted: dict[str, list[float]] | None = None
) -> list[str]:
    """The clip part of the report; ``shifted`` (clip -> WER % of the clip alone read at
    sub-hop shifts, :mod:`benchmarks.phase_spread`) adds the model's own floor to it."""
    by_clip: dict[str, dict[str, tuple[Item, dict[str, Any]]]] = defaultdict(dict)
    for item in items:
        by_clip[item["clip"]][item["variant"]] = (item, results[item["id"]])
    errors: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    over: list[str] = []
    beyond_spread: list[str] = []
    beyond_shifts: list[str] = []
    shift_ranges: list[str] = []
    unsteady: list[str] = []
    identical = silence_cells = 0
    languages: list[str] = []
    repeat_lost: list[str] = []
    repeat_dropped: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for clip, variants in sorted(by_clip.items()):
        alone_item, alone = variants["alone"]
        language = alone_item["language"] or "en"
        reference = alone_item["reference"]
        base_pct = _wer_pct(reference, alone["text"], language)
        spread = [
            _wer_pct(reference, r["text"], language)
            for v, (_, r) in variants.items()
            if fidelity.is_spread(v)
        ]
        worst_own = max([base_pct, *spread])
        alone_lost = fidelity.dropped(reference, alone["text"], language)
        moves = [pct - base_pct for pct in spread if abs(pct - base_pct) > 1.0]
        if moves:
            unsteady.append(f"{clip} {' '.join(f'{m:+.1f}' for m in moves)}")
        readings = (shifted or {}).get(clip, [])
        worst_shifted = max([worst_own, *readings])
        if readings and max(readings) - min(readings) > 1.0:
            shift_ranges.append(f"{clip} {min(readings):.1f}-{max(readings):.1f}")
        for variant, (item, result) in variants.items():
            e, w = fidelity.errors(item["reference"], result["text"], language)
            errors[variant][0] += e
            errors[variant][1] += w
            if result["language"] != language:
                languages.append(f"{clip}/{variant}:{result['language']}")
            if variant == "alone" or fidelity.is_spread(variant):
                continue
            if variant in fidelity.REPEAT_VARIANTS:
                lost, words = fidelity.dropped(item["reference"], result["text"], language)
                repeat_dropped[variant][0] += lost
                repeat_dropped[variant][1] += words
                excess = 100.0 * (lost / words - alone_lost[0] / alone_lost[1])
                if excess > 1.0:
                    repeat_lost.append(f"{clip}/{variant} {excess:+.1f}")
            pct = 100.0 * e / w
            if pct - base_pct > 1.0:
                over.append(f"{clip}/{variant} {pct - base_pct:+.1f}")
            if pct - worst_own > 1.0:
                beyond_spread.append(f"{clip}/{variant} {pct - worst_own:+.1f}")
            lead_in = variant not in fidelity.APART
            if lead_in and pct - worst_shifted > 1.0:
                beyond_shifts.append(f"{clip}/{variant} {pct - worst_shifted:+.1f}")
            if variant.startswith("silence"):
                silence_cells += 1
                identical += normalise(result["text"]) == normalise(alone["text"])
    lines = ["| variant | WER % |", "| --- | --- |"]
    lines += [f"| {v} | {100.0 * e / w:.1f} |" for v, (e, w) in errors.items()]
    lines += [
        "",
        f"- silence variants giving the alone text word for word: {identical} / {silence_cells}",
        f"- cells more than 1 point over the clip alone ({len(over)}): {', '.join(over)}",
        f"- clips alone whose WER moves more than 1 point when"
        f" {' or '.join(f'{d:g}' for d in fidelity_set.SPREAD_DB)} dB quieter ({len(unsteady)}):"
        f" {', '.join(unsteady)}",
        f"- cells more than 1 point over the worst of the clip alone and those"
        f" ({len(beyond_spread)}): {', '.join(beyond_spread)}",
    ]
    if shifted is not None:
        lines += [
            f"- clips alone read more than 1 point apart with 0, 53 or 107 samples of silence"
            f" before their gathered speech ({len(shift_ranges)} of {len(shifted)}):"
            f" {', '.join(shift_ranges)}",
            f"- lead-in and level cells more than 1 point over the worst of the clip alone, its"
            f" quieter readings and its shifted readings ({len(beyond_shifts)}):"
            f" {', '.join(beyond_shifts)}",
        ]
    lines += [
        f"- detected language not the clip's ({len(languages)}): {', '.join(languages)}",
        "- said twice, words dropped: "
        + ", ".join(f"{v} {lost} of {words}" for v, (lost, words) in repeat_dropped.items()),
        f"- said twice, cells dropping more than 1 point over the clip alone ({len(repeat_lost)}):"
        f" {', '.join(repeat_lost)}",
    ]
    return lines


def main() -> None:
    args = in_process.arguments(__doc__)
    import aural

    pool = in_process.model_pool()
    base = fidelity_set.DEFAULT_OUT
    manifest = fidelity_set.build(base)

    def transcribe(item: Item) -> dict[str, Any]:
        transcript = aural.transcribe(fidelity_set.resolve(base, item), pool=pool)
        return {"text": transcript.text, "language": transcript.language}

    model = pool.get()
    shifted = {
        item["clip"]: phase_spread.shifted_wers(model.whisper, model, item, base)
        for item in manifest["items"]
        if item["kind"] == "clip" and item["variant"] == "alone"
    }

    lid = [i for i in manifest["items"] if i["kind"] == "lid"]
    clips = [i for i in manifest["items"] if i["kind"] == "clip"]
    lines = [
        f"# Issue 10's whole fidelity set, in-process {args.label}".rstrip(),
        "",
        f"aural from `{Path(aural.__file__).parent}`; model base, language auto.",
        "",
        f"## Language ID: every Asterisk prompt >= 3 s ({len(lid)})",
        "",
        *lid_lines(lid, _run_all(lid, transcribe)),
        "",
        f"## Clips: {len(clips)} (every clip in every variant)",
        "",
        *clip_lines(clips, _run_all(clips, transcribe), shifted),
    ]
    in_process.publish(lines, args.out)


if __name__ == "__main__":
    main()
