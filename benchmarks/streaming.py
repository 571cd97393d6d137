"""Issue 12's rounds: memory against duration, and the embedded server with two long tasks.

* ``duration``: ``aural transcribe`` as a whole process (``aural-cli-process``) on the long
  file (~12.5 min) and on a 2 h file made of that file repeated (built at run time into the
  work directory, never committed). Each call's own peak RSS is kept, so the report can give
  the 2 h / 10 min ratio.
* ``server-two``: ``aural serve`` in its default layout (as many transcriptions at once as
  model workers), two synchronous requests with the long file sent at the same moment. The
  figure is the peak of the summed RSS of the server and every process under it, sampled
  every 0.1 s (the server may run its engine in worker processes), next to the server's own
  ``ru_maxrss``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from benchmarks import audio_sets as sets
from benchmarks import plan as p

AURAL_HTTP_TWO = "aural-http-two"  # aural serve, two long requests at once
TWO_HOURS_S = 7200.0


def two_hour_file(long: sets.BuiltAudio, out: Path, seconds: float = TWO_HOURS_S) -> p.Task:
    """``long`` repeated up to ``seconds``, written as 16-bit WAV frame by frame (the builder
    never holds 2 h of samples); the reference is the repeated reference, whole copies only."""
    with wave.open(long.path, "rb") as source:
        rate, width, channels = source.getframerate(), source.getsampwidth(), source.getnchannels()
        pcm = source.readframes(source.getnframes())
    frame_bytes = width * channels
    total = int(seconds * rate)
    copies = total * frame_bytes // len(pcm)
    if not (out.is_file() and out.stat().st_size >= total * frame_bytes):
        staging = out.with_suffix(f".{os.getpid()}.partial")
        with wave.open(str(staging), "wb") as sink:
            sink.setnchannels(channels)
            sink.setsampwidth(width)
            sink.setframerate(rate)
            left = total * frame_bytes
            while left > 0:
                piece = pcm[: min(left, len(pcm))]
                sink.writeframes(piece)
                left -= len(piece)
        staging.replace(out)
    return p.Task(
        name="two-hours",
        audio=str(out),
        duration=total / rate,
        tags=("rss-2h",),
        reference=" ".join([long.reference] * copies) if long.reference else None,
    )


def rounds(work: Path, long: sets.BuiltAudio, reps: int) -> tuple[p.Round, ...]:
    ten = p.Task(name="long-process", audio=long.path, duration=long.duration, tags=("rss-10min",))
    two = two_hour_file(long, work / "two-hours-en.wav")
    server = p.Task(
        name="long-twice", audio=long.path, duration=long.duration, tags=("server-two",)
    )
    return (
        p.Round("duration", "base", (p.AURAL_PROCESS,), (ten, two), reps=1),
        p.Round("server-two", "base", (AURAL_HTTP_TWO,), (server,), reps=reps),
    )


def smoke_rounds(long: p.Task) -> tuple[p.Round, ...]:
    """The same code paths on the smoke plan's tiny file."""
    ten = p.Task(
        name="smoke-process", audio=long.audio, duration=long.duration, tags=("rss-10min",)
    )
    server = p.Task(
        name="smoke-twice", audio=long.audio, duration=long.duration, tags=("server-two",)
    )
    return (
        p.Round("duration", "tiny.en", (p.AURAL_PROCESS,), (ten,)),
        p.Round("server-two", "tiny.en", (AURAL_HTTP_TWO,), (server,)),
    )


# --- the server with two tasks at once --------------------------------------------------------


def tree_memory_mb(pid: int) -> tuple[float, float]:
    """Summed RSS and summed PSS of ``pid`` and every process below it, in MB (0 once gone).

    RSS counts the pages the processes share (the model's libraries, mapped by every engine
    process) once per process; PSS splits each shared page between its sharers, so it sums to
    the memory the machine actually spends.
    """
    rss, pss, stack = 0, 0, [pid]
    while stack:
        current = stack.pop()
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
    return rss / 1024.0, pss / 1024.0


class _Sampler(threading.Thread):
    def __init__(self, pid: int, every_s: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.every_s, self.peak_mb, self.peak_pss_mb = pid, every_s, 0.0, 0.0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            rss, pss = tree_memory_mb(self.pid)
            self.peak_mb, self.peak_pss_mb = max(self.peak_mb, rss), max(self.peak_pss_mb, pss)
            self._halt.wait(self.every_s)

    def stop(self) -> None:
        self._halt.set()
        self.join()


@contextlib.contextmanager
def _default_server(model: str, threads: int, work: Path, logs: Path) -> Iterator[Any]:
    """``aural serve`` with the embedded defaults (transcriptions at once not forced to 1)."""
    from benchmarks.runner import Server, _wait_ready, child_env, free_port, stop_measured

    port = free_port()
    env = child_env(threads)
    data_dir = Path(tempfile.mkdtemp(prefix="aural-bench-two-", dir=work))
    env.update({"AURAL_MODEL": model, "AURAL_DATA_DIR": str(data_dir)})
    env.pop("AURAL_WORKERS", None)
    command = [sys.executable, "-m", "aural", "serve", "--host", "127.0.0.1", "--port", str(port)]
    log_file = logs / f"serve-two-{model}.log"
    server = Server(f"http://127.0.0.1:{port}")
    with open(log_file, "wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [*command, "--log-level", "warning"],
            cwd=sets.REPO_ROOT,
            env=env,
            stdout=log,
            stderr=log,
        )
        try:
            _wait_ready(server.base_url, proc, log_file)
            server.ready_s = time.perf_counter() - started
            server.pid = proc.pid
            yield server
        finally:
            server.peak_rss_mb = stop_measured(proc)
            shutil.rmtree(data_dir, ignore_errors=True)


def _timed_post(url: str, task: dict[str, Any], timeout: httpx.Timeout) -> tuple[Any, float]:
    from benchmarks.runner import post_inference

    with httpx.Client(timeout=timeout, trust_env=False) as client:
        started = time.perf_counter()
        output = post_inference(client, url, task)
        return output, time.perf_counter() - started


def run_server_two(
    round_: p.Round,
    tasks: tuple[p.Task, ...],
    record: dict[str, Any],
    threads: int,
    work: Path,
    logs: Path,
    timeout_s: float | None,
) -> None:
    """Each task sent twice at the same moment; the record's peak RSS is the sampled tree's."""
    from benchmarks.runner import task_dict
    from benchmarks.systems import call_record

    with _default_server(round_.model, threads, work, logs) as server:
        record["load_s"] = round(server.ready_s, 4)
        url = f"{server.base_url}/v1/inference/openai/whisper-{round_.model}"
        sampler = _Sampler(server.pid)
        sampler.start()
        try:
            timeout = httpx.Timeout(timeout_s or 3600.0, connect=10.0)
            for task in (task_dict(t) for t in tasks):
                with ThreadPoolExecutor(2) as pool:
                    sent = [pool.submit(_timed_post, url, task, timeout) for _ in range(2)]
                    for slot, future in enumerate(sent):
                        output, wall = future.result()  # a failed request raises here
                        record["calls"].append(call_record(task, slot, wall, 0.0, output))
        finally:
            sampler.stop()
    record["peak_rss_mb"] = round(sampler.peak_mb, 1)
    record["peak_pss_mb"] = round(sampler.peak_pss_mb, 1)
    record["peak_rss_main_mb"] = round(server.peak_rss_mb, 1)


# --- the report --------------------------------------------------------------------------------


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Peak RSS per duration (aural transcribe) and of the server with two tasks at once."""
    from benchmarks import metrics

    out: dict[str, Any] = {"duration": {}, "server_two": None}
    for record in records:
        if record["error"]:
            continue
        if record.get("round") == "duration":
            for call in record["calls"]:
                out["duration"][call["task"]] = {
                    "audio_s": call.get("audio_s"),
                    "peak_rss_mb": call.get("peak_rss_mb"),
                    "wall_s": round(call["wall_s"], 2),
                }
    servers = [r for r in records if r.get("round") == "server-two" and not r["error"]]
    if servers:
        out["server_two"] = {
            "peak_rss_tree_mb": metrics.median([r["peak_rss_mb"] for r in servers]),
            "peak_pss_tree_mb": metrics.median([r.get("peak_pss_mb") or 0 for r in servers]),
            "peak_rss_main_mb": metrics.median([r.get("peak_rss_main_mb") or 0 for r in servers]),
            "wall_s": metrics.median([c["wall_s"] for r in servers for c in r["calls"]]),
            "runs": len(servers),
        }
    return out


def goals(s: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 12's figures, exactly as it states them (None where this run lacks one)."""
    from benchmarks.report import _div, _get, _goal, _sub

    fw, batched, cli = p.FASTER_WHISPER, p.FASTER_WHISPER_BATCHED, p.AURAL_CLI
    memory = s.get("streaming") or {}
    ten = next((v for k, v in memory.get("duration", {}).items() if k != "two-hours"), None)
    two = memory.get("duration", {}).get("two-hours")
    server = memory.get("server_two") or {}
    return [
        _goal(
            "long file: aural speed / batched pipeline speed",
            _div(
                _get(s, "speed_long", cli, "x_realtime"),
                _get(s, "speed_long", batched, "x_realtime"),
            ),
            1.25,
            "higher",
        ),
        _goal(
            "long file WER: aural - plain faster-whisper (points)",
            _sub(_get(s, "wer_percent", "long", cli), _get(s, "wer_percent", "long", fw)),
            0.0,
            "lower",
        ),
        _goal(
            "short clips p50 latency: aural / plain faster-whisper",
            _div(_get(s, "latency", cli, "p50_s"), _get(s, "latency", fw, "p50_s")),
            0.6,
            "lower",
        ),
        _goal(
            "stereo: both channels / one channel (time)",
            _get(s, "stereo_split", cli, "ratio"),
            1.3,
            "lower",
        ),
        _goal(
            "`aural transcribe` peak RSS on the long file (MB)",
            (ten or {}).get("peak_rss_mb"),
            700,
            "lower",
        ),
        _goal(
            "peak RSS, 2 h file / long file",
            _div((two or {}).get("peak_rss_mb"), (ten or {}).get("peak_rss_mb")),
            1.1,
            "lower",
        ),
        _goal(
            "server, two long tasks at once: peak RSS summed over its processes (MB)",
            server.get("peak_rss_tree_mb"),
            1200,
            "lower",
        ),
        _goal(
            "server, two long tasks at once: peak PSS (shared pages once) (MB)",
            server.get("peak_pss_tree_mb"),
            1200,
            "lower",
        ),
    ]


def render(result: dict[str, Any]) -> list[str]:
    """The markdown section of issue 12's figures."""
    from benchmarks.report import _fmt, _met, _table

    out = ["", "### Issue 12 goals (streaming engine)", ""]
    out += _table(
        ["goal", "measured", "target", "met"],
        [
            [g["goal"], _fmt(g["measured"]), g["target"], _met(g["met"])]
            for g in result["ratios"].get("issue_12", [])
        ],
    )
    memory = result["summary"].get("streaming") or {}
    rows = [
        [name, _fmt(v.get("audio_s")), _fmt(v.get("peak_rss_mb")), _fmt(v.get("wall_s"))]
        for name, v in memory.get("duration", {}).items()
    ]
    if rows:
        out += ["", "`aural transcribe` as a whole process, peak RSS by duration:", ""]
        out += _table(["file", "audio s", "peak RSS MB", "process s"], rows)
    if memory.get("server_two"):
        v = memory["server_two"]
        out += [
            "",
            f"`aural serve` (defaults), two long requests at once: peak RSS of the process tree "
            f"{_fmt(v['peak_rss_tree_mb'])} MB (server process alone {_fmt(v['peak_rss_main_mb'])} "
            f"MB), median request {_fmt(v['wall_s'])} s.",
        ]
    return out
