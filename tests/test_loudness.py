"""Quiet speech raised to the nominal level (aural.loudness): the rule and the sample views."""

from __future__ import annotations

import numpy as np
import pytest

from aural.loudness import MAX_GAIN_DB, NOMINAL_DBFS, Amplified, active_level, gain_db, raised
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


def test_nothing_is_copied_when_no_gain_is_due() -> None:
    samples = np.ones(4, dtype=np.float32)
    assert raised(samples, -20.0) is samples
    assert raised(samples, None) is samples


def test_an_array_is_read_scaled_and_left_as_it_was() -> None:
    samples = np.full(4, 0.01, dtype=np.float32)
    louder = raised(samples, NOMINAL_DBFS - 6.0)
    assert isinstance(louder, Amplified)
    piece = louder[0:4]
    assert piece.dtype == np.float32
    assert piece == pytest.approx(samples * 10 ** (6 / 20))
    assert samples[0] == np.float32(0.01)  # the caller's samples are not touched


def test_a_source_stays_a_source_read_slice_by_slice() -> None:
    source = BehindSilence(np.full(8, 0.01, dtype=np.float32), 2)
    louder = raised(source, NOMINAL_DBFS - 20.0)
    assert isinstance(louder, Amplified)
    assert louder.shape == (10,)
    assert louder[1:4] == pytest.approx(np.array([0.0, 0.1, 0.1]))
