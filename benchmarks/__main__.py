"""``python -m benchmarks``: speed and accuracy of aural against its baselines, in one run.

Modes:

* full (default): every figure, 3 repetitions; writes ``benchmarks/results/<date>-<machine>``.
* ``--quick``: the same plan with one repetition, for checking the full path works; writes
  under the work directory unless ``--out`` says otherwise.
* ``--smoke``: tiny inputs, mostly ``tiny.en``, one repetition (under a minute on 2 cores); what
  the test suite runs. Writes to ``--out`` or a fresh temporary directory, never to results/.

See ``benchmarks/README.md`` for what is measured and how to read the results.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import audio_sets, fidelity, machine, report, streaming
from benchmarks import plan as p
from benchmarks.runner import Harness, child_env, http_unavailable

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_WORK = BENCH_DIR / ".work"
# Environment variables that change how the engines run; recorded with every result.
ENV_PREFIXES = ("AURAL_", "OMP_", "GOMP_", "KMP_", "CT2_", "MKL_", "OPENBLAS_")
BENCH_EXTRA_HINT = "pip install --only-binary=pywhispercpp -e '.[models,bench]'"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=(__doc__ or "").split("\n\n")[0]
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true", help="tiny inputs, seconds; for the tests")
    mode.add_argument("--quick", action="store_true", help="full plan, one repetition")
    parser.add_argument("--out", type=Path, help="directory for the .md and .json results")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="cache of built inputs")
    parser.add_argument("--reps", type=int, help="repetitions per round (full: 3)")
    parser.add_argument("--clip-repeats", type=int, help="calls per short clip per process (2)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of every system (2)")
    parser.add_argument(
        "--timeout", type=float, help="seconds a measured process or HTTP call may take (none)"
    )
    parser.add_argument(
        "--label", help="suffix of the result files, e.g. the lever being tried (batched-vad)"
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the per-process logs (kept on errors)"
    )
    parser.add_argument("--systems", help="comma-separated systems to run (default: all)")
    parser.add_argument(
        "--rounds", help="comma-separated rounds to run (default: all; fidelity: its three)"
    )
    parser.add_argument(
        "--previous",
        default=fidelity.PREVIOUS_RELEASE,
        help=f"git commit run as aural-previous (default {fidelity.PREVIOUS_RELEASE})",
    )
    return parser.parse_args(argv)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def model_paths(models: set[str]) -> dict[str, str]:
    """Each model's CTranslate2 directory, resolved exactly as aural resolves it, so the
    baselines load the very weights aural does (the aural worker checks this)."""
    from aural.config import get_settings
    from aural.models import resolve_model_path

    return {name: resolve_model_path(name, get_settings()) for name in sorted(models)}


def ggml_files(paths: dict[str, str], work: Path) -> dict[str, str]:
    """whisper.cpp copies of the same weights, converted once and cached by model size."""
    from benchmarks.ct2_to_ggml import convert

    out: dict[str, str] = {}
    for name, directory in paths.items():
        size = (Path(directory) / "model.bin").stat().st_size
        target = work / "ggml" / f"ggml-{name}-{size}.bin"
        if not target.is_file():
            _log(f"converting {directory} to {target} ...")
            staging = target.with_suffix(f".{os.getpid()}.partial")
            convert(Path(directory), staging)
            staging.replace(target)
        out[name] = str(target)
    return out


def _select(plan: p.Plan, rounds: str | None) -> p.Plan:
    if not rounds:
        return plan
    wanted = {r.strip() for r in rounds.split(",")}
    if "fidelity" in wanted:  # the group of issue 10's rounds
        wanted = (wanted - {"fidelity"}) | set(fidelity.ROUNDS)
    unknown = wanted - {r.name for r in plan.rounds}
    if unknown:
        raise SystemExit(
            f"unknown round(s) {sorted(unknown)}; plan has {[r.name for r in plan.rounds]}"
        )
    return p.Plan(plan.mode, plan.threads, tuple(r for r in plan.rounds if r.name in wanted))


def build_plan(args: argparse.Namespace) -> p.Plan:
    if args.smoke:
        return p.smoke_plan(args.work, args.threads)
    mode = "quick" if args.quick else "full"
    reps = args.reps or (1 if args.quick else 3)
    clip_repeats = args.clip_repeats or (1 if args.quick else 2)
    try:
        return p.full_plan(args.work, reps, clip_repeats, args.threads, mode)
    except audio_sets.MissingInputError as exc:
        raise SystemExit(f"error: {exc}") from None


def out_dir(args: argparse.Namespace) -> Path:
    if args.out:
        if args.smoke and args.out.resolve().is_relative_to(RESULTS_DIR):
            raise SystemExit("error: smoke results never go to benchmarks/results/")
        return Path(args.out)
    if args.smoke:
        return Path(tempfile.mkdtemp(prefix="aural-bench-smoke-"))
    return RESULTS_DIR if not args.quick else args.work / "results"


def skipped_systems(plan: p.Plan, systems: str | None) -> tuple[set[str], list[str]]:
    """Systems left out (not chosen, or not available here) and notes saying why."""
    notes: list[str] = []
    skip: set[str] = set()
    if systems:
        chosen = {s.strip() for s in systems.split(",")}
        known = {s for r in plan.rounds for s in r.systems}
        if chosen - known:
            raise SystemExit(f"unknown system(s) {sorted(chosen - known)}; known: {sorted(known)}")
        skip |= known - chosen
    if (reason := http_unavailable()) is not None:
        skip |= {p.AURAL_HTTP, streaming.AURAL_HTTP_TWO}
        notes.append(reason)
    if importlib.util.find_spec("pywhispercpp") is None:
        skip |= {p.WHISPER_CPP, p.WHISPER_CPP_GREEDY}
        notes.append(f"whisper.cpp skipped: pywhispercpp is not installed ({BENCH_EXTRA_HINT})")
    return skip, notes


def _stop(signum: int, _frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so a measured server or worker is stopped, not orphaned."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    for module in ("whisper_normalizer", "jiwer"):
        if importlib.util.find_spec(module) is None:
            raise SystemExit(
                f"error: {module} is missing; install the bench extra: {BENCH_EXTRA_HINT}"
            )
    started = time.perf_counter()
    load_start = [round(x, 2) for x in os.getloadavg()]
    os.environ.update(child_env(args.threads))  # this process resolves models as children do
    args.work.mkdir(parents=True, exist_ok=True)
    plan = _select(build_plan(args), args.rounds)

    skip, notes = skipped_systems(plan, args.systems)
    models = {r.model for r in plan.rounds}
    paths = model_paths(models)
    cpp = {p.WHISPER_CPP, p.WHISPER_CPP_GREEDY}
    cpp_models = {r.model for r in plan.rounds if (set(r.systems) - skip) & cpp}
    ggml = ggml_files({m: paths[m] for m in cpp_models}, args.work)

    system_env: dict[str, dict[str, str]] = {}
    previous = None
    if any(p.AURAL_PREVIOUS in r.systems for r in plan.rounds) and p.AURAL_PREVIOUS not in skip:
        previous, previous_src = fidelity.previous_release(args.work, args.previous)
        system_env[p.AURAL_PREVIOUS] = {"PYTHONPATH": str(previous_src)}
        _log(f"aural-previous: commit {previous} from {previous_src}")

    harness = Harness(plan, args.work, paths, ggml, _log, args.timeout, system_env)
    records = harness.run(skip)
    summary = report.summarise(plan, records)
    description = machine.describe()
    date = dt.date.today().isoformat()
    slug = machine.slug(description)
    meta: dict[str, Any] = {
        "date": date,
        "mode": plan.mode,
        "label": args.label,
        "machine_slug": slug,
        "machine": description,
        "model": ", ".join(sorted(models)),
        "models": paths,
        "ggml": ggml,
        "threads": plan.threads,
        "rounds": [
            {
                "name": r.name,
                "model": r.model,
                "systems": [s for s in r.systems if s not in skip],
                "reps": r.reps,
                "tasks": len(r.tasks),
            }
            for r in plan.rounds
        ],
        "environment": {k: v for k, v in sorted(os.environ.items()) if k.startswith(ENV_PREFIXES)},
        "load_average": {"start": load_start, "end": [round(x, 2) for x in os.getloadavg()]},
        "run_wall_s": round(time.perf_counter() - started, 1),
        "previous_release": previous,
        "notes": notes,
        "command": " ".join(
            ["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]
        ),
    }
    result = {
        "meta": meta,
        "ratios": report.ratios(summary),
        "summary": summary,
        "errors": [
            {k: r[k] for k in ("round", "rep", "system", "error")} for r in records if r["error"]
        ],
        "records": records,
    }
    suffixes = [plan.mode] if plan.mode != "full" else []
    suffixes += [args.label] if args.label else []
    stem = "-".join([date, slug, *suffixes])
    report.write(out_dir(args), stem, result, lambda path: _log(f"wrote {path}"))
    if result["errors"] or args.keep_logs:
        _log(f"job files and logs of every measured process: {harness.logs}")
        return 1 if result["errors"] else 0
    shutil.rmtree(harness.logs, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
