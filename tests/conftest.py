"""Shared fixtures: real model pool, real audio under tests/data, synthetic silence and noise."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jiwer
import numpy as np
import pytest

from aural.audio import SAMPLE_RATE
from aural.config import Settings
from aural.model_pool import ModelPool

DATA = Path(__file__).parent / "data"


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


def normalise_text(text: str) -> str:
    """Lower case, no punctuation, single spaces: the comparison the WER targets assume."""
    text = text.lower().replace("-", " ")
    text = re.sub(r"[^\w\s']", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def wer(reference: str, hypothesis: str) -> float:
    return float(jiwer.wer(normalise_text(reference), normalise_text(hypothesis)))


def pink_noise(seconds: float, seed: int = 0) -> np.ndarray:
    """Pink (1/f) noise at half full scale, deterministic for a seed."""
    white = np.random.default_rng(seed).standard_normal(int(seconds * SAMPLE_RATE))
    freqs = np.fft.rfftfreq(white.size)
    freqs[0] = freqs[1]
    pink = np.fft.irfft(np.fft.rfft(white) / np.sqrt(freqs), n=white.size)
    return (pink / np.abs(pink).max() * 0.5).astype(np.float32)


def load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
