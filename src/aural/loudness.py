"""Quiet speech raised to a normal level before Whisper hears it.

Whisper's features are log-mel energies on a fixed scale: the level of the audio is not
normalised away, so the same words 15 dB quieter are, to the model, different features. Speech at
-35 dBFS lost words and languages that it keeps at its own level (the broad fidelity set: WER
19.7 % at -35 dBFS against 14.9 % for the same 22 clips at their own levels; espeak German heard
as Welsh). Raising it to -26 dBFS brought the set back to 15.5 %.

The rule, per stretch of speech at one level (:func:`stretch_levels`), from the speech the
detector found (never from the whole signal, so a channel in which it found no speech is never
raised): a stretch whose active speech level is below the nominal speech level
(``NOMINAL_DBFS``, ITU-T's -26 dBov) is raised to it, by at most ``MAX_GAIN_DB``; speech at or
above it is left exactly as it is. The mapping is continuous (speech just below the nominal
level moves a little) and depends only on the speech, so the same utterance gets the same gain
behind any lead-in. The speech detector itself runs on the signal as it came: Silero is trained
to be level-robust, and nothing it decided changes. With the VAD off no speech is known and
nothing is raised: the request asked for the audio as it came.

Why stretches and not one level per channel: a channel can hold a near and a far talker, or a
call whose level drops half-way. Measured per channel, the loud talker set the level and the
quiet one was not raised: a whispered sentence at -46 dBFS one second after a prompt at -16 dBFS
was misheard ("make-a-ring" for "bakery"), though alone at that level it was raised and heard.
The channel's regions are therefore walked in time order, and a region whose own level lies more
than ``LEVEL_STEP_DB`` from the stretch so far, and that is long enough to tell
(``MIN_STEP_REGION_S``), opens a new stretch with a gain of its own. Within a stretch (one
talker's sentences vary by a few dB) the gain stays one, so a clip's words do not move with how
its pauses cut it into regions.

The level is that of ``aural.speech``'s 32 ms frames inside the speech the detector heard (its
regions without their padding, which holds whatever came before the speech: faint noise there
moved the level, and the gain, with the lead-in), active ones only (within
``_ACTIVE_BELOW_PEAK_DB`` of the loudest, so the pauses inside a region do not pull it down): a
simple stand-in for ITU-T P.56's active speech level, as the benchmark's set measures it.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from aural.audio import SAMPLE_RATE
from aural.spool import ChannelSamples, Samples, SampleSource

# ITU-T's nominal speech level (-26 dBov; dBov here: a full-scale sine's RMS is -3 dBFS).
NOMINAL_DBFS = -26.0
# The most quiet speech is raised: speech at L < -46 dBFS comes up by this much only (to L + 20),
# and a stray region of faint noise is never made loud.
MAX_GAIN_DB = 20.0
_ACTIVE_BELOW_PEAK_DB = 40.0
# A region whose level differs from the stretch so far by more than this starts a stretch of its
# own: more than one talker's sentences differ by, less than a near and a far talker.
LEVEL_STEP_DB = 10.0
# ... when it is at least this long, its padding included: a shorter region is too little evidence
# of a new level (the 0.2 s decay of jfk's last word, 11 dB under the rest, opened a stretch of
# its own and moved a word of the sentence before it).
MIN_STEP_REGION_S = 1.0


@dataclass(frozen=True)
class LevelStep:
    """From sample ``start`` of a channel on (up to the next step), speech at ``level`` dBFS
    (``None``: no speech measured there)."""

    start: int
    level: float | None


def active_level(
    frame_db: npt.NDArray[np.float32], spans: Sequence[tuple[int, int]]
) -> float | None:
    """The active level (dBFS) of the frames in ``spans`` (``[first, last)`` frame indices), or
    ``None`` when the spans hold no frame."""
    inside = [frame_db[first:last] for first, last in spans if last > first]
    if not inside:
        return None
    levels = np.concatenate(inside).astype(np.float64)
    active = levels[levels >= levels.max() - _ACTIVE_BELOW_PEAK_DB]
    return float(10.0 * np.log10(np.mean(10.0 ** (active / 10.0))))


def gain_db(level: float | None) -> float:
    """The gain (dB) that speech at ``level`` dBFS gets: up to the nominal level, never down."""
    if level is None or level >= NOMINAL_DBFS:
        return 0.0
    return min(NOMINAL_DBFS - level, MAX_GAIN_DB)


def stretch_levels(
    frame_db: npt.NDArray[np.float32],
    regions: Sequence[tuple[int, int]],
    frame: int,
    measured: Sequence[tuple[int, int]] | None = None,
) -> list[LevelStep]:
    """The level steps of a channel's speech ``regions`` (``[start, end)`` samples, in time
    order; ``frame_db`` the levels of its ``frame``-sample frames): one step per stretch of
    regions within ``LEVEL_STEP_DB`` of each other's level, the first from sample 0. Without any
    region, one step of no speech.

    ``measured`` (one span per region, inside it) is where each region's level is read: the
    speech the detector heard, without the padding around it. The padding holds what came before
    the speech: behind 27 s of pink noise at -50 dBFS its 0.4 s of noise pulled a LibriVox
    sentence's level 0.5 dB down, so it got another gain than alone, and the model reads the
    same words differently at levels 0.5 dB apart.
    """
    steps: list[LevelStep] = []
    stretch: list[tuple[int, int]] = []  # frame spans of the open stretch
    level: float | None = None
    start = 0
    for (begin, end), (first, last) in zip(regions, measured or regions, strict=True):
        span = (first // frame, -(-last // frame))
        own = active_level(frame_db, [span])
        if (
            own is not None
            and level is not None
            and abs(own - level) > LEVEL_STEP_DB
            and end - begin >= MIN_STEP_REGION_S * SAMPLE_RATE
        ):
            steps.append(LevelStep(start, level))
            stretch, start = [], begin
        stretch.append(span)
        level = active_level(frame_db, stretch)
    steps.append(LevelStep(start, level))
    return steps


class GainTrack(SampleSource):
    """A channel read with a gain per stretch (:class:`LevelStep`), slice by slice: a spool
    stays on disk, an array is not copied.

    Steps may be added in timeline order while decoders already read the earlier ones (a long
    channel is mapped a section at a time, :mod:`aural.sections`); a read only ever covers steps
    that were added (the decoders get their speech after it was mapped), and each piece of it
    gets the gain of its step.
    """

    def __init__(self, source: ChannelSamples, steps: Sequence[LevelStep] = ()) -> None:
        self._source = source
        # (first sample, factor), in timeline order; only ever appended to, so a reader that
        # holds the list sees whole steps, and the ones it reads were added before it read.
        self._steps: list[tuple[int, np.float32]] = [(0, np.float32(1.0))]
        for step in steps:
            self.add(step)

    @property
    def frames(self) -> int:
        return int(self._source.shape[0])

    def add(self, step: LevelStep) -> None:
        """From ``step.start`` on, the gain due to speech at ``step.level`` (:func:`gain_db`)."""
        self._steps.append((step.start, np.float32(10.0 ** (gain_db(step.level) / 20.0))))

    def read(self, start: int, stop: int) -> Samples:
        samples = np.asarray(self._source[start:stop], dtype=np.float32)
        steps = self._steps
        count = len(steps)
        out = samples  # copied before the first gain: it may be a view of the caller's array
        first = max(0, bisect.bisect_right(steps, start, key=lambda step: step[0]) - 1)
        for index in range(first, count):
            begin, factor = steps[index]
            if begin >= stop:
                break
            end = steps[index + 1][0] if index + 1 < count else self.frames
            low, high = max(begin, start), min(end, stop)
            if low < high and factor != 1.0:
                out = out if out is not samples else samples.copy()
                out[low - start : high - start] *= factor
        return out


def raised(samples: ChannelSamples, steps: Sequence[LevelStep]) -> ChannelSamples:
    """``samples`` as Whisper should hear them, given the level ``steps`` of their speech: the
    same object when no gain is due, else a view that scales each slice as it is read (no copy
    of the channel, whether it is an array or a spool on disk)."""
    if all(gain_db(step.level) == 0.0 for step in steps):
        return samples
    return GainTrack(samples, steps)
