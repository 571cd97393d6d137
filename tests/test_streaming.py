"""Segments handed on as they become final, and samples decoded into one buffer (issue 12)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import aural
from aural.audio import _SampleBuffer, decode_audio
from aural.model_pool import ModelPool
from aural.types import Segment

DATA = Path(__file__).parent / "data"


def _key(segment: Segment) -> tuple[int, float, float, str]:
    return (segment.channel, segment.start, segment.end, segment.text)


def test_streamed_segments_are_the_transcript_in_timeline_order_per_channel(
    pool: ModelPool,
) -> None:
    """Split stereo on two workers, and a long-speech path cut into pieces (5 s chunks)."""
    cases = [
        (DATA / "stereo_two_speakers.flac", {"channel_mode": "split"}),
        (DATA / "jfk.flac", {"chunk_length_s": 5}),
    ]
    for media, options in cases:
        streamed: list[Segment] = []
        transcript = aural.transcribe(media, pool=pool, on_segment=streamed.append, **options)
        assert transcript.segments
        assert sorted(map(_key, streamed)) == sorted(map(_key, transcript.segments))
        assert [s.id for s in streamed] == list(range(len(streamed)))
        for channel in {s.channel for s in streamed}:
            starts = [s.start for s in streamed if s.channel == channel]
            assert starts == sorted(starts)


def test_sample_buffer_grows_past_the_expected_length() -> None:
    rng = np.random.default_rng(0)
    pieces = [rng.standard_normal((2, n)).astype(np.float32) for n in (7000, 20000, 1, 9000)]
    buffer = _SampleBuffer(2, expected_frames=100, spool_after=None)
    for piece in pieces:
        buffer.append(piece)
    assert np.array_equal(np.stack(buffer.channel_samples()), np.concatenate(pieces, axis=1))


def test_decoded_samples_match_faster_whispers_decoder() -> None:
    """The in-place buffer gives the samples PyAV's frames held, channel by channel."""
    from faster_whisper.audio import decode_audio as reference_decode

    audio = decode_audio(DATA / "stereo_two_speakers.flac")
    left, right = reference_decode(str(DATA / "stereo_two_speakers.flac"), split_stereo=True)
    assert audio.channel_count == 2
    assert audio.samples.shape[1] == left.shape[0]
    assert np.allclose(audio.samples[0], left, atol=1e-4)
    assert np.allclose(audio.samples[1], right, atol=1e-4)


def test_streamed_segments_of_a_time_range_are_on_the_media_timeline(pool: ModelPool) -> None:
    streamed: list[Segment] = []
    transcript = aural.transcribe(
        DATA / "jfk.flac", pool=pool, start_s=3.0, end_s=11.0, on_segment=streamed.append
    )
    assert transcript.segments
    assert transcript.segments[0].start >= 3.0
    assert sorted(map(_key, streamed)) == sorted(map(_key, transcript.segments))
