"""A bad-media corpus built at run time (nothing binary is committed) with each case's outcome.

Every case is bytes plus what the server must answer: ``"ok"`` (transcribed; many channels
are split into one lane each) or the error code the task ends with. The Phonexia gRPC face
takes mono audio only (its spec: anything else is ``INVALID_ARGUMENT``), checked before the
rest, so a case of more channels states its own outcome there (``channels.not-mono``); mono
cases of the same kinds (bomb, truncation, rates, sample formats) check the rest on it.

Files are built with the standard library and numpy (RIFF headers written by hand, so odd ones
can be made) and, where installed, ``sox`` for FLAC and Ogg.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

OK = "ok"
NOT_MONO = "channels.not-mono"


@dataclass(frozen=True)
class Case:
    """One input file and the outcome every face must report for it."""

    name: str
    build: Callable[[], bytes]
    expected: str  # "ok" or an error code (media.truncated, media.over-memory-budget, ...)
    filename: str = "input.wav"
    grpc: str | None = None  # the gRPC face's outcome where its spec makes it differ

    def expected_on(self, face: str) -> str:
        """The outcome ``face`` must report (``"grpc"``: the Phonexia gRPC face)."""
        return self.grpc if face == "grpc" and self.grpc is not None else self.expected


def wav(
    channels: int,
    rate: int = 16_000,
    seconds: float = 1.0,
    bits: int = 16,
    float_format: bool = False,
    frames: int | None = None,
    declared_channels: int | None = None,
) -> bytes:
    """A RIFF/WAVE file of quiet noise; ``frames``/``declared_channels`` make lying headers."""
    count = max(int(rate * seconds), 1) if frames is None else frames
    rng = np.random.default_rng(channels * 1000 + bits)
    signal = rng.standard_normal((count, channels)) * 0.01
    if float_format:
        data = signal.astype("<f4" if bits == 32 else "<f8").tobytes()
    elif bits == 8:
        data = (signal * 127 + 128).astype(np.uint8).tobytes()
    elif bits == 24:
        ints = (signal * (2**23 - 1)).astype("<i4")
        data = ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    else:
        data = (signal * (2 ** (bits - 1) - 1)).astype(f"<i{bits // 8}").tobytes()
    header_channels = channels if declared_channels is None else declared_channels
    block = header_channels * bits // 8
    fmt_tag = 3 if float_format else 1
    fmt = struct.pack("<HHIIHH", fmt_tag, header_channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def wav_declaring(channels: int, rate: int, declared_s: float) -> bytes:
    """A small header announcing ``declared_s`` seconds; the data really is there (a bomb)."""
    return wav(channels, rate=rate, frames=int(rate * declared_s), bits=8)


def truncated(data: bytes, keep: float) -> bytes:
    return data[: max(int(len(data) * keep), 1)]


def _sox(source: bytes, suffix: str, *args: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        src = Path(folder) / "in.wav"
        out = Path(folder) / f"out{suffix}"
        src.write_bytes(source)
        subprocess.run(["sox", str(src), *args, str(out)], check=True, capture_output=True)
        return out.read_bytes()


def has_sox() -> bool:
    return shutil.which("sox") is not None


def build_cases(full: bool = False) -> list[Case]:
    """The corpus; ``full`` adds every channel count 1..64 and more rates and cut points.

    Memory-budget cases assume the server runs with ``AURAL_MEDIA_MEMORY_BUDGET_MB=200``
    (see :data:`SERVER_ENV`).
    """
    channel_counts = range(1, 65) if full else (1, 2, 7, 8, 9, 16, 64)
    rates = (1, 8, 100, 8_000, 11_025, 22_050, 44_100, 48_000, 96_000, 192_000, 384_000)
    if not full:
        rates = (1, 8_000, 44_100, 384_000)
    cases = [
        Case(f"wav-{n}ch", lambda n=n: wav(n, seconds=0.5), OK, grpc=None if n == 1 else NOT_MONO)
        for n in channel_counts
    ]
    # 1 Hz for 30 s still becomes 30 s at 16 kHz: fine; the header rate is what is odd.
    cases += [
        Case(f"wav-rate-{r}", lambda r=r: wav(2, rate=r, seconds=30 if r < 100 else 0.5), OK,
             grpc=NOT_MONO)
        for r in rates
    ]  # fmt: skip
    formats: dict[str, dict[str, Any]] = {
        "u8": {"bits": 8}, "s16": {"bits": 16}, "s24": {"bits": 24}, "s32": {"bits": 32},
        "f32": {"bits": 32, "float_format": True}, "f64": {"bits": 64, "float_format": True},
    }  # fmt: skip
    cases += [
        Case(f"wav-{name}", lambda f=f: wav(2, **f), OK, grpc=NOT_MONO)
        for name, f in formats.items()
    ]
    if full:  # the same rates and sample formats in mono, which the gRPC face takes too
        cases += [
            Case(f"wav-1ch-rate-{r}", lambda r=r: wav(1, rate=r, seconds=30 if r < 100 else 0.5),
                 OK)
            for r in rates
        ]  # fmt: skip
        cases += [
            Case(f"wav-1ch-{name}", lambda f=f: wav(1, **f), OK) for name, f in formats.items()
        ]
    cases += [
        # The REST faces refuse more than 64 channels; the gRPC face refuses any but one.
        Case("wav-65ch", lambda: wav(65, seconds=0.2), "media.invalid", grpc=NOT_MONO),
        Case("wav-0ch-header", lambda: wav(1, declared_channels=0), "media.invalid"),
        # 10 min of 7 channels at 1 Hz: an 8 KB file that decodes to 269 MB.
        Case(
            "bomb-7ch-1hz-10min",
            lambda: wav_declaring(7, 1, 600),
            "media.over-memory-budget",
            grpc=NOT_MONO,
        ),
        Case(
            "bomb-64ch-8hz-60s",
            lambda: wav_declaring(64, 8, 60),
            "media.over-memory-budget",
            grpc=NOT_MONO,
        ),
        # An hour of mono at 1 Hz: a 3.6 KB file that decodes to 230 MB (every face).
        Case("bomb-1ch-1hz-1h", lambda: wav_declaring(1, 1, 3600), "media.over-memory-budget"),
        Case(
            "truncated-half",
            lambda: truncated(wav(2, seconds=4), 0.5),
            "media.truncated",
            grpc=NOT_MONO,
        ),
        Case("truncated-half-1ch", lambda: truncated(wav(1, seconds=4), 0.5), "media.truncated"),
        Case("empty", lambda: b"", "media.empty"),
        Case("garbage", lambda: np.random.default_rng(1).bytes(4096), "media.invalid"),
        Case("riff-only", lambda: b"RIFF\x00\x00\x00\x00WAVE", "media.invalid"),
        Case("png", lambda: b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "media.no-audio-stream", "a.png"),
        Case("zip", lambda: b"PK\x03\x04" + b"\x00" * 200, "media.invalid", "a.zip"),
    ]
    if full:
        cases += [
            Case(f"truncated-{int(k * 100)}", lambda k=k: truncated(wav(1, seconds=8), k),
                 "media.truncated")
            for k in (0.1, 0.3, 0.6, 0.9)
        ]  # fmt: skip
    if has_sox():
        cases += [
            Case("flac-8ch", lambda: _sox(wav(8, seconds=0.5), ".flac"), OK, "a.flac", NOT_MONO),
            Case("ogg-2ch", lambda: _sox(wav(2, seconds=0.5), ".ogg"), OK, "a.ogg", NOT_MONO),
            Case("ogg-1ch", lambda: _sox(wav(1, seconds=0.5), ".ogg"), OK, "a.ogg"),
            Case("flac-1ch-96k", lambda: _sox(wav(1, rate=96_000), ".flac"), OK, "a.flac"),
        ]
    return cases


IDLE_TIMEOUT_S = 3
MAX_UPLOAD_BYTES = 32 * 1024 * 1024  # small, so that going past it takes a fraction of a second
SERVER_ENV = {
    "AURAL_MEDIA_MEMORY_BUDGET_MB": "200",
    "AURAL_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
    # Short, so that the stalled-connection checks run in seconds; clients here never pause.
    "AURAL_CONNECTION_IDLE_TIMEOUT_S": str(IDLE_TIMEOUT_S),
}
"""Settings the corpus's expectations (and the stall checks) assume."""
