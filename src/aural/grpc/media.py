"""The audio of a gRPC request, streamed to disk as it arrives, under the upload limits.

Container audio (anything the core decodes) is stored byte for byte. Raw audio (headerless
PCM16, PCM32, mu-law or A-law, any rate) is stored behind a WAV header that describes it, so
the stored file is ordinary media: the job runner and remote workers decode it like any upload.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from anyio import to_thread

from aural.jobs.storage import MediaStorage, Upload

_FLUSH_BYTES = 1024 * 1024
MAX_SAMPLE_RATE = 384_000

# RawAudioConfig.AudioEncoding value -> (WAV format tag, bits per sample)
_WAV_FORMATS: dict[int, tuple[int, int]] = {
    0: (1, 16),  # PCM16: WAVE_FORMAT_PCM, signed little-endian
    1: (1, 32),  # PCM32: WAVE_FORMAT_PCM, signed little-endian
    2: (7, 8),  # MULAW: WAVE_FORMAT_MULAW
    3: (6, 8),  # ALAW: WAVE_FORMAT_ALAW
}
_HEADER_BYTES = 44


def known_encoding(encoding: int) -> bool:
    return encoding in _WAV_FORMATS


def wav_header(encoding: int, sample_rate: int, channels: int, data_bytes: int) -> bytes:
    """A canonical 44-byte RIFF/WAVE header for raw samples of ``encoding``."""
    tag, bits = _WAV_FORMATS[encoding]
    block_align = channels * bits // 8
    byte_rate = sample_rate * block_align
    data_bytes = min(data_bytes, 0xFFFFFFFF - 36)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, tag, channels, sample_rate, byte_rate, block_align, bits)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def _patch_sizes(path: Path, header: bytes) -> None:
    with path.open("r+b") as file:
        file.write(header)
        file.flush()
        os.fsync(file.fileno())


class AudioSink:
    """Writes one request's audio to ``media/<task id>``; limits raise as for HTTP uploads.

    ``raw`` is ``(encoding, sample_rate, channels)`` for raw audio, ``None`` for a container.
    """

    def __init__(self, upload: Upload, raw: tuple[int, int, int] | None) -> None:
        self.upload = upload
        self.raw = raw
        self.audio_bytes = 0
        self._buffer = bytearray()

    @classmethod
    async def open(
        cls, storage: MediaStorage, name: str, raw: tuple[int, int, int] | None
    ) -> AudioSink:
        upload = await to_thread.run_sync(storage.start_upload, name)
        sink = cls(upload, raw)
        if raw is not None:
            sink._buffer += wav_header(*raw, data_bytes=0)
        return sink

    async def write(self, content: bytes) -> None:
        self.audio_bytes += len(content)
        self._buffer += content
        if len(self._buffer) >= _FLUSH_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        if self._buffer:
            chunk = bytes(self._buffer)
            self._buffer.clear()
            await to_thread.run_sync(self.upload.write, chunk)

    async def close(self) -> None:
        """Write what is left; for raw audio, put the real sizes into the header."""
        await self._flush()
        await to_thread.run_sync(self.upload.close)
        if self.raw is not None:
            header = wav_header(*self.raw, data_bytes=self.audio_bytes)
            await to_thread.run_sync(_patch_sizes, self.upload.path, header)
