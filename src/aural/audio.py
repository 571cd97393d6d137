"""Decoding any media to float32 samples at 16 kHz, every channel kept, and channel selection.

PyAV (FFmpeg) reads whatever FFmpeg reads: wav, flac, mp3, ogg/opus, m4a/aac, webm and the
audio track of video files. Problems with the input become the typed errors of
:mod:`aural.errors` here, so no face ever shows a decoder traceback.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np
import numpy.typing as npt

from aural.errors import (
    ChannelOutOfRangeError,
    EmptyMediaError,
    InvalidMediaError,
    InvalidOptionError,
    MediaOverMemoryBudgetError,
    MediaTooLongError,
    NoAudioStreamError,
    TruncatedMediaError,
)
from aural.spool import (
    BehindSilence,
    ChannelSamples,
    MixedSamples,
    Samples,
    SampleSource,
    SpooledSamples,
    SpoolWriter,
    in_memory,
)
from aural.types import MAX_CHANNELS, ChannelMode

SAMPLE_RATE = 16_000
BYTES_PER_SAMPLE = 4  # float32
MAX_MEDIA_CHANNELS = MAX_CHANNELS
# A decoded stream may end slightly before its header's estimate (encoder padding, VBR
# estimates); more than this much shorter means the file was cut.
_TRUNCATION_TOLERANCE_S = 1.0
_TRUNCATION_TOLERANCE_SHARE = 0.05
# Decoded audio longer than this (all channels together) goes to a temporary file and is read a
# window at a time (aural.spool), so a request's memory stays flat in its duration. Shorter
# audio stays in memory, where reads cost nothing.
SPOOL_AFTER_S = 300.0

MediaSource = str | os.PathLike[str] | BinaryIO


@dataclass(frozen=True)
class Audio:
    """Decoded audio at 16 kHz: one float32 signal in [-1, 1] per channel.

    A channel is an array, or for long media a :class:`~aural.spool.SampleSource` read a window
    at a time (see :mod:`aural.spool`): the engine never needs a whole long channel at once.
    """

    channels: tuple[ChannelSamples, ...]

    @property
    def channel_count(self) -> int:
        return len(self.channels)

    @property
    def frames(self) -> int:
        return int(self.channels[0].shape[0]) if self.channels else 0

    @property
    def duration(self) -> float:
        return float(self.frames) / SAMPLE_RATE

    def behind_silence(self, lead: int) -> Audio:
        """The same audio with ``lead`` samples of digital silence before every channel (a
        spooled channel is not copied: its source is read behind the silence)."""

        def padded(channel: ChannelSamples) -> ChannelSamples:
            if isinstance(channel, SampleSource):
                return BehindSilence(channel, lead)
            return np.pad(channel, (lead, 0))

        return Audio(tuple(padded(channel) for channel in self.channels))

    @property
    def spooled(self) -> bool:
        """Whether the channels are read from disk rather than held in memory."""
        return any(isinstance(channel, SampleSource) for channel in self.channels)

    @property
    def samples(self) -> Samples:
        """Every channel as one ``[channels, frames]`` array in memory (read whole if spooled)."""
        if not self.channels:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([in_memory(channel) for channel in self.channels])

    @classmethod
    def from_array(cls, array: npt.ArrayLike) -> Audio:
        """Wrap caller-provided samples: 1-D mono, or 2-D ``[channels, frames]``, at 16 kHz."""
        data = np.asarray(array, dtype=np.float32)
        if data.ndim == 1:
            data = data[np.newaxis, :]
        if data.ndim != 2:
            raise InvalidMediaError("audio arrays must be 1-D (mono) or 2-D [channels, frames]")
        if data.shape[1] == 0:
            raise EmptyMediaError("the audio holds no samples")
        return cls(tuple(np.ascontiguousarray(row) for row in data))


@dataclass(frozen=True)
class ChannelAudio:
    """One mono signal to transcribe and the channel number its segments will carry."""

    channel: int
    samples: ChannelSamples

    @property
    def duration(self) -> float:
        return float(self.samples.shape[0]) / SAMPLE_RATE


def _describe(source: MediaSource) -> str:
    return os.fspath(source) if isinstance(source, str | os.PathLike) else "the upload"


def probe_duration(container: av.container.InputContainer, stream: av.AudioStream) -> float | None:
    """The duration the header announces, if it announces one."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / float(av.time_base)
    return None


def announced_audio_seconds(path: str | os.PathLike[str]) -> float | None:
    """Duration x channels the header of ``path`` announces (``None``: unknown or unreadable).

    For planning around a file before decoding it (time limits, the CLI's restart for long
    audio); what is wrong with unreadable media is left for :func:`decode_audio` to report.
    """
    try:
        with av.open(os.fspath(path), mode="r") as container:
            stream = container.streams.audio[0]
            duration = probe_duration(container, stream)
            channels = stream.codec_context.channels or 1
    except Exception:  # any failure to read the header means "unknown" here
        return None
    return None if duration is None else duration * max(1, channels)


def decode_audio(
    source: MediaSource,
    max_duration_s: float | None = None,
    on_progress: Callable[[float], None] | None = None,
    memory_budget_bytes: int | None = None,
    spool_after_s: float | None = SPOOL_AFTER_S,
) -> Audio:
    """Decode the first audio stream of ``source`` to 16 kHz float32, keeping every channel.

    Media announcing more than ``max_duration_s``, more than :data:`MAX_MEDIA_CHANNELS`
    channels, or decoded samples over ``memory_budget_bytes`` is refused from its header
    before anything is decoded; media without a usable header is stopped as soon as it passes
    a limit.
    """
    name = _describe(source)
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise InvalidMediaError(f"{name}: no such file")
        if path.stat().st_size == 0:
            raise EmptyMediaError(f"{name}: the file is empty")
    try:
        container = av.open(
            source if not isinstance(source, os.PathLike) else os.fspath(source), mode="r"
        )
    except av.error.FFmpegError as exc:
        raise InvalidMediaError(f"{name}: not a media file FFmpeg can read") from exc
    with container:
        if not container.streams.audio:
            raise NoAudioStreamError(f"{name}: the media has no audio stream")
        stream = container.streams.audio[0]
        declared = probe_duration(container, stream)
        if max_duration_s is not None and declared is not None and declared > max_duration_s:
            raise MediaTooLongError(
                f"{name}: {declared:.0f} s of media is over the {max_duration_s:.0f} s limit",
                duration_s=declared,
                max_duration_s=max_duration_s,
            )
        channels = int(stream.channels or 0)
        if channels > MAX_MEDIA_CHANNELS:
            raise InvalidMediaError(
                f"{name}: the media has {channels} channels; at most {MAX_MEDIA_CHANNELS} "
                "are transcribed",
                channels=channels,
                max_channels=MAX_MEDIA_CHANNELS,
            )
        if memory_budget_bytes is not None and declared is not None and channels:
            check_memory_budget(name, declared, channels, memory_budget_bytes)
        audio = _decode_stream(
            container, stream, name, max_duration_s, on_progress, memory_budget_bytes, spool_after_s
        )
    if audio.frames == 0:
        raise EmptyMediaError(f"{name}: the media holds no audio samples")
    decoded = audio.duration
    if declared is not None and declared - decoded > max(
        _TRUNCATION_TOLERANCE_S, _TRUNCATION_TOLERANCE_SHARE * declared
    ):
        raise TruncatedMediaError(
            f"{name}: the file is truncated ({decoded:.1f} s of {declared:.1f} s decoded)",
            decoded_s=round(decoded, 3),
            declared_s=round(declared, 3),
        )
    return audio


class _SampleBuffer:
    """Decoded samples ``[channels, frames]`` written as frames arrive: in place in memory, or to
    a spool on disk once the audio passes ``spool_after`` frames (summed over channels).

    Sized from the header's duration when it gives one (pages never written are never resident),
    grown by half when the media runs longer: the samples are held once, where a list of frames
    joined at the end held them twice at the peak.
    """

    def __init__(self, channels: int, expected_frames: int, spool_after: int | None) -> None:
        self.channels = channels
        self._spool_after = spool_after
        self._spool: SpoolWriter | None = None
        spooled = spool_after is not None and expected_frames * channels > spool_after
        if spooled:
            self._spool = SpoolWriter(channels)
        self._data: Samples = np.empty(
            (channels, 0 if spooled else max(expected_frames, SAMPLE_RATE)), np.float32
        )
        self.frames = 0

    def append(self, chunk: Samples) -> None:
        end = self.frames + chunk.shape[1]
        if (
            self._spool is None
            and self._spool_after is not None
            and end * self.channels > self._spool_after
        ):
            self._spool = SpoolWriter(self.channels)
            self._spool.append(self._data[:, : self.frames])
            self._data = np.empty((self.channels, 0), np.float32)
        if self._spool is not None:
            self._spool.append(chunk)
            self.frames = end
            return
        if end > self._data.shape[1]:
            grown = np.empty((self.channels, max(end, self._data.shape[1] * 3 // 2)), np.float32)
            grown[:, : self.frames] = self._data[:, : self.frames]
            self._data = grown
        self._data[:, self.frames : end] = chunk
        self.frames = end

    def channel_samples(self) -> tuple[ChannelSamples, ...]:
        if self._spool is not None:
            return self._spool.finish()
        return tuple(self._data[:, : self.frames])


def _decode_stream(
    container: av.container.InputContainer,
    stream: av.AudioStream,
    name: str,
    max_duration_s: float | None,
    on_progress: Callable[[float], None] | None,
    memory_budget_bytes: int | None = None,
    spool_after_s: float | None = SPOOL_AFTER_S,
) -> Audio:
    # Packed (interleaved) float output, seen as [channels, frames] by _planar: PyAV's
    # to_ndarray() on planar fltp frames of 8 or more channels reads past its plane pointers
    # (a segfault, not an error).
    resampler = av.AudioResampler(format="flt", rate=SAMPLE_RATE)
    buffer: _SampleBuffer | None = None
    frames = 0
    declared = probe_duration(container, stream)
    expected = int((declared or 0.0) * SAMPLE_RATE) + SAMPLE_RATE
    limit = None if max_duration_s is None else int(max_duration_s * SAMPLE_RATE)
    spool_after = None if spool_after_s is None else int(spool_after_s * SAMPLE_RATE)
    try:
        for packet in container.demux(stream):
            # FFmpeg re-estimates a cut WAV's duration from the file size, so the header check
            # cannot see it; the demuxer flags the short last packet as corrupt instead.
            if packet.is_corrupt:
                raise TruncatedMediaError(
                    f"{name}: the file is truncated (a corrupt packet after "
                    f"{frames / SAMPLE_RATE:.1f} s)",
                    decoded_s=round(frames / SAMPLE_RATE, 3),
                )
            for frame in packet.decode():
                for out in resampler.resample(frame):
                    chunk = _planar(out)
                    if buffer is None:
                        buffer = _SampleBuffer(chunk.shape[0], expected, spool_after)
                    if chunk.shape[0] != buffer.channels:
                        continue  # a mid-stream layout change; keep the first layout
                    buffer.append(chunk)
                    frames = buffer.frames
            if limit is not None and frames > limit:
                raise MediaTooLongError(
                    f"{name}: the media is over the {max_duration_s:.0f} s limit",
                    max_duration_s=max_duration_s,
                )
            if memory_budget_bytes is not None and buffer is not None:
                check_memory_budget(
                    name, frames / SAMPLE_RATE, buffer.channels, memory_budget_bytes
                )
            if on_progress is not None and frames:
                on_progress(frames / SAMPLE_RATE)
        for out in resampler.resample(None):
            tail = _planar(out)
            if buffer is None:
                buffer = _SampleBuffer(tail.shape[0], expected, spool_after)
            if tail.shape[0] == buffer.channels:
                buffer.append(tail)
    except av.error.FFmpegError as exc:
        if frames == 0:
            raise InvalidMediaError(f"{name}: the audio stream cannot be decoded") from exc
        raise TruncatedMediaError(
            f"{name}: decoding broke off after {frames / SAMPLE_RATE:.1f} s (truncated or corrupt)",
            decoded_s=round(frames / SAMPLE_RATE, 3),
        ) from exc
    if buffer is None:
        empty = np.zeros(0, dtype=np.float32)
        return Audio(tuple(empty for _ in range(stream.channels or 1)))
    return Audio(buffer.channel_samples())


def _planar(frame: av.AudioFrame) -> Samples:
    """A packed float frame as ``[channels, frames]``: a transposed view of its one plane."""
    channels = len(frame.layout.channels)
    data: Samples = frame.to_ndarray().astype(np.float32, copy=False)
    return data.reshape(-1, channels).T


def decoded_bytes(duration_s: float, channels: int) -> int:
    """Memory the decoded samples of ``duration_s`` seconds of ``channels`` channels take."""
    return math.ceil(duration_s * SAMPLE_RATE) * max(channels, 1) * BYTES_PER_SAMPLE


def check_memory_budget(name: str, duration_s: float, channels: int, budget_bytes: int) -> None:
    """Refuse media whose decoded samples (duration x channels) would pass the memory budget.

    Until the engine streams, a request holds every decoded channel in memory (and the
    pipeline's working copies beside it, which the budget leaves room for): a small file
    declaring hours of many channels must not be allowed to exhaust the machine.
    """
    needed = decoded_bytes(duration_s, channels)
    if needed > budget_bytes:
        raise MediaOverMemoryBudgetError(
            f"{name}: {duration_s:.0f} s of {channels}-channel audio needs "
            f"{needed / 1e6:.0f} MB decoded, over the {budget_bytes / 1e6:.0f} MB memory budget "
            f"per request (AURAL_MEDIA_MEMORY_BUDGET_MB); send a shorter file or fewer channels",
            duration_s=round(duration_s, 3),
            channels=channels,
            needed_bytes=needed,
            budget_bytes=budget_bytes,
        )


def select_channels(
    audio: Audio, channels: tuple[int, ...] | None, mode: ChannelMode
) -> list[ChannelAudio]:
    """The mono signals to transcribe: each selected channel (split) or their mean (mix).

    An empty or missing selection means every channel. A mix is reported as channel 0.
    """
    selected = list(dict.fromkeys(channels)) if channels else list(range(audio.channel_count))
    bad = [index for index in selected if not 0 <= index < audio.channel_count]
    if bad:
        raise ChannelOutOfRangeError(
            f"channel {bad[0]} does not exist: the media has {audio.channel_count} channel(s), "
            f"numbered from 0",
            channel=bad[0],
            channel_count=audio.channel_count,
        )
    if mode is ChannelMode.MIX and len(selected) > 1:
        sources = [audio.channels[index] for index in selected]
        mixed: ChannelSamples
        if audio.spooled:
            mixed = MixedSamples(sources)  # mixed a window at a time as it is read
        else:
            mixed = np.mean(np.stack([in_memory(s) for s in sources]), axis=0, dtype=np.float32)
        return [ChannelAudio(0, mixed)]
    return [ChannelAudio(index, audio.channels[index]) for index in selected]


def clip(audio: Audio, start_s: float, end_s: float | None) -> Audio:
    """The part of ``audio`` from ``start_s`` to ``end_s`` (``None``: to the end)."""
    if start_s <= 0 and end_s is None:
        return audio
    if start_s >= audio.duration:
        raise InvalidOptionError(
            f"the time range starts at {start_s:g} s, after the end of the audio "
            f"({audio.duration:.2f} s)",
            option="start_s",
        )
    first = round(start_s * SAMPLE_RATE)
    last = None if end_s is None else round(end_s * SAMPLE_RATE)
    return Audio(tuple(_part(channel, first, last) for channel in audio.channels))


def _part(channel: ChannelSamples, first: int, last: int | None) -> ChannelSamples:
    if isinstance(channel, SpooledSamples):
        return channel.window(first, last)
    return np.ascontiguousarray(channel[first:last])


def probe_channels(path: str | os.PathLike[str]) -> int:
    """The channel count of the first audio stream, from the header (nothing is decoded).

    Faces that accept mono only ask this before queueing; unreadable media raises the same
    errors as :func:`decode_audio` does.
    """
    name = _describe(path)
    if Path(path).stat().st_size == 0:
        raise EmptyMediaError(f"{name}: the file is empty")
    try:
        container = av.open(os.fspath(path), mode="r")
    except av.error.FFmpegError as exc:
        raise InvalidMediaError(f"{name}: not a media file FFmpeg can read") from exc
    with container:
        if not container.streams.audio:
            raise NoAudioStreamError(f"{name}: the media has no audio stream")
        return int(container.streams.audio[0].channels or 1)
