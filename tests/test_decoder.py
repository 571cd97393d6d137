"""Cutting a text-only batched chunk into segments from its aligned words; the full-context
language look over several views."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from faster_whisper.transcribe import Segment as WhisperSegment
from faster_whisper.transcribe import Word as WhisperWord

from aural.audio import SAMPLE_RATE, decode_audio
from aural.decoder import (
    SEGMENT_PAUSE_S,
    WINDOW_S,
    encode_window,
    has_pause,
    rank_languages,
    rank_languages_over_views,
    split_at_sentences,
    unheard_regions,
)
from aural.model_pool import ModelPool
from aural.speech import SpeechRegion

DATA = Path(__file__).parent / "data"


def _chunk(*words: tuple[float, float, str]) -> WhisperSegment:
    aligned = [WhisperWord(start, end, text, 0.9) for start, end, text in words]
    return WhisperSegment(
        id=1, seek=0, start=0.0, end=30.0, text="".join(w.word for w in aligned),
        tokens=[1, 2, 3], avg_logprob=-0.2, compression_ratio=1.0, no_speech_prob=0.01,
        words=aligned, temperature=0.0,
    )  # fmt: skip


def _token_ids(text: str) -> list[int]:
    return [len(word) for word in text.split()]


def test_a_chunk_is_cut_after_each_sentence_and_at_long_pauses() -> None:
    chunk = _chunk(
        (1.0, 1.4, " Press"), (1.4, 1.6, " one."),  # a sentence end
        (1.9, 2.3, " Then"), (2.3, 2.6, " wait"),
        (2.6 + SEGMENT_PAUSE_S, 4.0, " please"),  # after a pause: a new segment
        (4.1, 4.5, " now"), (4.5, 4.8, " or"),  # a short gap: the same segment
        (5.0, 5.5, " later?"),
    )  # fmt: skip
    pieces = list(split_at_sentences(chunk, _token_ids))
    assert [p.text for p in pieces] == [" Press one.", " Then wait", " please now or later?"]
    assert [(p.start, p.end) for p in pieces] == [
        (1.0, 1.6),
        (1.9, 2.6),
        (2.6 + SEGMENT_PAUSE_S, 5.5),
    ]
    assert [len(p.words or []) for p in pieces] == [2, 2, 4]
    assert [p.tokens for p in pieces] == [[5, 4], [4, 4], [6, 3, 2, 6]]
    # Every word is in exactly one piece, in order; scores of the decoding pass are kept.
    assert [w for p in pieces for w in p.words or []] == chunk.words
    assert {(p.avg_logprob, p.no_speech_prob) for p in pieces} == {(-0.2, 0.01)}


def test_a_chunk_without_aligned_words_stays_whole_and_an_empty_one_is_dropped() -> None:
    unaligned = WhisperSegment(
        id=1, seek=0, start=3.0, end=9.0, text=" Hello there", tokens=[1], avg_logprob=-0.1,
        compression_ratio=1.0, no_speech_prob=0.0, words=[], temperature=0.0,
    )  # fmt: skip
    assert list(split_at_sentences(unaligned, _token_ids)) == [unaligned]
    empty = WhisperSegment(
        id=1, seek=0, start=3.0, end=9.0, text=" ", tokens=[], avg_logprob=-0.1,
        compression_ratio=1.0, no_speech_prob=0.9, words=None, temperature=0.0,
    )  # fmt: skip
    assert list(split_at_sentences(empty, _token_ids)) == []


def test_the_full_look_is_the_mean_of_its_views(pool: ModelPool) -> None:
    """Each view is a full-context look at the speech a few tens of milliseconds later; the
    ranking of several is their mean, and one view at 0 s is the plain full-context look."""
    whisper = pool.get().whisper
    speech = decode_audio(DATA / "lang" / "es_conf-getpin.flac").samples.mean(axis=0)
    speech = np.asarray(speech, dtype=np.float32)
    plain = rank_languages(whisper, encode_window(whisper, speech, WINDOW_S).encoder_output)
    one = rank_languages_over_views(whisper, speech, [0.0])
    assert one.keys() == plain.keys()
    assert max(abs(one[code] - plain[code]) for code in plain) < 1e-4
    later = rank_languages_over_views(whisper, speech, [0.1])
    both = rank_languages_over_views(whisper, speech, [0.0, 0.1])
    assert max(abs(both[c] - (one[c] + later[c]) / 2) for c in both) < 1e-4
    assert abs(sum(both.values()) - 1.0) < 1e-3
    assert max(both, key=lambda code: both[code]) == "es"
    # Side by side on two threads (the model's replicas), the same answer as in turn.
    with ThreadPoolExecutor(2) as pool_of_two:
        side_by_side = rank_languages_over_views(
            whisper, speech, [0.0, 0.1], lambda view, shifts: list(pool_of_two.map(view, shifts))
        )
    assert max(abs(side_by_side[c] - both[c]) for c in both) < 1e-6


def test_a_region_without_an_aligned_word_is_unheard() -> None:
    """Regions on the gathered timeline (samples at 16 kHz): a sentence, the same sentence
    again, a short breath. Whisper's one segment ran over both sayings with its words in the
    first: the second is unheard; the breath is too short to count."""
    regions = [
        SpeechRegion(0, 96_000),
        SpeechRegion(96_000, 192_000),
        SpeechRegion(192_000, 200_000),
    ]
    read_once = _chunk((0.2, 1.0, " Turn"), (1.0, 2.5, " left"), (2.5, 3.1, " now."))
    assert unheard_regions(regions, [read_once]) == [regions[1]]
    read_twice = _chunk((0.2, 1.9, " Turn left now."), (6.2, 7.9, " Turn left now."))
    assert unheard_regions(regions, [read_twice]) == []


def test_a_word_aligned_over_seconds_is_no_evidence_and_its_span_is_unheard() -> None:
    """The alignment may stretch a word over the saying it did not read ("than" over 7 s,
    its middle in the next saying): that saying is not heard for it, and the word's span
    (merged with the unheard region it overlaps) is read again."""
    regions = [SpeechRegion(0, 96_000), SpeechRegion(96_000, 192_000)]
    stretched = _chunk((0.2, 1.0, " Turn"), (1.0, 1.6, " left"), (1.6, 11.0, " now."))
    assert unheard_regions(regions, [stretched]) == [SpeechRegion(25_600, 192_000)]
    # Over a region that holds a plausible word, the word's span alone is unheard.
    later = _chunk((0.2, 1.0, " Turn"), (1.0, 4.5, " left"), (6.5, 7.0, " now."))
    assert unheard_regions(regions, [later]) == [SpeechRegion(16_000, 72_000)]


def test_regions_whose_padding_meets_have_no_pause_between_them() -> None:
    """The detector may split running speech at a short dip; the gathered audio is the same, so
    the decoding path must not change with it. Only audio left out makes a pause."""
    second = SAMPLE_RATE
    assert not has_pause([SpeechRegion(0, 5 * second)])
    assert not has_pause([SpeechRegion(0, 5 * second), SpeechRegion(5 * second, 9 * second)])
    assert has_pause([SpeechRegion(0, 5 * second), SpeechRegion(5 * second + 1, 9 * second)])
    assert has_pause([SpeechRegion(0, 2 * second), SpeechRegion(2 * second, 3 * second),
                      SpeechRegion(4 * second, 5 * second)])  # fmt: skip
