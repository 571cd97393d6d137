"""Hostile field values get the face's own 4xx, quickly, and never a 5xx or a crash."""

from __future__ import annotations

import httpx
import pytest

from benchmarks.reliability.corpus import wav
from benchmarks.reliability.fields import BAD_FIELDS, BadField
from benchmarks.reliability.harness import ServerProcess, send

MEDIA = wav(1, seconds=0.5)


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
