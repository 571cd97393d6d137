"""Decoding real files in every common container, and each kind of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aural.audio import SAMPLE_RATE, Audio, clip, decode_audio, probe_channels, select_channels
from aural.errors import (
    ChannelOutOfRangeError,
    EmptyMediaError,
    InvalidMediaError,
    InvalidOptionError,
    MediaTooLongError,
    NoAudioStreamError,
    TruncatedMediaError,
)
from aural.types import ChannelMode

JFK_SECONDS = 11.0


@pytest.mark.parametrize(
    "name",
    ["jfk.flac", "formats/jfk.mp3", "formats/jfk.ogg", "formats/jfk.m4a", "formats/jfk.webm",
     "formats/jfk_video.mp4"],
)  # fmt: skip
def test_common_containers_decode_to_16k_float(data_dir: Path, name: str) -> None:
    audio = decode_audio(data_dir / name)
    assert audio.samples.dtype == np.float32
    assert audio.channel_count == 1
    assert audio.duration == pytest.approx(JFK_SECONDS, abs=0.15)
    assert 0.05 < float(np.abs(audio.samples).max()) <= 1.0


def test_every_channel_is_kept(data_dir: Path) -> None:
    audio = decode_audio(data_dir / "stereo_two_speakers.flac")
    assert audio.channel_count == 2
    left, right = audio.samples
    assert not np.allclose(left, right)


def test_file_objects_decode_too(data_dir: Path) -> None:
    with open(data_dir / "jfk.flac", "rb") as handle:
        assert decode_audio(handle).duration == pytest.approx(JFK_SECONDS, abs=0.15)


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("bad/not_media.wav", InvalidMediaError, "not a media file"),
        ("bad/empty.wav", EmptyMediaError, "the file is empty"),
        ("bad/zero_length.wav", EmptyMediaError, "no audio samples"),
        ("bad/video_only.mp4", NoAudioStreamError, "no audio stream"),
        ("bad/truncated.wav", TruncatedMediaError, "truncated"),
        ("bad/truncated.mp3", TruncatedMediaError, "truncated"),
        ("no/such/file.wav", InvalidMediaError, "no such file"),
    ],
)
def test_bad_input_gets_its_typed_error(
    data_dir: Path, name: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        decode_audio(data_dir / name)
    assert "\n" not in str(caught.value)


def test_too_long_media_is_refused_from_its_header(data_dir: Path) -> None:
    decoded: list[float] = []
    with pytest.raises(MediaTooLongError, match="over the 5 s limit"):
        decode_audio(data_dir / "jfk.flac", max_duration_s=5, on_progress=decoded.append)
    assert decoded == []  # refused before a single frame was decoded


def _stereo() -> Audio:
    t = np.arange(SAMPLE_RATE, dtype=np.float32) / SAMPLE_RATE
    return Audio.from_array(np.stack([np.sin(2 * np.pi * 440 * t), np.zeros_like(t)]))


def test_split_keeps_channel_numbers_and_mix_averages() -> None:
    audio = _stereo()
    split = select_channels(audio, None, ChannelMode.SPLIT)
    assert [c.channel for c in split] == [0, 1]
    only_right = select_channels(audio, (1,), ChannelMode.SPLIT)
    assert [c.channel for c in only_right] == [1]
    assert not only_right[0].samples.any()
    (mixed,) = select_channels(audio, None, ChannelMode.MIX)
    assert mixed.channel == 0
    np.testing.assert_allclose(mixed.samples, audio.samples[0] / 2, atol=1e-6)


def test_channel_out_of_range_is_refused() -> None:
    with pytest.raises(ChannelOutOfRangeError, match="channel 2 does not exist: the media has 2"):
        select_channels(_stereo(), (0, 2), ChannelMode.SPLIT)


def test_arrays_must_hold_samples() -> None:
    with pytest.raises(EmptyMediaError):
        Audio.from_array(np.zeros(0))
    with pytest.raises(InvalidMediaError):
        Audio.from_array(np.zeros((1, 2, 3)))


def test_clip_keeps_the_range_and_refuses_a_start_past_the_end() -> None:
    audio = Audio.from_array(np.arange(3 * SAMPLE_RATE, dtype=np.float32))
    part = clip(audio, 1.0, 2.5)
    assert part.duration == pytest.approx(1.5)
    assert part.samples[0, 0] == SAMPLE_RATE
    assert clip(audio, 0.0, None) is audio
    assert clip(audio, 2.0, 10.0).duration == pytest.approx(1.0)  # an end past the end: to the end
    with pytest.raises(InvalidOptionError, match="after the end of the audio"):
        clip(audio, 3.5, None)


def test_probe_channels_reads_the_header(data_dir: Path) -> None:
    assert probe_channels(data_dir / "jfk.flac") == 1
    assert probe_channels(data_dir / "stereo_two_speakers.flac") == 2
    with pytest.raises(InvalidMediaError):
        probe_channels(data_dir / "bad/not_media.wav")
