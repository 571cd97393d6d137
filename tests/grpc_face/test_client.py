"""The official Phonexia command-line client, unmodified, against a real ``aural serve``.

One server (base model, API keys on) for the module; every call is the client's console
script run as a subprocess with ``--plaintext -H 127.0.0.1:PORT``, its JSON output checked.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import wer
from fidelity_shapes import load, write_wav

from aural.api.auth import create_key
from aural.config import Settings
from aural.jobs.store import TaskStore

from .conftest import CLIENT, Server, aural_serve

JFK = (
    "and so my fellow americans ask not what your country can do for you "
    "ask what you can do for your country"
)


@dataclass
class Keyed:
    server: Server
    key: str  # every language
    english_key: str  # licensed for English only


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Iterator[Keyed]:
    root = tmp_path_factory.mktemp("grpc-client")
    (root / "data").mkdir()
    store = TaskStore(Settings(data_dir=root / "data").resolved_store_url)
    store.create_schema()
    _, key = create_key(store, "all")
    _, english_key = create_key(store, "english", languages=["en"])
    store.close()
    with aural_serve(root, settings.cache_dir, AURAL_MODEL="base") as server:
        yield Keyed(server, key, english_key)


def run_client(
    keyed: Keyed, *args: str, key: str | None = None, stdin: Path | None = None
) -> subprocess.CompletedProcess[str]:
    command = [str(CLIENT), "--plaintext", "-H", keyed.server.target]
    command += ["--metadata", f"authorization=Bearer {key or keyed.key}", *args]
    with stdin.open("rb") if stdin else open("/dev/null", "rb") as source:
        return subprocess.run(
            command, stdin=source, capture_output=True, text=True, timeout=600, check=False,
            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        )  # fmt: skip


def segments_of(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    segments: list[dict[str, Any]] = output["result"]["one_best"]["segments"]
    return segments


def seconds(value: str) -> float:
    return float(value.rstrip("s"))


def text_of(segments: list[dict[str, Any]]) -> str:
    return " ".join(s["text"] for s in segments)


def test_transcribe_a_wav_with_words(keyed: Keyed, data_dir: Path, tmp_path: Path) -> None:
    wav = tmp_path / "jfk.wav"
    write_wav(wav, [load(data_dir / "jfk.flac")])
    segments = segments_of(run_client(keyed, "transcribe", "--enable-word-segmentation", str(wav)))
    assert wer(JFK, text_of(segments)) < 0.1
    words = [w for s in segments for w in s["words"]]
    assert [w["text"] for w in words][:3] == ["and", "so", "my"]
    assert words[0]["punctuated_text"] == "And"
    assert any(w["punctuated_text"][-1] in ",.?!" for w in words)  # punctuation is kept
    for segment in segments:
        assert segment["language"] == segment["source_language"] == "en"
        assert segment["detected_source_language"] == "en"
        for word in segment["words"]:
            assert seconds(segment["start_time"]) - 0.01 <= seconds(word["start_time"])
            assert seconds(word["end_time"]) <= seconds(segment["end_time"]) + 0.01


def test_transcribe_an_mp3_from_stdin_without_words(keyed: Keyed, data_dir: Path) -> None:
    segments = segments_of(run_client(keyed, "transcribe", stdin=data_dir / "formats/jfk.mp3"))
    assert wer(JFK, text_of(segments)) < 0.1
    assert all(s["words"] == [] for s in segments)
    assert seconds(segments[-1]["end_time"]) == pytest.approx(11.0, abs=1.0)


def test_raw_audio_and_a_time_range(keyed: Keyed, data_dir: Path) -> None:
    """PCM16 sent by the client itself; timestamps stay on the file's timeline."""
    result = run_client(
        keyed, "transcribe", "--use-raw-audio", "-t", "2:8", str(data_dir / "jfk.flac")
    )
    segments = segments_of(result)
    text = text_of(segments).lower()
    assert "ask not what your country" in text
    assert "fellow" not in text and "ask what you can do" not in text
    assert seconds(segments[0]["start_time"]) >= 2.0
    assert seconds(segments[-1]["end_time"]) <= 8.0 + 0.01


def test_forced_language(keyed: Keyed, data_dir: Path) -> None:
    segments = segments_of(
        run_client(
            keyed, "transcribe", "--language", "es", str(data_dir / "spanish_for_translation.flac")
        )
    )
    assert segments and all(s["language"] == s["source_language"] == "es" for s in segments)


def test_language_switching_streams_segments_in_three_languages(
    keyed: Keyed, data_dir: Path
) -> None:
    expected = json.loads((data_dir / "switching_es_en_fr.json").read_text())["spans"]
    segments = segments_of(
        run_client(
            keyed,
            "transcribe",
            "--enable-language-switching",
            str(data_dir / "switching_es_en_fr.flac"),
        )
    )
    for span in expected:
        inside = [
            s["language"]
            for s in segments
            if span["start"]
            <= (seconds(s["start_time"]) + seconds(s["end_time"])) / 2
            < span["end"]
        ]
        assert inside and inside.count(span["language"]) / len(inside) >= 0.8, (span, inside)


def test_translate_spanish(keyed: Keyed, data_dir: Path) -> None:
    segments = segments_of(
        run_client(keyed, "translate", str(data_dir / "spanish_for_translation.flac"))
    )
    assert all(s["language"] == "en" and s["source_language"] == "es" for s in segments)
    english = (data_dir / "spanish_for_translation.txt").read_text()
    assert text_of(segments).isascii() and len(text_of(segments)) > len(english) / 4


@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("stereo", "INVALID_ARGUMENT", "the audio has 2 channels"),
        ("bad key", "UNAUTHENTICATED", "the API key is unknown or revoked"),
        ("unlicensed", "PERMISSION_DENIED", "not licensed"),
        ("not media", "INVALID_ARGUMENT", "not a media file"),
    ],
)
def test_refusals_exit_2_with_the_status(
    keyed: Keyed, data_dir: Path, case: str, status: str, message: str
) -> None:
    media, key, extra = data_dir / "jfk.flac", None, []
    if case == "stereo":
        media = data_dir / "stereo_two_speakers.flac"
    elif case == "bad key":
        key = "aural_not-a-key"
    elif case == "unlicensed":
        key, extra = keyed.english_key, ["--language", "es"]
    else:
        media = data_dir / "bad/not_media.wav"
    result = run_client(keyed, "transcribe", *extra, str(media), key=key)
    assert result.returncode == 2
    error = " ".join(result.stderr.replace("│", " ").split())  # the rich box, unwrapped
    assert f"StatusCode.{status}" in error, error
    assert message in error, error
