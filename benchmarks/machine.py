"""What the numbers were measured on: CPU, cores, memory, software versions, load.

Speed figures mean little without the machine, and "x real time" on 2 cores is not the same
claim as on 32; every result file carries this description and is named after its slug.
"""

from __future__ import annotations

import os
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "aural",
    "faster-whisper",
    "ctranslate2",
    "onnxruntime",
    "pywhispercpp",
    "whisper-normalizer",
    "numpy",
    "av",
)


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() not in info:
                info[key.strip()] = value.strip()
    except OSError:
        pass
    return info


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe() -> dict[str, Any]:
    """The machine and software a run is measured on."""
    cpu = _cpuinfo()
    flags = set(cpu.get("flags", "").split())
    return {
        "cpu_model": cpu.get("model name") or platform.processor() or "unknown",
        "cpu_flags": sorted(flags & {"avx", "avx2", "avx512f", "avx512_vnni", "fma", "f16c"}),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
    }


def slug(description: dict[str, Any]) -> str:
    """A short file-name-safe name: CPU model words plus the usable core count."""
    model = str(description["cpu_model"]).lower()
    model = re.sub(r"\(r\)|\(tm\)|\bcpu\b|\bprocessor\b|@.*$|\d+-core", " ", model)
    words = re.findall(r"[a-z0-9]+", model)[:4]
    return "-".join([*words, f"{description['usable_cores']}c"])
