"""Every corpus file on every face ends as expected, and no file takes the server down."""

from __future__ import annotations

import httpx
import pytest

from benchmarks.reliability.corpus import OK, Case, build_cases
from benchmarks.reliability.harness import ALL_FACES, GRPC, ServerProcess, send

CASES = build_cases(full=False)


@pytest.mark.parametrize("face", ALL_FACES)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_outcome(live: ServerProcess, client: httpx.Client, case: Case, face: str) -> None:
    outcome = send(client, face, case.build(), case.filename, grpc_target=live.grpc_target)
    expected = case.expected_on(face)
    assert outcome.result == expected, outcome.body
    if face == GRPC:  # the official stubs: the spec's code, details for the client to print
        assert outcome.status == ("OK" if expected == OK else "INVALID_ARGUMENT"), outcome.body
        assert expected == OK or outcome.body["details"], outcome.body
    elif expected == OK:
        assert outcome.status == 200
    elif face == "openai":
        assert outcome.status == 400 and outcome.body["error"]["type"] == "invalid_request_error"
    elif face == "deepinfra":
        assert outcome.status == 422 and outcome.body["type"] == "request.validation-error"
    else:  # Phonexia: the task itself ends rejected, with the reason in its error
        error = outcome.body["error"]
        assert outcome.body["task"]["state"] == "rejected"
        assert error["message"], error
    assert live.alive


def test_many_channels_are_split_into_lanes(client: httpx.Client) -> None:
    """A valid 16-channel file is transcribed on the split face: one lane per channel."""
    from benchmarks.reliability.corpus import wav

    outcome = send(client, "phonexia", wav(16, seconds=0.5))
    assert outcome.result == OK
    assert outcome.body["task"]["state"] == "done"
