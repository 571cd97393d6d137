"""Quiet speech raised to a normal level before Whisper hears it.

Whisper's features are log-mel energies on a fixed scale: the level of the audio is not
normalised away, so the same words 15 dB quieter are, to the model, different features. Speech at
-35 dBFS lost words and languages that it keeps at its own level (the broad fidelity set: WER
19.7 % at -35 dBFS against 14.9 % for the same 22 clips at their own levels; espeak German heard
as Welsh). Raising it to -26 dBFS brought the set back to 15.5 %.

The rule, per channel (per section of a long channel, :mod:`aural.sections`), from the speech
the detector found (never from the whole signal, so a channel in which it found no speech is
never raised): a channel whose active speech level is
below the nominal speech level (``NOMINAL_DBFS``, ITU-T's -26 dBov) is raised to it, by at most
``MAX_GAIN_DB``; speech at or above it is left exactly as it is. The mapping is continuous
(speech just below the nominal level moves a little) and depends only on the speech, so the
same utterance gets the same gain behind any lead-in. The speech detector itself runs on the
signal as it came: Silero is trained to be level-robust, and nothing it decided changes. With
the VAD off no speech is known and nothing is raised: the request asked for the audio as it came.

The level is that of ``aural.speech``'s 32 ms frames inside the speech regions, active ones only
(within ``_ACTIVE_BELOW_PEAK_DB`` of the loudest, so the pauses inside a region do not pull it
down): a simple stand-in for ITU-T P.56's active speech level, as the benchmark's set measures it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from aural.spool import ChannelSamples, Samples, SampleSource

# ITU-T's nominal speech level (-26 dBov; dBov here: a full-scale sine's RMS is -3 dBFS).
NOMINAL_DBFS = -26.0
# The most quiet speech is raised: speech at L < -46 dBFS comes up by this much only (to L + 20),
# and a stray region of faint noise is never made loud.
MAX_GAIN_DB = 20.0
_ACTIVE_BELOW_PEAK_DB = 40.0


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


class Amplified(SampleSource):
    """A channel read with a fixed gain, slice by slice (a spool stays on disk, an array is not
    copied)."""

    def __init__(self, source: ChannelSamples, gain: float) -> None:
        self._source = source
        self._gain = np.float32(gain)

    @property
    def frames(self) -> int:
        return int(self._source.shape[0])

    def read(self, start: int, stop: int) -> Samples:
        return np.asarray(self._source[start:stop] * self._gain, dtype=np.float32)


def raised(samples: ChannelSamples, level: float | None) -> ChannelSamples:
    """``samples`` as Whisper should hear them, given their speech's active ``level``: the same
    object when no gain is due, else a view that scales each slice as it is read (no copy of
    the channel, whether it is an array or a spool on disk)."""
    gain = gain_db(level)
    if gain == 0.0:
        return samples
    return Amplified(samples, 10.0 ** (gain / 20.0))


class SectionGains(SampleSource):
    """A channel read with a gain per section, for a long channel whose speech is mapped (and its
    level measured) a section at a time (:mod:`aural.sections`).

    Sections are added in timeline order while decoders already read the earlier ones; a read
    only ever covers sections that were added (the decoders get their speech after it was
    mapped), and each piece of it gets the gain of its section.
    """

    def __init__(self, source: ChannelSamples) -> None:
        self._source = source
        self._starts: list[tuple[int, np.float32]] = [(0, np.float32(1.0))]

    @property
    def frames(self) -> int:
        return int(self._source.shape[0])

    def add(self, start: int, level: float | None) -> None:
        """From sample ``start`` on, the gain due to speech at ``level`` (:func:`gain_db`)."""
        factor = np.float32(10.0 ** (gain_db(level) / 20.0))
        self._starts = [*self._starts, (start, factor)]  # one assignment: readers see old or new

    def read(self, start: int, stop: int) -> Samples:
        samples = np.asarray(self._source[start:stop], dtype=np.float32)
        starts = self._starts
        if all(factor == 1.0 for _, factor in starts):
            return samples
        out = samples.copy()
        for index, (first, factor) in enumerate(starts):
            last = starts[index + 1][0] if index + 1 < len(starts) else self.frames
            low, high = max(first, start), min(last, stop)
            if low < high and factor != 1.0:
                out[low - start : high - start] *= factor
        return out
