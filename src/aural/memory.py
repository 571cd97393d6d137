"""The C heap under the model: fewer arenas, and freed pages handed back after long audio.

CTranslate2 and ONNX Runtime allocate their tensors with ``malloc``. glibc gives every thread that
allocates its own arena (up to eight per core), and memory freed in one arena is not reused by
another thread, so the model workers' beam-search buffers pile up in several. Both calls below
are glibc-only and do nothing elsewhere (musl, macOS).
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import sys
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

# glibc's mallopt parameter number for the most arenas (malloc.h: M_ARENA_MAX).
_M_ARENA_MAX = -8

# Audio seconds (all channels) from which a transcription hands its freed memory back: after
# each of its pieces and at its end. Below it, trimming costs more latency than it saves memory.
TRIM_AFTER_AUDIO_S = 120.0

# Arenas for the whole process. Measured on the 754 s file, two model workers (aural transcribe,
# benchmarks/results/2026-11-30-streaming-memory.md): peak RSS 844 -> 734 MB at the same speed.
MALLOC_ARENAS = 2


@lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


@lru_cache(maxsize=1)
def limit_arenas(count: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``count`` for the rest of the process (once; idempotent).

    Called before the model's worker threads start (arenas are made when a thread first
    allocates), so their buffers share the capped arenas. ``MALLOC_ARENA_MAX`` in the
    environment, when set, is left to win.
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    libc = _libc()
    if libc is None:
        return False
    done = bool(libc.mallopt(_M_ARENA_MAX, count))
    log.debug("malloc arenas capped at %d: %s", count, done)
    return done


def release_freed_memory() -> None:
    """Hand the C heap's freed pages back to the kernel (glibc only; elsewhere nothing).

    A transcription frees hundreds of MB of model-call buffers that glibc keeps in its arenas:
    measured on a 180 s file, 783 MB resident after the call, 445 MB after this (the server's
    RSS between tasks, and the room a second task finds). Costs milliseconds.
    """
    libc = _libc()
    if libc is not None:
        trim: Callable[[int], int] = libc.malloc_trim
        trim(0)


# glibc's tunable (2.35 and later) that has malloc ask for transparent huge pages on the blocks
# it maps. glibc reads tunables once, when a process starts, hence the restart below. Every
# encoder pass allocates each layer's attention scores (8 heads x 1500 x 1500 float32, 72 MB
# per 30 s chunk), over glibc's largest mmap threshold (32 MB): mapped and faulted in anew 4 KB
# page by page, then unmapped. Measured on the 754 s file (aural transcribe, 2 cores): 4.0 M page
# faults and 7.8 s of kernel time in 18.9 s; under the tunable 0.4 M and 3.2 s in 15.4 s, the
# same text and peak memory (benchmarks/results/2026-12-01-amd-epyc-2c-huge-pages.md).
HUGE_PAGES_TUNABLE = "glibc.malloc.hugetlb=1"

# With huge pages a block mapped anew costs little, so blocks of 16 MB and more (the encoder's
# attention, a batch's beam-search caches) are mapped for each call and handed back when freed,
# rather than kept in the heap, where glibc's rising threshold (up to 32 MB) would put them.
# Measured on the 754 s file, the same speed; peak RSS of the 2 h file 633-682 -> 617 MB
# (benchmarks/results/2026-12-01-amd-epyc-2c-huge-pages-narrative.md).
MMAP_THRESHOLD_TUNABLE = "glibc.malloc.mmap_threshold=16777216"

# Audio seconds (duration x channels) from which `aural transcribe` restarts itself under the
# tunable. Loading the model under it costs about 0.2 s more (huge pages zeroed for the weights'
# many blocks); from here on the decoding it speeds up saves more than that and the restart.
HUGE_PAGES_AFTER_AUDIO_S = 300.0

_THP_MODE = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def _glibc_with_hugetlb() -> bool:
    name, version = platform.libc_ver()
    if name != "glibc":
        return False
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (2, 35)


def _transparent_huge_pages_on_request() -> bool:
    """Whether the kernel gives huge pages to memory that asks (``[madvise]``).

    With ``[always]`` every large mapping gets them already; with ``[never]`` nothing does.
    """
    try:
        return "[madvise]" in _THP_MODE.read_text(encoding="ascii")
    except OSError:
        return False


def with_huge_pages(environ: Mapping[str, str]) -> dict[str, str] | None:
    """``environ`` with the huge-pages tunable added, or None where it would change nothing.

    None when the tunable is there already, or when glibc or the kernel cannot use it.
    ``GLIBC_TUNABLES`` already set is kept and extended (an mmap threshold set there is kept).
    """
    present = environ.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb" in present:
        return None
    if not (_glibc_with_hugetlb() and _transparent_huge_pages_on_request()):
        return None
    tunables = [present] if present else []
    tunables.append(HUGE_PAGES_TUNABLE)
    if "glibc.malloc.mmap_threshold" not in present:
        tunables.append(MMAP_THRESHOLD_TUNABLE)
    return {**environ, "GLIBC_TUNABLES": ":".join(tunables)}


def restart_with_huge_pages(enabled: bool) -> None:
    """Replace this process by itself under the huge-pages tunable, where that changes anything.

    Returns (doing nothing) when not ``enabled`` (``Settings.huge_pages``) or when
    :func:`with_huge_pages` says no; otherwise does not return: the
    same interpreter runs the same command line (``sys.orig_argv``: its own flags included) with
    the same process id, so a supervisor or a benchmark that waits on it sees no difference.
    For entry points only, before anything is loaded or written.
    """
    environ = with_huge_pages(os.environ) if enabled else None
    if environ is None or not sys.executable:  # an embedded interpreter cannot be run again
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, sys.orig_argv, environ)
