"""Webhook delivery: signed JSON POSTs with retries, and a guard against requests to inside hosts.

The signature is ``HMAC-SHA256(secret, f"{timestamp}.{body}")`` in hex, sent as
``X-Aural-Signature: sha256=<hex>`` next to ``X-Aural-Timestamp``; a receiver recomputes it over
the raw body and rejects old timestamps. URLs that resolve to loopback, private, link-local,
reserved or cloud-metadata addresses are refused unless their host is allow-listed, and the
request goes to the address that was checked (no second DNS lookup to rebind).

Delivery is at least once. Each attempt is numbered in ``X-Aural-Webhook-Attempt``, counted across
restarts: a task's attempts are recorded in the store *before* they are made, so a server killed
after the receiver got the body but before the success was stored sends it again under a higher
number. A receiver that already has a task's result can drop any attempt above 1 for it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from aural import __version__
from aural.config import Settings
from aural.jobs.context import bound
from aural.jobs.errors import WebhookRefusedError
from aural.jobs.store import TaskRecord, TaskStore, WebhookState

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Aural-Signature"
TIMESTAMP_HEADER = "X-Aural-Timestamp"
ATTEMPT_HEADER = "X-Aural-Webhook-Attempt"
_MAX_BACKOFF_S = 300.0
# Cloud instance-metadata endpoints (AWS/GCP/Azure/OpenStack, AWS IPv6, ECS, Alibaba).
METADATA_ADDRESSES = frozenset(
    {"169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200"}
)
METADATA_HOSTS = frozenset({"metadata", "metadata.google.internal", "instance-data"})


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver does: recompute the signature and compare in constant time."""
    try:
        expected = sign(secret, int(timestamp), body)
    except ValueError:
        return False
    return hmac.compare_digest(expected, signature)


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip) in METADATA_ADDRESSES or not ip.is_global or ip.is_multicast


@dataclass(frozen=True)
class Target:
    """A checked webhook URL and the address the request will connect to."""

    url: str
    host: str
    address: str

    @property
    def pinned_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        parts = urlsplit(self.url)
        address = f"[{self.address}]" if ":" in self.address else self.address
        netloc = address if parts.port is None else f"{address}:{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))

    @property
    def host_header(self) -> str:
        parts = urlsplit(self.url)
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if parts.port is None else f"{host}:{parts.port}"


def resolve_target(url: str, allow_hosts: Iterable[str] = ()) -> Target:
    """Check ``url`` and pick the address to call; raise :class:`WebhookRefusedError`."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookRefusedError(f"webhook URL {url!r} is malformed", webhook=url) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefusedError(
            "webhook must be an absolute http:// or https:// URL", webhook=url
        )
    if parts.username or parts.password:
        raise WebhookRefusedError("webhook URLs may not carry credentials", webhook=url)
    host = parts.hostname.lower()
    allowed = {h.lower() for h in allow_hosts}
    if host in METADATA_HOSTS and host not in allowed:
        raise WebhookRefusedError(f"webhook host {host!r} is not allowed", webhook=url)
    try:
        infos = socket.getaddrinfo(
            host, port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookRefusedError(f"webhook host {host!r} does not resolve", webhook=url) from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise WebhookRefusedError(f"webhook host {host!r} does not resolve", webhook=url)
    if host not in allowed:  # only the host as written is trusted, never what it resolves to
        for address in addresses:
            if _forbidden(address):
                raise WebhookRefusedError(
                    f"webhook host {host!r} resolves to {address}, a loopback, private, "
                    "link-local or metadata address; allow it with AURAL_WEBHOOK_ALLOW_HOSTS",
                    webhook=url,
                    address=address,
                )
    return Target(url=url, host=host, address=addresses[0])


@dataclass(frozen=True)
class Delivery:
    """How a delivery ended: delivered or not, after how many attempts, last status."""

    delivered: bool
    attempts: int
    status_code: int | None = None
    error: str | None = None
    interrupted: bool = False  # the server stopped between attempts: try again after restart


def _retryable(status: int) -> bool:
    return status >= 500 or status in (408, 425, 429)


class WebhookSender:
    """Sends JSON bodies to webhook URLs from a small thread pool, with backoff retries."""

    def __init__(
        self,
        secret: str | None,
        allow_hosts: Iterable[str] = (),
        max_attempts: int = 5,
        backoff_s: float = 2.0,
        timeout_s: float = 10.0,
        threads: int = 2,
    ) -> None:
        self.secret = secret
        self.allow_hosts = frozenset(h.lower() for h in allow_hosts)
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False, trust_env=False)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="aural-webhook")
        self._closing = threading.Event()

    @classmethod
    def of(cls, settings: Settings) -> WebhookSender:
        """A sender configured by the ``webhook_*`` settings."""
        secret = settings.webhook_secret
        return cls(
            secret.get_secret_value() if secret else None,
            settings.webhook_allow_hosts,
            settings.webhook_max_attempts,
            settings.webhook_backoff_s,
            settings.webhook_timeout_s,
        )

    def check(self, url: str) -> None:
        """Refuse ``url`` now (at submission) if it could never be delivered to."""
        resolve_target(url, self.allow_hosts)

    def headers(self, body: bytes, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"aural-webhook/{__version__}",
            **(extra or {}),
        }
        if self.secret:
            timestamp = int(time.time())
            headers[TIMESTAMP_HEADER] = str(timestamp)
            headers[SIGNATURE_HEADER] = sign(self.secret, timestamp, body)
        return headers

    def send(
        self,
        url: str,
        payload: dict[str, Any],
        extra: dict[str, str] | None = None,
        before_attempt: Callable[[int], None] | None = None,
        attempts_before: int = 0,
    ) -> Delivery:
        """Deliver ``payload`` now, retrying with exponential backoff; blocks until done.

        ``attempts_before`` attempts were made by earlier processes: numbering goes on from there,
        and they count against ``max_attempts`` (though a resumed delivery always gets one).
        ``before_attempt`` is called with each attempt's number before its request is sent (the
        task store records it there), and an attempt whose record fails is not sent.
        """
        body = json.dumps(payload, ensure_ascii=False).encode()
        status: int | None = None
        error: str | None = None
        allowed = max(1, self.max_attempts - attempts_before)
        for attempt in range(1, allowed + 1):
            try:
                target = resolve_target(url, self.allow_hosts)  # again: DNS may have changed
            except WebhookRefusedError as exc:
                log.warning("webhook refused: %s", exc.message)
                return Delivery(False, attempt - 1, None, exc.message)
            number = attempts_before + attempt
            if before_attempt is not None:
                before_attempt(number)
            headers = {ATTEMPT_HEADER: str(number), **(extra or {})}
            try:
                response = self._client.post(
                    target.pinned_url,
                    content=body,
                    headers={"Host": target.host_header, **self.headers(body, headers)},
                    extensions={"sni_hostname": target.host},
                )
                status, error = response.status_code, None
                if response.is_success:
                    log.info("webhook delivered to %s (attempt %d)", target.host, number)
                    return Delivery(True, attempt, status)
                if not _retryable(status):
                    log.warning("webhook %s answered %d; not retrying", target.host, status)
                    return Delivery(False, attempt, status)
            except httpx.HTTPError as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"
            log.info("webhook attempt %d to %s failed (%s)", number, target.host, error or status)
            if attempt < allowed:
                delay = min(self.backoff_s * 2 ** (attempt - 1), _MAX_BACKOFF_S)
                if self._closing.wait(delay):
                    return Delivery(False, attempt, status, error, interrupted=True)
        return Delivery(False, allowed, status, error)

    def submit(
        self,
        url: str,
        payload: dict[str, Any],
        on_done: Callable[[Delivery], None] | None = None,
        extra: dict[str, str] | None = None,
        before_attempt: Callable[[int], None] | None = None,
        attempts_before: int = 0,
    ) -> Future[Delivery]:
        """Deliver in the background (see :meth:`send`); ``on_done`` is called with the outcome."""

        def deliver() -> Delivery:
            result = self.send(url, payload, extra, before_attempt, attempts_before)
            if on_done is not None:
                on_done(result)
            return result

        return self._pool.submit(deliver)

    def close(self) -> None:
        self._closing.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()


PayloadRenderer = Callable[[TaskRecord], dict[str, Any]]


class TaskWebhooks:
    """Sends a finished task's result to its webhook, rendered by the face that created it."""

    def __init__(self, store: TaskStore, sender: WebhookSender) -> None:
        self.store = store
        self.sender = sender
        self._renderers: dict[str, PayloadRenderer] = {}

    def register(self, face: str, renderer: PayloadRenderer) -> None:
        self._renderers[face] = renderer

    def task_finished(self, record: TaskRecord) -> Future[Delivery] | None:
        if not record.webhook_url or record.webhook_state != WebhookState.PENDING:
            return None
        renderer = self._renderers.get(record.face)
        if renderer is None:
            log.error("no webhook renderer for face %r", record.face)
            return None
        with bound(record.correlation_id, record.request_id, record.id):
            payload = renderer(record)
        extra = {"X-Aural-Task-Id": record.id}
        if record.correlation_id:
            extra["X-Correlation-ID"] = record.correlation_id

        before = record.webhook_attempts

        def attempting(number: int) -> None:
            self.store.set_webhook_state(record.id, WebhookState.PENDING, number)

        def done(result: Delivery) -> None:
            if result.interrupted:
                return  # still pending in the store: resumed by the next start
            state = WebhookState.DELIVERED if result.delivered else WebhookState.FAILED
            self.store.set_webhook_state(record.id, state, before + result.attempts)

        return self.sender.submit(record.webhook_url, payload, done, extra, attempting, before)

    def resume(self) -> int:
        """Deliver the webhooks a previous process finished the task for but did not send."""
        pending = self.store.pending_webhooks()
        for record in pending:
            self.task_finished(record)
        return len(pending)
