"""The SSRF guard and the signature; attempt numbers across a restart (to a loopback receiver)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aural.jobs.errors import WebhookRefusedError
from aural.jobs.store import NewTask, TaskState, TaskStore, WebhookState
from aural.jobs.webhooks import (
    TaskWebhooks,
    WebhookSender,
    resolve_target,
    sign,
    verify,
)

from .conftest import Received


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://172.16.0.1/hook",
        "http://192.168.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://metadata.google.internal/computeMetadata/v1/",
        "ftp://example.com/hook",
        "http://user:pw@example.com/hook",
        "not a url",
    ],
)
def test_internal_or_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(WebhookRefusedError):
        resolve_target(url)


def test_a_listed_host_is_allowed_but_not_what_else_resolves_to_it() -> None:
    target = resolve_target("http://127.0.0.1:9000/hook?x=1", allow_hosts=["127.0.0.1"])
    assert target.address == "127.0.0.1"
    assert target.pinned_url == "http://127.0.0.1:9000/hook?x=1"
    with pytest.raises(WebhookRefusedError):
        resolve_target("http://localhost:9000/hook", allow_hosts=["127.0.0.1"])


def test_public_addresses_are_allowed_and_pinned() -> None:
    target = resolve_target("https://93.184.216.34/hook")
    assert target.address == "93.184.216.34"
    assert target.host_header == "93.184.216.34"


def test_signature_covers_timestamp_and_body() -> None:
    signature = sign("secret", 1700000000, b'{"a":1}')
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify("secret", "1700000000", b'{"a":1}', signature)
    assert not verify("secret", "1700000001", b'{"a":1}', signature)
    assert not verify("secret", "1700000000", b'{"a":2}', signature)
    assert not verify("secret", "soon", b'{"a":1}', signature)


def test_a_resumed_delivery_goes_on_numbering_from_the_attempts_a_killed_server_stored(
    tmp_path: Path, hooks: tuple[str, Received]
) -> None:
    """A killed server may have reached the receiver before it could store the success, so the
    next start sends again; the attempt number it stored before sending makes the copy visible."""
    url, received = hooks
    store = TaskStore(f"sqlite:///{tmp_path / 'tasks.db'}")
    store.create_schema()
    new = NewTask(face="t", model="m", options={}, media_path="/x", media_bytes=1, webhook_url=url)
    task_id = store.create(new).id
    assert store.claim(task_id, "w")
    assert store.finish(task_id, TaskState.DONE, result={"text": "x"})
    store.set_webhook_state(task_id, WebhookState.PENDING, 2)  # what the killed server stored
    sender = WebhookSender(None, allow_hosts=["127.0.0.1"], backoff_s=0.01)
    webhooks = TaskWebhooks(store, sender)
    webhooks.register("t", lambda record: {"id": record.id})
    try:
        (pending,) = store.pending_webhooks()  # what the next start resumes
        delivery = webhooks.task_finished(pending)
        assert delivery is not None and delivery.result(timeout=30).delivered
    finally:
        sender.close()
    assert {task_id: [attempt for attempt, _ in received[task_id]]} == {task_id: ["3"]}
    assert set(received) == {task_id}
    record = store.get(task_id)
    assert record is not None
    assert (record.webhook_state, record.webhook_attempts) == (WebhookState.DELIVERED, 3)
    assert store.pending_webhooks() == []
