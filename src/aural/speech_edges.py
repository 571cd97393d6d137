"""Speech regions whose edges sit on the sound, not on the detector's 32 ms grid.

Silero decides per 32 ms frame, so a region's padded edges fall on that grid. The same
utterance placed a fraction of a frame later in a file (behind 5 s or 27 s of silence, which are
not whole frames) then starts 8 to 24 ms further from the region's first sample, Whisper sees
shifted features, and a borderline word can change: "ill-disposed" alone, "ill-sposed" behind
5 s of silence. The padding is there to give Whisper some quiet before and after the speech, and
how much quiet should depend on where the sound starts, not on where the grid falls.

So every edge that faces a pause at least as long as the pad (not an edge shared with a
neighbouring region) is moved to lie exactly ``pad`` before the first sample of sound, or
``pad`` after the last. "Sound" is a 10 ms moving RMS within ``_BELOW_PEAK_DB`` of the
region's loudest 10 ms: a bar set by the speech itself, so the same utterance gets the same
edges at any level and behind any lead-in; and clearly above the floor of the stretch the edge
faces (``_ABOVE_FLOOR_DB`` over the 10th percentile of its envelope), so that steady noise
before the speech reads as the pause it is. An edge is left where it was when no such pause
is found near it (sound that runs on, as in noise as loud as the speech). An edge moves inward
by at most ``_LAG`` (0.25 s), less than the pad, so every frame the detector heard speech in
stays inside its region.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from aural.audio import SAMPLE_RATE
from aural.spool import ChannelSamples

Span = tuple[int, int]
"""``[start, end)`` in samples."""

# The envelope: RMS over the 10 ms that follow each sample (Whisper's own feature hop).
_ENVELOPE = int(0.010 * SAMPLE_RATE)
# Sound is what comes within this of the region's loudest 10 ms (quiet speech is 20-30 dB below
# its own peak; room noise and digital silence lie further down).
_BELOW_PEAK_DB = 35.0
# ... and this far above the floor of the stretch outside the edge (its 10th percentile of the
# envelope): the 10 ms envelope of steady pink noise peaks 12 dB above that. With the bar set by
# the speech alone, pink noise at -40 dBFS before whispered speech peaking at -10 dBFS read as
# sound, no pause was found, and the edge stayed where the detector put it: after the onset.
# Measured outside the edge, not over the channel, so a lead-in's length never moves the bar.
_ABOVE_FLOOR_DB = 15.0
_FLOOR_PERCENTILE = 10.0
# How far outside its edge a region's sound may start (or end) and still anchor the edge.
_REACH_S = 1.0
# How far inside the padded edge the first (or last) sound is looked for: the pad, and this much
# of the detector's lag behind the sound (its onset and offset frames trail the sound by a few
# 32 ms frames).
_LAG = int(0.25 * SAMPLE_RATE)


def anchored(samples: ChannelSamples, regions: Sequence[Span], pad: int, limit: int) -> list[Span]:
    """``regions`` (sorted, not overlapping) with every edge that faces a pause anchored ``pad``
    samples from the sound; no region grows beyond ``limit`` samples."""
    reach = int(_REACH_S * SAMPLE_RATE)
    total = int(samples.shape[0])
    out: list[Span] = []
    for index, region in enumerate(regions):
        before = out[-1][1] if out else 0
        after = regions[index + 1][0] if index + 1 < len(regions) else total
        start, end = region
        bar = _peak_power(samples, start, end) * 10.0 ** (-_BELOW_PEAK_DB / 10.0)
        if not out or start > before:
            onset = _sound_start(samples, max(before, start - reach), start, end, pad, bar)
            if onset is not None and end - (onset - pad) <= limit:
                start = max(before, onset - pad)
        if end < after:
            offset = _sound_end(samples, start, end, min(after, end + reach), pad, bar)
            if offset is not None and offset + pad - start <= limit:
                end = min(after, offset + pad)
        out.append((start, end) if end > start else region)
    return out


def _power(samples: ChannelSamples, start: int, end: int) -> npt.NDArray[np.float64]:
    """Mean power of the ``_ENVELOPE`` samples from each sample of ``[start, end)`` on.

    Compared with the bar in the power domain: no logarithm per sample (the peak over a 754 s
    file's regions took 0.4 s with one)."""
    wanted = max(0, end - start) + _ENVELOPE - 1
    piece = np.asarray(samples[start : start + wanted], dtype=np.float64)
    piece = np.pad(piece, (0, wanted - piece.size))  # past the end of the channel: silence
    energy = np.concatenate([[0.0], np.cumsum(np.square(piece))])
    return np.asarray((energy[_ENVELOPE:] - energy[:-_ENVELOPE]) / _ENVELOPE)


def _peak_power(samples: ChannelSamples, start: int, end: int) -> float:
    power = _power(samples, start, end)
    return float(power.max()) if power.size else 0.0


def _sound_start(
    samples: ChannelSamples, low: int, start: int, end: int, pad: int, bar: float
) -> int | None:
    """The first sample of the sound run that the region's opening reaches into, or None when
    the run starts before ``low`` (no pause to anchor on) or no sound is near the edge."""
    high = min(end, start + pad + _LAG)
    power = _power(samples, low, high)
    sound = power >= _above_floor(bar, power[: start - low])
    after_edge = np.flatnonzero(sound[start - low :])
    if after_edge.size == 0:
        return None
    first = start - low + int(after_edge[0])
    pause = _last_pause(sound[:first], pad)
    return None if pause is None else low + pause


def _sound_end(
    samples: ChannelSamples, start: int, end: int, high: int, pad: int, bar: float
) -> int | None:
    """The sample after the sound run that the region's close reaches into, or None when the
    run goes on past ``high`` or no sound is near the edge."""
    low = max(start, end - pad - _LAG)
    power = _power(samples, low, high)
    sound = power >= _above_floor(bar, power[end - low :])
    before_edge = np.flatnonzero(sound[: end - low])
    if before_edge.size == 0:
        return None
    last = int(before_edge[-1]) + 1
    pause = _last_pause(sound[last:][::-1], pad)
    return None if pause is None else high - pause


def _above_floor(bar: float, outside: npt.NDArray[np.float64]) -> float:
    """``bar``, raised to ``_ABOVE_FLOOR_DB`` over the floor of the ``outside`` envelope."""
    if outside.size == 0:
        return max(bar, 1e-12)
    floor = float(np.percentile(outside, _FLOOR_PERCENTILE))
    return float(max(bar, floor * 10.0 ** (_ABOVE_FLOOR_DB / 10.0), 1e-12))


def _last_pause(sound: npt.NDArray[np.bool_], length: int) -> int | None:
    """The index just after the last run of at least ``length`` quiet samples in ``sound``
    (where the sound that ends ``sound`` starts), or None when there is none.

    The pause must be as long as the pad, so the pad holds nothing but quiet: in noise near
    the bar (pink noise at -50 dBFS behind a LibriVox clip) shorter quiet runs come and go, and
    anchoring on one moved the edge 0.2 s into the noise."""
    edges = np.flatnonzero(np.diff(np.concatenate([[1], sound.astype(np.int8), [1]])))
    # edges pair up as (quiet run start, quiet run end)
    runs = edges.reshape(-1, 2)
    long_enough = runs[runs[:, 1] - runs[:, 0] >= length]
    return int(long_enough[-1, 1]) if long_enough.size else None
