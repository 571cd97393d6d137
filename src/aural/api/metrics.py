"""Prometheus metrics of one app: HTTP and gRPC calls, task outcomes, audio processed, queue depth.

Each app owns its registry (several apps can live in one process, as in the tests); task
states and queue depth are read from the store at scrape time, so they hold for every node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from aural.jobs.store import TaskRecord, TaskState, TaskStore

_RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)


class _StoreCollector(Collector):
    def __init__(self, store: TaskStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        counts = self.store.count_by_state()
        tasks = GaugeMetricFamily("aural_tasks", "Tasks in the store by state.", labels=["state"])
        for state, count in counts.items():
            tasks.add_metric([state.value], count)
        yield tasks
        yield GaugeMetricFamily(
            "aural_queue_depth", "Tasks waiting for a worker.", value=counts[TaskState.PENDING]
        )
        yield GaugeMetricFamily(
            "aural_storage_used_bytes",
            "Stored media and results counted against the quota.",
            value=self.store.storage_used(),
        )


class _LaneCollector(Collector):
    """How many of this server's embedded lanes run a task now, read at scrape time."""

    def __init__(self, busy_lanes: Callable[[], int]) -> None:
        self.busy_lanes = busy_lanes

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "aural_workers_busy",
            "Lanes of this server's embedded executor running a task (the rest are idle).",
            value=self.busy_lanes(),
        )


class Metrics:
    """The app's registry and the instruments the middleware and the runner feed."""

    def __init__(self, store: TaskStore) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "aural_http_requests",
            "HTTP requests by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "aural_http_request_duration_seconds",
            "Time to answer HTTP requests.",
            ["method", "route"],
            registry=self.registry,
        )
        self.grpc_requests = Counter(
            "aural_grpc_requests",
            "gRPC calls by method and status code.",
            ["method", "code"],
            registry=self.registry,
        )
        self.grpc_request_seconds = Histogram(
            "aural_grpc_request_duration_seconds",
            "Time to answer gRPC calls (upload, wait and responses).",
            ["method"],
            registry=self.registry,
        )
        self.tasks_finished = Counter(
            "aural_tasks_finished",
            "Tasks finished by this process, by face, model and final state.",
            ["face", "model", "state"],
            registry=self.registry,
        )
        self.audio_seconds = Counter(
            "aural_audio_seconds_processed",
            "Seconds of media transcribed.",
            ["model"],
            registry=self.registry,
        )
        self.real_time_factor = Histogram(
            "aural_real_time_factor",
            "Processing time divided by media duration, per task.",
            ["model"],
            buckets=_RTF_BUCKETS,
            registry=self.registry,
        )
        self.tasks_rejected = Counter(
            "aural_tasks_rejected",
            "Tasks whose input was refused by the engine, by error code.",
            ["code"],
            registry=self.registry,
        )
        self.worker_deaths = Counter(
            "aural_worker_deaths",
            "Engine processes of this server that died (died), were killed over their memory "
            "(memory) or a task's time limit (time), or did not start (start).",
            ["reason"],
            registry=self.registry,
        )
        self.registry.register(_StoreCollector(store))

    def watch_lanes(self, busy_lanes: Callable[[], int]) -> None:
        """Export ``aural_workers_busy`` from ``busy_lanes`` (a server with embedded lanes)."""
        self.registry.register(_LaneCollector(busy_lanes))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.request_seconds.labels(method, route).observe(seconds)

    def observe_grpc(self, method: str, code: str, seconds: float) -> None:
        self.grpc_requests.labels(method, code).inc()
        self.grpc_request_seconds.labels(method).observe(seconds)

    def task_finished(self, record: TaskRecord) -> None:
        """:class:`aural.jobs.runner.TaskObserver` hook."""
        self.tasks_finished.labels(record.face, record.model, record.state.value).inc()
        if record.state == TaskState.REJECTED:
            self.tasks_rejected.labels(str((record.error or {}).get("code", "unknown"))).inc()
        if record.state == TaskState.DONE and record.audio_duration_s:
            self.audio_seconds.labels(record.model).inc(record.audio_duration_s)
            if record.runtime_s is not None:
                self.real_time_factor.labels(record.model).observe(
                    record.runtime_s / record.audio_duration_s
                )

    def worker_died(self, reason: str) -> None:
        """:class:`aural.jobs.isolation.DeathObserver` hook."""
        self.worker_deaths.labels(reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
