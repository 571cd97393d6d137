"""The schemathesis CLI against a running server's ``/openapi.json``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# Arbitrary bytes are schema-valid media but not transcribable: that check cannot pass here.
EXCLUDED_CHECKS = "positive_data_acceptance"


@dataclass(frozen=True)
class FuzzResult:
    returncode: int
    output: str


def run_schemathesis(url: str, max_examples: int, report_dir: Path, seed: int = 1) -> FuzzResult:
    """Every operation, every check but :data:`EXCLUDED_CHECKS`; rc 0 means no failure."""
    exe = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    command = [
        exe, "run", f"{url}/openapi.json", "--max-examples", str(max_examples),
        "--checks", "all", "--exclude-checks", EXCLUDED_CHECKS, "--seed", str(seed),
        "--request-timeout", "120", "--continue-on-failure",
        "--report", "junit", "--report-dir", str(report_dir),
    ]  # fmt: skip
    # Run from the report folder: schemathesis keeps its .schemathesis cache in the cwd.
    report_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=report_dir)
    return FuzzResult(done.returncode, done.stdout + done.stderr)
