"""Decoded channels kept on disk and read a window at a time: memory flat in duration.

A 2 h stereo call is 920 MB of float32 samples at 16 kHz, and the engine never needs more than a
window of them at once: the VAD reads blocks, language planning one window of speech, decoding one
batch of chunks. So long media is decoded into unnamed temporary files (one per channel, gone as
soon as the last reader drops them, even if the process is killed) and every consumer reads the
slice it needs with ``pread``. The samples then sit in the kernel's page cache, which the kernel
may drop under pressure, not in the process's own memory.

Short media stays in memory (an array): a spool costs a write and a copy per read, which a clip of
seconds does not need.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import IO

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float32]
_ITEM = np.dtype(np.float32).itemsize


class SampleSource(ABC):
    """One channel's samples that are not held in memory: sliced like a 1-D float32 array.

    Only contiguous slices are supported (``source[a:b]``); each returns a new array.
    """

    @property
    @abstractmethod
    def frames(self) -> int:
        """The number of samples."""

    @abstractmethod
    def read(self, start: int, stop: int) -> Samples:
        """Samples ``start`` to ``stop`` (already clamped to ``0 <= start <= stop <= frames``)."""

    @property
    def shape(self) -> tuple[int]:
        return (self.frames,)

    def __len__(self) -> int:
        return self.frames

    def __getitem__(self, index: slice) -> Samples:
        start, stop, step = index.indices(self.frames)
        if step != 1:
            raise ValueError("a sample source reads contiguous slices only")
        return self.read(start, max(start, stop))

    def whole(self) -> Samples:
        """Every sample, in memory (for short audio and for callers that need an array)."""
        return self.read(0, self.frames)


ChannelSamples = Samples | SampleSource
"""One channel's samples: an array in memory, or a source read a slice at a time."""


def in_memory(samples: ChannelSamples) -> Samples:
    """``samples`` as an array (read whole from its source if it is one)."""
    return samples.whole() if isinstance(samples, SampleSource) else samples


class SpooledSamples(SampleSource):
    """A stretch of one channel's samples in a temporary file (see :class:`SpoolWriter`)."""

    def __init__(self, file: IO[bytes], first: int, frames: int) -> None:
        self._file = file  # held: the file lives as long as any stretch of it is read
        self._first = first
        self._frames = frames

    @property
    def frames(self) -> int:
        return self._frames

    def read(self, start: int, stop: int) -> Samples:
        out = np.empty(stop - start, dtype=np.float32)
        view = out.data.cast("B")
        offset = (self._first + start) * _ITEM
        done = 0
        while done < len(view):  # pread may return less than asked
            count = os.preadv(self._file.fileno(), [view[done:]], offset + done)
            if count <= 0:
                raise OSError(f"the audio spool ended {len(view) - done} bytes early")
            done += count
        return out

    def window(self, start: int, stop: int | None) -> SpooledSamples:
        """The samples from ``start`` to ``stop`` (``None``: the end), without reading them."""
        start, stop, _ = slice(start, stop).indices(self._frames)
        return SpooledSamples(self._file, self._first + start, max(0, stop - start))


class MixedSamples(SampleSource):
    """The mean of several channels, computed slice by slice as it is read (mix mode)."""

    def __init__(self, sources: Sequence[ChannelSamples]) -> None:
        self._sources = tuple(sources)
        self._frames = min(int(source.shape[0]) for source in self._sources)

    @property
    def frames(self) -> int:
        return self._frames

    def read(self, start: int, stop: int) -> Samples:
        total = np.zeros(stop - start, dtype=np.float32)
        for source in self._sources:
            total += source[start:stop]
        total /= np.float32(len(self._sources))
        return total


class BehindSilence(SampleSource):
    """A channel with ``lead`` samples of digital silence before it, read slice by slice."""

    def __init__(self, source: ChannelSamples, lead: int) -> None:
        self._source = source
        self._lead = lead

    @property
    def frames(self) -> int:
        return self._lead + int(self._source.shape[0])

    def read(self, start: int, stop: int) -> Samples:
        out = np.zeros(stop - start, dtype=np.float32)
        first = max(start, self._lead)
        if stop > first:
            out[first - start :] = self._source[first - self._lead : stop - self._lead]
        return out


class SpoolWriter:
    """Appends ``[channels, frames]`` pieces of decoded audio to one temporary file per channel."""

    def __init__(self, channels: int, directory: str | None = None) -> None:
        # Unnamed, so nothing is left behind; closed when the last reader drops it.
        self._files = [tempfile.TemporaryFile(dir=directory) for _ in range(channels)]  # noqa: SIM115
        self.frames = 0

    @property
    def channels(self) -> int:
        return len(self._files)

    def append(self, chunk: Samples) -> None:
        for file, row in zip(self._files, chunk, strict=True):
            file.write(np.ascontiguousarray(row, dtype=np.float32).data)
        self.frames += int(chunk.shape[1])

    def finish(self) -> tuple[SpooledSamples, ...]:
        """The channels written, ready to read (the writer is done)."""
        for file in self._files:
            file.flush()
        return tuple(SpooledSamples(file, 0, self.frames) for file in self._files)
