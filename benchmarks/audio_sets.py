"""The inputs of a benchmark run: fixture files, a built long file, silence and noise.

Every system gets the *same file on disk* and decodes it itself, so decoding is part of every
measured time. Built inputs are 16 kHz mono 16-bit WAV files cached under the work directory
(``benchmarks/.work/`` by default) with a JSON sidecar holding their reference and the recipe
that made them; a changed recipe rebuilds them.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import wave
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000
REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = REPO_ROOT / "tests" / "data"

ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds/en")
ASTERISK_TEXTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
ASTERISK_HINT = (
    "the long file is built from Debian's English Asterisk prompts; install them with "
    "`apt-get install asterisk-core-sounds-en-wav` (the texts come with asterisk-core-sounds-en)"
)

# Bump when the way built files are made changes, so cached copies are rebuilt.
RECIPE_VERSION = 1

Samples = npt.NDArray[np.float32]


class MissingInputError(RuntimeError):
    """An input cannot be built on this machine; the message says what to install."""


@dataclass(frozen=True)
class Utterance:
    """One recorded sentence and what is said in it."""

    path: str
    text: str


@dataclass(frozen=True)
class Placed:
    """Where an utterance sits in a built file (seconds)."""

    start: float
    end: float
    text: str
    language: str = "en"


@dataclass(frozen=True)
class BuiltAudio:
    """A built input file and its reference."""

    path: str
    duration: float
    speech_s: float
    reference: str
    placed: tuple[Placed, ...]


# --- reading and writing -------------------------------------------------------------------


def read_audio(path: str | Path) -> Samples:
    """Mono float32 at 16 kHz through faster-whisper's PyAV decoder (resamples, downmixes)."""
    from faster_whisper.audio import decode_audio

    return np.asarray(decode_audio(str(path), sampling_rate=SAMPLE_RATE), dtype=np.float32)


def write_wav(path: Path, samples: Samples) -> None:
    """16-bit PCM WAV at 16 kHz, written beside and renamed, so a cache never holds half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2")
    staging = path.with_suffix(".partial")
    with wave.open(str(staging), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    staging.replace(path)


def _cached(wav: Path, recipe: dict[str, Any]) -> BuiltAudio | None:
    sidecar = wav.with_suffix(".json")
    if not (wav.is_file() and sidecar.is_file()):
        return None
    data = json.loads(sidecar.read_text(encoding="utf-8"))
    if data.get("recipe") != recipe:
        return None
    return BuiltAudio(
        path=str(wav),
        duration=data["duration"],
        speech_s=data["speech_s"],
        reference=data["reference"],
        placed=tuple(Placed(**p) for p in data["placed"]),
    )


def _store(wav: Path, samples: Samples, recipe: dict[str, Any], placed: list[Placed]) -> BuiltAudio:
    write_wav(wav, samples)
    built = BuiltAudio(
        path=str(wav),
        duration=round(samples.size / SAMPLE_RATE, 4),
        speech_s=round(sum(p.end - p.start for p in placed), 4),
        reference=" ".join(p.text for p in placed),
        placed=tuple(placed),
    )
    sidecar = {**asdict(built), "recipe": recipe}
    del sidecar["path"]
    wav.with_suffix(".json").write_text(json.dumps(sidecar, indent=1), encoding="utf-8")
    return built


# --- sources -------------------------------------------------------------------------------


def asterisk_prompts() -> list[Utterance]:
    """Every top-level English Asterisk prompt with a spoken text.

    Sound effects ("[beep]", "<beep ascending>") are left out, and the transcriber's notes in
    parentheses ("(simple tone sound plays)") are dropped from the reference.
    """
    if not ASTERISK_SOUNDS.is_dir() or not ASTERISK_TEXTS.is_file():
        raise MissingInputError(ASTERISK_HINT)
    texts: dict[str, str] = {}
    with gzip.open(ASTERISK_TEXTS, "rt", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            name, sep, text = line.strip().partition(":")
            if sep and not name.startswith(";") and "/" not in name:
                texts[name.strip()] = re.sub(r"\s*\([^)]*\)", "", text).strip()
    prompts = [
        Utterance(str(ASTERISK_SOUNDS / f"{name}.wav"), text)
        for name, text in sorted(texts.items())
        if text and not text.startswith(("[", "<")) and (ASTERISK_SOUNDS / f"{name}.wav").is_file()
    ]
    if not prompts:
        raise MissingInputError(ASTERISK_HINT)
    return prompts


def fixture_utterances() -> list[Utterance]:
    """The English fixtures with reference texts: JFK and the LibriVox clips."""
    paths = [TEST_DATA / "jfk.flac", *sorted((TEST_DATA / "librivox").glob("*.flac"))]
    return [
        Utterance(str(p), p.with_suffix(".txt").read_text(encoding="utf-8").strip()) for p in paths
    ]


# --- built inputs --------------------------------------------------------------------------


def build_speech_file(
    out: Path,
    utterances: Sequence[Utterance],
    min_speech_s: float,
    seed: int,
    pause_s: tuple[float, float] = (0.3, 1.5),
) -> BuiltAudio:
    """Utterances in a seeded random order, separated by random pauses of digital silence.

    Pauses between sentences are what VAD-gated decoding can skip and what makes a file
    "natural" rather than wall-to-wall speech; the seed makes the file, and so every result,
    reproducible. Stops once ``min_speech_s`` of utterances are placed; cycles through the pool
    again (re-shuffled) only if it is smaller than that.
    """
    recipe = {
        "version": RECIPE_VERSION,
        "sources": [u.path for u in utterances],
        "min_speech_s": min_speech_s,
        "seed": seed,
        "pause_s": list(pause_s),
    }
    cached = _cached(out, recipe)
    if cached:
        return cached
    rng = random.Random(seed)
    pieces: list[Samples] = []
    placed: list[Placed] = []
    clock = 0.0
    speech = 0.0
    while speech < min_speech_s:
        order = list(utterances)
        rng.shuffle(order)
        for utterance in order:
            if speech >= min_speech_s:
                break
            samples = read_audio(utterance.path)
            pause = np.zeros(round(rng.uniform(*pause_s) * SAMPLE_RATE), np.float32)
            length = samples.size / SAMPLE_RATE
            placed.append(Placed(round(clock, 4), round(clock + length, 4), utterance.text))
            pieces += [samples, pause]
            clock += length + pause.size / SAMPLE_RATE
            speech += length
    return _store(out, np.concatenate(pieces), recipe, placed)


def prefix_of(built: BuiltAudio, out: Path, min_duration_s: float) -> BuiltAudio:
    """The start of ``built`` up to the first pause after ``min_duration_s``: the same audio
    (so its numbers compare with the long file's) with a whole-sentence reference."""
    recipe = {"version": RECIPE_VERSION, "source": built.path, "min_duration_s": min_duration_s}
    cached = _cached(out, recipe)
    if cached:
        return cached
    placed: list[Placed] = []
    for item in built.placed:
        placed.append(item)
        if item.end >= min_duration_s:
            break
    following = [p.start for p in built.placed if p.start > placed[-1].end]
    cut = following[0] if following else built.duration
    samples = read_audio(built.path)[: round(cut * SAMPLE_RATE)]
    return _store(out, samples, recipe, placed)


def crop(source: Path, out: Path, start: float, end: float, spans: Sequence[Placed]) -> BuiltAudio:
    """``source`` between ``start`` and ``end``, with its reference spans clipped and shifted."""
    recipe = {"version": RECIPE_VERSION, "source": str(source), "start": start, "end": end}
    placed = [
        Placed(
            round(max(p.start, start) - start, 4),
            round(min(p.end, end) - start, 4),
            p.text,
            p.language,
        )
        for p in spans
        if p.end > start and p.start < end
    ]
    cached = _cached(out, recipe)
    if cached:
        return cached
    samples = read_audio(source)[round(start * SAMPLE_RATE) : round(end * SAMPLE_RATE)]
    return _store(out, samples, recipe, placed)


def pink_noise(seconds: float, seed: int = 0) -> Samples:
    """Pink (1/f) noise at half full scale, deterministic for a seed (as in the test suite)."""
    white = np.random.default_rng(seed).standard_normal(int(seconds * SAMPLE_RATE))
    freqs = np.fft.rfftfreq(white.size)
    freqs[0] = freqs[1]
    pink = np.fft.irfft(np.fft.rfft(white) / np.sqrt(freqs), n=white.size)
    scaled: Samples = (pink / np.abs(pink).max() * 0.5).astype(np.float32)
    return scaled


def no_speech_file(out: Path, kind: str, seconds: float, seed: int = 0) -> BuiltAudio:
    """``kind`` "silence" (digital zeros) or "noise" (pink noise): nothing should be heard."""
    recipe = {"version": RECIPE_VERSION, "kind": kind, "seconds": seconds, "seed": seed}
    cached = _cached(out, recipe)
    if cached:
        return cached
    if kind == "silence":
        samples = np.zeros(int(seconds * SAMPLE_RATE), np.float32)
    elif kind == "noise":
        samples = pink_noise(seconds, seed)
    else:
        raise ValueError(f"unknown no-speech kind {kind!r}")
    return _store(out, samples, recipe, [])


def switching_spans(path: Path = TEST_DATA / "switching_es_en_fr.json") -> list[Placed]:
    """The reference prompts (speech time and language) of the language-switching fixture."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [Placed(p["start"], p["end"], p["text"], p["language"]) for p in data["prompts"]]


def fixture_text(path: Path) -> str:
    """The reference text stored beside a fixture."""
    return path.with_suffix(".txt").read_text(encoding="utf-8").strip()


def duration_of(path: Path) -> float:
    """Seconds of audio in a media file (decoded, so it holds for any container)."""
    return round(read_audio(path).size / SAMPLE_RATE, 4)
