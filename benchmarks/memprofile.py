"""Where aural's peak RSS goes: ``python -m benchmarks.memprofile FILE [--model base]``.

Runs the stages of ``aural transcribe`` one after the other in this process and prints, per
stage, the resident set before it, its own peak (the kernel's high-water mark, reset before each
stage through ``/proc/self/clear_refs``) and what it left behind. Memory figures hold on a
loaded machine; the times printed are only for orientation.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    raise KeyError(field)


def _reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0; needs write access to clear_refs)."""
    Path("/proc/self/clear_refs").write_text("5")


def stage(name: str, action: Callable[[], Any], rows: list[dict[str, Any]]) -> Any:
    before = _status_mb("VmRSS")
    _reset_peak()
    started = time.perf_counter()
    result = action()
    rows.append(
        {
            "stage": name,
            "rss_before_mb": round(before, 1),
            "peak_mb": round(_status_mb("VmHWM"), 1),
            "peak_over_before_mb": round(_status_mb("VmHWM") - before, 1),
            "rss_after_mb": round(_status_mb("VmRSS"), 1),
            "wall_s": round(time.perf_counter() - started, 1),
        }
    )
    print(json.dumps(rows[-1]), flush=True)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memprofile")
    parser.add_argument("audio")
    parser.add_argument("--model", default="base")
    parser.add_argument("--skip-transcribe", action="store_true")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    from aural.audio import decode_audio, select_channels
    from aural.model_pool import get_model_pool
    from aural.pipeline import Transcriber
    from aural.speech import find_speech, gather
    from aural.types import TranscriptionOptions

    loaded = stage("model load", lambda: get_model_pool().get(args.model), rows)
    audio = stage("decode", lambda: decode_audio(args.audio), rows)
    channel = select_channels(audio, None, TranscriptionOptions().channel_mode)[0]
    regions = stage("vad", lambda: find_speech(channel.samples, True, loaded.speech), rows)
    stage("gather", lambda: gather(channel.samples, regions), rows)
    if not args.skip_transcribe:
        options = TranscriptionOptions()
        stage(
            "transcribe (decoded audio)",
            lambda: Transcriber(loaded).transcribe(audio, options),
            rows,
        )
        stage("transcribe again", lambda: Transcriber(loaded).transcribe(audio, options), rows)
    print(json.dumps({"ru_maxrss_mb": round(_status_mb("VmPeak"), 1)}))


if __name__ == "__main__":
    main()
