"""Shared fixtures: real model pool, real audio under tests/data, synthetic silence and noise."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import fidelity_shapes
import jiwer
import numpy as np
import pytest
import sqlalchemy as sa

from aural.audio import SAMPLE_RATE
from aural.config import Settings
from aural.model_pool import ModelPool

DATA = Path(__file__).parent / "data"
# `aural serve` processes started by tests serve no gRPC unless a test asks (the default port
# 8080 is fixed and would clash between servers).
os.environ.setdefault("AURAL_GRPC_PORT", "0")
# A PostgreSQL database the tests may create databases from (trust auth on the test machines).
POSTGRES_ADMIN_URL = os.environ.get(
    "AURAL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings with a private model cache, so the first-use assembly is exercised too."""
    root = tmp_path_factory.mktemp("aural")
    return Settings(data_dir=root / "data", cache_dir=root / "cache")


@pytest.fixture(scope="session")
def pool(settings: Settings) -> ModelPool:
    """One pool for the whole run: the real models, each loaded once."""
    return ModelPool(settings)


@contextmanager
def fresh_postgres_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database of its own, dropped afterwards; yields its URL.

    Tests talk to the real server at ``AURAL_TEST_POSTGRES_URL`` (default: the ``test``
    database of ``postgres@127.0.0.1:5432``); a database per test keeps them apart.
    """
    admin = sa.create_engine(
        POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool
    )
    name = f"{prefix}_{uuid.uuid4().hex}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield (
            sa.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test."""
    with fresh_postgres_database("aural_test") as url:
        yield url


@pytest.fixture(scope="module")
def postgres_module_url() -> Iterator[str]:
    """A fresh PostgreSQL database shared by the tests of one module."""
    with fresh_postgres_database("aural_test") as url:
        yield url


def normalise_text(text: str) -> str:
    """Lower case, no punctuation, single spaces: the comparison the WER targets assume."""
    text = text.lower().replace("-", " ")
    text = re.sub(r"[^\w\s']", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def wer(reference: str, hypothesis: str) -> float:
    return float(jiwer.wer(normalise_text(reference), normalise_text(hypothesis)))


def deleted_words(reference: str, hypothesis: str) -> int:
    """Words of ``reference`` missing from ``hypothesis`` (the lost words, not misheard ones)."""
    return int(jiwer.process_words(normalise_text(reference), normalise_text(hypothesis)).deletions)


def pink_noise(seconds: float, seed: int = 0) -> np.ndarray:
    """Pink (1/f) noise at half full scale, deterministic for a seed."""
    white = np.random.default_rng(seed).standard_normal(int(seconds * SAMPLE_RATE))
    freqs = np.fft.rfftfreq(white.size)
    freqs[0] = freqs[1]
    pink = np.fft.irfft(np.fft.rfft(white) / np.sqrt(freqs), n=white.size)
    return (pink / np.abs(pink).max() * 0.5).astype(np.float32)


def load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# --- issue 10's fidelity shapes, built at test time (tests/fidelity_shapes.py) -------------


@pytest.fixture(scope="session")
def lead_in_clip(tmp_path_factory: pytest.TempPathFactory) -> fidelity_shapes.LeadInClip:
    """jfk.flac behind 27 s of pink noise at -50 dBFS: every word must be kept."""
    return fidelity_shapes.lead_in_clip(tmp_path_factory.mktemp("lead_in"))


@pytest.fixture(scope="session")
def late_stereo(tmp_path_factory: pytest.TempPathFactory) -> fidelity_shapes.LateStereo:
    """LibriVox clips on channel 0 from 0 s; channel 1 silent for 27 s, then jfk."""
    return fidelity_shapes.late_stereo(tmp_path_factory.mktemp("late_stereo"))


@pytest.fixture(scope="session")
def alternating_languages(
    tmp_path_factory: pytest.TempPathFactory,
) -> fidelity_shapes.AlternatingLanguages:
    """Four runs of 33-38 s, es -> fr -> en -> es, from the lang/ prompts, with their spans."""
    return fidelity_shapes.alternating_languages(tmp_path_factory.mktemp("alternating"))
