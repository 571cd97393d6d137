"""gRPC face vs HTTP sync overhead, and time to the first streamed gRPC response.

Run against a running ``aural serve`` (not part of ``python -m benchmarks``)::

    python -m benchmarks.grpc_overhead --http http://127.0.0.1:8000 --grpc 127.0.0.1:8080 \
        --file tests/data/jfk.flac --runs 7 [--long long.wav]

Requests alternate (HTTP DeepInfra sync, then gRPC Transcribe, same file, same process), so
load on a shared machine hits both alike; medians are reported with their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
from phonexia.grpc.common import core_pb2
from phonexia.grpc.technologies.enhanced_speech_to_text_built_on_whisper.v1 import (
    enhanced_speech_to_text_built_on_whisper_pb2 as pb,
)
from phonexia.grpc.technologies.enhanced_speech_to_text_built_on_whisper.v1 import (
    enhanced_speech_to_text_built_on_whisper_pb2_grpc as pb_grpc,
)

CHUNK = 32000  # what the official client sends


def _requests(data: bytes) -> Iterator[pb.TranscribeRequest]:
    yield pb.TranscribeRequest(
        audio=core_pb2.Audio(content=data[:CHUNK], time_range=core_pb2.TimeRange()),
        # Word timestamps on, as the DeepInfra face always transcribes (same work on both paths).
        config=pb.TranscribeConfig(enable_word_segmentation=True),
    )
    for start in range(CHUNK, len(data), CHUNK):
        yield pb.TranscribeRequest(audio=core_pb2.Audio(content=data[start : start + CHUNK]))


def grpc_call(stub: pb_grpc.SpeechToTextStub, data: bytes) -> tuple[float, float, int]:
    """(seconds to the first response, seconds in all, responses)."""
    began = time.perf_counter()
    first = None
    count = 0
    for _ in stub.Transcribe(_requests(data)):
        count += 1
        if first is None:
            first = time.perf_counter() - began
    return first or 0.0, time.perf_counter() - began, count


def http_call(client: httpx.Client, path: Path, data: bytes, model: str) -> float:
    began = time.perf_counter()
    response = client.post(
        f"/v1/inference/openai/whisper-{model}", files={"audio": (path.name, data)}
    )
    response.raise_for_status()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", required=True)
    parser.add_argument("--grpc", required=True)
    parser.add_argument("--file", type=Path, required=True)
    parser.add_argument("--model", default="base")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--long", type=Path)
    args = parser.parse_args()
    data = args.file.read_bytes()
    channel = grpc.insecure_channel(args.grpc)
    stub = pb_grpc.SpeechToTextStub(channel)
    with httpx.Client(base_url=args.http, timeout=3600) as client:
        http_call(client, args.file, data, args.model)  # warm both paths
        grpc_call(stub, data)
        http_s, grpc_s = [], []
        for _ in range(args.runs):
            http_s.append(http_call(client, args.file, data, args.model))
            grpc_s.append(grpc_call(stub, data)[1])
    h, g = statistics.median(http_s), statistics.median(grpc_s)
    print(f"file {args.file.name}: {args.runs} alternating runs")
    print(f"  HTTP sync median {h:.3f} s  {[round(x, 3) for x in http_s]}")
    print(f"  gRPC      median {g:.3f} s  {[round(x, 3) for x in grpc_s]}")
    print(f"  gRPC/HTTP {g / h:.3f}  (gRPC - HTTP {1000 * (g - h):+.0f} ms)")
    if args.long:
        first, total, count = grpc_call(stub, args.long.read_bytes())
        print(f"long file {args.long.name}: first response {first:.2f} s, all {total:.2f} s, "
              f"{count} responses, first/all {first / total:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
