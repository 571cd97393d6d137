from __future__ import annotations

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
