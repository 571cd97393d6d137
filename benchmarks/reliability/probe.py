"""``/healthz`` latencies measured from a process of its own.

The senders of bad input run as threads of the test process; probing from the same process
would measure that process's own GIL contention, not the server's liveness.

    python -m benchmarks.reliability.probe URL SECONDS   # prints a JSON list of seconds
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx

INTERVAL_S = 0.02


def measure(url: str, seconds: float) -> list[float]:
    latencies = []
    with httpx.Client(base_url=url, timeout=30) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            began = time.perf_counter()
            response = client.get("/healthz")
            latencies.append(time.perf_counter() - began)
            if response.status_code != 200:
                raise RuntimeError(f"/healthz answered {response.status_code}")
            time.sleep(INTERVAL_S)
    return latencies


def probe_healthz(url: str, seconds: float) -> list[float]:
    """The latencies of ``/healthz`` probes over ``seconds``, from a separate process."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.reliability.probe", url, str(seconds)],
        capture_output=True, text=True, check=True, timeout=seconds + 120,
    )  # fmt: skip
    return [float(x) for x in json.loads(done.stdout)]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(int(len(ordered) * share) - 1, 0)]


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], float(sys.argv[2]))))
