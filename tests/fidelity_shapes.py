"""Shapes of audio for issue 10's fidelity tests, made at test time from committed fixtures.

Nothing here is committed audio: each shape is built with numpy from ``tests/data`` (jfk,
the LibriVox clips, the ``lang/`` Asterisk prompts) into a temporary directory, deterministically
(fixed seeds). The broad set for the benchmark is ``benchmarks/fidelity_set.py``; these are the
few shapes the suite checks on every run:

* :func:`lead_in_clip`: a clip behind a lead-in of digital silence or pink noise at an RMS level;
* :func:`late_stereo`: two channels, the second silent for its first 27 s, then speech;
* :func:`alternating_languages`: runs of one language each, built from the ``lang/`` prompts,
  with the reference language per time span.

Levels are RMS in dBFS (a full-scale sine is -3 dBFS), as in the benchmark's set.
"""

from __future__ import annotations

import random
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from aural.audio import SAMPLE_RATE, decode_audio

DATA = Path(__file__).parent / "data"
Samples = npt.NDArray[np.float32]


@dataclass(frozen=True)
class LeadInClip:
    """A clip behind a lead-in; ``reference`` is what the clip says, from ``speech_start`` on."""

    path: Path
    samples: Samples
    reference: str
    speech_start: float
    clip: Path  # the clip alone (the comparison: same words behind any lead-in)


@dataclass(frozen=True)
class LateStereo:
    """Two channels; channel 1 is silent until ``late_start`` s, then speaks."""

    path: Path
    channel_references: tuple[str, str]
    late_start: float


@dataclass(frozen=True)
class Run:
    start: float
    end: float
    language: str
    text: str = ""


@dataclass(frozen=True)
class AlternatingLanguages:
    """Runs of one language each: ``runs`` per language run, ``prompts`` per prompt (text)."""

    path: Path
    runs: tuple[Run, ...]
    prompts: tuple[Run, ...]

    def language_at(self, moment: float) -> str | None:
        """The reference language at ``moment`` (None in the gaps between runs)."""
        return next((r.language for r in self.runs if r.start <= moment < r.end), None)


def load(path: Path) -> Samples:
    """A fixture as mono float32 at 16 kHz (aural's own decoder resamples)."""
    samples: Samples = decode_audio(path).samples.mean(axis=0).astype(np.float32)
    return samples


def text_of(path: Path) -> str:
    return path.with_suffix(".txt").read_text(encoding="utf-8").strip()


def write_wav(path: Path, channels: list[Samples]) -> Path:
    """16-bit PCM WAV at 16 kHz; channels of unequal length are padded with zeros."""
    frames = max(c.size for c in channels)
    data = np.zeros((frames, len(channels)), np.float32)
    for i, channel in enumerate(channels):
        data[: channel.size, i] = channel
    pcm = (np.clip(data, -1.0, 32767 / 32768) * 32768.0).round().astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(len(channels))
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    return path


def pink_noise(seconds: float, dbfs: float, seed: int = 0) -> Samples:
    """Pink (1/f power) noise at an RMS of ``dbfs``, deterministic for a seed."""
    white = np.random.default_rng(seed).standard_normal(round(seconds * SAMPLE_RATE))
    freqs = np.fft.rfftfreq(white.size)
    freqs[0] = freqs[1]
    pink = np.fft.irfft(np.fft.rfft(white) / np.sqrt(freqs), n=white.size)
    pink /= np.sqrt(np.mean(np.square(pink)))
    scaled: Samples = (pink * 10 ** (dbfs / 20)).astype(np.float32)
    return scaled


def silence(seconds: float) -> Samples:
    return np.zeros(round(seconds * SAMPLE_RATE), np.float32)


def lead_in_clip(
    out_dir: Path,
    clip: Path = DATA / "jfk.flac",
    seconds: float = 27.0,
    noise_dbfs: float | None = -50.0,
    seed: int = 0,
) -> LeadInClip:
    """``clip`` behind ``seconds`` of pink noise at ``noise_dbfs`` (None: digital silence)."""
    lead = silence(seconds) if noise_dbfs is None else pink_noise(seconds, noise_dbfs, seed)
    samples = np.concatenate([lead, load(clip)])
    kind = "silence" if noise_dbfs is None else f"pink{noise_dbfs:g}dB"
    path = write_wav(out_dir / f"{clip.stem}-{kind}-{seconds:g}s.wav", [samples])
    return LeadInClip(path, samples, text_of(clip), seconds, clip)


def late_stereo(out_dir: Path, late_start: float = 27.0) -> LateStereo:
    """Channel 0: the LibriVox clips from 0 s, 0.5 s apart; channel 1: silence, then jfk."""
    clips = sorted((DATA / "librivox").glob("*.flac"))
    left: list[Samples] = []
    for clip in clips:
        left += [load(clip), silence(0.5)]
    right = np.concatenate([silence(late_start), load(DATA / "jfk.flac")])
    path = write_wav(out_dir / f"late-stereo-{late_start:g}s.wav", [np.concatenate(left), right])
    references = (" ".join(text_of(c) for c in clips), text_of(DATA / "jfk.flac"))
    return LateStereo(path, references, late_start)


def alternating_languages(
    out_dir: Path,
    order: tuple[str, ...] = ("es", "fr", "en", "es"),
    repeats: int = 2,
    gap_s: float = 0.5,
    seed: int = 0,
) -> AlternatingLanguages:
    """One run per entry of ``order``: that language's ``lang/`` prompts, ``repeats`` times
    each in a seeded order, ``gap_s`` of digital silence between prompts.

    With the four prompts per language and two repeats a run lasts 33-38 s; the default order
    ends in Spanish, like the file issue 10 saw labelled Latin.
    """
    rng = random.Random(seed)
    pieces: list[Samples] = []
    runs: list[Run] = []
    prompts: list[Run] = []
    clock = 0.0
    for language in order:
        files = sorted((DATA / "lang").glob(f"{language}_*.flac")) * repeats
        rng.shuffle(files)
        run_start = None
        for file in files:
            if pieces:
                pieces.append(silence(gap_s))
                clock += gap_s
            audio = load(file)
            start, clock = clock, clock + audio.size / SAMPLE_RATE
            run_start = start if run_start is None else run_start
            pieces.append(audio)
            prompts.append(Run(round(start, 3), round(clock, 3), language, text_of(file)))
        assert run_start is not None, f"no lang/{language}_*.flac prompts"
        runs.append(Run(round(run_start, 3), round(clock, 3), language))
    name = "-".join(order)
    path = write_wav(out_dir / f"alternating-{name}.wav", [np.concatenate(pieces)])
    return AlternatingLanguages(path, tuple(runs), tuple(prompts))
