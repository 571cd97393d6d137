"""Long channels mapped a section at a time (:mod:`aural.sections`): the cuts land in pauses,
each section's quiet speech is raised by its own level, and a long file keeps every word."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from conftest import deleted_words, wer
from fidelity_shapes import load, silence, text_of, write_wav

import aural
from aural import sections
from aural.audio import SAMPLE_RATE, decode_audio
from aural.model_pool import ModelPool
from aural.sections import CUT_SEARCH_S, SECTION_S, section_bounds
from aural.types import Segment

DATA = Path(__file__).parent / "data"


def _bursts_with_pauses(seconds: float, burst_s: float, pause_s: float) -> np.ndarray:
    """Noise bursts (loud) with digital silence between them."""
    rng = np.random.default_rng(3)
    period = int((burst_s + pause_s) * SAMPLE_RATE)
    samples = (0.1 * rng.standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32)
    for start in range(int(burst_s * SAMPLE_RATE), samples.size, period):
        samples[start : start + int(pause_s * SAMPLE_RATE)] = 0.0
    return samples


def test_sections_cover_the_channel_and_are_cut_in_its_pauses() -> None:
    burst_s, pause_s = 6.3, 1.0
    samples = _bursts_with_pauses(1000.0, burst_s, pause_s)
    bounds = list(section_bounds(samples))
    assert bounds[0][0] == 0 and bounds[-1][1] == samples.size
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    for start, end in bounds[:-1]:
        assert SECTION_S - CUT_SEARCH_S <= (end - start) / SAMPLE_RATE <= SECTION_S
        assert not samples[end - 2000 : end + 2000].any(), f"cut at {end / SAMPLE_RATE} s"
    assert (bounds[-1][1] - bounds[-1][0]) / SAMPLE_RATE <= 1.5 * SECTION_S


def test_a_channel_up_to_one_and_a_half_sections_is_one_section() -> None:
    samples = np.zeros(int(1.5 * SECTION_S * SAMPLE_RATE), dtype=np.float32)
    assert list(section_bounds(samples)) == [(0, samples.size)]


def test_a_long_file_keeps_its_quiet_half_across_its_sections(
    pool: ModelPool, tmp_path: Path
) -> None:
    """Ten times a German sentence with 30 s pauses (about 350 s: two sections), the last five
    32 dB quieter (about -52 dBFS): each section's speech is raised by its own level, so the quiet
    half keeps its words as well as the loud half does. Mapped whole, the loud half set the
    channel's level, the quiet half was not raised and lost words (WER 30 % against 26 %).
    The segments stream in the transcript's order, with progress that never steps back."""
    clip = DATA / "synthetic" / "de_weekend.flac"
    sentence = load(clip)
    quiet = sentence * np.float32(10 ** (-32 / 20))
    copies = (sentence,) * 5 + (quiet,) * 5
    media = write_wav(
        tmp_path / "x10.wav", [np.concatenate([p for c in copies for p in (c, silence(30.0))])]
    )
    streamed: list[Segment] = []
    progress: list[tuple[float, float]] = []
    transcript = aural.transcribe(
        media,
        pool=pool,
        language="de",
        word_timestamps=True,
        on_segment=streamed.append,
        on_progress=lambda done, total: progress.append((done, total)),
    )
    assert len(list(section_bounds(decode_audio(media).samples[0]))) == 2
    half = 5 * (sentence.size / SAMPLE_RATE + 30.0)
    words = [w for s in transcript.segments for w in s.words]
    reference = " ".join([text_of(clip)] * 5)
    loud = wer(reference, " ".join(w.text for w in words if w.start < half - 15.0))
    assert wer(reference, " ".join(w.text for w in words if w.start >= half - 15.0)) <= loud + 0.01
    assert [s.text for s in streamed] == [s.text for s in transcript.segments]
    done = [d for d, _ in progress]
    assert done == sorted(done) and progress[-1][0] == progress[-1][1]


def test_cuts_anywhere_in_running_speech_lose_no_words(
    pool: ModelPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worst case for a cut: running speech with no pause to cut in. Sections of 12 s cut
    within 0.6 s of their nominal end (so inside words, not in pauses) over 50 s of LibriVox
    read back to back lose no word against the same audio mapped whole, and the language still
    waits for a window of speech."""
    clips = sorted((DATA / "librivox").glob("*.flac")) * 2
    media = write_wav(tmp_path / "running.wav", [np.concatenate([load(c) for c in clips])])
    reference = " ".join(text_of(c) for c in clips)
    monkeypatch.setattr(sections, "SECTIONED_AFTER_S", 1e9)
    whole = aural.transcribe(media, pool=pool)
    monkeypatch.setattr(sections, "SECTION_S", 12.0)
    monkeypatch.setattr(sections, "SECTIONED_AFTER_S", 18.0)
    monkeypatch.setattr(sections, "CUT_SEARCH_S", 0.6)
    assert len(list(section_bounds(load(media)))) >= 3
    cut = aural.transcribe(media, pool=pool)
    assert cut.language == whole.language == "en"
    assert deleted_words(reference, cut.text) <= deleted_words(reference, whole.text), cut.text
    assert wer(reference, cut.text) <= wer(reference, whole.text) + 0.02, cut.text
