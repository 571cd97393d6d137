"""schemathesis against /openapi.json: no 5xx, responses as documented (a few examples each).

``positive_data_acceptance`` is left out: a schema-valid multipart body carries arbitrary bytes
as its media, which no server can transcribe. ``make reliability`` runs many more examples.
"""

from __future__ import annotations

from benchmarks.reliability.harness import ServerProcess
from benchmarks.reliability.schema import run_schemathesis


def test_openapi_fuzzing_finds_nothing(live: ServerProcess, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = run_schemathesis(live.url, max_examples=5, report_dir=tmp_path)
    assert result.returncode == 0, result.output[-6000:]
    assert live.alive
