"""Loaded models, one copy per (model, device, precision) per process, shared by all callers.

Loading ``base`` takes about a second and 150 MB; every face and worker thread asks the pool
instead of loading its own. The pool is an object, not a module global, so tests and servers can
hold their own; :func:`get_model_pool` is the process-wide one behind the Python API and CLI.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from aural.config import Settings, get_settings
from aural.memory import limit_arenas
from aural.models import resolve_model_path

# CTranslate2, faster-whisper and ONNX Runtime are imported when a model is first loaded: a
# process that never transcribes (the API process, which hands work to its engine workers) never
# pays their ~100 MB.
if TYPE_CHECKING:
    from faster_whisper import WhisperModel

    from aural.speech import SpeechDetector


@dataclass(frozen=True)
class LoadedModel:
    """A ready faster-whisper model and what the pipeline needs to know about it."""

    name: str
    path: str
    whisper: WhisperModel
    # The speech detector the pipeline gates decoding with (shared by the pool's models).
    speech: SpeechDetector
    device: str
    compute_type: str
    # Pieces of one transcription run side by side (CTranslate2 workers on CPU; 1 on GPU,
    # where batching does that job).
    parallelism: int = 1
    # Most 30 s chunks one batched call decodes at once (None: the request's batch_size).
    batch_limit: int | None = None
    # Shared with the other engine processes of one server (see CallSlots): a decoding piece
    # holds a slot while it runs, so the processes together run one model call per core.
    slots: CallSlots | None = None

    @property
    def multilingual(self) -> bool:
        return bool(self.whisper.model.is_multilingual)


def resolve_device(settings: Settings) -> tuple[str, str]:
    """The device and CTranslate2 compute type to load with: int8 on CPU, float16 on GPU."""
    device = settings.device
    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    compute_type = settings.compute_type
    if compute_type == "default":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type


class CallSlots(Protocol):
    """A counting semaphore, possibly shared between processes (see aural.jobs.slots)."""

    def acquire(self) -> bool: ...

    def release(self) -> None: ...


class ModelPool:
    """Loads each model once and hands the same instance to every caller.

    ``slots``, when given, is shared by every engine process of one server: each has a model
    with a worker per core (a lone long task gets every core), and the slots keep two tasks in
    two processes from running twice as many model calls as there are cores, with the memory of
    twice as many chunks in flight.
    """

    def __init__(self, settings: Settings, slots: CallSlots | None = None) -> None:
        self._settings = settings
        self._slots = slots
        self._models: dict[tuple[str, ...], LoadedModel] = {}
        self._guard = threading.Lock()
        self._loading: dict[tuple[str, ...], threading.Lock] = {}
        self._speech: SpeechDetector | None = None

    @property
    def settings(self) -> Settings:
        return self._settings

    def get(self, name: str | None = None) -> LoadedModel:
        """The loaded model called ``name`` (the configured default when ``None``)."""
        name = name or self._settings.model
        device, compute_type = resolve_device(self._settings)
        key = (name, device, compute_type)
        with self._guard:
            if key in self._models:
                return self._models[key]
            lock = self._loading.setdefault(key, threading.Lock())
        with lock:  # one loader per key; other keys load in parallel
            if key not in self._models:
                self._models[key] = self._load(name, device, compute_type)
        return self._models[key]

    def loaded(self) -> list[LoadedModel]:
        """The models loaded so far (for readiness checks and metrics)."""
        with self._guard:
            return list(self._models.values())

    def _load(self, name: str, device: str, compute_type: str) -> LoadedModel:
        from faster_whisper import WhisperModel

        from aural.speech import SpeechDetector

        limit_arenas()  # before the model's worker threads make arenas of their own

        path = resolve_model_path(name, self._settings)
        settings = self._settings
        kwargs: dict[str, Any] = {"device": device, "compute_type": compute_type}
        # CTranslate2 runs one call at a time per worker. On CPU: a worker per core (one thread
        # each) so a transcription's independent pieces run side by side; at least one per
        # transcription this process runs at once, or concurrent tasks would queue inside it.
        parallelism = 1
        if device == "cpu":
            kwargs["cpu_threads"] = settings.resolved_cpu_threads
            parallelism = settings.resolved_model_workers
        kwargs["num_workers"] = max(parallelism, settings.resolved_workers_per_model)
        whisper = WhisperModel(path, **kwargs)
        # Peak memory grows with the chunks decoded at once over all of the model's calls
        # (beam-search state per chunk, about 80 MB each for base): on CPU they are shared out.
        limit = None
        if device == "cpu":
            limit = max(1, settings.batch_chunks // kwargs["num_workers"])
        with self._guard:
            if self._speech is None:
                self._speech = SpeechDetector()
            speech = self._speech
        return LoadedModel(
            name,
            path,
            whisper,
            speech,
            device,
            compute_type,
            parallelism,
            batch_limit=limit,
            slots=self._slots,
        )


@lru_cache(maxsize=1)
def get_model_pool() -> ModelPool:
    """The process-wide pool used by :func:`aural.transcribe` and the CLI."""
    return ModelPool(get_settings())
