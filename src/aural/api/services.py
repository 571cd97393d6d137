"""The long-lived objects one app runs on, built in its lifespan and held on ``app.state``.

Store, storage, model pool, runner, executor, webhooks, rate limiter, authenticator and
metrics: nothing of this is a module global, so tests can run several apps in one process.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from aural.api.auth import Authenticator, is_loopback_host
from aural.api.limits import RateLimiter
from aural.api.metrics import Metrics
from aural.config import Settings
from aural.jobs.distributed import CeleryExecutor, make_celery
from aural.jobs.executor import Executor, JobTimings
from aural.jobs.isolation import engine_lanes
from aural.jobs.local import LocalExecutor
from aural.jobs.notify import RedisTaskListener, channel_of, supports_notifications
from aural.jobs.runner import Runner
from aural.jobs.storage import MediaStorage
from aural.jobs.store import TaskRecord, TaskStore
from aural.jobs.waiting import TaskEvents
from aural.jobs.webhooks import TaskWebhooks, WebhookSender
from aural.model_pool import ModelPool
from aural.models import CATALOGUE, installed_source

log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """The configuration cannot be served (e.g. a public bind without API keys)."""


@dataclass
class Services:
    settings: Settings
    store: TaskStore
    storage: MediaStorage
    pool: ModelPool
    events: TaskEvents
    runner: Runner | None  # None on an API node of a scaled-out deployment
    executor: Executor
    sender: WebhookSender
    webhooks: TaskWebhooks
    limiter: RateLimiter
    auth: Authenticator
    metrics: Metrics
    listener: RedisTaskListener | None = None
    model_error: str | None = None
    started_at: float | None = None

    def served_models(self) -> list[str]:
        """Model names a request may pick: the default, and installed catalogue models."""
        names = [self.settings.model]
        names += [n for n, e in CATALOGUE.items() if installed_source(e) and n not in names]
        return names

    def default_model_ready(self) -> bool:
        """Whether this process can transcribe (an API-only node needs no model)."""
        if self.settings.resolved_workers == 0:
            return True
        if isinstance(self.executor, LocalExecutor) and self.executor.isolated:
            return self.model_error is None and self.executor.model_ready()
        if self.runner is None:
            return True
        return any(m.name == self.settings.model for m in self.pool.loaded())

    def start(self) -> None:
        self.started_at = time.time()
        if self.settings.auto_migrate:
            self.store.create_schema()
        if not self.auth.loopback_bind and not self.auth.has_keys():
            raise StartupError(
                f"refusing to serve on {self.settings.host} without API keys; create one with "
                "`aural keys create --name NAME`, or bind to 127.0.0.1"
            )
        self.executor.start()  # local workers load the default model first
        if self.listener is not None:
            self.listener.start()
        resumed = self.webhooks.resume()
        if resumed:
            log.info("resuming %d undelivered webhook(s)", resumed)

    def load_default_model(self) -> None:
        try:
            self.pool.get(self.settings.model)
        except Exception as exc:  # reported by /readyz; requests fail with the same error
            self.model_error = f"{type(exc).__name__}: {exc}"
            log.error("loading model %s failed: %s", self.settings.model, self.model_error)

    def delete_task(self, task_id: str) -> TaskRecord | None:
        """Delete a task, its media and result. A transcription of it that is running stops at
        its next progress report (see :class:`~aural.jobs.runner.TaskGone`), wherever it runs.
        Waiting requests are woken (they find it gone)."""
        removed = self.store.delete(task_id)
        if removed is not None:
            self.storage.remove(removed.media_path)
            self.events.publish(task_id)
        return removed

    def broker_reachable(self) -> bool | None:
        """Whether the Celery broker answers (``None``: this process uses none)."""
        if isinstance(self.executor, CeleryExecutor):
            return self.executor.broker_reachable()
        return None

    def close(self) -> None:
        if self.listener is not None:
            self.listener.stop()
        self.executor.stop()
        self.sender.close()
        self.store.close()


def build_services(settings: Settings, pool: ModelPool | None = None) -> Services:
    """The services of one app; an embedding process's ``pool`` keeps the engine in-process.

    Sharing loaded models means running in this process, so with ``pool`` given the embedded
    executor runs tasks on threads whatever ``AURAL_ISOLATION`` says.
    """
    shared_pool = pool is not None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = TaskStore(settings.resolved_store_url)
    storage = MediaStorage(
        settings.resolved_media_dir,
        store,
        settings.max_upload_bytes,
        settings.storage_quota_bytes,
    )
    pool = pool or ModelPool(settings)
    events = TaskEvents()
    metrics = Metrics(store)
    sender = WebhookSender.of(settings)
    webhooks = TaskWebhooks(store, sender)
    timings = JobTimings.of(settings)
    runner: Runner | None = None
    executor: Executor
    listener: RedisTaskListener | None = None
    if settings.executor == "celery":
        executor = CeleryExecutor(
            store,
            storage,
            make_celery(settings),
            queue=settings.queue,
            timings=timings,
            visibility_timeout_s=settings.broker_visibility_timeout_s,
        )
        if supports_notifications(settings.broker_url):
            listener = RedisTaskListener(settings.broker_url, channel_of(settings.queue), events)
    elif settings.isolation == "process" and not shared_pool:
        lanes = engine_lanes(
            settings,
            store,
            events,
            observers=[metrics, webhooks],
            death_observers=[metrics],
            on_ready=lambda error: setattr(services, "model_error", error),
        )
        executor = LocalExecutor(
            store,
            storage,
            workers_per_model=settings.resolved_workers_per_model,
            timings=timings,
            lanes=lanes,
        )
    else:
        runner = Runner(store, storage, pool, events, observers=[metrics, webhooks])
        executor = LocalExecutor(
            store,
            storage,
            runner,
            workers=settings.resolved_workers,
            workers_per_model=settings.resolved_workers_per_model,
            timings=timings,
        )
    services = Services(
        settings=settings,
        store=store,
        storage=storage,
        pool=pool,
        events=events,
        runner=runner,
        executor=executor,
        sender=sender,
        webhooks=webhooks,
        limiter=RateLimiter(settings.rate_limit_storage_uri),
        auth=Authenticator(store, is_loopback_host(settings.host), settings.rate_limit),
        metrics=metrics,
        listener=listener,
    )
    if isinstance(executor, LocalExecutor):
        metrics.watch_lanes(executor.busy_lanes)
        if not executor.isolated:
            executor.warm_up = services.load_default_model
    return services
