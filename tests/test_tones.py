"""Pure tones found in a channel (``aural.tones``): tones are, speech never is, even beside
or under a tone."""

from __future__ import annotations

import numpy as np
import pytest
from fidelity_shapes import DATA, load

from aural.audio import SAMPLE_RATE
from aural.speech import FRAME, SpeechDetector, map_speech
from aural.tones import tone_frames
from benchmarks.fidelity_set import call_tones, sine_melody, sine_sweep, tremolo_tone


def _sine(hz: float, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.mark.parametrize(
    "tone",
    [
        _sine(1000.0, 3.0),
        _sine(350.0, 3.0) + _sine(440.0, 3.0),  # a dial tone: two tones 90 Hz apart
        tremolo_tone(3.0, 440.0),
        sine_sweep(3.0, 200.0, 3000.0, -23.0),
    ],
    ids=["sine", "dial-tone", "tremolo", "sweep"],
)
def test_one_or_two_steady_tones_are_tone_throughout(tone: np.ndarray) -> None:
    assert tone_frames(tone).mean() >= 0.9


def test_speech_is_no_tone_alone_beside_a_tone_or_under_one() -> None:
    speech = load(DATA / "jfk.flac")
    assert not tone_frames(speech).any()
    beep = _sine(1000.0, 1.0)
    after = tone_frames(np.concatenate([beep, speech]))
    frames = beep.size // FRAME
    assert after[: frames - 1].all() and not after[frames + 1 :].any()
    level = float(np.sqrt(np.mean(np.square(speech))))
    under = speech + _sine(1000.0, speech.size / SAMPLE_RATE, level * 10 * np.sqrt(2))
    # 20 dB under the tone, the speech is what is left of a frame; only its pauses are tone
    count = speech.size // FRAME
    power = np.mean(np.square(speech[: count * FRAME].reshape(count, FRAME)), axis=1)
    speaking = power >= level**2
    found = tone_frames(under)
    assert speaking.sum() > 50 and not found[speaking].any()
    assert found[~speaking].any()


def test_a_hum_of_many_harmonics_is_no_tone() -> None:
    t = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
    hum = sum(0.1 / k * np.sin(2 * np.pi * 50 * k * t) for k in range(1, 8))
    assert not tone_frames(np.asarray(hum, dtype=np.float32)).any()


def test_the_detector_hears_no_speech_in_tones_and_all_of_it_next_to_them() -> None:
    """DTMF digits (0.1 s) are too short to make a stretch of tone: the call tones' digits are
    left to Whisper's second look, like any loud stretch the detector doubts."""
    detector = SpeechDetector()
    for tone in (tremolo_tone(10.0, 440.0), sine_melody(12.0)):
        found = map_speech(tone, True, detector)
        assert found.regions == [] and found.unsure == []
    assert map_speech(call_tones(), True, detector).regions == []
    speech = load(DATA / "jfk.flac")
    alone = map_speech(speech, True, detector).regions
    lead = tremolo_tone(10.0, 440.0)
    behind = map_speech(np.concatenate([lead, speech]), True, detector).regions
    assert behind[0].start >= lead.size - int(0.5 * SAMPLE_RATE)  # no tone in the speech
    assert behind[-1].end == lead.size + alone[-1].end
