"""Shares of sampled time per stage, from a ``py-spy record --native --idle -f raw`` profile.

``python -m benchmarks.profile_shares PROFILE.txt``: each sample's stack is put in the first
stage whose marker it holds (model load, media decoding, VAD, features, language detection,
encoder, decoder, copies), else "idle" when it waits, else "other". Shares are of the samples
after model load, per thread group (main thread, model workers); on a loaded machine these
shares, not absolute times, are what a profile can tell.
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict

STAGES = (
    ("model load", ("ModelPool.get", "WhisperModel.__init__", "load_model")),
    ("media decoding", ("decode_audio",)),
    ("VAD", ("get_speech_timestamps", "find_speech")),
    ("features", ("FeatureExtractor",)),
    ("language detection", ("detect_language", "rank_languages")),
    ("encoder", ("WhisperModel.encode", "encode_window")),
    ("decoder", ("generate",)),
    ("copies", ("concatenate", "gather", "ascontiguousarray", "_SampleBuffer")),
)
IDLE = ("wait", "acquire", "futex", "sleep", "poll", "select", "sem_")


def stage_of(stack: str) -> str:
    for name, markers in STAGES:
        if any(m in stack for m in markers):
            return name
    leaf = stack.rsplit(";", 3)[-3:]
    if any(marker in frame.lower() for frame in leaf for marker in IDLE):
        return "idle"
    return "other"


def main(path: str) -> None:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    with open(path, encoding="utf-8", errors="replace") as handle:
        lines = handle.readlines()
    for line in lines:
        stack, _, n = line.rstrip("\n").rpartition(" ")
        if not n.isdigit():
            continue
        head = stack.split(";", 1)[0]
        group = "workers" if "aural-decode" in head else "main" if "MainThread" in head else "other"
        counts[group][stage_of(stack)] += int(n)
    for group, counter in sorted(counts.items()):
        work = {k: v for k, v in counter.items() if k != "model load"}
        total = sum(work.values()) or 1
        shares = ", ".join(
            f"{k} {100 * v / total:.1f}%" for k, v in sorted(work.items(), key=lambda kv: -kv[1])
        )
        print(f"{group} ({total} samples after load): {shares}")


if __name__ == "__main__":
    main(sys.argv[1])
