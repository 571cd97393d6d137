"""The systems under test, each run in a process of its own: ``python -m benchmarks.systems``.

A fresh process per (system, round, repetition) gives every system its own peak RSS (read by the
parent with ``wait4``) and keeps one system's allocator and thread pools from warming up
another's. The process loads the model (timed apart: ``load_s``), optionally makes one untimed
call, then transcribes its tasks, interleaving the repeats of different tasks so that noise hits
them alike, and writes one JSON result. Times are ``perf_counter`` around one call, which
includes decoding the file, so every system pays for its own decoding.

``aural-http`` and ``aural-cli-process`` are driven from the parent (see runner.py): their
process is ``aural`` itself.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from benchmarks import plan as p


@dataclass
class Output:
    """What a system heard: text, detected language, and (start, end, language) per segment."""

    text: str
    language: str | None
    segments: list[tuple[float, float, str | None]] = field(default_factory=list)
    channel_texts: dict[int, str] = field(default_factory=dict)  # aural, several channels


class Runner(Protocol):
    def load(self) -> None: ...
    def transcribe(self, task: dict[str, Any]) -> Output: ...


class AuralCli:
    """The ``aural transcribe`` code path, in this process.

    The model is loaded through the same process-wide pool the CLI uses, then the CLI command
    itself is invoked (typer, options parsing, progress bar on stderr, JSON rendering to
    stdout), so its pool lookup is a cache hit and the timed part is exactly the CLI's
    transcription. The whole process, start-up included, is measured by ``aural-cli-process``.
    """

    def __init__(self, job: dict[str, Any]) -> None:
        self.model: str = job["model"]
        self.expected_path: str = job["model_path"]
        self.aural_src: str | None = job.get("aural_src")

    def load(self) -> None:
        import aural
        from aural.model_pool import get_model_pool

        if self.aural_src and not Path(aural.__file__).resolve().is_relative_to(
            Path(self.aural_src).resolve()
        ):
            raise RuntimeError(f"aural imported from {aural.__file__}, not {self.aural_src}")

        loaded = get_model_pool().get(self.model)
        if os.path.realpath(loaded.path) != os.path.realpath(self.expected_path):
            raise RuntimeError(f"aural loaded {loaded.path}, the baselines {self.expected_path}")

    def transcribe(self, task: dict[str, Any]) -> Output:
        from aural.cli import app

        args = ["transcribe", task["audio"], "--model", self.model, "--format", "json"]
        if task["language"]:
            args += ["--language", task["language"]]
        if task["language_switching"]:
            args.append("--language-switching")
        if task["channels"] is not None:
            args += ["--channels", ",".join(str(c) for c in task["channels"])]
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            code = app(args, standalone_mode=False)
        if code:
            raise RuntimeError(f"aural transcribe exited {code}")
        return parse_aural_json(captured.getvalue())


def parse_aural_json(text: str) -> Output:
    """The parts of aural's ``json`` transcript that the metrics use."""
    data = json.loads(text)
    segments = [(s["start"], s["end"], s.get("language")) for s in data["segments"]]
    channels = sorted({s.get("channel", 0) for s in data["segments"]})
    texts: dict[int, str] = {}
    if len(data.get("channels") or []) > 1:
        for channel in channels:
            spoken = (s["text"].strip() for s in data["segments"] if s.get("channel") == channel)
            texts[channel] = " ".join(t for t in spoken if t)
    return Output(data["text"], data.get("language"), segments, texts)


class FasterWhisper:
    """Plain faster-whisper as its README shows it: the file path in, every segment consumed."""

    def __init__(self, job: dict[str, Any], beam_size: int) -> None:
        self.path: str = job["model_path"]
        self.threads: int = job["threads"]
        self.beam_size = beam_size

    def load(self) -> None:
        from faster_whisper import WhisperModel

        self.model = WhisperModel(
            self.path, device="cpu", compute_type="int8", cpu_threads=self.threads
        )

    def transcribe(self, task: dict[str, Any]) -> Output:
        segments, info = self.model.transcribe(
            task["audio"], beam_size=self.beam_size, language=task["language"]
        )
        raw = list(segments)
        text = " ".join(s.text.strip() for s in raw if s.text.strip())
        return Output(text, info.language, [(s.start, s.end, info.language) for s in raw])


class WhisperCpp:
    """whisper.cpp through pywhispercpp, on the ggml file converted from the same weights.

    Decoding settings are pywhispercpp's defaults except the thread count and, unless greedy,
    beam search of width 5 (as faster-whisper's default). The file is decoded with the same
    PyAV decoder faster-whisper uses, inside the timed call.
    """

    def __init__(self, job: dict[str, Any], beam_size: int) -> None:
        self.ggml: str = job["ggml_path"]
        self.threads: int = job["threads"]
        self.beam_size = beam_size
        self.english_only: bool = job["model"].endswith(".en")

    def load(self) -> None:
        from pywhispercpp.model import Model

        sampling: dict[str, Any] = {}
        if self.beam_size > 1:
            sampling = {
                "params_sampling_strategy": 1,
                "beam_search": {"beam_size": self.beam_size, "patience": -1.0},
            }
        self.model = Model(
            self.ggml,
            redirect_whispercpp_logs_to=None,
            n_threads=self.threads,
            print_progress=False,
            print_realtime=False,
            **sampling,
        )

    def transcribe(self, task: dict[str, Any]) -> Output:
        from faster_whisper.audio import decode_audio

        audio = decode_audio(task["audio"], sampling_rate=16_000)
        language = task["language"] or ("en" if self.english_only else "auto")
        segments = self.model.transcribe(audio, language=language)
        text = " ".join(s.text.strip() for s in segments if s.text.strip())
        known = None if language == "auto" else language
        # whisper.cpp times are in 10 ms units.
        return Output(text, known, [(s.t0 / 100, s.t1 / 100, known) for s in segments])


def make_runner(job: dict[str, Any]) -> Runner:
    system = job["system"]
    if system in (p.AURAL_CLI, p.AURAL_PREVIOUS):
        return AuralCli(job)
    if system in (p.FASTER_WHISPER, p.FASTER_WHISPER_GREEDY):
        return FasterWhisper(job, 1 if system == p.FASTER_WHISPER_GREEDY else 5)
    if system in (p.WHISPER_CPP, p.WHISPER_CPP_GREEDY):
        return WhisperCpp(job, 1 if system == p.WHISPER_CPP_GREEDY else 5)
    if system in (p.FASTER_WHISPER_BATCHED, p.FASTER_WHISPER_BATCHED_HUGE_PAGES):
        from benchmarks.batched import FasterWhisperBatched

        return FasterWhisperBatched(job)
    raise ValueError(f"no in-process runner for {system!r}")


def interleaved(tasks: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """(task, repeat) in round-robin order: t1#0, t2#0, t1#1, t2#1, ..."""
    most = max((t["repeats"] for t in tasks), default=0)
    return [(t, i) for i in range(most) for t in tasks if i < t["repeats"]]


def call_record(
    task: dict[str, Any], repeat: int, wall: float, cpu: float, out: Output
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "task": task["name"],
        "repeat": repeat,
        "wall_s": round(wall, 4),
        "cpu_s": round(cpu, 4),
        "text": out.text,
        "language": out.language,
        "segments": [[round(s, 3), round(e, 3), lang] for s, e, lang in out.segments],
    }
    if out.channel_texts:
        record["channel_texts"] = {str(k): v for k, v in out.channel_texts.items()}
    return record


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Load, warm up if asked, run every call; the result the parent reads back."""
    runner = make_runner(job)
    started = time.perf_counter()
    runner.load()
    load_s = time.perf_counter() - started
    if job.get("warmup") and job["tasks"]:
        runner.transcribe(job["tasks"][0])
    calls = []
    for task, repeat in interleaved(job["tasks"]):
        wall, cpu = time.perf_counter(), time.process_time()
        out = runner.transcribe(task)
        calls.append(
            call_record(task, repeat, time.perf_counter() - wall, time.process_time() - cpu, out)
        )
    return {"load_s": round(load_s, 4), "calls": calls}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one benchmark job (used by the harness).")
    parser.add_argument("job", type=Path, help="job JSON written by the harness")
    parser.add_argument("result", type=Path, help="where to write the result JSON")
    args = parser.parse_args(argv)
    job = json.loads(args.job.read_text(encoding="utf-8"))
    result = run_job(job)
    args.result.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
