"""Where the speech is: Silero VAD regions, and ~30 s windows of them for language switching.

Skipping non-speech before the encoder is what keeps Whisper from writing "Thank you." over
silence and junk over noise, and it saves the encoder passes those stretches would cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

from aural.audio import SAMPLE_RATE, Samples


@dataclass(frozen=True)
class SpeechRegion:
    """A stretch of one channel, in samples from its start, that the VAD heard speech in."""

    start: int
    end: int

    @property
    def duration(self) -> float:
        return (self.end - self.start) / SAMPLE_RATE


# Regions end at short pauses and last at most one window.
_FINE_VAD = VadOptions(min_silence_duration_ms=300, max_speech_duration_s=30.0)


def find_speech(samples: Samples, use_vad: bool) -> list[SpeechRegion]:
    """Speech regions of a mono signal, cut at short pauses and at most 30 s long.

    With VAD off, the whole signal in 30 s pieces. Short regions let batches be packed and
    language changes be placed between sentences.
    """
    step = int(_FINE_VAD.max_speech_duration_s * SAMPLE_RATE)
    if not use_vad:
        total = samples.shape[0]
        return [SpeechRegion(start, min(start + step, total)) for start in range(0, total, step)]
    options = _FINE_VAD
    return [SpeechRegion(c["start"], c["end"]) for c in get_speech_timestamps(samples, options)]


def gather(samples: Samples, regions: list[SpeechRegion]) -> Samples:
    """The speech of ``regions`` back to back, as the decoder will see it."""
    if not regions:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate([samples[r.start : r.end] for r in regions])


def windows(regions: list[SpeechRegion], window_s: float) -> list[list[SpeechRegion]]:
    """Consecutive groups of regions holding up to ~``window_s`` of speech each.

    Windows are cut between regions, never inside one, so no word is split by a language
    change; regions are at most ``window_s`` long (see :func:`find_speech`).
    """
    groups: list[list[SpeechRegion]] = []
    current: list[SpeechRegion] = []
    held = 0.0
    for region in regions:
        if current and held + region.duration > window_s:
            groups.append(current)
            current, held = [], 0.0
        current.append(region)
        held += region.duration
    if current:
        groups.append(current)
    return groups
