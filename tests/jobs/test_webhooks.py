"""The SSRF guard and the signature, without sending anything anywhere."""

from __future__ import annotations

import pytest

from aural.jobs.errors import WebhookRefusedError
from aural.jobs.webhooks import resolve_target, sign, verify


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
