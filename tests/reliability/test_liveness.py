"""The event loop stays free under bad input, and connections that stall are cut."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from benchmarks.reliability.corpus import IDLE_TIMEOUT_S, build_cases, wav
from benchmarks.reliability.fields import BAD_FIELDS
from benchmarks.reliability.harness import FACES, ServerProcess, call_grpc, file_requests, pb, send
from benchmarks.reliability.probe import percentile, probe_healthz

HEALTHZ_P99_S = 0.1  # the liveness bound


def _hammer(url: str, stop: threading.Event, seed: int) -> None:
    """Send bad media and bad fields, round robin over the faces, until told to stop."""
    cases = [c for c in build_cases(full=False) if c.expected != "ok"]
    media = wav(1, seconds=0.5)
    with httpx.Client(base_url=url, timeout=120) as client:
        step = seed
        while not stop.is_set():
            face = FACES[step % len(FACES)]
            if step % 2:
                case = cases[step % len(cases)]
                send(client, face, case.build(), case.filename)
            else:
                bad_face, fields, params, _ = BAD_FIELDS[step % len(BAD_FIELDS)]
                send(client, bad_face, media, fields=fields, params=params)
            step += 1


def test_healthz_answers_fast_while_bad_input_streams_in(live: ServerProcess) -> None:
    stop = threading.Event()
    senders = [threading.Thread(target=_hammer, args=(live.url, stop, i)) for i in range(3)]
    for sender in senders:
        sender.start()
    try:
        time.sleep(0.5)
        latencies = probe_healthz(live.url, 8.0)
    finally:
        stop.set()
        for sender in senders:
            sender.join(120)
    p99 = percentile(latencies, 0.99)
    assert len(latencies) > 100
    assert p99 < HEALTHZ_P99_S, f"healthz p99 {p99 * 1000:.0f} ms (max {max(latencies) * 1000:.0f})"
    assert live.alive


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass  # an error response before the close is fine
        return True
    except TimeoutError:
        return False


def test_half_sent_request_head_is_cut(live: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", live.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # the head never ends
        assert _closed_within(sock, IDLE_TIMEOUT_S + 10)


def test_stalled_upload_is_cut(live: ServerProcess) -> None:
    boundary = "b0undary"
    head = (
        f"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: 10000000\r\n\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    ).encode()
    with socket.create_connection(("127.0.0.1", live.port)) as sock:
        sock.sendall(head + b"\x00" * 100_000)  # then nothing more
        assert _closed_within(sock, IDLE_TIMEOUT_S + 10)
    assert live.alive


def test_waiting_for_a_slow_answer_is_not_cut(live: ServerProcess, client: httpx.Client) -> None:
    """A complete request is never cut while it waits (a sync transcription of ~idle length)."""
    outcome = send(client, "openai", wav(1, seconds=IDLE_TIMEOUT_S * 20))
    assert outcome.status == 200


def test_multipart_without_closing_boundary_is_refused(client: httpx.Client) -> None:
    body = (
        b'--xyz\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        + wav(1, seconds=0.5)
    )
    response = client.post(
        "/v1/audio/transcriptions",
        content=body,
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert response.status_code == 400, response.text
    assert "closing boundary" in response.json()["error"]["message"]


def _stalling(first: Any, resume: threading.Event) -> Iterator[Any]:
    """One message, then nothing (the stream is neither continued nor half-closed)."""
    yield first
    resume.wait(60)


@pytest.mark.parametrize(
    ("config", "code", "error_code"),
    [
        (pb.TranscribeConfig(), "DEADLINE_EXCEEDED", "request.stalled"),
        # refused at once, then the server reads what is still coming: that must end too
        (pb.TranscribeConfig(language="xx"), "INVALID_ARGUMENT", "language.unsupported"),
    ],
    ids=["while-receiving", "after-a-refusal"],
)
def test_stalled_grpc_stream_is_ended(
    live: ServerProcess, config: pb.TranscribeConfig, code: str, error_code: str
) -> None:
    """A gRPC stream that stalls is ended after the idle timeout, like a stalled HTTP upload,
    long before the client's own deadline."""
    resume = threading.Event()
    began = time.monotonic()
    try:
        first = file_requests(wav(1, seconds=0.5), config)[0]
        outcome = call_grpc(live.grpc_target, _stalling(first, resume), timeout_s=30)
    finally:
        resume.set()
    assert time.monotonic() - began < IDLE_TIMEOUT_S + 10
    assert (outcome.status, outcome.body["error_code"]) == (code, error_code), outcome.body
    assert live.alive
