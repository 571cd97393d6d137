"""How steady Whisper's reading of one clip is: the model's own floor under issue 10's
per-clip bound.

Issue 10 asks that every clip keep its WER within +1 point behind any lead-in. The engine
hands Whisper the same samples behind any length of digital silence (region edges anchored on
the sound), but behind pink noise the 0.4 s before the speech holds that noise and the
onset is found a few milliseconds apart, so Whisper's input differs by a little. This measures
how much a little is worth to the model itself, with no lead-in at all: each clip alone, as
the engine gathers it (behind the engine's lead of silence, its speech regions found, quiet
speech raised), decoded as one window with 0, 53 and 107 samples (0, 1/3 and 2/3 of Whisper's
10 ms feature hop) of digital silence put before it. No anchoring can take such a shift away:
two recordings of one utterance never start on the same sample.

Each clip is read in its own language (no detection), by the model as the engine loads it
(int8 on CPU) and by the same model in float32, so the spread can be told apart from
quantisation. The speech the detector left out and Whisper's second look would add is not
part of it (the clips alone have none or little).

    python -m benchmarks.phase_spread --out benchmarks/results/x.md --label now

No timing is claimed from it; the set is built by ``benchmarks.fidelity_set``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import fidelity, fidelity_set, in_process

SHIFTS = (0, 53, 107)  # samples of silence before the gathered speech (a hop is 160)


def gathered_alone(path: Path, model: Any) -> np.ndarray[Any, Any]:
    """A clip's speech as the engine gathers it for a single window."""
    from aural.audio import SAMPLE_RATE, decode_audio
    from aural.engine import LEAD_S
    from aural.loudness import raised
    from aural.speech import gather, map_speech

    samples = np.asarray(decode_audio(str(path)).channels[0], dtype=np.float32)
    samples = np.concatenate([np.zeros(round(LEAD_S * SAMPLE_RATE), np.float32), samples])
    found = map_speech(samples, True, model.speech)
    return gather(raised(samples, found.levels), found.regions)


def read(whisper: Any, speech: np.ndarray[Any, Any], language: str) -> str:
    """One window's transcript, decoded as the engine decodes a short clip."""
    from aural.decoder import decode_window, encode_window
    from aural.types import TranscriptionOptions

    window = encode_window(whisper, speech)
    segments = decode_window(whisper, window, language, TranscriptionOptions())
    return " ".join(s.text.strip() for s in segments)


def shifted_wers(whisper: Any, model: Any, item: dict[str, Any], base: Path) -> list[float]:
    """WER % of a clip alone (a manifest item) read by ``whisper`` at each of :data:`SHIFTS`."""
    language = item["language"] or "en"
    speech = gathered_alone(fidelity_set.resolve(base, item), model)
    wers = []
    for shift in SHIFTS:
        shifted = np.concatenate([np.zeros(shift, np.float32), speech])
        edits, words = fidelity.errors(
            item["reference"], read(whisper, shifted, language), language
        )
        wers.append(100.0 * edits / words)
    return wers


def main() -> None:
    args = in_process.arguments(__doc__)
    from faster_whisper import WhisperModel

    model = in_process.model_pool().get()
    readers = {
        model.compute_type: model.whisper,
        "float32": WhisperModel(model.path, device="cpu", compute_type="float32", cpu_threads=2),
    }
    base = fidelity_set.DEFAULT_OUT
    manifest = fidelity_set.build(base)
    clips = [i for i in manifest["items"] if i["kind"] == "clip" and i["variant"] == "alone"]
    header = " | ".join(f"{kind} {shift}" for kind in readers for shift in SHIFTS)
    lines = [
        f"# How steady the model reads one clip: sub-hop shifts {args.label}".rstrip(),
        "",
        f"WER % of each clip alone with {', '.join(map(str, SHIFTS))} samples of digital"
        f" silence before its gathered speech (model {model.name}; {', '.join(readers)}).",
        "",
        f"| clip | {header} | range {' | range '.join(readers)} |",
        "|---" * (1 + len(readers) * (len(SHIFTS) + 1)) + "|",
    ]
    unsteady = {kind: 0 for kind in readers}
    for item in clips:
        cells, ranges = [], []
        for kind, whisper in readers.items():
            wers = shifted_wers(whisper, model, item, base)
            cells += [f"{w:.1f}" for w in wers]
            ranges.append(max(wers) - min(wers))
            unsteady[kind] += ranges[-1] > 1.0
        lines.append(
            f"| {item['clip']} | {' | '.join(cells)} | {' | '.join(f'{r:.1f}' for r in ranges)} |"
        )
    lines += [
        "",
        *(
            f"- {kind}: {count} of {len(clips)} clips read more than 1 point apart by a shift"
            " of under 10 ms"
            for kind, count in unsteady.items()
        ),
    ]
    in_process.publish(lines, args.out)


if __name__ == "__main__":
    main()
