"""Early wake-ups across processes: workers announce finished tasks on a Redis channel.

The store stays the truth (a waiting request polls its row); the announcement only lets an API
node look again at once instead of at its next poll. Lost announcements cost at most one poll
interval, so nothing here retries or persists.
"""

from __future__ import annotations

import logging
import threading

import redis

from aural.jobs.threads import DaemonLoop
from aural.jobs.waiting import TaskEvents

log = logging.getLogger(__name__)


def supports_notifications(broker_url: str) -> bool:
    """Announcements ride on the broker's Redis; other brokers fall back to polling."""
    return broker_url.startswith(("redis://", "rediss://", "unix://"))


def channel_of(queue: str) -> str:
    return f"{queue}.finished"


class RedisTaskNotifier:
    """The worker side: ``publish(task_id)`` announces a finished task."""

    def __init__(self, url: str, channel: str) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=5)
        self.channel = channel

    def publish(self, task_id: str) -> None:
        try:
            self._client.publish(self.channel, task_id)
        except redis.RedisError as exc:  # waiting requests find the row at their next poll
            log.warning("announcing task %s failed: %s", task_id, exc)

    def close(self) -> None:
        self._client.close()


class RedisTaskListener(DaemonLoop):
    """The API side: a thread that turns announcements into :class:`TaskEvents` wake-ups."""

    def __init__(self, url: str, channel: str, events: TaskEvents) -> None:
        super().__init__("aural-listener", self._run)
        self.url = url
        self.channel = channel
        self.events = events

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            client = redis.Redis.from_url(self.url, socket_timeout=5)
            try:
                # redis-py types pubsub() from 8.2 on; older releases in the pin leave it untyped.
                pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call, unused-ignore]
                pubsub.subscribe(self.channel)
                while not stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message and isinstance(message.get("data"), bytes):
                        self.events.publish(message["data"].decode())
            except redis.RedisError as exc:
                log.warning("task announcements unavailable (%s); polling only", exc)
                stop.wait(2.0)
            finally:
                client.close()
