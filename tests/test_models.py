"""The catalogue against the real bundled packages: assembly, checksums, resolution."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from aural.config import Settings
from aural.errors import ModelIntegrityError, ModelNotAvailableError
from aural.model_pool import ModelPool
from aural.models import CATALOGUE, installed_source, materialise, resolve_model_path, verify

BASE = CATALOGUE["base"]


def test_bundled_models_are_installed() -> None:
    assert installed_source(CATALOGUE["base"]) is not None
    assert installed_source(CATALOGUE["tiny.en"]) is not None


def test_base_is_joined_once_verified_and_reused(tmp_path: Path) -> None:
    source = installed_source(BASE)
    assert source is not None
    target = materialise(BASE, source, tmp_path)
    assert (target / "model.bin").stat().st_size == source.size
    assert {p.name for p in target.iterdir()} >= {"model.bin", "config.json", "tokenizer.json"}
    assert not [
        p for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.") and p.is_dir()
    ]
    mtime = (target / "model.bin").stat().st_mtime_ns
    assert materialise(BASE, source, tmp_path) == target
    assert (target / "model.bin").stat().st_mtime_ns == mtime  # not rewritten
    assert verify(BASE, tmp_path) == str(target)


def test_parts_that_do_not_match_the_checksum_are_refused(tmp_path: Path) -> None:
    source = installed_source(BASE)
    assert source is not None
    tampered = replace(source, sha256="0" * 64)
    with pytest.raises(ModelIntegrityError, match="does not match the published model"):
        materialise(BASE, tampered, tmp_path)
    assert not any((tmp_path / "models").glob("base-*/model.bin"))


def test_interrupted_first_use_leaves_no_broken_model(tmp_path: Path) -> None:
    """Kill the assembling process part-way; the next use must still get a whole model."""
    script = (
        "import sys; from pathlib import Path; from aural.models import *; "
        "materialise(CATALOGUE['base'], installed_source(CATALOGUE['base']), Path(sys.argv[1]))"
    )
    child = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)])
    models_dir = tmp_path / "models"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(models_dir.glob(".base-*/model.bin")):
        if child.poll() is not None:
            break
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    for directory in models_dir.glob("base-*"):  # whatever is in place must be whole
        assert (directory / "model.bin").stat().st_size == installed_source(BASE).size  # type: ignore[union-attr]
    assert verify(BASE, tmp_path).startswith(str(models_dir))


def test_a_model_directory_is_used_as_is(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path)
    tiny = installed_source(CATALOGUE["tiny.en"])
    assert tiny is not None
    directory = str(tiny.parts[0].locate().parent)  # type: ignore[union-attr]
    assert resolve_model_path(directory, settings) == directory
    with pytest.raises(ModelNotAvailableError, match=r"without a CTranslate2 model\.bin"):
        resolve_model_path(str(tmp_path), settings)


def test_unknown_model_fails_fast_naming_the_extra(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path)
    with pytest.raises(ModelNotAvailableError, match=r"aural\[models\]"):
        resolve_model_path("aural-tests/no-such-model", settings)


def test_pool_loads_each_model_once(pool: ModelPool) -> None:
    first = pool.get("tiny.en")
    assert pool.get("tiny.en") is first
    assert not first.multilingual
    assert first.compute_type == "int8"
