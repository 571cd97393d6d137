"""The official ``openai`` SDK, unmodified, against a real server: transcription, translation,
json / verbose_json / srt, models and errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from conftest import wer

from .conftest import LiveServer


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0) as sdk:
        yield sdk


def _reference(data_dir: Path) -> str:
    return (data_dir / "jfk.txt").read_text(encoding="utf-8")


def test_transcription_json(client: openai.OpenAI, data_dir: Path) -> None:
    with (data_dir / "jfk.flac").open("rb") as media:
        result = client.audio.transcriptions.create(file=media, model="whisper-1")
    assert wer(_reference(data_dir), result.text) <= 0.15, result.text


def test_transcription_verbose_json_with_words(client: openai.OpenAI, data_dir: Path) -> None:
    with (data_dir / "jfk.flac").open("rb") as media:
        result = client.audio.transcriptions.create(
            file=media,
            model="tiny.en",
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
        )
    assert result.language == "english"
    assert result.duration == pytest.approx(11.0, abs=0.05)
    assert result.segments and result.words
    assert wer(_reference(data_dir), result.text) <= 0.15
    assert result.segments[0].start >= 0.0
    assert all(w.start <= w.end for w in result.words)
    assert all(s.tokens and s.avg_logprob <= 0.0 for s in result.segments)


def test_transcription_srt(client: openai.OpenAI, data_dir: Path) -> None:
    with (data_dir / "jfk.flac").open("rb") as media:
        result = client.audio.transcriptions.create(
            file=media, model="whisper-1", response_format="srt"
        )
    assert isinstance(result, str)
    assert re.match(r"1\n00:00:\d\d,\d{3} --> 00:00:\d\d,\d{3}\n\S", result)
    assert "country" in result


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the SDK's own notice
@pytest.mark.parametrize("response_format", ["json", "verbose_json", "srt"])
def test_translation_of_spanish_into_english(
    client: openai.OpenAI, data_dir: Path, response_format: str
) -> None:
    with (data_dir / "spanish_for_translation.flac").open("rb") as media:
        result = client.audio.translations.create(
            file=media,
            model="base",
            response_format=response_format,  # type: ignore[arg-type]
        )
    text = result if isinstance(result, str) else result.text
    words = set(re.findall(r"[a-z]+", text.lower()))
    assert {"representatives", "please"} & words, text
    assert not {"todos", "nuestros", "representantes", "por", "favor"} & words, text
    if response_format == "verbose_json":
        assert result.language == "spanish"  # type: ignore[union-attr]
        assert result.segments  # type: ignore[union-attr]


def test_models_lists_whisper_1_and_the_served_models(client: openai.OpenAI) -> None:
    names = [model.id for model in client.models.list()]
    assert names[0] == "whisper-1"
    assert {"tiny.en", "base"} <= set(names)
    assert client.models.retrieve("base").id == "base"


def test_errors_come_in_openai_shape(client: openai.OpenAI, data_dir: Path) -> None:
    with (data_dir / "jfk.flac").open("rb") as media, pytest.raises(openai.NotFoundError) as nf:
        client.audio.transcriptions.create(file=media, model="whisper-9")
    assert nf.value.code == "model_not_found"
    bad_media = (data_dir / "bad" / "not_media.wav").open("rb")
    with bad_media as media, pytest.raises(openai.BadRequestError) as bad:
        client.audio.transcriptions.create(file=media, model="whisper-1")
    assert bad.value.code == "media.invalid"
    assert bad.value.param == "file"
