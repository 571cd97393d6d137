"""Quiet speech raised to the nominal level (aural.loudness): the rule and the sample views."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from fidelity_shapes import DATA, load, pink_noise, silence

from aural.audio import SAMPLE_RATE
from aural.loudness import (
    LEVEL_STEP_DB,
    MAX_GAIN_DB,
    MIN_STEP_REGION_S,
    NOMINAL_DBFS,
    GainTrack,
    LevelStep,
    active_level,
    gain_db,
    raised,
    stretch_levels,
)
from aural.speech import FRAME, SpeechRegion, map_speech, without_padding
from aural.spool import BehindSilence


def test_speech_at_or_above_the_nominal_level_is_left_alone() -> None:
    assert gain_db(None) == 0.0
    assert gain_db(NOMINAL_DBFS) == 0.0
    assert gain_db(-12.0) == 0.0  # never turned down


def test_quiet_speech_comes_up_to_the_nominal_level_continuously() -> None:
    assert gain_db(-35.0) == pytest.approx(NOMINAL_DBFS + 35.0)
    assert gain_db(NOMINAL_DBFS - 0.5) == pytest.approx(0.5)  # no jump below the nominal level


def test_the_gain_is_capped() -> None:
    assert gain_db(-80.0) == MAX_GAIN_DB


def test_active_level_ignores_the_pauses_inside_the_speech() -> None:
    speech = np.full(10, -20.0, dtype=np.float32)
    with_pauses = np.concatenate([speech, np.full(10, -90.0, dtype=np.float32)])
    assert active_level(with_pauses, [(0, 20)]) == pytest.approx(-20.0, abs=1e-6)


def test_active_level_reads_only_the_spans() -> None:
    levels = np.array([-10.0, -10.0, -30.0, -30.0], dtype=np.float32)
    assert active_level(levels, [(2, 4)]) == pytest.approx(-30.0, abs=1e-6)
    assert active_level(levels, []) is None
    assert active_level(levels, [(3, 3)]) is None


def test_active_level_is_a_power_mean() -> None:
    levels = np.array([-20.0, -30.0], dtype=np.float32)
    expected = 10 * np.log10((10**-2 + 10**-3) / 2)
    assert active_level(levels, [(0, 2)]) == pytest.approx(expected, abs=1e-6)


_SECOND = SAMPLE_RATE // FRAME + 1  # detector frames in a little more than a second


def _frames(*runs: tuple[float, int]) -> npt.NDArray[np.float32]:
    """Detector frame levels: ``(dBFS, frames)`` runs back to back."""
    return np.concatenate([np.full(frames, db, np.float32) for db, frames in runs])


def _span(first: int, last: int) -> tuple[int, int]:
    """Frames ``[first, last)`` as a region in samples."""
    return first * FRAME, last * FRAME


def test_one_talker_at_one_level_is_one_stretch_however_the_pauses_cut_it() -> None:
    s = _SECOND
    frame_db = _frames((-20.0, 2 * s), (-90.0, s), (-24.0, 2 * s), (-90.0, s), (-18.0, 2 * s))
    regions = [_span(0, 2 * s), _span(3 * s, 5 * s), _span(6 * s, 8 * s)]
    steps = stretch_levels(frame_db, regions, FRAME)
    assert len(steps) == 1
    assert steps[0].start == 0
    assert steps[0].level == pytest.approx(active_level(frame_db, [(0, frame_db.size)]), abs=1e-6)


def test_a_quiet_talker_after_a_loud_one_is_a_stretch_of_its_own() -> None:
    s = _SECOND
    quiet = -20.0 - LEVEL_STEP_DB - 16.0
    frame_db = _frames((-20.0, 2 * s), (-90.0, s), (quiet, 2 * s), (-19.0, 2 * s))
    regions = [_span(0, 2 * s), _span(3 * s, 5 * s), _span(5 * s, 7 * s)]
    steps = stretch_levels(frame_db, regions, FRAME)
    assert [step.start for step in steps] == [0, 3 * s * FRAME, 5 * s * FRAME]
    assert [step.level for step in steps] == pytest.approx([-20.0, quiet, -19.0], abs=1e-6)


def test_a_short_region_is_too_little_evidence_of_a_new_level() -> None:
    """The decay of a last word, a cough: shorter than ``MIN_STEP_REGION_S``, it stays in the
    stretch it follows."""
    short = int(MIN_STEP_REGION_S * SAMPLE_RATE / FRAME) - 1
    frame_db = _frames((-17.0, 3 * _SECOND), (-30.0, short))
    regions = [_span(0, 3 * _SECOND), _span(3 * _SECOND, 3 * _SECOND + short)]
    assert [step.start for step in stretch_levels(frame_db, regions, FRAME)] == [0]


def test_no_speech_is_one_step_of_no_level() -> None:
    assert stretch_levels(np.zeros(4, dtype=np.float32), [], FRAME) == [LevelStep(0, None)]


def test_nothing_is_copied_when_no_gain_is_due() -> None:
    samples = np.ones(4, dtype=np.float32)
    assert raised(samples, [LevelStep(0, -20.0)]) is samples
    assert raised(samples, [LevelStep(0, None)]) is samples
    assert raised(samples, [LevelStep(0, -20.0), LevelStep(2, -12.0)]) is samples


def test_an_array_is_read_scaled_and_left_as_it_was() -> None:
    samples = np.full(4, 0.01, dtype=np.float32)
    louder = raised(samples, [LevelStep(0, NOMINAL_DBFS - 6.0)])
    assert isinstance(louder, GainTrack)
    piece = louder[0:4]
    assert piece.dtype == np.float32
    assert piece == pytest.approx(samples * 10 ** (6 / 20))
    assert samples[0] == np.float32(0.01)  # the caller's samples are not touched


def test_a_source_stays_a_source_read_slice_by_slice() -> None:
    source = BehindSilence(np.full(8, 0.01, dtype=np.float32), 2)
    louder = raised(source, [LevelStep(0, NOMINAL_DBFS - 20.0)])
    assert isinstance(louder, GainTrack)
    assert louder.shape == (10,)
    assert louder[1:4] == pytest.approx(np.array([0.0, 0.1, 0.1]))


def test_each_stretch_is_read_with_its_own_gain() -> None:
    track = GainTrack(np.ones(1000, dtype=np.float32), [LevelStep(0, None)])
    track.add(LevelStep(400, -46.0))  # quiet speech: raised by the most the rule allows, 20 dB
    track.add(LevelStep(700, -20.0))  # loud speech: as it came
    read = track[390:710]
    assert np.allclose(read[:10], 1.0)
    assert np.allclose(read[10:310], 10.0)
    assert np.allclose(read[310:], 1.0)
    assert np.allclose(track[500:600], 10.0)  # a slice inside one later step
    assert np.allclose(track[800:900], 1.0)


def test_the_detector_s_speech_gives_a_far_talker_its_own_step() -> None:
    """Real speech through the real detector: jfk (about -17 dBFS), a second's pause, a whispered
    sentence 30 dB under its own level (about -55 dBFS). The whisper is a stretch of its own,
    starting in the pause, at the level it has alone (so it is raised by what it needs); each
    clip alone is one stretch, from sample 0."""
    loud = load(DATA / "jfk.flac")
    quiet = load(DATA / "whispered" / "en_directions.flac") * np.float32(10 ** (-30 / 20))
    steps = map_speech(np.concatenate([loud, silence(1.0), quiet]), True).levels
    (loud_alone,) = map_speech(loud, True).levels
    (quiet_alone,) = map_speech(quiet, True).levels
    assert loud_alone.start == quiet_alone.start == 0
    assert len(steps) == 2
    assert steps[0].start == 0
    assert loud.size <= steps[1].start <= loud.size + 16000
    assert steps[0].level == pytest.approx(loud_alone.level, abs=0.5)
    assert steps[1].level == pytest.approx(quiet_alone.level, abs=0.5)
    assert gain_db(steps[1].level) == MAX_GAIN_DB


def test_a_region_s_level_is_read_where_the_speech_was_heard() -> None:
    """Frames at -20 dBFS heard as speech, padded with faint noise at -50 dBFS: the level is the
    speech's alone (measured over the whole padded region it came out 0.5 dB lower, and the
    gain with it)."""
    frame_db = np.array([-50.0, -50.0, -20.0, -20.0, -50.0], dtype=np.float32)
    region = [(0, 5 * FRAME)]
    assert stretch_levels(frame_db, region, FRAME)[0].level < -20.5
    (step,) = stretch_levels(frame_db, region, FRAME, [(2 * FRAME, 4 * FRAME)])
    assert step == LevelStep(0, pytest.approx(-20.0, abs=1e-6))


def test_a_region_is_cut_to_the_speech_heard_inside_it() -> None:
    heard = [SpeechRegion(100, 200), SpeechRegion(300, 400), SpeechRegion(900, 950)]
    regions = [(50, 450), (600, 700), (880, 1000)]
    assert without_padding(regions, heard) == [(100, 400), (600, 700), (900, 950)]


@pytest.mark.parametrize("dbfs", [-50.0, -40.0])
def test_faint_noise_before_the_speech_leaves_its_level_as_alone(dbfs: float) -> None:
    """The same LibriVox sentence (just under the nominal level, so it is raised a little)
    behind 27 s of pink noise: its region's padding holds noise, and the level must not move
    with it. Measured over the padding, -50 dBFS noise took it 0.5 dB down; the model read
    "ill disposed" as "old supposed" behind -40 dBFS noise, the level (and gain) 0.2 dB off."""
    clip = load(DATA / "librivox" / "sense_and_sensibility_01_austen_64kb-0880.flac")
    (alone,) = map_speech(clip, True).levels
    (behind,) = map_speech(np.concatenate([pink_noise(27.0, dbfs), clip]), True).levels
    assert alone.level is not None and alone.level < NOMINAL_DBFS
    assert behind.level == pytest.approx(alone.level, abs=0.05)
