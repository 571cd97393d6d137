"""Weak voices behind lead-ins: the words the speech detector lets through (issue 10).

Whispered, breathy and synthetic-hoarse voices are where Silero's verdict swings with the audio
before the speech. 6 sentences written for this benchmark (none used elsewhere) x 4 espeak-ng
voices, each alone, behind 5, 27 and 60 s of digital silence, behind 27 s of pink noise at
-50 and -40 dBFS, and at -35 dBFS; language fixed to English, so only the gate and the decoder
decide. Reported per variant: words lost (deletions), all errors, WER.

    python -m benchmarks.weak_voices --out benchmarks/results/x.md
    PYTHONPATH=<exported src of another commit> python -m benchmarks.weak_voices ...  # before

The audio is built under ``benchmarks/.work/weak-voices`` (espeak-ng and numpy; not committed).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import jiwer
import numpy as np

from benchmarks import in_process
from benchmarks.fidelity_set import at_level, load, pink_noise, silence, write
from benchmarks.metrics import normalise

SENTENCES = (
    "Please check the back door before you go to bed tonight.",
    "Honestly, I never thought the meeting would last that long.",
    "Five people called this morning asking about the new schedule.",
    "Have you seen my glasses? I put them on the kitchen table.",
    "Turn left at the bakery, then walk straight on for two blocks.",
    "She whispered the answer so quietly that nobody else could hear it.",
)
VOICES = ("en+whisper", "en+whisperf", "en+croak", "en-us+klatt4")
# (name, lead-in kind: None alone, "silence", "quiet" or a pink-noise dBFS, lead-in seconds)
VARIANTS: tuple[tuple[str, str | float | None, float], ...] = (
    ("alone", None, 0.0),
    ("silence-5", "silence", 5.0),
    ("silence-27", "silence", 27.0),
    ("silence-60", "silence", 60.0),
    ("pink-50dB-27", -50.0, 27.0),
    ("pink-40dB-27", -40.0, 27.0),
    ("level-35dB", "quiet", 0.0),
)
WORK = Path(__file__).resolve().parent / ".work" / "weak-voices"


def build(work: Path = WORK) -> list[tuple[str, str, Path]]:
    """(variant, reference, path) of every item, built once."""
    work.mkdir(parents=True, exist_ok=True)
    items = []
    for v, voice in enumerate(VOICES):
        for s, text in enumerate(SENTENCES):
            source = work / f"source-{v}-{s}.wav"
            if not source.exists():
                subprocess.run(
                    ["espeak-ng", "-v", voice, "-s", "150", "-w", str(source), text], check=True
                )
            clip = load(source)
            for name, kind, seconds in VARIANTS:
                path = work / f"{v}-{s}-{name}.wav"
                if not path.exists():
                    if kind is None:
                        samples = clip
                    elif kind == "silence":
                        samples = np.concatenate([silence(seconds), clip])
                    elif kind == "quiet":
                        samples = at_level(clip, -35.0)
                    else:
                        noise = pink_noise(seconds, float(kind), seed=v * 100 + s)
                        samples = np.concatenate([noise, clip])
                    write(path, samples)
                items.append((name, text, path))
    return items


def main() -> None:
    args = in_process.arguments(__doc__)
    import aural

    pool = in_process.model_pool()
    totals: dict[str, list[int]] = {name: [0, 0, 0] for name, _, _ in VARIANTS}
    for name, text, path in build():
        transcript = aural.transcribe(path, pool=pool, language="en")
        words = jiwer.process_words(normalise(text), normalise(transcript.text))
        errors = words.substitutions + words.deletions + words.insertions
        total = totals[name]
        total[0] += words.deletions
        total[1] += errors
        total[2] += len(normalise(text).split())
    lines = [
        f"# Weak voices behind lead-ins {args.label}".rstrip(),
        "",
        f"aural from `{Path(aural.__file__).parent}`; {len(VOICES)} voices x "
        f"{len(SENTENCES)} sentences per variant, model base, language en.",
        "",
        "| variant | words lost | errors | WER % |",
        "| --- | --- | --- | --- |",
    ]
    for name, (lost, errors, words_total) in totals.items():
        lines.append(f"| {name} | {lost} | {errors} | {100 * errors / words_total:.1f} |")
    lost_all = sum(t[0] for t in totals.values())
    errors_all = sum(t[1] for t in totals.values())
    lines.append(f"| all | {lost_all} | {errors_all} | |")
    in_process.publish(lines, args.out)


if __name__ == "__main__":
    main()
