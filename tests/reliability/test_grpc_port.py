"""Several servers side by side: each gRPC face owns its port."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks.reliability.corpus import SERVER_ENV
from benchmarks.reliability.harness import ServerProcess


def test_a_grpc_port_in_use_stops_the_second_server(live: ServerProcess, tmp_path: Path) -> None:
    """gRPC binds with SO_REUSEPORT by default: a second ``aural serve`` on the same gRPC port
    would start and silently take half of the first one's calls. It must refuse to start."""
    refusal = re.escape(f"cannot listen for gRPC on {live.grpc_target}")
    with pytest.raises(RuntimeError, match=refusal):
        ServerProcess(tmp_path, {**SERVER_ENV, "AURAL_GRPC_PORT": str(live.grpc_port)})
    assert live.alive
