"""Whisper's echo (``aural.echoes``): a repeat in a time nobody could say it in is dropped; a
repeat that fits its time, and a short segment that repeats nothing, are kept."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import wer
from faster_whisper.transcribe import Segment as WhisperSegment
from fidelity_shapes import DATA, load, text_of

import aural
from aural.echoes import ECHO_REACH_S, MAX_LETTERS_PER_S, said_words, without_echoes
from aural.model_pool import ModelPool

SENTENCE = " 5 people called this morning asking about the new schedule"


def _segment(start: float, end: float, text: str) -> WhisperSegment:
    return WhisperSegment(
        id=1, seek=0, start=start, end=end, text=text, tokens=[1, 2], avg_logprob=-0.4,
        compression_ratio=1.8, no_speech_prob=0.1, words=None, temperature=0.0,
    )  # fmt: skip


def _texts(segments: list[WhisperSegment]) -> list[tuple[float, str]]:
    return [(s.start, s.text) for s in without_echoes(segments)]


def test_a_sentence_said_again_in_a_blink_is_an_echo() -> None:
    # What Whisper wrote behind 20 s of hold music: the sentence, then again in 0.58 s.
    said, echo = _segment(3.54, 7.48, SENTENCE), _segment(7.48, 8.06, SENTENCE)
    assert _texts([said, echo]) == [(3.54, SENTENCE)]
    # Case and punctuation make no other sentence; a timestamp pair with no time is no time.
    shouted = _segment(8.06, 8.06, " 5 PEOPLE called this morning, asking about the new schedule!")
    assert _texts([said, shouted]) == [(3.54, SENTENCE)]


def test_most_of_a_sentence_again_in_a_blink_is_an_echo() -> None:
    # Behind hold music Whisper wrote an Asterisk prompt, then most of it again in 0.5 s.
    prompt = (
        " Welcome to the directory. Please enter the first three letters of your party's first"
        " name using your touchtone keypad. Use the 7 key for Q and the 9 key for Z."
    )
    echo = (
        " You can see the first three letters of your party's first name using your touchtone"
        " keypad."
    )
    said = _segment(1.58, 13.2, prompt)
    assert _texts([said, _segment(13.2, 13.7, echo)]) == [(1.58, prompt)]
    # And a sentence from two segments back ("...not in service.", then 0.36 s of it again).
    first = _segment(16.5, 18.9, " The number you have dialed is not in service.")
    second = _segment(19.38, 21.3, " Please check the number and try again.")
    again = _segment(21.3, 21.66, " The number you have dialed is not in service.")
    assert [t for _, t in _texts([first, second, again])] == [first.text, second.text]
    # Half of it new, however fast: kept (Whisper's timestamps are coarse).
    half_new = " You can see the first three letters of a new word now, can you not?"
    assert len(_texts([said, _segment(13.2, 13.7, half_new)])) == 2


def test_a_repeat_that_fits_its_time_is_kept_and_so_is_a_short_new_sentence() -> None:
    said, again = _segment(3.5, 7.5, SENTENCE), _segment(7.5, 11.0, SENTENCE)
    assert len(_texts([said, again])) == 2  # people say things twice
    quick = _segment(7.5, 7.9, " Yes, yes, absolutely right.")  # not a repeat: kept
    assert len(_texts([said, quick])) == 2
    # What was said in the window before counts (Whisper echoes from what it has in view):
    # A, B, A in a blink drops the second A; the same 30 s after A ends keeps it.
    other = _segment(7.5, 9.0, " Hello, how are you today?")
    assert len(_texts([said, other, _segment(9.0, 9.3, SENTENCE)])) == 2
    later = _segment(3.5 + 4.0 + ECHO_REACH_S, 3.5 + 4.3 + ECHO_REACH_S, SENTENCE)
    assert len(_texts([said, other, later])) == 3


def test_the_rate_bound_is_far_above_speech() -> None:
    """Over 817 segments of real speech (every clip variant of the fidelity set, its runs,
    a quarter of its language prompts) Whisper's timestamps gave at most 26.5 letters a
    second (p99 16.7); the bound is well above that."""
    assert MAX_LETTERS_PER_S >= 2 * 20
    assert said_words(" Don't, Ça va? 42 -") == ["dont", "ça", "va", "42"]
    said = _segment(0.0, 4.0, SENTENCE)
    letters = sum(len(word) for word in said_words(SENTENCE))
    fast_but_possible = _segment(4.0, 4.0 + letters / 30, SENTENCE)
    assert len(_texts([said, fast_but_possible])) == 2


@pytest.mark.parametrize(
    ("clip", "music_dbfs", "language"),
    [
        ("lang/es_conf-now-muted.flac", -30.0, "es"),
        ("lang/en_privacy-prompt.flac", -22.0, "en"),
        ("lang/fr_conf-onlyperson.flac", -22.0, "fr"),
    ],
)
def test_speech_after_hold_music_is_written_once(
    pool: ModelPool, clip: str, music_dbfs: float, language: str
) -> None:
    """20 s of hold music, then an Asterisk prompt: the detector hears speech in some of the
    music, which is decoded with the prompt; Whisper labels the music, writes the prompt, then
    wrote it again in the window's last half second (each of these, before aural.echoes, on
    an AVX-512 EPYC: the int8 kernels decide which mixes echo). Now each is written once."""
    music = load(DATA / "music" / "hold_music_the_simplicity.flac")
    music *= np.float32(10 ** ((music_dbfs - _dbfs(music)) / 20))
    speech = load(DATA / clip)
    alone = aural.transcribe(speech, pool=pool, language=language).text
    behind = aural.transcribe(np.concatenate([music, speech]), pool=pool, language=language)
    assert len(behind.text.split()) <= len(alone.split()) + 1, behind.text
    assert wer(text_of(DATA / clip), behind.text) <= wer(text_of(DATA / clip), alone) + 0.2


def _dbfs(samples: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))))
