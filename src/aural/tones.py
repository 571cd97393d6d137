"""Tones are not speech: a stretch that is nothing but one or two pure tones gets no words.

Whisper writes words over some tones, and the speech detector passes them: a 440 Hz sine with
a 6 Hz tremolo (90 % deep) came out as "All right. All right.", a 300 Hz one as "Music".
Both the detector and Whisper's no-speech probability are fooled by the syllable-like
rhythm, so neither can be the judge. The spectrum can: take a frame's two strongest tones
away (each with the spread of the analysis window) and speech leaves its other harmonics,
its formants' breadth and its noise, at least a few percent of the frame's energy, while a
tone leaves only the window's leakage, more than 60 dB down.

The rule only removes what holds nothing else: a frame is tone when what is left after its
two strongest tones lies :data:`_RESIDUE_DB` or more below it, and only frames in a stretch of
such frames count (:data:`_IN_RUN` of any :data:`_RUN`). The speech detector's verdict on
them is set to no speech, and they get no second look. Speech mixed with a loud tone keeps its
words (the speech is the residue), as does speech over mains hum (a hum is a series of
harmonics, not two tones). Steady telephone tones (ringback, busy, fax) are tones by this rule,
though the detector already leaves them out; DTMF digits (0.1 s) are too short to make a
stretch, and are left to the second look.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from aural.spool import ChannelSamples

_FRAME = 512  # 32 ms, the speech detector's frame


def _blackman_harris(size: int) -> npt.NDArray[np.float32]:
    """The 4-term Blackman-Harris window (periodic): sidelobes 92 dB down."""
    phase = 2.0 * np.pi * np.arange(size) / size
    window = (
        0.35875
        - 0.48829 * np.cos(phase)
        + 0.14128 * np.cos(2 * phase)
        - 0.01168 * np.cos(3 * phase)
    )
    out: npt.NDArray[np.float32] = window.astype(np.float32)
    return out


_WINDOW = _blackman_harris(_FRAME)
# Bins each side of a peak that belong to its tone: the Blackman-Harris main lobe is 4 bins
# wide on each side (sidelobes 92 dB down), so a tone's energy lies inside them.
_LOBE = 4
_TONES = 2  # two tones: dial, ringback, busy and DTMF tones are pairs
# What a tone leaves of a frame: less than this, in dB below the frame's energy.
_RESIDUE_DB = 40.0
# Tone holds for a stretch: at least this many of any run of _RUN frames (0.26 s) are tone.
# Over the whole fidelity set's speech (710 items, 712 channels: every clip variant, the
# telephone band and the noisy room included, every LID prompt, the runs and stereo files) no
# two frames in a row were tone; a tremolo's troughs (where the sine fades into the
# quantisation noise) break a tone's run, hence a share and not an unbroken run.
_RUN = 8
_IN_RUN = 6


def tone_frames(samples: ChannelSamples) -> npt.NDArray[np.bool_]:
    """Per 32 ms frame of ``samples`` (the last partial one left out): whether it is nothing
    but one or two tones, in a stretch that is tone (read a block at a time)."""
    count = int(samples.shape[0]) // _FRAME
    pure = np.zeros(count, dtype=np.bool_)
    block = 4096
    for first in range(0, count, block):
        last = min(count, first + block)
        piece = np.asarray(samples[first * _FRAME : last * _FRAME], dtype=np.float32)
        pure[first:last] = _pure(piece.reshape(last - first, _FRAME))
    if count < _RUN:
        return np.zeros(count, dtype=np.bool_)
    window = np.ones(_RUN, dtype=np.int32)
    dense_runs = np.convolve(pure.astype(np.int32), window, mode="valid") >= _IN_RUN
    # A frame is in a dense run when any of the _RUN runs that hold it is dense.
    in_dense = np.convolve(dense_runs.astype(np.int32), window, mode="full")[:count] > 0
    return np.asarray(pure & in_dense)


def _pure(frames: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
    """Whether each frame is one or two tones and nothing else."""
    power = np.square(np.abs(np.fft.rfft(frames * _WINDOW, axis=1)))
    total = power.sum(axis=1)
    bins = np.arange(power.shape[1])
    for _ in range(_TONES):
        peak = power.argmax(axis=1)
        power[np.abs(bins[np.newaxis, :] - peak[:, np.newaxis]) <= _LOBE] = 0.0
    residue = power.sum(axis=1)
    return np.asarray((total > 0.0) & (residue <= total * 10.0 ** (-_RESIDUE_DB / 10.0)))
