"""Settings from the environment (prefix ``AURAL_``), read once behind a cached getter.

Tests and embedding applications build their own :class:`Settings` and pass it down instead of
patching the environment; ``get_settings.cache_clear()`` resets the process-wide copy.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aural"


class Settings(BaseSettings):
    """Every knob of the engine; each is documented in ``docs/configuration.md``."""

    model_config = SettingsConfigDict(env_prefix="AURAL_", extra="ignore")

    data_dir: Path = Field(default=Path(".aural"), description="Task store, media and results.")
    model: str = Field(default="base", description="Model used when a request names none.")
    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="Where bundled model parts are assembled on first use.",
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compute_type: str = Field(
        default="default",
        description="CTranslate2 compute type; 'default' is int8 on CPU, float16 on GPU.",
    )
    cpu_threads: int = Field(default=0, ge=0, description="0 uses every core.")
    max_duration_s: float = Field(
        default=4 * 3600.0, gt=0, description="Longer media is refused from its header."
    )
    licensed_languages: Annotated[frozenset[str] | None, NoDecode] = Field(
        default=None, description="Comma-separated ISO 639-1 codes; unset allows all."
    )

    @field_validator("licensed_languages", mode="before")
    @classmethod
    def _split_languages(cls, value: object) -> object:
        """Accept ``en,de,fr`` from the environment as well as any iterable from code."""
        if isinstance(value, str):
            codes = [part.strip() for part in value.split(",") if part.strip()]
            return frozenset(codes) if codes else None
        return value

    @property
    def resolved_cpu_threads(self) -> int:
        """The thread count handed to CTranslate2 (every core unless set)."""
        return self.cpu_threads or (os.cpu_count() or 1)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
