"""Browser fixtures: real ``aural serve`` processes on free loopback ports and headless Chromium.

Chromium comes from Debian (``chromium``; ``make test`` installs it), driven by Playwright for
Python pointed at that executable: ``playwright install`` is never needed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from aural.config import Settings

CHROMIUM = os.environ.get("AURAL_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# The web tests' server model: multilingual, so the es/en/fr fixture switches languages.
MODEL = "base"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class AuralProcess:
    """One ``aural serve`` process and what it was started with."""

    url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    def aural(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the ``aural`` CLI with the same settings (data dir, model cache, model)."""
        return subprocess.run(
            [sys.executable, "-m", "aural", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=300,
            check=True,
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)


def _environment(settings: Settings, root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "AURAL_DATA_DIR": str(root / "data"),
        "AURAL_CACHE_DIR": str(settings.cache_dir),
        "AURAL_MODEL": MODEL,
        "AURAL_TASK_POLL_INTERVAL_S": "0.2",
    }


def _start(env: dict[str, str], root: Path) -> AuralProcess:
    port = _free_port()
    log = root / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "aural", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = AuralProcess(f"http://127.0.0.1:{port}", env, process, log)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"aural serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"aural serve did not become ready: {log.read_text()[-2000:]}")


ServeFactory = Callable[..., AuralProcess]


@pytest.fixture(scope="module")
def serve_process(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings
) -> Iterator[ServeFactory]:
    """Start ``aural serve`` processes; ``key_name`` creates a key first (auth on): the key is
    returned as ``server.env["TEST_KEY"]``."""
    started: list[AuralProcess] = []

    def start(key_name: str | None = None) -> AuralProcess:
        root = tmp_path_factory.mktemp("serve")
        env = _environment(settings, root)
        if key_name:
            created = subprocess.run(
                [sys.executable, "-m", "aural", "keys", "create", "--name", key_name],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
                check=True,
            )
            env = {**env, "TEST_KEY": created.stdout.strip()}
        server = _start(env, root)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (make test does: apt-get install "
            "chromium chromium-driver), or point AURAL_TEST_CHROMIUM at a Chromium"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab (own storage) that fails the test on any script error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, f"script errors on the page: {errors}"
