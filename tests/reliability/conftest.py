"""A real ``aural serve`` process for the reliability slice; it must still be alive at the end."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from benchmarks.reliability.corpus import SERVER_ENV
from benchmarks.reliability.harness import ServerProcess


@pytest.fixture(scope="package")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("reliability"),
        SERVER_ENV,
    )
    yield server
    alive = server.alive
    code = server.stop()
    assert alive, f"the server died (exit {code}): {server.log()}"


@pytest.fixture
def client(live: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=300) as http:
        yield http
