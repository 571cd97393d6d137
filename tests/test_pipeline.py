"""The real base model on real speech: accuracy, detection, switching, channels, translation,
licensing, and no words out of silence or noise."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import load_json, normalise_text, pink_noise, wer

import aural
from aural import pipeline
from aural.audio import SAMPLE_RATE
from aural.config import Settings
from aural.decoder import SEGMENT_PAUSE_S
from aural.errors import UnlicensedLanguageError, UnsupportedLanguageError
from aural.model_pool import ModelPool
from aural.types import Transcript

DATA = Path(__file__).parent / "data"
ENGLISH_CLIPS = [*sorted(p.stem for p in DATA.glob("librivox/*.flac")), "jfk"]
LANGUAGE_PROMPTS = sorted(DATA.glob("lang/*.flac"))


def _english_clip(name: str) -> Path:
    return DATA / ("jfk.flac" if name == "jfk" else f"librivox/{name}.flac")


@pytest.mark.parametrize("name", ENGLISH_CLIPS)
def test_english_word_error_rate_is_at_most_15_percent(pool: ModelPool, name: str) -> None:
    audio = _english_clip(name)
    reference = audio.with_suffix(".txt").read_text(encoding="utf-8")
    transcript = aural.transcribe(audio, pool=pool)
    assert transcript.language == "en"
    assert wer(reference, transcript.text) <= 0.15, transcript.text


@pytest.mark.parametrize("prompt", LANGUAGE_PROMPTS, ids=[p.stem for p in LANGUAGE_PROMPTS])
def test_language_is_detected_on_short_prompts(pool: ModelPool, prompt: Path) -> None:
    expected = prompt.stem.split("_", 1)[0]
    transcript = aural.transcribe(prompt, pool=pool)
    assert transcript.language == expected
    assert {s.language for s in transcript.segments} == {expected}


def _language_at(spans: list[dict[str, object]], moment: float) -> str | None:
    for span in spans:
        if float(span["start"]) <= moment < float(span["end"]):  # type: ignore[arg-type]
            return str(span["language"])
    return None


def test_language_switching_follows_the_runs(pool: ModelPool) -> None:
    spans = load_json(DATA / "switching_es_en_fr.json")["spans"]
    transcript = aural.transcribe(
        DATA / "switching_es_en_fr.flac", pool=pool, language_switching=True
    )
    assert transcript.segments[0].language == "es"
    seen = list(dict.fromkeys(s.language for s in transcript.segments))
    assert seen == ["es", "en", "fr"]
    right = total = 0.0
    for segment in transcript.segments:
        length = segment.end - segment.start
        total += length
        if _language_at(spans, (segment.start + segment.end) / 2) == segment.language:
            right += length
    assert right / total >= 0.9


def test_without_switching_one_language_holds_throughout(pool: ModelPool) -> None:
    transcript = aural.transcribe(DATA / "switching_es_en_fr.flac", pool=pool)
    assert len({s.language for s in transcript.segments}) == 1
    assert transcript.segments[0].language == transcript.language == "es"


def _channel_text(transcript: Transcript, channel: int) -> str:
    return " ".join(s.text for s in transcript.segments if s.channel == channel)


def test_split_stereo_gives_each_channel_its_own_words(pool: ModelPool) -> None:
    references = load_json(DATA / "stereo_two_speakers.json")["channels"]
    transcript = aural.transcribe(DATA / "stereo_two_speakers.flac", pool=pool)
    assert [c.channel for c in transcript.channels] == [0, 1]
    for channel in (0, 1):
        assert wer(references[str(channel)], _channel_text(transcript, channel)) <= 0.2
    assert wer(references["0"], _channel_text(transcript, 1)) > 0.8


def test_mix_gives_one_transcript(pool: ModelPool) -> None:
    transcript = aural.transcribe(DATA / "stereo_two_speakers.flac", pool=pool, channel_mode="mix")
    assert len(transcript.channels) == 1
    assert {s.channel for s in transcript.segments} == {0}
    assert "country" in normalise_text(transcript.text)


def test_channel_selection_transcribes_only_that_channel(pool: ModelPool) -> None:
    references = load_json(DATA / "stereo_two_speakers.json")["channels"]
    transcript = aural.transcribe(DATA / "stereo_two_speakers.flac", pool=pool, channels=[1])
    assert [c.channel for c in transcript.channels] == [1]
    assert {s.channel for s in transcript.segments} == {1}
    assert wer(references["1"], transcript.text) <= 0.2


def test_spanish_speech_translates_to_english(pool: ModelPool) -> None:
    audio = DATA / "spanish_for_translation.flac"
    spanish = normalise_text(audio.with_suffix(".txt").read_text(encoding="utf-8"))
    transcript = aural.transcribe(audio, pool=pool, task="translate")
    english = normalise_text(transcript.text)
    assert transcript.language == "es"
    assert set(english.split()) & {"the", "please", "you", "your", "to", "is", "a", "of"}
    assert wer(spanish, english) > 0.8  # not the Spanish words again


def _silence() -> np.ndarray:
    return np.zeros(60 * SAMPLE_RATE, dtype=np.float32)


@pytest.mark.parametrize(
    "signal", [_silence, lambda: pink_noise(60)], ids=["silence", "pink-noise"]
)
def test_silence_and_noise_yield_no_words(pool: ModelPool, signal: object) -> None:
    samples = signal()  # type: ignore[operator]
    transcript = aural.transcribe(samples, pool=pool, word_timestamps=True, language_switching=True)
    assert transcript.segments == ()
    assert transcript.words == ()
    assert transcript.text == ""
    assert transcript.duration == pytest.approx(60.0)


def test_word_timestamps_are_ordered_and_inside_their_segment(pool: ModelPool) -> None:
    transcript = aural.transcribe(DATA / "jfk.flac", pool=pool, word_timestamps=True)
    words = transcript.words
    assert [w.text.strip(",.") for w in words][:4] == ["And", "so", "my", "fellow"]
    for segment in transcript.segments:
        for word in segment.words:
            assert segment.start <= word.start <= word.end <= segment.end
    starts = [w.start for w in words]
    assert starts == sorted(starts)


def test_unlicensed_requested_language_is_refused(pool: ModelPool) -> None:
    with pytest.raises(UnlicensedLanguageError, match="'en' is not licensed"):
        aural.transcribe(DATA / "jfk.flac", pool=pool, language="en-US", licensed_languages={"fr"})


def test_detection_picks_the_most_probable_licensed_language(pool: ModelPool) -> None:
    transcript = aural.transcribe(DATA / "jfk.flac", pool=pool, licensed_languages={"de", "fr"})
    assert transcript.language in {"de", "fr"}
    assert {s.language for s in transcript.segments} == {transcript.language}


def test_english_only_model_refuses_other_languages(pool: ModelPool) -> None:
    with pytest.raises(UnsupportedLanguageError, match="English only"):
        aural.transcribe(DATA / "jfk.flac", pool=pool, model="tiny.en", language="fr")
    transcript = aural.transcribe(DATA / "jfk.flac", pool=pool, model="tiny.en")
    assert transcript.language == "en"
    reference = (DATA / "jfk.txt").read_text(encoding="utf-8")
    assert wer(reference, transcript.text) <= 0.15


def test_no_segment_ends_after_the_speech_it_was_decoded_from(pool: ModelPool) -> None:
    """Whisper's last timestamp token may point into the window's padding, past the speech it
    was given; mapped as it was, jfk's 2-8 s range ended a segment at 9.29 s."""
    transcript = aural.transcribe(DATA / "jfk.flac", pool=pool, start_s=2.0, end_s=8.0)
    assert transcript.segments
    assert all(2.0 <= s.start < s.end <= 8.0 for s in transcript.segments), transcript.segments


def test_progress_reaches_the_total(pool: ModelPool) -> None:
    reports: list[tuple[float, float]] = []
    aural.transcribe(
        DATA / "stereo_two_speakers.flac",
        pool=pool,
        on_progress=lambda d, t: reports.append((d, t)),
    )
    done, total = reports[-1]
    assert done == total > 0
    assert [d for d, _ in reports] == sorted(d for d, _ in reports)


@pytest.mark.parametrize("batch_size", [0, 8], ids=["sequential", "batched"])
def test_long_speech_paths_transcribe_accurately(pool: ModelPool, batch_size: int) -> None:
    """A 5 s chunk length sends the 11 s clip down the long-speech paths."""
    reference = (DATA / "jfk.txt").read_text(encoding="utf-8")
    transcript = aural.transcribe(
        DATA / "jfk.flac", pool=pool, chunk_length_s=5, batch_size=batch_size, word_timestamps=True
    )
    assert wer(reference, transcript.text) <= 0.15
    assert transcript.segments[-1].end == pytest.approx(11.0, abs=1.0)
    assert all(s.start < s.end for s in transcript.segments)


def test_batched_segments_are_cut_from_aligned_words_kept_only_when_asked(pool: ModelPool) -> None:
    """Batched chunks are decoded as text and timed by their aligned words (for the cuts and
    for finding unheard tails) whether or not the request wants the words."""
    options = {"chunk_length_s": 10, "batch_size": 8}
    timed = aural.transcribe(DATA / "jfk.flac", pool=pool, word_timestamps=True, **options)
    plain = aural.transcribe(DATA / "jfk.flac", pool=pool, **options)
    assert [(s.start, s.end, s.text) for s in plain.segments] == [
        (s.start, s.end, s.text) for s in timed.segments
    ]
    assert plain.words == () and len(timed.words) >= 20
    for segment in timed.segments:
        assert segment.start == segment.words[0].start and segment.end == segment.words[-1].end
        assert segment.text == " ".join(w.text for w in segment.words)
    # Cut after each sentence end ("...for you." "Ask what...") and at each pause of a second or
    # more ("And so my fellow Americans," ... "ask not ..."), nowhere else.
    assert len(timed.segments) >= 2 and timed.segments[-1].text.endswith(".")
    for before, after in itertools.pairwise(timed.segments):
        assert before.text.endswith(".") or after.start - before.end >= SEGMENT_PAUSE_S


def test_freed_memory_is_handed_back_after_each_piece_of_long_audio_only(
    pool: ModelPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long transcription trims the C heap after each piece (the peak no longer creeps up
    with the number of pieces); short audio, in one piece or several, is never slowed by it."""
    trims = 0
    release = pipeline.release_freed_memory

    def counted() -> None:
        nonlocal trims
        trims += 1
        release()

    monkeypatch.setattr(pipeline, "release_freed_memory", counted)
    pieces = {"chunk_length_s": 5, "batch_size": 1}  # jfk's 11 s in several pieces
    aural.transcribe(DATA / "jfk.flac", pool=pool)
    aural.transcribe(DATA / "jfk.flac", pool=pool, **pieces)
    assert trims == 0
    monkeypatch.setattr(pipeline, "TRIM_AFTER_AUDIO_S", 5.0)  # as if jfk were long audio
    transcript = aural.transcribe(DATA / "jfk.flac", pool=pool, **pieces)
    assert trims >= 1
    reference = (DATA / "jfk.txt").read_text(encoding="utf-8")
    assert wer(reference, transcript.text) <= 0.15


def test_pieces_decoded_side_by_side_give_the_same_transcript(
    pool: ModelPool, settings: Settings
) -> None:
    """Channels and groups of chunks run on two model workers; one worker gives the same."""
    assert pool.get("base").parallelism == 2 or len(os.sched_getaffinity(0)) < 2
    one_worker = ModelPool(settings.model_copy(update={"model_workers": 1}))
    assert one_worker.get("base").parallelism == 1
    cases = [
        (DATA / "jfk.flac", {"chunk_length_s": 5}),  # three chunks: groups on both workers
        (DATA / "stereo_two_speakers.flac", {"channel_mode": "split"}),  # a channel per worker
    ]
    for media, options in cases:
        side_by_side = aural.transcribe(media, pool=pool, **options)
        alone = aural.transcribe(media, pool=one_worker, **options)
        assert [(s.channel, s.text) for s in side_by_side.segments] == [
            (s.channel, s.text) for s in alone.segments
        ]
