"""Region edges anchored on the sound (``aural.speech_edges``), with the real Silero detector."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from fidelity_shapes import DATA, load, pink_noise, silence

from aural.audio import SAMPLE_RATE
from aural.engine import LEAD_S
from aural.speech import FRAME, SpeechDetector, SpeechRegion, map_speech
from aural.speech_edges import anchored


@pytest.fixture(scope="module")
def detector() -> SpeechDetector:
    return SpeechDetector()


def _regions_behind(
    detector: SpeechDetector, clip: np.ndarray, seconds: float
) -> list[tuple[int, int]]:
    """The clip's regions behind ``seconds`` of digital silence, in samples of the clip."""
    lead = silence(seconds)
    found = map_speech(np.concatenate([lead, clip]), True, detector).regions
    return [(r.start - lead.size, r.end - lead.size) for r in found]


@pytest.mark.parametrize(
    "clip_name", ["jfk.flac", "librivox/sense_and_sensibility_01_austen_64kb-0880.flac"]
)
def test_silence_before_a_clip_does_not_move_its_outer_edges(
    detector: SpeechDetector, clip_name: str
) -> None:
    """5 s and 27 s are not whole 32 ms frames: before the edges were anchored, the clip's
    first region started 128-384 samples further from its sound behind them than alone."""
    clip = np.concatenate([silence(1.0), load(DATA / clip_name)])
    alone = _regions_behind(detector, clip, 0.0)
    for seconds in (5.0, 27.0, 60.0, 3.01):
        behind = _regions_behind(detector, clip, seconds)
        assert behind[0][0] == alone[0][0], seconds
        assert behind[-1][1] == alone[-1][1], seconds
    # and the grid really is moved: 5 s is a quarter of a frame off it
    assert (5.0 * SAMPLE_RATE) % FRAME != 0


def test_an_edge_sits_a_pad_before_the_first_sound() -> None:
    samples = np.zeros(4 * SAMPLE_RATE, dtype=np.float32)
    onset, offset = 20_011, 40_007
    tone = np.sin(np.arange(offset - onset) / 3.0).astype(np.float32) * 0.3
    samples[onset:offset] = tone
    pad = 6_400
    found = set()
    for grid_start in (onset - pad - 300, onset - pad + 200, onset - pad + 700):
        (edges,) = anchored(samples, [(grid_start, offset + pad + 100)], pad, 30 * SAMPLE_RATE)
        found.add(edges)
    (edges,) = found  # wherever the grid put the edge, it ends up in one place
    assert onset - pad - 160 <= edges[0] <= onset - pad  # within the envelope's 10 ms
    assert offset + pad - 160 <= edges[1] <= offset + pad


def test_edges_in_steady_noise_stay_where_the_detector_put_them() -> None:
    noise = np.random.default_rng(1).standard_normal(4 * SAMPLE_RATE).astype(np.float32) * 0.1
    assert anchored(noise, [(20_000, 40_000)], 6_400, 30 * SAMPLE_RATE) == [(20_000, 40_000)]


def test_edges_shared_with_a_neighbour_stay_and_no_region_outgrows_the_limit() -> None:
    samples = np.zeros(4 * SAMPLE_RATE, dtype=np.float32)
    samples[10_000:50_000] = np.sin(np.arange(40_000) / 3.0) * 0.2
    regions = [(3_000, 30_000), (30_000, 58_000)]
    (first, second) = anchored(samples, regions, 6_400, 30 * SAMPLE_RATE)
    assert first[1] == second[0] == 30_000  # the shared edge
    assert 3_600 - 160 <= first[0] <= 3_600 and 56_400 - 160 <= second[1] <= 56_400
    samples[:50_000] = np.sin(np.arange(50_000) / 3.0) * 0.2
    (alone,) = anchored(samples, [(3_000, 58_000)], 6_400, 55_000)
    assert alone[1] - alone[0] <= 55_000


def test_speech_region_type_is_unchanged(detector: SpeechDetector) -> None:
    clip = load(DATA / "jfk.flac")
    assert all(isinstance(r, SpeechRegion) for r in map_speech(clip, True, detector).regions)


def test_an_edge_moves_inward_less_than_the_pad() -> None:
    """Every frame the detector heard speech in stays inside: an edge whose sound ended long
    before it (the detector heard more than the envelope shows) is left where it was."""
    samples = np.zeros(4 * SAMPLE_RATE, dtype=np.float32)
    samples[10_000:20_000] = np.sin(np.arange(10_000) / 3.0) * 0.3
    (edges,) = anchored(samples, [(3_600, 40_000)], 6_400, 30 * SAMPLE_RATE)
    assert edges[1] == 40_000
    (edges,) = anchored(samples, [(3_600, 28_000)], 6_400, 30 * SAMPLE_RATE)
    assert 28_000 - 0.25 * SAMPLE_RATE <= edges[1] < 28_000


def _clip_regions(
    detector: SpeechDetector, clip: np.ndarray, lead: np.ndarray
) -> list[tuple[int, int]]:
    """The clip's regions behind ``lead``, in samples of the clip."""
    found = map_speech(np.concatenate([lead, clip]), True, detector).regions
    return [(r.start - lead.size, r.end - lead.size) for r in found]


@pytest.mark.parametrize("seed", [0, 1])
def test_whispered_speech_behind_faint_noise_keeps_its_onset_and_its_middle(
    detector: SpeechDetector, seed: int
) -> None:
    """The committed whispered clip behind 27 s of pink noise at -40 dBFS. Before, with seed 1
    its region began 88 ms after the clip's first sound (the noise read as sound, so the edge
    stayed where the late detector put it), and with seed 0 0.16 s went missing between two
    regions (frames in a region's padding were never scored again from a quiet state)."""
    clip = load(DATA / "whispered" / "en_directions.flac")
    alone = _clip_regions(detector, clip, silence(LEAD_S))  # as the engine puts it
    behind = _clip_regions(detector, clip, pink_noise(27.0, -40.0, seed))
    onset = alone[0][0] + int(0.4 * SAMPLE_RATE)  # alone, the edge is a pad before the sound
    assert behind[0][0] <= onset - int(0.25 * SAMPLE_RATE)
    assert behind[-1][1] == alone[-1][1] == clip.size
    assert all(a[1] == b[0] for a, b in itertools.pairwise(behind))  # no gap inside


def test_an_edge_in_steady_noise_before_the_sound_is_anchored_on_the_sound() -> None:
    """Pink noise 30 dB under the speech peak reads as the pause it is, not as sound."""
    noise = pink_noise(4.0, -40.0, seed=3)
    onset, offset = 40_011, 56_007
    samples = noise.copy()
    samples[onset:offset] += np.sin(np.arange(offset - onset) / 3.0).astype(np.float32) * 0.3
    pad = 6_400
    late_grid = onset + 1_500  # the detector heard the speech late
    (edges,) = anchored(samples, [(late_grid - pad, offset + pad)], pad, 30 * SAMPLE_RATE)
    assert onset - pad - 160 <= edges[0] <= onset - pad
