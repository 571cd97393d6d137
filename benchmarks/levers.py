"""One lever setting, measured in a fresh process: ``python -m benchmarks.levers FILE [...]``.

Each configuration runs ``engine.transcribe_media`` (decoding included, as ``aural transcribe``
does) in a child process of its own, after loading the model, and reports that child's peak RSS
(``ru_maxrss`` from ``wait4``), its CPU seconds and wall seconds for the transcription, and the
transcript's word count (a lever must not lose words). CPU seconds are the speed figure to
compare on a loaded machine (wall time is not); peak RSS is valid anywhere.

Configurations are ``name:workers:batch`` triples, e.g. ``default:2:8 one-worker:1:8``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any


def child(audio: str, model: str, batch: int) -> dict[str, Any]:
    from aural.engine import transcribe_media
    from aural.model_pool import get_model_pool
    from aural.types import TranscriptionOptions

    pool = get_model_pool()
    pool.get(model)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.perf_counter()
    transcript = transcribe_media(audio, TranscriptionOptions(batch_size=batch), pool, model)
    wall = time.perf_counter() - wall0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 1),
        "words": len(transcript.text.split()),
        "text": transcript.text,
    }


def measure(audio: str, model: str, name: str, workers: int, batch: int) -> dict[str, Any]:
    env = dict(os.environ, AURAL_MODEL_WORKERS=str(workers), AURAL_CPU_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.levers",
        audio,
        "--model",
        model,
        "--child",
        str(batch),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{name}: the child failed")
    result = json.loads(out)
    return {
        "lever": name,
        "workers": workers,
        "batch": batch,
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        **result,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.levers")
    parser.add_argument("audio")
    parser.add_argument("configs", nargs="*", default=["default:2:8"])
    parser.add_argument("--model", default="base")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help="append one JSON line per configuration to this file")
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.audio, args.model, args.child)))
        return
    for config in args.configs:
        name, workers, batch = config.split(":")
        row = measure(args.audio, args.model, name, int(workers), int(batch))
        line = json.dumps({k: v for k, v in row.items() if k != "text"})
        print(line, flush=True)
        if args.out:
            with open(args.out, "a") as handle:
                handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
