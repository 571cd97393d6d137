"""The broad fidelity set of issue 10: many shapes of audio, each with its reference.

``python -m benchmarks.fidelity_set OUTDIR`` builds it into ``OUTDIR`` (default
``benchmarks/.work/fidelity``) and writes ``OUTDIR/manifest.json``. Nothing here is committed:
every file is made, deterministically (fixed seeds, ``sox -R -D``), from licensed sources:

* ``tests/data/jfk.flac`` (public domain, see ``tests/data/LICENSES.md``);
* Debian ``pocketsphinx-testdata``: five LibriVox clips with their transcription;
* Debian ``asterisk-core-sounds-{en,es,fr}-wav`` (audio) and ``asterisk-core-sounds-{en,es,fr}``
  (prompt texts), CC-BY-SA-3.0;
* ``espeak-ng`` (synthesised sentences written for this project, several voices, including
  the whisper-like ``+whisper`` and hoarse ``+croak`` variants);
* ``sox`` for resampling, the telephone band and tones; numpy for silence, pink noise, levels.

The set, one manifest item per file (``kind``):

* ``clip``: every clean speech clip alone (``variant`` "alone") and the same clip behind a
  lead-in of 5, 27, 60 s of digital silence, 27 s of pink noise at -50 and -40 dBFS, with its
  speech at -35 dBFS, in the 8 kHz telephone band, and in pink noise at -40 dBFS that starts
  2 s before the speech and goes on through it (``NOISY``: a noisy room, not a lead-in, so not
  under the invariant; a lever that changes how the audio before speech is heard must not cost
  words here), and behind 20 s of an instrumental Asterisk hold-music track 10 dB below its
  speech (``HOLD_LEAD``: a call put through after a wait; reported apart, as it is no lead-in
  the issue names). Every variant names its ``base`` (the clip
  alone), so a harness reports the WER *delta over the clip alone* (issue 10's invariant). The
  clip alone is also read 0.5 and 1 dB quieter (``quieter-*`` variants, ``SPREAD_DB``): a change
  nobody hears, whose readings are the clip's own spread, what any change of input costs it.
  And the clip said twice (``REPEATS``): itself again after a second's pause, and again with
  the second saying at -46 dBFS (a far talker after a near one, raised by its own level). Their
  reference is the clip's text twice, so their WER compares with the clip alone's.
* ``stereo``: two channels, the second silent (or faint pink noise) for its first 27 s.
* ``runs``: 40-55 s runs of short IVR prompts in alternating languages, ``runs`` holding the
  reference language per time span, ``prompts`` every prompt with its text.
* ``lid``: every Asterisk prompt of at least 3 s that has a spoken text, per language
  (the manifest's ``lid_counts``); these point at the package's own 8 kHz files.
* ``negative``: digital silence, pink noise, modem-like FSK, a dial tone, a sine sweep that the
  speech detector takes in part for speech, a phone line's call-progress tones (ringback,
  special information tone, DTMF digits, busy, fax calling and answer tones), a tune of pure
  tones, a tone with a syllable-paced tremolo and the first minute of two instrumental Asterisk
  hold-music tracks: 0 words expected.

Items marked ``"quick": true`` form the quick subset. Levels are RMS in dBFS (a full-scale sine
is -3 dBFS); a speech level is the RMS over the clip's active 20 ms frames (those within 40 dB of
its loudest frame), a simple stand-in for ITU-T P.56's active speech level.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import re
import shutil
import subprocess
import sys
import wave
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

RATE = 16_000
VERSION = 7  # bump when a recipe changes: a manifest of another version is rebuilt
REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = REPO_ROOT / "tests" / "data"
DEFAULT_OUT = REPO_ROOT / "benchmarks" / ".work" / "fidelity"

SOUNDS = Path("/usr/share/asterisk/sounds")
HOLD_MUSIC = Path("/usr/share/asterisk/moh")  # Debian asterisk-moh-opsound-wav, CC-BY-SA-3.0
HOLD_TRACKS = ("macroform-the_simplicity", "reno_project-system")  # instrumental
VOICES = {"en": "en_US_f_Allison", "es": "es_MX_f_Allison", "fr": "fr_CA_f_June"}
TEXTS = "/usr/share/doc/asterisk-core-sounds-{lang}/core-sounds-{lang}.txt.gz"
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")

LEAD_INS: tuple[tuple[str, str, float, float | None], ...] = (
    # (variant, kind, seconds, level dBFS of the lead-in noise)
    ("silence-5", "silence", 5.0, None),
    ("silence-27", "silence", 27.0, None),
    ("silence-60", "silence", 60.0, None),
    ("pink-50dB-27", "pink", 27.0, -50.0),
    ("pink-40dB-27", "pink", 27.0, -40.0),
)
QUIET_DBFS = -35.0
# The clip in noise from 2 s before it to 1 s after it: (variant, noise level dBFS, lead, tail).
NOISY = ("noisy-40dB", -40.0, 2.0, 1.0)
# The clip said twice, a pause between: (variant, level dBFS of the second saying or None for
# its own). Whisper read a sentence said twice as one segment, and a far talker after a near
# one was not raised.
REPEATS: tuple[tuple[str, float | None], ...] = (("twice", None), ("twice-46dB", -46.0))
REPEAT_PAUSE_S = 1.0
# Hold music before the clip, as on a call put through after a wait: (variant, track, seconds,
# level of the music against the clip's speech, dB). The detector hears speech in some music,
# decoded with the clip's; Whisper wrote the clip's sentence twice behind it (aural.echoes).
HOLD_LEAD = ("hold-music-20", "macroform-cold_day", 20.0, -10.0)
# Attenuations (dB) of the clip alone whose readings measure the clip's own spread.
SPREAD_DB = (0.5, 1.0)
SPREAD_PREFIX = "quieter-"
LATE_START_S = 27.0
LID_MIN_S = 3.0
RUN_S = (40.0, 55.0)
RUN_ORDERS = (("en", "es", "fr", "en"), ("es", "fr", "en", "es"), ("fr", "en", "es", "fr"))

# espeak-ng sentences, written for this project. (voice, language, text, quick)
ESPEAK: tuple[tuple[str, str, str, bool], ...] = (
    (
        "en-us",
        "en",
        "The library opens at nine in the morning and closes at six in the evening, "
        "except on Sundays, when it stays closed all day.",
        False,
    ),
    (
        "en+whisper",
        "en",
        "Please remember to water the plants on the balcony while I am away, "
        "and leave the spare key with the neighbour downstairs.",
        True,
    ),
    (
        "en+croak",
        "en",
        "The old fisherman mended his nets by the harbour wall, telling stories "
        "about the storm that sank three boats many years ago.",
        True,
    ),
    (
        "en-gb+f3",
        "en",
        "Our train was delayed by forty minutes, so we missed the first half of the concert "
        "and had to wait outside in the rain.",
        False,
    ),
    (
        "es",
        "es",
        "El mercado del barrio abre todos los días muy temprano, y los vecinos compran "
        "pan, fruta fresca y pescado antes de ir al trabajo.",
        False,
    ),
    (
        "fr",
        "fr",
        "Le petit village se trouve au bord de la rivière, et chaque été les enfants "
        "viennent s'y baigner pendant les vacances.",
        False,
    ),
    (
        "de",
        "de",
        "Am Wochenende fahren wir mit dem Fahrrad an den See, wo wir picknicken "
        "und am Nachmittag schwimmen gehen.",
        False,
    ),
    # More weak voices: a whispered or breathy onset is what the speech detector's state
    # decides on (issue 10), so one whispered sentence is too few to judge it by.
    (
        "en+whisperf",
        "en",
        "Have you seen my glasses? I put them on the kitchen table.",
        True,
    ),
    (
        "en-us+whisper",
        "en",
        "Honestly, I never thought the meeting would last that long.",
        False,
    ),
    (
        "en+klatt4",
        "en",
        "Five people called this morning asking about the new schedule.",
        False,
    ),
)

Samples = npt.NDArray[np.float32]


class MissingSourceError(RuntimeError):
    """A source package or tool is missing; the message says what to install."""


@dataclass
class Span:
    start: float
    end: float
    language: str
    text: str = ""


@dataclass
class Item:
    """One file of the set and what is in it (see the module docstring for ``kind``)."""

    id: str
    kind: str
    path: str  # relative to the manifest's directory, or absolute (package files)
    duration: float
    sample_rate: int = RATE
    channels: int = 1
    language: str | None = None  # the expected language (None: several, or no speech)
    reference: str = ""  # the spoken text (mono); "" for negatives
    channel_references: list[str] = field(default_factory=list)  # stereo: one per channel
    channel_paths: list[str] = field(default_factory=list)  # stereo: each channel as mono file
    late_alone_path: str = ""  # stereo: the late channel's speech without its late start
    late_alone_duration: float = 0.0
    clip: str = ""  # clip items: the clip's name
    variant: str = ""  # clip items: "alone", "silence-27", ...
    base: str = ""  # clip items: id of the clip alone
    speech_start: float = 0.0  # where the clip's speech begins (after the lead-in)
    spans: list[Span] = field(default_factory=list)  # runs: reference language per span
    prompts: list[Span] = field(default_factory=list)  # runs: every prompt, with its text
    source: str = ""
    quick: bool = False


# --- sources ---------------------------------------------------------------------------------


def _need(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        raise MissingSourceError(f"`{tool}` not found: apt-get install {package}")


def check_sources() -> None:
    """Fail with one clear message per missing source, before anything is built."""
    _need("sox", "sox")
    _need("espeak-ng", "espeak-ng")
    missing = []
    for lang, voice in VOICES.items():
        if not (SOUNDS / voice).is_dir():
            missing.append(f"asterisk-core-sounds-{lang}-wav")
        if not Path(TEXTS.format(lang=lang)).is_file():
            missing.append(f"asterisk-core-sounds-{lang}")
    if not (LIBRIVOX / "transcription").is_file():
        missing.append("pocketsphinx-testdata")
    if not all((HOLD_MUSIC / f"{t}.wav").is_file() for t in (*HOLD_TRACKS, HOLD_LEAD[1])):
        missing.append("asterisk-moh-opsound-wav")
    if missing:
        raise MissingSourceError(
            "the fidelity set needs Debian packages that are not installed: "
            f"apt-get install {' '.join(missing)}"
        )


def prompt_texts(lang: str) -> dict[str, str]:
    """Prompt name (``vm-intro``, ``digits/1``) -> spoken text, from the text package.

    Sound effects (``[beep]``, ``<tone>``) are left out; transcriber notes in parentheses are
    dropped from the reference.
    """
    texts: dict[str, str] = {}
    with gzip.open(TEXTS.format(lang=lang), "rt", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            name, sep, text = line.strip().partition(":")
            if not sep or name.startswith(";") or " " in name.strip():
                continue
            text = re.sub(r"\s*\([^)]*\)", "", text).strip().strip('"').strip()
            text = re.sub(r"\s+", " ", text)
            if text and not text.startswith(("[", "<")) and re.search(r"\w", text):
                texts.setdefault(name.strip(), text)
    return texts


def prompt_path(lang: str, name: str) -> Path:
    return SOUNDS / VOICES[lang] / f"{name}.wav"


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return float(w.getnframes() / w.getframerate())


def prompts_with_text(lang: str) -> list[tuple[str, str, float]]:
    """(name, text, seconds) of every prompt of ``lang`` with audio and a spoken text, sorted."""
    out = []
    for name, text in sorted(prompt_texts(lang).items()):
        path = prompt_path(lang, name)
        if path.is_file():
            out.append((name, text, round(wav_seconds(path), 4)))
    return out


def librivox_clips() -> list[tuple[str, str]]:
    """(clip id, text) of the LibriVox clips of pocketsphinx-testdata."""
    clips = []
    for line in (LIBRIVOX / "transcription").read_text(encoding="utf-8").splitlines():
        m = re.match(r"\s*(?:<s>)?\s*(.*?)\s*(?:</s>)?\s*\((\S+)\)\s*$", line)
        if m and (LIBRIVOX / f"{m.group(2)}.wav").is_file():
            clips.append((m.group(2), m.group(1)))
    return sorted(clips)


# --- audio -----------------------------------------------------------------------------------

SOX = ("sox", "-R", "-D")  # repeatable (fixed PRNG seed), no dither
RAW16 = ("-t", "raw", "-e", "signed", "-b", "16", "-L")
RAWF = ("-t", "raw", "-e", "floating-point", "-b", "32", "-L")
TELEPHONE = ("sinc", "300-3400", "rate", "-v", "8000")


def load(path: Path, effects: Sequence[str] = ()) -> Samples:
    """Any file sox reads -> mono float32 at 16 kHz (``effects`` run before resampling)."""
    raw = subprocess.run(
        [
            *SOX,
            str(path),
            *RAW16,
            "-c",
            "1",
            "-r",
            str(RATE),
            "-",
            *effects,
            "rate",
            "-v",
            str(RATE),
        ],
        check=True,
        capture_output=True,
    ).stdout
    return (np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0).astype(np.float32)


def write(path: Path, samples: Samples, rate: int = RATE) -> None:
    """16-bit PCM WAV; ``samples`` is (n,) mono or (n, channels)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = samples if samples.ndim == 2 else samples[:, None]
    pcm = (np.clip(frames, -1.0, 32767 / 32768) * 32768.0).round().astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(frames.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())


def rms_dbfs(x: Samples) -> float:
    """RMS level in dBFS (full-scale sine = -3 dBFS)."""
    return float(20 * np.log10(max(float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))), 1e-12)))


def speech_level(x: Samples) -> float:
    """RMS over the active 20 ms frames (within 40 dB of the loudest), in dBFS."""
    n = RATE // 50
    frames = x[: x.size // n * n].reshape(-1, n).astype(np.float64)
    energy = np.mean(np.square(frames), axis=1)
    active = energy[energy >= energy.max() * 1e-4]
    return float(10 * np.log10(max(float(active.mean()), 1e-24)))


def at_level(x: Samples, dbfs: float, level: float | None = None) -> Samples:
    gain = 10 ** ((dbfs - (speech_level(x) if level is None else level)) / 20)
    return (x * gain).astype(np.float32)


def pink_noise(seconds: float, dbfs: float, seed: int) -> Samples:
    """Pink (1/f power) noise at an RMS of ``dbfs``, deterministic for a seed."""
    white = np.random.default_rng(seed).standard_normal(round(seconds * RATE))
    freqs = np.fft.rfftfreq(white.size)
    freqs[0] = freqs[1]
    pink = np.fft.irfft(np.fft.rfft(white) / np.sqrt(freqs), n=white.size)
    pink /= np.sqrt(np.mean(np.square(pink)))
    return (pink * 10 ** (dbfs / 20)).astype(np.float32)


def silence(seconds: float) -> Samples:
    return np.zeros(round(seconds * RATE), np.float32)


def _scaled(x: npt.NDArray[np.float64], dbfs: float) -> Samples:
    out: Samples = (x / np.sqrt(np.mean(x**2)) * 10 ** (dbfs / 20)).astype(np.float32)
    return out


def fsk_modem(seconds: float, seed: int, dbfs: float = -12.0) -> Samples:
    """Bell-202-like FSK: random bits at 1200 baud, 1200 Hz mark / 2200 Hz space, phase kept."""
    rng = np.random.default_rng(seed)
    per_bit = RATE / 1200
    n = round(seconds * RATE)
    bits = rng.integers(0, 2, int(np.ceil(n / per_bit)) + 1)
    freq = np.where(bits[(np.arange(n) / per_bit).astype(int)] == 1, 1200.0, 2200.0)
    phase = 2 * np.pi * np.cumsum(freq) / RATE
    tone = np.sin(phase)
    return _scaled(tone, dbfs)


def sine_sweep(seconds: float, low_hz: float, high_hz: float, dbfs: float) -> Samples:
    """A linear sweep from ``low_hz`` to ``high_hz``: the speech detector takes about a second of
    it for speech, so it checks that Whisper's silence rule still gets its say there."""
    t = np.arange(round(seconds * RATE)) / RATE
    sweep = np.sin(2 * np.pi * (low_hz * t + (high_hz - low_hz) / (2 * seconds) * t**2))
    return _scaled(sweep, dbfs)


def dial_tone(seconds: float, dbfs: float = -12.0) -> Samples:
    """North-American dial tone: 350 Hz + 440 Hz, continuous."""
    t = np.arange(round(seconds * RATE)) / RATE
    tone = np.sin(2 * np.pi * 350 * t) + np.sin(2 * np.pi * 440 * t)
    return _scaled(tone, dbfs)


def _tones(hz: Sequence[float], seconds: float) -> npt.NDArray[np.float64]:
    """Sines of the frequencies ``hz`` together, peaking at 1 at most."""
    t = np.arange(round(seconds * RATE)) / RATE
    out: npt.NDArray[np.float64] = np.mean([np.sin(2 * np.pi * f * t) for f in hz], axis=0)
    return out


def _gap(seconds: float) -> npt.NDArray[np.float64]:
    return np.zeros(round(seconds * RATE))


_DTMF = {"1": (697, 1209), "4": (770, 1209), "5": (770, 1336), "7": (852, 1209), "9": (852, 1477)}


def call_tones(dbfs: float = -16.0) -> Samples:
    """What a phone line plays that nobody says, one after the other (about 32 s): ringback
    (440 + 480 Hz, 2 s on, 4 s off, twice), a special information tone (913.8, 1370.6 and
    1776.7 Hz), keypad DTMF digits (100 ms each), busy (480 + 620 Hz, 0.5 s on and off, four
    times), a fax machine's calling tone (1100 Hz, 0.5 s on, 3 s off, twice) and its answer
    tone (2100 Hz, 3 s). Each tone is at ``dbfs`` and the gaps are digital silence."""
    parts: list[npt.NDArray[np.float64]] = []
    for _ in range(2):
        parts += [_tones((440, 480), 2.0), _gap(4.0)]
    parts += [_tones((913.8,), 0.274), _tones((1370.6,), 0.274), _tones((1776.7,), 0.38)]
    parts.append(_gap(1.0))
    for digit in "4155597":
        parts += [_tones(_DTMF[digit], 0.1), _gap(0.08)]
    parts.append(_gap(1.0))
    for _ in range(4):
        parts += [_tones((480, 620), 0.5), _gap(0.5)]
    for _ in range(2):
        parts += [_tones((1100,), 0.5), _gap(3.0)]
    parts += [_tones((2100,), 3.0), _gap(0.5)]
    return (np.concatenate(parts) * 10 ** (dbfs / 20) * np.sqrt(2)).astype(np.float32)


def sine_melody(seconds: float, dbfs: float = -20.0) -> Samples:
    """A tune of pure tones (a C-major scale up and down, 0.3 s a note), as hold music built
    from a synthesiser's sine voice."""
    notes = [262, 294, 330, 349, 392, 440, 494, 523, 494, 440, 392, 349, 330, 294]
    count = round(seconds / 0.3)
    tune = np.concatenate([_tones((notes[i % len(notes)],), 0.3) for i in range(count)])
    return _scaled(tune, dbfs)


def tremolo_tone(seconds: float, hz: float, dbfs: float = -20.0) -> Samples:
    """A sine whose level swings 90 % deep six times a second, at a syllable's pace: the
    detector takes it for speech, and before :mod:`aural.tones` Whisper wrote "music" over this
    one at 440 Hz ("Music" at 300 Hz)."""
    t = np.arange(round(seconds * RATE)) / RATE
    swing = 1.0 - 0.9 * (0.5 + 0.5 * np.sin(2 * np.pi * 6.0 * t))
    return _scaled(swing * np.sin(2 * np.pi * hz * t), dbfs)


# --- the set ---------------------------------------------------------------------------------


@dataclass
class Clip:
    name: str
    language: str
    text: str
    samples: Samples
    source: str
    quick: bool


class Builder:
    def __init__(self, out: Path, seed: int) -> None:
        self.out = out
        self.seed = seed
        self.items: list[Item] = []
        self.lid_counts: dict[str, int] = {}

    def add(self, item: Item, samples: Samples | None, rate: int = RATE) -> None:
        if samples is not None:
            write(self.out / item.path, samples, rate)
        self.items.append(item)

    # clean clips and their variants

    def clips(self) -> list[Clip]:
        rng = random.Random(self.seed)
        clips = [
            Clip(
                "jfk",
                "en",
                (TEST_DATA / "jfk.txt").read_text(encoding="utf-8").strip(),
                load(TEST_DATA / "jfk.flac"),
                "tests/data/jfk.flac",
                True,
            )
        ]
        for clip_id, text in librivox_clips():
            clips.append(
                Clip(
                    f"librivox-{clip_id.rsplit('-', 1)[-1]}",
                    "en",
                    text,
                    load(LIBRIVOX / f"{clip_id}.wav"),
                    f"pocketsphinx-testdata librivox/{clip_id}.wav",
                    False,
                )
            )
        for lang in VOICES:
            # "long-ish" prompts: 10-25 s of one speaker; two per language, seeded
            pool = [p for p in prompts_with_text(lang) if 10.0 <= p[2] <= 25.0 and "/" not in p[0]]
            for i, (name, text, _) in enumerate(sorted(rng.sample(pool, 2))):
                clips.append(
                    Clip(
                        f"asterisk-{lang}-{name}",
                        lang,
                        text,
                        load(prompt_path(lang, name)),
                        f"asterisk-core-sounds-{lang}-wav {VOICES[lang]}/{name}.wav",
                        i == 0 and lang == "es",  # the language issue 10 saw go wrong
                    )
                )
        tmp = self.out / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        for voice, lang, text, quick in ESPEAK:
            wav = tmp / f"espeak-{voice}.wav"
            subprocess.run(
                ["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text], check=True
            )
            clips.append(
                Clip(
                    f"espeak-{voice.replace('+', '-')}",
                    lang,
                    text,
                    load(wav),
                    f"espeak-ng -v {voice} -s 150",
                    quick,
                )
            )
        shutil.rmtree(tmp)
        return clips

    def clip_variants(self, clip: Clip, index: int) -> None:
        base = f"clip/{clip.name}/alone"
        alone = clip.samples
        common = {
            "kind": "clip",
            "language": clip.language,
            "reference": clip.text,
            "clip": clip.name,
            "base": base,
            "source": clip.source,
            "quick": clip.quick,
        }
        variants: list[tuple[str, Samples, float, int]] = [("alone", alone, 0.0, RATE)]
        for attenuation in SPREAD_DB:
            quieter = alone * np.float32(10.0 ** (-attenuation / 20.0))
            variants.append((f"{SPREAD_PREFIX}{attenuation:g}dB", quieter, 0.0, RATE))
        for variant, kind, seconds, dbfs in LEAD_INS:
            if kind == "silence":
                lead = silence(seconds)
            else:
                assert dbfs is not None
                lead = pink_noise(seconds, dbfs, seed=self.seed * 1000 + index)
            variants.append((variant, np.concatenate([lead, alone]), seconds, RATE))
        variants.append((f"level{int(QUIET_DBFS)}dB", at_level(alone, QUIET_DBFS), 0.0, RATE))
        variants.append(("telephone-8k", telephone(alone), 0.0, 8000))
        name, dbfs, lead_s, tail_s = NOISY
        noisy = pink_noise(lead_s + alone.size / RATE + tail_s, dbfs, seed=self.seed * 1000 + index)
        noisy[round(lead_s * RATE) : round(lead_s * RATE) + alone.size] += alone
        variants.append((name, noisy, lead_s, RATE))
        name, track, seconds, below = HOLD_LEAD
        music = load(HOLD_MUSIC / f"{track}.wav", ["trim", "0", f"{seconds:g}"])
        music = at_level(music, speech_level(alone) + below)
        variants.append((name, np.concatenate([music, alone]), seconds, RATE))
        for variant, samples, lead_s, rate in variants:
            self._clip_item(clip, variant, samples, lead_s, rate, common)
        for variant, dbfs in REPEATS:
            again = alone if dbfs is None else at_level(alone, dbfs)
            samples = np.concatenate([alone, silence(REPEAT_PAUSE_S), again])
            twice = {**common, "reference": f"{clip.text} {clip.text}"}
            self._clip_item(clip, variant, samples, 0.0, RATE, twice)

    def _clip_item(
        self,
        clip: Clip,
        variant: str,
        samples: Samples,
        lead_s: float,
        rate: int,
        common: dict[str, Any],
    ) -> None:
        self.add(
            Item(
                id=f"clip/{clip.name}/{variant}",
                path=f"clip/{clip.name}/{variant}.wav",
                duration=round(samples.size / rate, 4),
                sample_rate=rate,
                variant=variant,
                speech_start=lead_s,
                **common,
            ),
            samples,
            rate,
        )

    # stereo with a late-starting channel

    def stereo(self, clips: list[Clip]) -> None:
        by_name = {c.name: c for c in clips}
        first = [c for c in clips if c.name.startswith("asterisk-en-")]
        left_parts: list[Samples] = []
        left_text: list[str] = []
        for c in first + [c for c in clips if c.name.startswith("librivox-")]:
            if sum(p.size for p in left_parts) / RATE >= LATE_START_S + 15:
                break
            left_parts += [c.samples, silence(0.6)]
            left_text.append(c.text)
        left = np.concatenate(left_parts)
        late = [by_name["jfk"], by_name["espeak-en-croak"]]
        right_speech = np.concatenate([late[0].samples, silence(0.6), late[1].samples])
        right_text = f"{late[0].text} {late[1].text}"
        late_alone = "stereo/late-speech-alone.wav"
        write(self.out / late_alone, right_speech)
        for variant, lead, quick in (
            ("silence", silence(LATE_START_S), True),
            ("pink-50dB", pink_noise(LATE_START_S, -50.0, seed=self.seed * 1000 + 999), False),
        ):
            right = np.concatenate([lead, right_speech])
            n = max(left.size, right.size)
            both = np.zeros((n, 2), np.float32)
            both[: left.size, 0] = left
            both[: right.size, 1] = right
            channel_paths = []
            for channel in range(2):
                channel_paths.append(f"stereo/late-{variant}.ch{channel}.wav")
                write(self.out / channel_paths[-1], both[:, channel])
            self.add(
                Item(
                    id=f"stereo/late-{variant}",
                    kind="stereo",
                    path=f"stereo/late-{variant}.wav",
                    duration=round(n / RATE, 4),
                    channels=2,
                    language="en",
                    channel_references=[" ".join(left_text), right_text],
                    channel_paths=channel_paths,
                    late_alone_path=late_alone,
                    late_alone_duration=round(right_speech.size / RATE, 4),
                    speech_start=LATE_START_S,
                    source="channel 0: asterisk-en and LibriVox clips; channel 1 after "
                    f"{LATE_START_S:g} s of {variant}: jfk, espeak-ng en+croak",
                    quick=quick,
                ),
                both,
            )

    # alternating-language runs of IVR prompts

    def alternating(self, lids: dict[str, list[tuple[str, str, float]]]) -> None:
        rng = random.Random(self.seed + 1)
        pools = {
            lang: [p for p in prompts if 2.5 <= p[2] <= 12.0 and "/" not in p[0]]
            for lang, prompts in lids.items()
        }
        for f, order in enumerate(RUN_ORDERS):
            used: set[tuple[str, str]] = set()
            pieces: list[Samples] = []
            spans: list[Span] = []
            prompts: list[Span] = []
            clock = 0.0
            for lang in order:
                target = rng.uniform(RUN_S[0] + 2, RUN_S[1] - 5)
                candidates = [p for p in pools[lang] if (lang, p[0]) not in used]
                rng.shuffle(candidates)
                run_start: float | None = None
                for name, text, _ in candidates:
                    audio = load(prompt_path(lang, name))
                    gap = silence(rng.uniform(0.3, 0.9)) if pieces else silence(0.0)
                    start = clock + gap.size / RATE
                    length = audio.size / RATE
                    if run_start is not None and start + length - run_start > RUN_S[1]:
                        continue
                    run_start = start if run_start is None else run_start
                    pieces += [gap, audio]
                    prompts.append(Span(round(start, 4), round(start + length, 4), lang, text))
                    used.add((lang, name))
                    clock = start + length
                    if clock - run_start >= target:
                        break
                if run_start is None or clock - run_start < RUN_S[0]:
                    raise RuntimeError(f"not enough {lang} prompts for a {RUN_S[0]:g} s run")
                spans.append(Span(round(run_start, 4), round(clock, 4), lang))
            name = "-".join(order)
            samples = np.concatenate(pieces)
            self.add(
                Item(
                    id=f"runs/{name}",
                    kind="runs",
                    path=f"runs/{name}.wav",
                    duration=round(samples.size / RATE, 4),
                    reference=" ".join(p.text for p in prompts),
                    spans=spans,
                    prompts=prompts,
                    source="asterisk-core-sounds-{en,es,fr}-wav prompts, 0.3-0.9 s apart",
                    quick=f == 1,  # es/fr/en/es: the failing shape (last run Spanish)
                ),
                samples,
            )

    # language ID: every prompt of at least 3 s

    def lid(self, lids: dict[str, list[tuple[str, str, float]]]) -> None:
        rng = random.Random(self.seed + 2)
        for lang, prompts in lids.items():
            chosen = [p for p in prompts if p[2] >= LID_MIN_S]
            self.lid_counts[lang] = len(chosen)
            quick = set(rng.sample(range(len(chosen)), min(8, len(chosen))))
            for i, (name, text, seconds) in enumerate(chosen):
                self.add(
                    Item(
                        id=f"lid/{lang}/{name}",
                        kind="lid",
                        path=str(prompt_path(lang, name)),
                        duration=seconds,
                        sample_rate=8000,
                        language=lang,
                        reference=text,
                        source=f"asterisk-core-sounds-{lang}-wav {VOICES[lang]}/{name}.wav",
                        quick=i in quick,
                    ),
                    None,
                )

    # negatives: nothing is said

    def negatives(self) -> None:
        for name, samples in (
            ("silence-60", silence(60.0)),
            ("pink-50dB-60", pink_noise(60.0, -50.0, seed=self.seed * 1000 + 501)),
            ("pink-40dB-60", pink_noise(60.0, -40.0, seed=self.seed * 1000 + 401)),
            ("modem-fsk-30", fsk_modem(30.0, seed=self.seed)),
            ("dial-tone-30", dial_tone(30.0)),
            ("sweep-8", sine_sweep(8.0, 200.0, 3000.0, -23.0)),
            ("call-tones-32", call_tones()),
            ("melody-12", sine_melody(12.0)),
            ("tremolo-10", tremolo_tone(10.0, 440.0)),
            *(
                (f"hold-music-{track}-60", load(HOLD_MUSIC / f"{track}.wav", ["trim", "0", "60"]))
                for track in HOLD_TRACKS
            ),
        ):
            self.add(
                Item(
                    id=f"negative/{name}",
                    kind="negative",
                    path=f"negative/{name}.wav",
                    duration=round(samples.size / RATE, 4),
                    source="numpy: silence, noise, FSK and tones; sox: Asterisk music on hold",
                    quick=True,
                ),
                samples,
            )


def telephone(x: Samples) -> Samples:
    """The 300-3400 Hz telephone band at 8 kHz (sox ``sinc 300-3400``, ``rate 8000``)."""
    raw = subprocess.run(
        [*SOX, *RAWF, "-c", "1", "-r", str(RATE), "-", *RAWF, "-r", "8000", "-", *TELEPHONE],
        input=np.asarray(x, "<f4").tobytes(),
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, "<f4").astype(np.float32)


def recipe(seed: int) -> dict[str, Any]:
    """What a manifest was built from; a different one triggers a rebuild."""
    text = Path(__file__).read_bytes()
    return {"version": VERSION, "seed": seed, "builder_sha256": hashlib.sha256(text).hexdigest()}


def build(out: Path = DEFAULT_OUT, seed: int = 0, force: bool = False) -> dict[str, Any]:
    """Build the set into ``out`` (or reuse it when its recipe is unchanged); the manifest."""
    manifest_path = out / "manifest.json"
    if manifest_path.is_file() and not force:
        manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("recipe") == recipe(seed):
            return manifest
    check_sources()
    if out.exists():
        for sub in ("clip", "stereo", "runs", "negative", "tmp"):
            shutil.rmtree(out / sub, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    builder = Builder(out, seed)
    clips = builder.clips()
    for i, clip in enumerate(clips):
        builder.clip_variants(clip, i)
    builder.stereo(clips)
    lids = {lang: prompts_with_text(lang) for lang in VOICES}
    builder.alternating(lids)
    builder.lid(lids)
    builder.negatives()
    manifest = {
        "recipe": recipe(seed),
        "sample_rate": RATE,
        "lead_ins": [v for v, *_ in LEAD_INS],
        "variants": [
            "alone",
            *(f"{SPREAD_PREFIX}{a:g}dB" for a in SPREAD_DB),
            *(v for v, *_ in LEAD_INS),
            f"level{int(QUIET_DBFS)}dB",
            "telephone-8k",
            NOISY[0],
            HOLD_LEAD[0],
            *(v for v, _ in REPEATS),
        ],
        "lid_counts": builder.lid_counts,
        "comment": "paths are relative to this file unless absolute; times in seconds; levels RMS "
        "dBFS; clip variants compare with their `base` (the clip alone)",
        "items": [asdict(i) for i in builder.items],
    }
    manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    return manifest


def resolve(manifest_dir: Path, item: dict[str, Any]) -> Path:
    """An item's file on disk."""
    path = Path(item["path"])
    return path if path.is_absolute() else manifest_dir / path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fidelity_set", description=__doc__.split("\n")[0]
    )
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--force", action="store_true", help="rebuild even if the recipe is unchanged"
    )
    args = parser.parse_args(argv)
    try:
        manifest = build(args.out, args.seed, args.force)
    except MissingSourceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    items = manifest["items"]
    kinds: dict[str, int] = {}
    for item in items:
        kinds[item["kind"]] = kinds.get(item["kind"], 0) + 1
    quick = sum(1 for i in items if i["quick"])
    print(
        f"{args.out / 'manifest.json'}: {len(items)} items {kinds}, quick subset {quick}; "
        f"LID prompts >= {LID_MIN_S:g} s per language {manifest['lid_counts']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
