"""Long audio decoded to a spool on disk and read a window at a time (issue 12): the samples,
the mixes, the clips and the transcripts are those of the same audio held in memory."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from aural.audio import SAMPLE_RATE, Audio, _SampleBuffer, clip, decode_audio, select_channels
from aural.engine import transcribe_media
from aural.model_pool import ModelPool
from aural.spool import MixedSamples, SampleSource, SpooledSamples, SpoolWriter
from aural.types import ChannelMode, Transcript, TranscriptionOptions

DATA = Path(__file__).parent / "data"
STEREO = DATA / "stereo_two_speakers.flac"


def _pieces(rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.standard_normal((2, n)).astype(np.float32) for n in (7000, 20000, 1, 9000)]


@pytest.mark.parametrize("expected_frames", [100, 50_000])
def test_buffer_moves_to_the_spool_past_its_limit(expected_frames: int) -> None:
    """Whether it starts spooled (the header announced long media) or moves there midway."""
    pieces = _pieces(np.random.default_rng(1))
    buffer = _SampleBuffer(2, expected_frames, spool_after=30_000)
    for piece in pieces:
        buffer.append(piece)
    channels = buffer.channel_samples()
    assert all(isinstance(channel, SpooledSamples) for channel in channels)
    whole = np.concatenate(pieces, axis=1)
    assert np.array_equal(np.stack([c[:] for c in channels]), whole)


def test_spooled_slices_read_what_was_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    signal = rng.standard_normal((1, 40_000)).astype(np.float32)
    writer = SpoolWriter(1, directory=str(tmp_path))
    writer.append(signal[:, :12_345])
    writer.append(signal[:, 12_345:])
    (spooled,) = writer.finish()
    assert os.listdir(tmp_path) == []  # unnamed: nothing to clean up, even after a kill
    for start, stop in [(0, 40_000), (5, 17), (39_990, 50_000), (-100, None), (30, 10)]:
        np.testing.assert_array_equal(spooled[start:stop], signal[0][start:stop])
    window = spooled.window(1000, 3000)
    np.testing.assert_array_equal(window[10:20], signal[0][1010:1020])
    assert window.shape == (2000,)
    with pytest.raises(ValueError, match="contiguous"):
        spooled[::2]


def test_decoding_to_the_spool_gives_the_samples_held_in_memory() -> None:
    held = decode_audio(STEREO, spool_after_s=None)
    spooled = decode_audio(STEREO, spool_after_s=1.0)
    assert not held.spooled and spooled.spooled
    np.testing.assert_array_equal(spooled.samples, held.samples)
    mixed = select_channels(spooled, None, ChannelMode.MIX)[0].samples
    assert isinstance(mixed, MixedSamples)
    np.testing.assert_allclose(
        mixed[:], select_channels(held, None, ChannelMode.MIX)[0].samples, atol=1e-7
    )
    part = clip(spooled, 1.5, 4.0)
    assert isinstance(part.channels[0], SampleSource)
    np.testing.assert_array_equal(part.samples, clip(held, 1.5, 4.0).samples)
    assert part.duration == pytest.approx(2.5, abs=1 / SAMPLE_RATE)


def _same(a: Transcript, b: Transcript) -> None:
    assert [(s.channel, s.start, s.end, s.text) for s in a.segments] == [
        (s.channel, s.start, s.end, s.text) for s in b.segments
    ]
    assert a.segments


@pytest.mark.parametrize(
    ("media", "options"),
    [
        (STEREO, TranscriptionOptions(channel_mode=ChannelMode.SPLIT)),
        (STEREO, TranscriptionOptions(channel_mode=ChannelMode.MIX)),
        # 5 s chunks: the batched path, which reads one batch's span of the spool at a time
        (DATA / "jfk.flac", TranscriptionOptions(chunk_length_s=5)),
    ],
)
def test_a_spooled_transcript_is_the_one_held_in_memory(
    pool: ModelPool, media: Path, options: TranscriptionOptions
) -> None:
    held = transcribe_media(decode_audio(media, spool_after_s=None), options, pool)
    spooled_audio: Audio = decode_audio(media, spool_after_s=1.0)
    assert spooled_audio.spooled
    _same(transcribe_media(spooled_audio, options, pool), held)


def test_speech_probabilities_do_not_depend_on_the_block_size_or_the_spool(
    pool: ModelPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The VAD's state is carried across blocks, so cutting the reads differently (or reading
    from disk) must not move a single probability or level: no word can hinge on it."""
    from aural import speech

    detector = pool.get().speech
    held = decode_audio(DATA / "jfk.flac", spool_after_s=None).channels[0]
    spooled = decode_audio(DATA / "jfk.flac", spool_after_s=1.0).channels[0]
    reference = detector.probabilities(held), speech.frame_levels(held)
    monkeypatch.setattr(speech, "_BLOCK_FRAMES", 37)
    for source in (held, spooled):
        np.testing.assert_array_equal(detector.probabilities(source), reference[0])
        np.testing.assert_array_equal(speech.frame_levels(source), reference[1])
