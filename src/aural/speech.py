"""Where the speech is: Silero VAD regions, and ~30 s windows of them for language switching.

Skipping non-speech before the encoder is what keeps Whisper from writing "Thank you." over
silence and junk over noise, and it saves the encoder passes those stretches would cost. It must
never cost words, so the detector is the reference Silero model run with its state carried from
frame to frame, with a second opinion from a fixed state on the loud stretches the carried state
left out (see :class:`SpeechDetector`), and the regions it gives are padded and cut with
hysteresis (:func:`speech_regions`).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np
import numpy.typing as npt

from aural.audio import SAMPLE_RATE
from aural.loudness import LevelStep, stretch_levels
from aural.speech_edges import anchored
from aural.spool import ChannelSamples, Samples
from aural.tones import tone_frames

FRAME = 512  # samples per Silero decision: 32 ms at 16 kHz
_CONTEXT = 64  # samples of the previous frame the model sees in front of each frame
# Frames per model call (33 s of audio): the state is carried between calls, so this only bounds
# memory and never changes a probability. ONNX Runtime's working memory grows with the call: on
# 754 s of audio, +159 MB at 4096 frames, +50 MB at 1024, at the same speed (3.3 s).
_BLOCK_FRAMES = 1024
_MODEL_FILE = "silero_vad_16k_sequence.onnx"
# Silence the state is primed with: Silero's zero state is no state a stream is ever in, and a
# file that opens with weak speech scored lower from it than after any silence (see rescored).
_PRIME_S = 1.0

Probabilities = npt.NDArray[np.float32]


@dataclass(frozen=True)
class SpeechRegion:
    """A stretch of one channel, in samples from its start, that the VAD heard speech in."""

    start: int
    end: int

    @property
    def duration(self) -> float:
        return (self.end - self.start) / SAMPLE_RATE


@dataclass(frozen=True)
class VadSettings:
    """How speech probabilities become regions.

    Hysteresis: a region starts where the probability reaches ``onset`` and ends only after
    ``min_silence_s`` below ``offset``, so a dip inside a word does not cut it. Regions are
    padded by ``pad_s`` on each side (half the gap when two regions are closer than that), since
    Silero's decision lags the first phoneme and leads the last one.
    """

    onset: float = 0.5
    offset: float = 0.35
    min_silence_s: float = 0.3
    max_region_s: float = 30.0
    pad_s: float = 0.4
    # A region longer than max_region_s is cut at the last pause of at least this length.
    min_cut_pause_s: float = 0.098


FINE_VAD = VadSettings()


class SpeechDetector:
    """Silero VAD, the reference model, run over a whole channel with its state carried.

    The model is Silero's own sequence export (``silero-vad`` 6.2.3 on PyPI, MIT licence, vendored
    in ``aural/assets``): it takes a run of frames and carries the LSTM state through them,
    giving exactly the probabilities of Silero's frame-by-frame reference. faster-whisper 1.2.1
    bundles a different export of it whose verdict on the same speech depends on what came before:
    ``jfk.flac`` has 61 % of its frames above 0.5 alone and 35 % behind 27 s of pink noise at
    -50 dBFS (10.3 s of speech found vs 5.7 s), against 68 % and 65 % with this model. Memory is
    bounded: frames go through in blocks, state and context carried across them.

    Even the reference's verdict on weak speech (whispered, breathy, quiet) depends on the state
    it carries: a channel is scored from the state of a second of silence, not from zeros, and
    the loud stretches that state left out are scored again from it (:meth:`rescored`).
    """

    def __init__(self) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        options.log_severity_level = 4
        model = resources.files("aural.assets").joinpath(_MODEL_FILE).read_bytes()
        self._session = onnxruntime.InferenceSession(
            model, providers=["CPUExecutionProvider"], sess_options=options
        )

        zero = np.zeros((1, 1, 128), dtype=np.float32)
        silent = np.zeros((round(_PRIME_S * SAMPLE_RATE / FRAME), FRAME), dtype=np.float32)
        _, h, c = self._run(silent, np.zeros(_CONTEXT, dtype=np.float32), zero, zero)
        self._primed = (np.asarray(h), np.asarray(c))

    def probabilities(self, samples: ChannelSamples) -> Probabilities:
        """The speech probability of every 32 ms frame of ``samples`` (the last one padded),
        from the state the model is in after a second of silence."""
        return self.rescored(samples, [(0, frame_count(samples))])

    def rescored(self, samples: ChannelSamples, spans: Sequence[tuple[int, int]]) -> Probabilities:
        """Each frame span (``[start, end)`` in frames) scored again from the primed state, as
        if a second of silence came before it; 0 outside the spans.

        The state carried through a channel is what makes a verdict depend on the audio
        before it: the same whispered words scored 0.03-0.3 behind 27 s of faint noise and
        0.7-0.9 after silence, while that noise scores 0.00-0.09 either way. A second opinion
        from one fixed state removes the history from the verdict on the stretches it is asked
        about.
        """
        probabilities = np.zeros(frame_count(samples), dtype=np.float32)
        for start, end in spans:
            h, c = self._primed
            context = np.zeros(_CONTEXT, dtype=np.float32)
            if start > 0:
                context = np.asarray(samples[start * FRAME - _CONTEXT : start * FRAME])
            for first, block in frame_blocks(samples, start, end):
                out, h, c = self._run(block, context, h, c)
                context = block[-1, -_CONTEXT:].copy()
                probabilities[first : first + block.shape[0]] = out
        return probabilities

    def _run(
        self,
        frames: npt.NDArray[np.float32],
        context: npt.NDArray[np.float32],
        h: npt.NDArray[np.float32],
        c: npt.NDArray[np.float32],
    ) -> tuple[Probabilities, npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Probabilities of ``[n, FRAME]`` frames, carrying the state (h, c) and the context
        (the last samples before the first frame) through them; returns the new state."""
        contexts = np.empty((frames.shape[0], _CONTEXT), dtype=np.float32)
        contexts[0] = context
        contexts[1:] = frames[:-1, -_CONTEXT:]
        out, h, c = self._session.run(
            None, {"input": np.concatenate([contexts, frames], axis=1), "h": h, "c": c}
        )
        return np.asarray(out, dtype=np.float32).reshape(-1), np.asarray(h), np.asarray(c)


def speech_regions(
    probabilities: Probabilities, total: int, vad: VadSettings = FINE_VAD
) -> list[SpeechRegion]:
    """Regions (in samples, at most ``vad.max_region_s`` long) from per-frame probabilities."""
    return _regions_of(_hysteresis(probabilities, vad), probabilities, total, vad)


def _regions_of(
    heard: list[tuple[int, int]], probabilities: Probabilities, total: int, vad: VadSettings
) -> list[SpeechRegion]:
    """:func:`speech_regions` from the frame spans the detector heard (:func:`_hysteresis`)."""
    spans = [piece for span in heard for piece in _cap(span, probabilities, vad)]
    return _pad(spans, total, vad)


def _hysteresis(probabilities: Probabilities, vad: VadSettings) -> list[tuple[int, int]]:
    """Frame spans that reach ``onset`` and last until ``min_silence_s`` below ``offset``."""
    min_silence = max(1, round(vad.min_silence_s * SAMPLE_RATE / FRAME))
    spans: list[tuple[int, int]] = []
    start: int | None = None
    quiet_since: int | None = None
    for index, probability in enumerate(probabilities.tolist()):
        if start is None:
            if probability >= vad.onset:
                start, quiet_since = index, None
            continue
        if probability >= vad.onset or (quiet_since is None and probability >= vad.offset):
            quiet_since = None
        elif probability < vad.offset and quiet_since is None:
            quiet_since = index
        if quiet_since is not None and index - quiet_since >= min_silence:
            spans.append((start, quiet_since))
            start = quiet_since = None
    if start is not None:
        spans.append((start, quiet_since if quiet_since is not None else len(probabilities)))
    return spans


def _cap(
    span: tuple[int, int], probabilities: Probabilities, vad: VadSettings
) -> list[tuple[int, int]]:
    """``span`` cut into pieces that fit a window once padded, at the least speech-like frame
    of the last part of each piece (a pause, where there is one)."""
    limit = int((vad.max_region_s - 2 * vad.pad_s) * SAMPLE_RATE / FRAME) - 1
    start, end = span
    pieces: list[tuple[int, int]] = []
    while end - start > limit:
        # Cut in the last third of the allowed length, where the speech is quietest.
        low = start + (2 * limit) // 3
        cut = low + int(np.argmin(probabilities[low : start + limit]))
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


def _pad(spans: list[tuple[int, int]], total: int, vad: VadSettings) -> list[SpeechRegion]:
    pad = int(vad.pad_s * SAMPLE_RATE)
    bounds = [[s * FRAME, min(e * FRAME, total)] for s, e in spans]
    for i, bound in enumerate(bounds):
        if i == 0:
            bound[0] = max(0, bound[0] - pad)
        if i + 1 < len(bounds):
            following = bounds[i + 1]
            gap = following[0] - bound[1]
            share = gap // 2 if gap < 2 * pad else pad
            bound[1] += share
            following[0] -= share
        else:
            bound[1] = min(total, bound[1] + pad)
    return [SpeechRegion(start, end) for start, end in bounds if end > start]


@dataclass(frozen=True)
class SpeechMap:
    """What the detector made of one channel.

    ``regions`` it heard speech in; ``unsure`` are stretches it left out although their energy
    stands clearly above the channel's noise floor and it gave them some chance of speech: they
    get a second look by Whisper itself before they are dropped. ``levels`` are the active levels
    (dBFS) of the stretches of speech in ``regions``, from sample 0 on (one step of no speech
    without any region, or with the VAD off): quiet speech is raised by them
    (:mod:`aural.loudness`).
    """

    regions: list[SpeechRegion]
    unsure: list[SpeechRegion]
    levels: tuple[LevelStep, ...] = (LevelStep(0, None),)


# The second look: energy this far above the channel's noise floor (its 10th percentile of frame
# energies), and above an absolute floor, with the VAD's probability at least this high somewhere.
_FLOOR_PERCENTILE = 10.0
_ABOVE_FLOOR_DB = 10.0
_MIN_LEVEL_DB = -60.0
_UNSURE_PROBABILITY = 0.1
_MIN_UNSURE_S = 0.25
_UNSURE_GAP_S = 0.3
_UNSURE_PAD_S = 0.2
# What a rescored stretch starts with of the audio before it (see _outside).
_RESCORE_LEAD_S = 0.3


def find_speech(
    samples: ChannelSamples, use_vad: bool, detector: SpeechDetector | None = None
) -> list[SpeechRegion]:
    """Speech regions of a mono signal, cut at short pauses and at most 30 s long."""
    return map_speech(samples, use_vad, detector).regions


def map_speech(
    samples: ChannelSamples, use_vad: bool, detector: SpeechDetector | None = None
) -> SpeechMap:
    """Speech regions of a mono signal, cut at short pauses and at most 30 s long, and the
    stretches that deserve a second look.

    With VAD off, the whole signal in 30 s pieces. Short regions let batches be packed and
    language changes be placed between sentences.
    """
    step = int(FINE_VAD.max_region_s * SAMPLE_RATE)
    total = samples.shape[0]
    if not use_vad:
        pieces = [SpeechRegion(start, min(start + step, total)) for start in range(0, total, step)]
        return SpeechMap(pieces, [])
    detector = detector or SpeechDetector()
    probabilities = detector.probabilities(samples)
    levels = frame_levels(samples)
    # Pure tones are no speech, whatever the detector made of them (aural.tones), and no
    # loud stretch to be asked about again.
    tone = np.zeros(probabilities.shape[0], dtype=np.bool_)
    found_tone = tone_frames(samples)
    tone[: found_tone.shape[0]] = found_tone
    probabilities[tone] = 0.0
    loud = _loud(levels) & ~tone
    # A second opinion on every loud stretch the carried state left out (or half out). Left out
    # means not heard as speech: a region's padding is not, and loud frames there are asked
    # about too (a whispered clip behind faint noise lost 0.13 s from the middle of a sentence
    # when they were not: the pad of one region and the next hid frames scored 0.1-0.3).
    doubtful = _outside(loud, heard_spans(probabilities, total))
    if doubtful:
        probabilities = np.maximum(probabilities, detector.rescored(samples, doubtful))
        probabilities[tone] = 0.0
    heard_frames = _hysteresis(probabilities, FINE_VAD)
    regions = _on_the_sound(samples, _regions_of(heard_frames, probabilities, total, FINE_VAD))
    heard = _in_samples(heard_frames, total)
    spans = [(r.start, r.end) for r in regions]
    steps = stretch_levels(levels, spans, FRAME, without_padding(spans, heard))
    return SpeechMap(regions, _unsure(loud, probabilities, regions, total), tuple(steps))


def heard_spans(
    probabilities: Probabilities, total: int, vad: VadSettings = FINE_VAD
) -> list[SpeechRegion]:
    """The stretches the detector heard speech in, as they are: no padding, no cuts."""
    return _in_samples(_hysteresis(probabilities, vad), total)


def _in_samples(frame_spans: list[tuple[int, int]], total: int) -> list[SpeechRegion]:
    return [SpeechRegion(start * FRAME, min(end * FRAME, total)) for start, end in frame_spans]


def without_padding(
    regions: Sequence[tuple[int, int]], heard: Sequence[SpeechRegion]
) -> list[tuple[int, int]]:
    """Each region cut to the first and last speech the detector heard inside it (the region
    itself where it heard none there: a region found by the second look)."""
    starts = [span.start for span in heard]
    cut = []
    for begin, end in regions:
        first = max(0, bisect.bisect_right(starts, begin) - 1)
        inside = [
            span for span in heard[first : bisect.bisect_left(starts, end)] if span.end > begin
        ]
        if inside:
            cut.append((max(begin, inside[0].start), min(end, inside[-1].end)))
        else:
            cut.append((begin, end))
    return cut


def _on_the_sound(samples: ChannelSamples, regions: list[SpeechRegion]) -> list[SpeechRegion]:
    """Regions with their edges anchored on the sound, not on the 32 ms grid
    (:mod:`aural.speech_edges`)."""
    pad = int(FINE_VAD.pad_s * SAMPLE_RATE)
    limit = int(FINE_VAD.max_region_s * SAMPLE_RATE)
    spans = anchored(samples, [(r.start, r.end) for r in regions], pad, limit)
    return [SpeechRegion(start, end) for start, end in spans]


def frame_levels(samples: ChannelSamples) -> npt.NDArray[np.float32]:
    """The energy of every 32 ms frame in dB relative to full scale (read a block at a time)."""
    levels = np.empty(frame_count(samples), dtype=np.float32)
    for first, block in frame_blocks(samples):
        power = np.mean(np.square(block, dtype=np.float64), axis=1)
        levels[first : first + block.shape[0]] = 10.0 * np.log10(power + 1e-12)
    return levels


def frame_count(samples: ChannelSamples) -> int:
    """The 32 ms frames of ``samples``, the last one counted even if partial."""
    return -(-int(samples.shape[0]) // FRAME)


def frame_blocks(
    samples: ChannelSamples, start: int = 0, end: int | None = None
) -> Iterator[tuple[int, Samples]]:
    """``(first frame, [frames, FRAME] samples)`` blocks of at most ``_BLOCK_FRAMES`` frames of
    frames ``start`` to ``end`` (default: all), read one at a time (``samples`` may be a spool
    on disk); the last frame is zero-padded."""
    end = frame_count(samples) if end is None else end
    for first in range(start, end, _BLOCK_FRAMES):
        count = min(_BLOCK_FRAMES, end - first)
        block = np.zeros(count * FRAME, dtype=np.float32)
        piece = samples[first * FRAME : (first + count) * FRAME]
        block[: piece.shape[0]] = piece
        yield first, block.reshape(count, FRAME)


def _loud(levels: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
    """The frames whose energy stands clearly above the channel's noise floor."""
    if levels.size == 0:
        return np.zeros(0, dtype=np.bool_)
    bar = max(float(np.percentile(levels, _FLOOR_PERCENTILE)) + _ABOVE_FLOOR_DB, _MIN_LEVEL_DB)
    return np.asarray(levels >= bar)


def _loud_outside(
    loud: npt.NDArray[np.bool_], regions: list[SpeechRegion]
) -> list[tuple[int, int]]:
    """Frame spans of loud audio outside ``regions``, joined over short gaps."""
    loud = loud.copy()
    for region in regions:
        loud[region.start // FRAME : -(-region.end // FRAME)] = False
    return _runs(loud, max(1, round(_UNSURE_GAP_S * SAMPLE_RATE / FRAME)))


def _outside(loud: npt.NDArray[np.bool_], regions: list[SpeechRegion]) -> list[tuple[int, int]]:
    """:func:`_loud_outside`, each span with a little of what comes before it (so a word cut at
    a region's edge is heard whole)."""
    lead = round(_RESCORE_LEAD_S * SAMPLE_RATE / FRAME)
    return [(max(0, start - lead), end) for start, end in _loud_outside(loud, regions)]


def _unsure(
    loud: npt.NDArray[np.bool_],
    probabilities: Probabilities,
    regions: list[SpeechRegion],
    total: int,
) -> list[SpeechRegion]:
    """Stretches outside ``regions`` that stand above the noise floor and that the VAD gave some
    chance of speech, joined over short gaps, padded, at most a window long."""
    if loud.size == 0:
        return []
    spans = _loud_outside(loud, regions)
    limit = int((FINE_VAD.max_region_s - 2 * _UNSURE_PAD_S) * SAMPLE_RATE / FRAME)
    pad = int(_UNSURE_PAD_S * SAMPLE_RATE)
    unsure: list[SpeechRegion] = []
    for start, end in spans:
        if end - start < _MIN_UNSURE_S * SAMPLE_RATE / FRAME:
            continue
        if float(probabilities[start:end].max()) < _UNSURE_PROBABILITY:
            continue
        for first in range(start, end, limit):
            piece_start, piece_end = first * FRAME, min(end, first + limit) * FRAME
            # Padded, but never into a region the VAD found.
            low = max([piece_start - pad] + [r.end for r in regions if r.end <= piece_start])
            high = min(
                [piece_end + pad, total] + [r.start for r in regions if r.start >= piece_end]
            )
            unsure.append(SpeechRegion(max(0, low), high))
    return unsure


def _runs(mask: npt.NDArray[np.bool_], max_gap: int) -> list[tuple[int, int]]:
    """Frame spans where ``mask`` holds, joined across gaps of at most ``max_gap`` frames."""
    spans: list[tuple[int, int]] = []
    for index in np.flatnonzero(mask).tolist():
        if spans and index - spans[-1][1] <= max_gap:
            spans[-1] = (spans[-1][0], index + 1)
        else:
            spans.append((index, index + 1))
    return spans


def gather(samples: ChannelSamples, regions: list[SpeechRegion]) -> Samples:
    """The speech of ``regions`` back to back, as the decoder will see it."""
    if not regions:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate([samples[r.start : r.end] for r in regions])


class GatheredSpeech:
    """The speech of ``regions`` back to back, read a slice at a time.

    Slices are in samples of the gathered speech (the timeline the decoder sees); only the
    parts of the regions a slice covers are read, so a long run on a spool is never copied
    whole. :attr:`regions` are the same regions on the gathered timeline (contiguous).
    """

    def __init__(self, samples: ChannelSamples, regions: Sequence[SpeechRegion]) -> None:
        self._samples = samples
        self._source = list(regions)
        self.regions: list[SpeechRegion] = []
        position = 0
        for region in self._source:
            self.regions.append(SpeechRegion(position, position + region.end - region.start))
            position += region.end - region.start

    def __getitem__(self, span: slice) -> Samples:
        start, stop = span.start or 0, span.stop if span.stop is not None else self.length
        pieces = [
            self._samples[source.start + max(start, here.start) - here.start :
                          source.start + min(stop, here.end) - here.start]
            for here, source in zip(self.regions, self._source, strict=True)
            if here.start < stop and start < here.end
        ]  # fmt: skip
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)

    @property
    def length(self) -> int:
        return self.regions[-1].end if self.regions else 0


def head(regions: list[SpeechRegion], seconds: float) -> list[SpeechRegion]:
    """The first regions holding at least ``seconds`` of speech (all of them if less)."""
    held = 0.0
    for count, region in enumerate(regions, start=1):
        held += region.duration
        if held >= seconds:
            return regions[:count]
    return regions


def middle(regions: list[SpeechRegion], seconds: float) -> list[SpeechRegion]:
    """Consecutive regions from the middle of ``regions`` holding about ``seconds`` of speech
    (all of them if they hold less)."""
    total = sum(r.duration for r in regions)
    if total <= seconds:
        return regions
    skip = (total - seconds) / 2
    first = 0
    while first < len(regions) - 1 and skip >= regions[first].duration:
        skip -= regions[first].duration
        first += 1
    return head(regions[first:], seconds)


def windows(regions: Sequence[SpeechRegion], window_s: float) -> list[list[SpeechRegion]]:
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
