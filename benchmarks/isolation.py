"""The embedded path with the engine in worker processes vs in threads of the server.

Starts one ``aural serve`` per layout side by side (each idle while another is measured) and
alternates them request by request, so a shared or loaded machine affects all alike:

- latency: one synchronous DeepInfra request with jfk.flac, median over alternating runs;
- throughput: 8 concurrent jfk requests, wall time, alternating rounds;
- memory: RSS and PSS of the API process plus its worker processes after the runs (RSS counts
  the libraries every process maps once per process; PSS once in all).

    python -m benchmarks.isolation --runs 15 --rounds 3 --out benchmarks/results/x.md
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.streaming import tree_memory_mb

JFK = Path(__file__).resolve().parent.parent / "tests" / "data" / "jfk.flac"
AURAL = Path(sys.executable).with_name("aural")

LAYOUTS: dict[str, dict[str, str]] = {
    "thread (before)": {"AURAL_ISOLATION": "thread"},
    "process, one shared engine process (default)": {"AURAL_ISOLATION": "process"},
    "process, an engine process per worker": {
        "AURAL_ISOLATION": "process",
        "AURAL_ENGINE_PROCESSES": str(os.cpu_count() or 1),
    },
}


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    latencies: list[float] = field(default_factory=list)
    batches: list[float] = field(default_factory=list)

    def transcribe(self, client: httpx.Client) -> float:
        started = time.perf_counter()
        response = client.post(
            f"{self.url}/v1/inference/openai/whisper-{os.environ.get('AURAL_MODEL', 'base')}",
            files={"audio": ("jfk.flac", JFK.read_bytes())},
        )
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        assert "ask not" in response.json()["text"]
        return elapsed

    def memory_mib(self) -> tuple[float, float]:
        """RSS and PSS summed over the API process and its worker processes."""
        return tree_memory_mb(self.process.pid)


def start(name: str, env: dict[str, str], root: Path, port: int) -> Server:
    data = root / name.split()[0] / str(port)
    process = subprocess.Popen(
        [str(AURAL), "serve", "--port", str(port), "--log-level", "warning"],
        env={**os.environ, "AURAL_DATA_DIR": str(data), "AURAL_GRPC_PORT": "0", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return Server(name, process, url)
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{name} did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="aural-isolation-"))
    servers = [start(n, e, root, 18900 + i) for i, (n, e) in enumerate(LAYOUTS.items())]
    try:
        with httpx.Client(timeout=600) as client:
            for server in servers:  # warm up: first calls allocate
                server.transcribe(client)
                server.transcribe(client)
            for _ in range(args.runs):
                for server in servers:
                    server.latencies.append(server.transcribe(client))
            for _ in range(args.rounds):
                for server in servers:
                    started = time.perf_counter()
                    calls = [server] * args.concurrency
                    with ThreadPoolExecutor(args.concurrency) as pool:
                        list(pool.map(lambda s: s.transcribe(client), calls))
                    server.batches.append(time.perf_counter() - started)
        base = servers[0]
        base_latency = statistics.median(base.latencies)
        base_batch = statistics.median(base.batches)
        base_rss, base_pss = base.memory_mib()
        lines = [
            f"# Engine isolation: worker processes vs threads ({os.cpu_count()} cores)",
            "",
            f"jfk.flac (11 s), model {os.environ.get('AURAL_MODEL', 'base')}; latency = median "
            f"of {args.runs} alternating sync DeepInfra requests; throughput = median wall time "
            f"of {args.rounds} alternating rounds of {args.concurrency} concurrent requests; RSS "
            "and PSS (shared pages split between their sharers) = API process + its worker "
            "processes after the runs. Load average at the end: "
            f"{os.getloadavg()[0]:.1f}.",
            "",
            "| layout | latency p50 s | ratio | 8 concurrent s | ratio | RSS MiB | ratio "
            "| PSS MiB | ratio |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for server in servers:
            latency = statistics.median(server.latencies)
            batch = statistics.median(server.batches)
            rss, pss = server.memory_mib()
            lines.append(
                f"| {server.name} | {latency:.3f} | {latency / base_latency:.2f} | {batch:.2f} | "
                f"{batch / base_batch:.2f} | {rss:.0f} | {rss / base_rss:.2f} | {pss:.0f} | "
                f"{pss / base_pss:.2f} |"
            )
        report = "\n".join(lines) + "\n"
        print(report)
        if args.out:
            args.out.write_text(report)
    finally:
        for server in servers:
            server.process.terminate()
        for server in servers:
            server.process.wait(60)


if __name__ == "__main__":
    main()
