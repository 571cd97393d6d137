"""The ``aural`` command as a user runs it: a real subprocess, real files, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import wer

from aural.config import Settings


def _aural(
    settings: Settings, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AURAL_CACHE_DIR": str(settings.cache_dir)}
    return subprocess.run(
        [sys.executable, "-m", "aural", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def test_one_file_goes_to_stdout_as_the_transcript_json(settings: Settings, data_dir: Path) -> None:
    done = _aural(settings, "transcribe", str(data_dir / "jfk.flac"), "--word-timestamps")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["language"] == "en"
    assert body["duration"] == pytest.approx(11.0)
    assert wer((data_dir / "jfk.txt").read_text(), body["text"]) <= 0.15
    segment = body["segments"][0]
    assert {"id", "start", "end", "text", "channel", "language", "words"} <= set(segment)
    assert segment["words"][0]["text"] == "And"


def test_several_files_are_written_to_the_output_dir(
    settings: Settings, data_dir: Path, tmp_path: Path
) -> None:
    done = _aural(
        settings, "transcribe", str(data_dir / "jfk.flac"), str(data_dir / "formats" / "jfk.ogg"),
        "--model", "tiny.en", "--format", "srt", "--output-dir", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    for name in ("jfk.srt",):
        text = (tmp_path / name).read_text()
        assert text.startswith("1\n00:00:00,000 --> ")
        assert "country" in text


def test_split_channels_with_tsv(settings: Settings, data_dir: Path) -> None:
    done = _aural(
        settings, "transcribe", str(data_dir / "stereo_two_speakers.flac"), "--model", "tiny.en",
        "--channel-mode", "split", "--channels", "1", "--format", "tsv",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert rows[0] == ["start", "end", "channel", "language", "text"]
    assert {row[2] for row in rows[1:]} == {"1"}
    assert "dashwood" in done.stdout.lower()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bad/not_media.wav"], "not a media file"),
        (["bad/truncated.wav"], "truncated"),
        (["bad/video_only.mp4"], "no audio stream"),
        (["stereo_two_speakers.flac", "--channels", "3"], "channel 3 does not exist"),
        (["jfk.flac", "--channels", "one"], "--channels takes comma-separated"),
        (["jfk.flac", "--language", "xx"], "unsupported language 'xx'"),
        (["jfk.flac", "--model", "no/such-model"], "aural[models]"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    settings: Settings, data_dir: Path, args: list[str], message: str
) -> None:
    done = _aural(settings, "transcribe", str(data_dir / args[0]), "--model", "tiny.en", *args[1:])
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert message in lines[0]


def test_bad_usage_exits_2(settings: Settings, data_dir: Path) -> None:
    done = _aural(settings, "transcribe", str(data_dir / "jfk.flac"), "--channel-mode", "stereo")
    assert done.returncode == 2
    assert "channel-mode" in done.stderr


def test_models_list_and_verify(settings: Settings) -> None:
    listed = _aural(settings, "models", "list")
    assert listed.returncode == 0
    assert "base" in listed.stdout and "tiny.en" in listed.stdout
    verified = _aural(settings, "models", "verify", "tiny.en")
    assert verified.returncode == 0, verified.stderr
    assert "tiny.en: ok" in verified.stdout


def test_the_server_command_leaves_the_engine_to_its_worker_processes() -> None:
    """``aural serve`` builds its app without importing CTranslate2, faster-whisper or ONNX
    Runtime: the API process hands every transcription to its engine processes, and those
    libraries would cost it ~100 MB it never uses."""
    probe = (
        "import sys; import aural.cli as cli; from aural.api.app import create_app; "
        "create_app(); "
        "print(sorted(m for m in ('ctranslate2', 'faster_whisper', 'onnxruntime', 'tokenizers') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
