"""Running a :class:`~benchmarks.plan.Plan`: one process per (round, repetition, system).

Systems alternate: within a round, every repetition runs each system once, in an order rotated
by one per repetition. Peak RSS is the process's ``ru_maxrss`` from ``wait4`` (this process's
own getrusage(RUSAGE_CHILDREN) would give the maximum over *all* children instead). A system
that fails is recorded with its error and the run goes on; the report lists the errors.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from benchmarks import plan as p
from benchmarks import streaming
from benchmarks.audio_sets import REPO_ROOT
from benchmarks.systems import Output, call_record, interleaved, parse_aural_json

Record = dict[str, Any]
Log = Callable[[str], None]

READY_TIMEOUT_S = 600.0


def child_env(threads: int) -> dict[str, str]:
    """The environment of every measured process: aural gets the baselines' cores.

    In aural's own layout: ``threads`` model workers of one thread each (its default on a
    machine with ``threads`` cores), where the baselines run one call on ``threads`` threads.
    """
    env = dict(os.environ)
    env["AURAL_CPU_THREADS"] = "1"
    env["AURAL_MODEL_WORKERS"] = str(threads)
    env.pop("AURAL_MODEL", None)
    return env


class TimedOut(RuntimeError):
    """A measured process ran past the run's ``--timeout``; it was killed."""


def wait_measured(
    proc: subprocess.Popen[bytes], timeout_s: float | None = None
) -> tuple[int, float]:
    """Reap ``proc`` with wait4: its exit code and its own peak RSS in MB.

    Past ``timeout_s`` it is killed and :class:`TimedOut` raised, so one pathological system
    cannot hold the whole run hostage.
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        while True:
            pid, status, usage = os.wait4(proc.pid, 0 if deadline is None else os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                return proc.returncode, usage.ru_maxrss / 1024.0
            if deadline is not None and time.monotonic() > deadline:
                raise TimedOut(f"killed after {timeout_s:.0f} s (--timeout)")
            time.sleep(0.05)
    except BaseException:  # timed out, or the harness itself is stopping: no orphans
        if proc.returncode is None:
            proc.kill()
            os.wait4(proc.pid, 0)
            proc.returncode = -9
        raise


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def http_unavailable() -> str | None:
    """Why the HTTP path cannot be measured, or None when ``aural.api.app`` is there."""
    try:
        module = importlib.import_module("aural.api.app")
        module.create_app  # noqa: B018 - its presence is the test
    except Exception as exc:  # any import failure means "not built yet"
        return f"aural-http skipped: cannot import aural.api.app.create_app ({exc})"
    return None


def system_environment(
    system: str, tasks: tuple[p.Task, ...], env: dict[str, str]
) -> dict[str, str]:
    """The environment a system's process starts with, as its users would start it.

    ``aural transcribe`` restarts itself under glibc's huge-pages tunable when its files hold
    enough audio (:func:`aural.memory.restart_with_huge_pages`); the in-process runner cannot
    restart, so it starts that way when every task of the round is that long, by the product's
    own rule. The batched pipeline's reference row gets the tunable too; everything else runs in
    the plain environment.
    """
    from aural.audio import announced_audio_seconds
    from aural.memory import HUGE_PAGES_AFTER_AUDIO_S, with_huge_pages

    long_enough = all(
        (announced_audio_seconds(t.audio) or 0.0) >= HUGE_PAGES_AFTER_AUDIO_S for t in tasks
    )
    if (system == p.AURAL_CLI and long_enough) or system == p.FASTER_WHISPER_BATCHED_HUGE_PAGES:
        return with_huge_pages(env) or env
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Harness:
    """Runs the rounds and collects one record per measured process."""

    def __init__(
        self,
        plan: p.Plan,
        work: Path,
        model_paths: dict[str, str],
        ggml_paths: dict[str, str],
        log: Log,
        timeout_s: float | None = None,
        system_env: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.plan = plan
        self.work = work
        self.model_paths = model_paths
        self.ggml_paths = ggml_paths
        self.log = log
        self.timeout_s = timeout_s
        # Extra environment per system: aural-previous's PYTHONPATH (its own source tree).
        self.system_env = system_env or {}
        # Per run, so that runs sharing a work directory (a smoke test during a full run)
        # never read each other's job files.
        (work / "logs").mkdir(parents=True, exist_ok=True)
        self.logs = Path(
            tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=work / "logs")
        )
        self.records: list[Record] = []

    def run(self, skip: set[str]) -> list[Record]:
        for round_ in self.plan.rounds:
            systems = [s for s in round_.systems if s not in skip]
            for rep in range(round_.reps):
                shift = rep % len(systems) if systems else 0
                for system in systems[shift:] + systems[:shift]:
                    tasks = round_.tasks_for(system)
                    if tasks:
                        self.records.append(self._measure(round_, rep, system, tasks))
        return self.records

    def _measure(self, round_: p.Round, rep: int, system: str, tasks: tuple[p.Task, ...]) -> Record:
        record: Record = {
            "round": round_.name,
            "rep": rep,
            "system": system,
            "model": round_.model,
            "load_avg_before": [round(x, 2) for x in os.getloadavg()],
            "error": None,
            "load_s": None,
            "peak_rss_mb": None,
            "process_wall_s": None,
            "calls": [],
        }
        self.log(f"[{round_.name} #{rep + 1}/{round_.reps}] {system} ({round_.model}) ...")
        started = time.perf_counter()
        try:
            if system == p.AURAL_HTTP:
                self._run_http(round_, tasks, record)
            elif system == p.AURAL_PROCESS:
                self._run_cli_process(round_, tasks, record)
            elif system == streaming.AURAL_HTTP_TWO:
                streaming.run_server_two(
                    round_, tasks, record, self.plan.threads, self.work, self.logs, self.timeout_s
                )
            else:
                self._run_worker(round_, rep, system, tasks, record)
        except Exception as exc:  # one failing system must not lose the others' numbers
            record["error"] = f"{type(exc).__name__}: {exc}"
        record["process_wall_s"] = round(time.perf_counter() - started, 4)
        status = record["error"] or f"{record['process_wall_s']:.1f} s"
        self.log(f"    {status}")
        return record

    def _job(self, round_: p.Round, system: str, tasks: tuple[p.Task, ...]) -> dict[str, Any]:
        return {
            "system": system,
            "model": round_.model,
            "model_path": self.model_paths[round_.model],
            "ggml_path": self.ggml_paths.get(round_.model),
            "threads": self.plan.threads,
            "warmup": round_.warmup,
            "tasks": [task_dict(t) for t in tasks],
            "aural_src": self.system_env.get(system, {}).get("PYTHONPATH"),
        }

    def _run_worker(
        self, round_: p.Round, rep: int, system: str, tasks: tuple[p.Task, ...], record: Record
    ) -> None:
        stem = f"{round_.name}-{rep}-{system}"
        job_file = self.logs / f"{stem}.job.json"
        result_file = self.logs / f"{stem}.result.json"
        log_file = self.logs / f"{stem}.log"
        result_file.unlink(missing_ok=True)
        job_file.write_text(json.dumps(self._job(round_, system, tasks)), encoding="utf-8")
        command = [sys.executable, "-m", "benchmarks.systems", str(job_file), str(result_file)]
        with open(log_file, "wb") as log:
            proc = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=system_environment(
                    system,
                    tasks,
                    {**child_env(self.plan.threads), **self.system_env.get(system, {})},
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            code, rss = wait_measured(proc, self.timeout_s)
        record["peak_rss_mb"] = round(rss, 1)
        if code != 0 or not result_file.is_file():
            raise RuntimeError(f"exit {code}; {log_file}:\n{_tail(log_file)}")
        result = json.loads(result_file.read_text(encoding="utf-8"))
        record["load_s"] = result["load_s"]
        record["calls"] = result["calls"]

    def _run_cli_process(self, round_: p.Round, tasks: tuple[p.Task, ...], record: Record) -> None:
        """``aural transcribe FILE --model M`` as users run it: one process per call, wall time
        from spawn to exit (interpreter start, imports, model load, transcription, output)."""
        for task, repeat in interleaved([task_dict(t) for t in tasks]):
            command = [
                sys.executable,
                "-m",
                "aural",
                "transcribe",
                task["audio"],
                "--model",
                round_.model,
                "--format",
                "json",
            ]
            out_file = self.logs / f"{round_.name}-cli-process.out.json"
            err_file = self.logs / f"{round_.name}-cli-process.log"
            with open(out_file, "wb") as out, open(err_file, "wb") as err:
                started = time.perf_counter()
                proc = subprocess.Popen(
                    command,
                    cwd=REPO_ROOT,
                    env=child_env(self.plan.threads),
                    stdout=out,
                    stderr=err,
                )
                code, rss = wait_measured(proc, self.timeout_s)
                wall = time.perf_counter() - started
            if code != 0:
                raise RuntimeError(f"aural transcribe exited {code}:\n{_tail(err_file)}")
            record["peak_rss_mb"] = max(record["peak_rss_mb"] or 0.0, round(rss, 1))
            output = parse_aural_json(out_file.read_text(encoding="utf-8"))
            call = call_record(task, repeat, wall, 0.0, output)
            call.update(peak_rss_mb=round(rss, 1), audio_s=task["duration"])  # per file
            record["calls"].append(call)

    def _run_http(self, round_: p.Round, tasks: tuple[p.Task, ...], record: Record) -> None:
        """``aural serve`` on a loopback port, one synchronous DeepInfra request per call."""
        with aural_server(round_.model, self.plan.threads, self.work, self.logs) as server:
            record["load_s"] = round(server.ready_s, 4)
            url = f"{server.base_url}/v1/inference/openai/whisper-{round_.model}"
            with httpx.Client(
                timeout=httpx.Timeout(self.timeout_s or 3600.0, connect=10.0), trust_env=False
            ) as client:
                items = [task_dict(t) for t in tasks]
                if round_.warmup and items:
                    post_inference(client, url, items[0])
                for task, repeat in interleaved(items):
                    started = time.perf_counter()
                    output = post_inference(client, url, task)
                    wall = time.perf_counter() - started
                    record["calls"].append(call_record(task, repeat, wall, 0.0, output))
        record["peak_rss_mb"] = round(server.peak_rss_mb, 1)


def post_inference(client: httpx.Client, url: str, task: dict[str, Any]) -> Output:
    data = {"language": task["language"]} if task["language"] else {}
    with open(task["audio"], "rb") as media:
        response = client.post(url, files={"audio": (Path(task["audio"]).name, media)}, data=data)
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
    body = response.json()
    language = body.get("language")
    segments = [(s["start"], s["end"], language) for s in body.get("segments", [])]
    return Output(body.get("text", ""), language, segments)


class Server:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.ready_s = 0.0
        self.peak_rss_mb = 0.0


@contextlib.contextmanager
def aural_server(model: str, threads: int, work: Path, logs: Path) -> Iterator[Server]:
    """A private ``aural serve`` (own data dir, default model ``model``), ready when yielded.

    ``ready_s`` is spawn to the first 200 from ``/readyz``, which waits for the default model:
    the server's start-up and model load, kept apart from request times.
    """
    port = free_port()
    env = child_env(threads)
    data_dir = Path(tempfile.mkdtemp(prefix="aural-bench-serve-", dir=work))
    env.update({"AURAL_MODEL": model, "AURAL_DATA_DIR": str(data_dir), "AURAL_WORKERS": "1"})
    command = [
        sys.executable,
        "-m",
        "aural",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    log_file = logs / f"serve-{model}.log"
    server = Server(f"http://127.0.0.1:{port}")
    with open(log_file, "wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=log)
        try:
            _wait_ready(server.base_url, proc, log_file)
            server.ready_s = time.perf_counter() - started
            yield server
        finally:
            server.peak_rss_mb = stop_measured(proc)
            shutil.rmtree(data_dir, ignore_errors=True)


def stop_measured(proc: subprocess.Popen[bytes], grace_s: float = 30.0) -> float:
    """Stop a server gracefully (SIGINT, as Ctrl-C), SIGKILL after ``grace_s``; its peak RSS."""
    if proc.returncode is not None:  # already reaped (it died on its own): rusage is gone
        return 0.0
    proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_maxrss / 1024.0
        time.sleep(0.1)
    proc.kill()
    return wait_measured(proc)[1]


def _wait_ready(base_url: str, proc: subprocess.Popen[bytes], log_file: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"aural serve exited {proc.returncode}:\n{_tail(log_file)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/readyz", timeout=2.0, trust_env=False).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"aural serve not ready after {READY_TIMEOUT_S:.0f} s")


def task_dict(task: p.Task) -> dict[str, Any]:
    """A task as the JSON a worker reads (spans and references stay with the parent)."""
    data = asdict(task)
    for heavy in ("spans", "reference", "fidelity"):
        data.pop(heavy)
    return data
