"""Settings from the environment (prefix ``AURAL_``), read once behind a cached getter.

Tests and embedding applications build their own :class:`Settings` and pass it down instead of
patching the environment; ``get_settings.cache_clear()`` resets the process-wide copy.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


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
    cpu_threads: int = Field(
        default=0,
        ge=0,
        description="CTranslate2 threads per model call; 0 is 1 (cores run calls side by side).",
    )
    model_workers: int = Field(
        default=0,
        ge=0,
        description="Model calls run at once per loaded model (CTranslate2 workers); 0 is one per "
        "core, divided by cpu_threads.",
    )
    max_duration_s: float = Field(
        default=4 * 3600.0, gt=0, description="Longer media is refused from its header."
    )
    media_memory_budget_mb: float = Field(
        default=4096.0,
        gt=0,
        description="Per request: media whose decoded samples (duration x channels x 64 kB/s) "
        "would pass this many MB is refused from its header. Past 300 s of audio they are held "
        "in temporary files, not in memory, so this bounds a request's scratch disk.",
    )
    licensed_languages: Annotated[frozenset[str] | None, NoDecode] = Field(
        default=None, description="Comma-separated ISO 639-1 codes; unset allows all."
    )

    # --- the server (aural serve) and its embedded job system ---
    host: str = Field(default="127.0.0.1", description="Address `aural serve` binds to.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port `aural serve` listens on.")
    grpc_port: int = Field(
        default=8080,
        ge=0,
        le=65535,
        description="Port of the Phonexia gRPC face of `aural serve` (same host); 0 turns it off.",
    )
    grpc_tls_cert: Path | None = Field(
        default=None, description="PEM certificate chain: gRPC over TLS (with grpc_tls_key)."
    )
    grpc_tls_key: Path | None = Field(default=None, description="PEM private key of the cert.")
    store_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the task store; unset is SQLite in the data directory.",
    )
    batch_chunks: int = Field(
        default=4,
        ge=1,
        description="30 s chunks decoded at once over all CPU workers of one model (memory "
        "grows with it, ~80-100 MB per chunk for base); each call batches its share.",
    )
    huge_pages: bool = Field(
        default=True,
        description="`aural serve`, `aural worker` and `aural transcribe` of long audio restart "
        "themselves under glibc's huge-pages malloc tunable (read from the environment before "
        "anything else, as glibc reads it at process start); false: never.",
    )
    workers: int | None = Field(
        default=None,
        ge=0,
        description="Transcriptions run at once by this process (0: API only); unset: one per "
        "model worker (per core).",
    )
    workers_per_model: int | None = Field(
        default=None,
        ge=1,
        description="Transcriptions of one model run at once by this process; unset: workers.",
    )
    connection_idle_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="A connection that sends nothing for this long while the server waits for "
        "its request head or body (a stalled upload), or a gRPC request stream that pauses "
        "this long, is closed.",
    )
    isolation: Literal["process", "thread"] = Field(
        default="process",
        description="process: the embedded executor transcribes in worker processes of its own, "
        "so a crash costs one worker, never the server; thread: in threads of the server.",
    )
    engine_processes: int = Field(
        default=1,
        ge=1,
        le=64,
        description="process isolation: the engine processes the workers are shared out over. "
        "1: one process holds the model once for every worker (the speed and memory of threads; "
        "a crash stops every task in it, and those that ran beside others are run again "
        "uncharged); up to workers: a crash costs only its own process's tasks, at the price of "
        "a copy of the model each and 5-8 % of throughput.",
    )
    worker_memory_limit_bytes: int | None = Field(
        default=None,
        ge=0,
        description="Memory (RSS) per worker: an engine process using more than this times the "
        "workers it serves is killed, and its task charged an attempt if it ran alone; unset: "
        "80 % of the machine's memory divided by the workers; 0: no limit.",
    )
    task_time_limit_s: float = Field(
        default=600.0,
        gt=0,
        description="Wall time a task may run in a worker process, plus task_time_per_audio_s.",
    )
    task_time_per_audio_s: float = Field(
        default=2.0,
        ge=0,
        description="Extra wall time allowed per second of audio (duration x channels).",
    )
    max_upload_bytes: int = Field(
        default=500 * 1024 * 1024, gt=0, description="Largest accepted media upload."
    )
    storage_quota_bytes: int = Field(
        default=20 * 1024**3, gt=0, description="Media + stored results may not exceed this."
    )
    result_retention_s: float = Field(
        default=7 * 24 * 3600.0, gt=0, description="Finished tasks and results are kept this long."
    )
    purge_interval_s: float = Field(
        default=300.0, gt=0, description="How often expired tasks are purged."
    )
    max_active_tasks: int = Field(
        default=100, ge=1, description="Licensed capacity: most tasks pending + running at once."
    )
    sync_timeout_s: float = Field(
        default=3600.0, gt=0, description="How long a synchronous request waits for its task."
    )
    task_poll_interval_s: float = Field(
        default=0.5, gt=0, description="Store polling period of idle workers and waiting requests."
    )
    rate_limit: str | None = Field(
        default=None,
        description="Limit of keys without their own and of anonymous clients, e.g. 60/minute.",
    )
    rate_limit_storage_uri: str = Field(
        default="memory://", description="`limits` storage, e.g. redis://host:6379."
    )
    price_per_audio_minute: float = Field(
        default=0.0, ge=0, description="Reported as inference_status.cost on the DeepInfra face."
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key that signs webhook bodies."
    )
    webhook_allow_hosts: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(),
        description="Webhook hosts or addresses allowed although they are private or loopback.",
    )
    webhook_max_attempts: int = Field(default=5, ge=1, description="Deliveries tried per webhook.")
    webhook_backoff_s: float = Field(
        default=2.0, ge=0, description="First retry delay; doubles per attempt."
    )
    webhook_timeout_s: float = Field(default=10.0, gt=0, description="Per delivery attempt.")

    # --- scale-out: Celery workers, a shared store and shared media ---
    executor: Literal["local", "celery"] = Field(
        default="local",
        description="local: transcribe in this process; celery: queue tasks for `aural worker`.",
    )
    broker_url: str = Field(
        default="redis://127.0.0.1:6379/0", description="Celery broker (executor=celery)."
    )
    queue: str = Field(default="aural", description="Celery queue the tasks are sent to.")
    media_dir: Path | None = Field(
        default=None,
        description="Uploaded media; a path shared by API nodes and workers when scaled out "
        "(unset: `media` in the data directory).",
    )
    worker_concurrency: int = Field(
        default=1, ge=1, description="Worker processes of one `aural worker` (one model each)."
    )
    worker_metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="`aural worker` serves Prometheus metrics of all its processes on this port "
        "(0: none).",
    )
    heartbeat_interval_s: float = Field(
        default=10.0, gt=0, description="How often a worker marks its running tasks alive."
    )
    task_lease_s: float = Field(
        default=60.0,
        gt=0,
        description="A running task not marked alive for this long is requeued by the reaper.",
    )
    max_attempts: int = Field(
        default=3,
        ge=1,
        description="A task whose worker died this many times fails instead of running again.",
    )
    reaper_interval_s: float = Field(
        default=15.0, gt=0, description="How often stale running tasks are looked for."
    )
    broker_visibility_timeout_s: float = Field(
        default=6 * 3600.0,
        gt=0,
        description="Redis broker: an unacknowledged message is redelivered after this long; "
        "must exceed the longest task.",
    )
    auto_migrate: bool = Field(
        default=True, description="Bring the task store's schema up to date on start."
    )

    @property
    def media_memory_budget_bytes(self) -> int:
        return int(self.media_memory_budget_mb * 1_000_000)

    @field_validator("licensed_languages", mode="before")
    @classmethod
    def _split_languages(cls, value: object) -> object:
        """Accept ``en,de,fr`` from the environment as well as any iterable from code."""
        if isinstance(value, str):
            codes = [part.strip() for part in value.split(",") if part.strip()]
            return frozenset(codes) if codes else None
        return value

    @field_validator("webhook_allow_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        """Accept ``127.0.0.1,hooks.internal`` from the environment."""
        if isinstance(value, str):
            return frozenset(part.strip().lower() for part in value.split(",") if part.strip())
        return value

    @property
    def resolved_store_url(self) -> str:
        """The task store URL (SQLite file ``aural.db`` in the data directory by default)."""
        return self.store_url or f"sqlite:///{(self.data_dir / 'aural.db').resolve()}"

    @property
    def resolved_workers(self) -> int:
        """Transcriptions at once: as many as the model has workers, unless set.

        With one thread per model worker, two tasks at once on 2 cores do 1.6x the work of one
        at the same latency per request (``benchmarks/results/*-scaleout.md``).
        """
        return self.resolved_model_workers if self.workers is None else self.workers

    @property
    def resolved_workers_per_model(self) -> int:
        return self.workers_per_model or max(1, self.resolved_workers)

    @property
    def resolved_worker_memory_limit_bytes(self) -> int:
        """The RSS ceiling of one worker process (0: none)."""
        if self.worker_memory_limit_bytes is not None:
            return self.worker_memory_limit_bytes
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (AttributeError, ValueError, OSError):  # not on this system: no limit
            return 0
        return int(total * 0.8) // max(1, self.resolved_workers)

    @property
    def resolved_media_dir(self) -> Path:
        """Where uploads are stored (``media`` in the data directory by default)."""
        return self.media_dir or self.data_dir / "media"

    @property
    def resolved_cpu_threads(self) -> int:
        """Threads per model call: one unless set.

        Measured on 2 cores (``benchmarks/results/2026-11-21-levers.md``): one call on 2 threads
        is slower than on 1 for short clips and 1.3x faster on long files, while two 1-thread
        calls side by side do nearly twice the work of one; so the pipeline runs independent
        pieces (channels, groups of chunks) in parallel, one thread each.
        """
        return self.cpu_threads or 1

    @property
    def resolved_model_workers(self) -> int:
        """Model calls that run at once: the usable cores divided by the threads per call."""
        return self.model_workers or max(1, usable_cores() // self.resolved_cpu_threads)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
