from __future__ import annotations

from dataclasses import replace

import pytest

from aural.errors import InvalidOptionError
from aural.types import ChannelMode, Task, TranscriptionOptions


def test_options_accept_loose_spellings() -> None:
    options = TranscriptionOptions.create(
        task="Translate", channel_mode="mix", channels=[0, 2], temperature=0.0, language=None
    )
    assert options.task is Task.TRANSLATE
    assert options.channel_mode is ChannelMode.MIX
    assert options.channels == (0, 2)
    assert options.temperature == (0.0,)
    assert options.language is None


def test_empty_channel_list_means_all() -> None:
    assert TranscriptionOptions.create(channels=[]).channels is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"task": "summarise"}, "task must be one of transcribe, translate"),
        ({"channel_mode": "stereo"}, "channel_mode must be one of split, mix"),
        ({"colour": "blue"}, "unknown option 'colour'"),
    ],
)
def test_bad_options_are_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidOptionError, match=message):
        TranscriptionOptions.create(**values)


@pytest.mark.parametrize(
    ("values", "option"),
    [
        ({"patience": 1e308}, "patience"),
        ({"patience": 1e-300}, "patience"),
        ({"patience": float("nan")}, "patience"),
        ({"beam_size": 1, "patience": 0.5}, "patience"),
        ({"temperature": float("inf")}, "temperature"),
        ({"temperature": [0.1] * 22}, "temperature"),
        ({"temperature": []}, "temperature"),
        ({"beam_size": 0}, "beam_size"),
        ({"beam_size": 10**400}, "beam_size"),
        ({"beam_size": True}, "beam_size"),
        ({"chunk_length_s": 0}, "chunk_length_s"),
        ({"chunk_length_s": "abc"}, "chunk_length_s"),
        ({"batch_size": 65}, "batch_size"),
        ({"suppress_tokens": [2147483647]}, "suppress_tokens"),
        ({"suppress_tokens": [-2]}, "suppress_tokens"),
        ({"suppress_tokens": list(range(1025))}, "suppress_tokens"),
        ({"channels": [64]}, "channels"),
        ({"channels": list(range(65))}, "channels"),
        ({"initial_prompt": "x" * 4001}, "initial_prompt"),
        ({"language": "x" * 65}, "language"),
        ({"no_speech_threshold": 1.5}, "no_speech_threshold"),
        ({"log_prob_threshold": 1.0}, "log_prob_threshold"),
        ({"compression_ratio_threshold": 1e308}, "compression_ratio_threshold"),
        ({"word_timestamps": "yes"}, "word_timestamps"),
    ],
)
def test_out_of_bounds_options_name_the_option(values: dict[str, object], option: str) -> None:
    with pytest.raises(InvalidOptionError) as raised:
        TranscriptionOptions.create(**values)
    assert raised.value.context["option"] == option


def test_bounds_hold_for_every_way_of_building_options() -> None:
    """The constructor and dataclasses.replace check too, not only create()."""
    with pytest.raises(InvalidOptionError):
        TranscriptionOptions(beam_size=100)
    with pytest.raises(InvalidOptionError):
        replace(TranscriptionOptions(), patience=0.0)


def test_edges_of_the_bounds_are_accepted() -> None:
    options = TranscriptionOptions.create(
        temperature=[i / 20 for i in range(21)],
        beam_size=16,
        patience=5,
        suppress_tokens=[-1, 0, 51865],
        channels=list(range(64)),
        chunk_length_s=30.0,
        batch_size=0,
        compression_ratio_threshold=None,
    )
    assert options.chunk_length_s == 30 and len(options.temperature) == 21
