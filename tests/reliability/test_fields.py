"""Hostile field values get the face's own 4xx, quickly, and never a 5xx or a crash."""

from __future__ import annotations

import httpx
import pytest

from benchmarks.reliability.corpus import wav
from benchmarks.reliability.fields import BAD_FIELDS, GRPC_BAD_FIELDS, BadField, GrpcBadField
from benchmarks.reliability.harness import ServerProcess, call_grpc, send

MEDIA = wav(1, seconds=0.5)
GRPC_FAST = [bad for bad in GRPC_BAD_FIELDS if bad.fast]


@pytest.mark.parametrize("bad", BAD_FIELDS, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD_FIELDS)])
def test_bad_field_is_refused(live: ServerProcess, client: httpx.Client, bad: BadField) -> None:
    face, fields, params, status = bad
    outcome = send(client, face, MEDIA, fields=fields, params=params)
    assert outcome.status == status, outcome.body
    if face == "openai":
        assert set(outcome.body["error"]) == {"message", "type", "param", "code"}
    else:
        assert outcome.body["type"] in ("request.validation-error", "request.invalid")
        assert outcome.body["detail"][0]["message"]
    assert live.alive


def test_suppress_tokens_within_vocabulary_are_used(client: httpx.Client) -> None:
    outcome = send(client, "deepinfra", MEDIA, fields={"suppress_tokens": "-1,50,50362"})
    assert outcome.status == 200, outcome.body


@pytest.mark.parametrize("bad", GRPC_FAST, ids=[bad.name for bad in GRPC_FAST])
def test_bad_grpc_request_gets_its_status(live: ServerProcess, bad: GrpcBadField) -> None:
    """The gRPC face: the spec's status code and aural's error code, never UNKNOWN/INTERNAL;
    the deadline turns a hang into a failure."""
    outcome = call_grpc(live.grpc_target, bad.build(MEDIA), timeout_s=60)
    assert outcome.status == bad.code, outcome.body
    if bad.code != "OK":
        assert outcome.body["details"], outcome.body
    if bad.error_code is not None:
        assert outcome.body["error_code"] == bad.error_code, outcome.body
    assert live.alive
