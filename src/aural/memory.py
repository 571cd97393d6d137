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
from collections.abc import Callable
from functools import lru_cache

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
