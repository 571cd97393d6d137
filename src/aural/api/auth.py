"""API keys: bearer tokens stored only as SHA-256 hashes, each with its languages and rate limit.

Auth is off only while no key was ever created (revoked keys count) *and* the server is bound
to a loopback address; a server bound elsewhere never serves anonymous clients, and
``aural serve`` refuses to start there without a key.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from limits import parse as parse_rate
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from aural.api.errors import UnauthorizedError
from aural.errors import InvalidOptionError
from aural.jobs.store import ApiKeyRow, TaskStore
from aural.languages import normalise_language_set

KEY_PREFIX = "aural_"
_CACHE_S = 2.0


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def is_loopback_host(host: str) -> bool:
    """Whether binding ``host`` only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret."""

    id: str
    name: str
    languages: frozenset[str] | None
    rate_limit: str | None
    created_at: float
    revoked_at: float | None

    @classmethod
    def of(cls, row: ApiKeyRow) -> ApiKey:
        return cls(
            id=row.id,
            name=row.name,
            languages=frozenset(row.languages) if row.languages is not None else None,
            rate_limit=row.rate_limit,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key, or the anonymous local client when auth is off."""

    key_id: str | None
    name: str
    languages: frozenset[str] | None
    rate_limit: str | None
    identity: str  # what the rate limit counts against


def validate_rate(rate: str) -> str:
    """``60/minute``, ``10 per second``, ``1000/day``...: anything the limits library parses."""
    try:
        parse_rate(rate)
    except ValueError as exc:
        raise InvalidOptionError(
            f"rate limit {rate!r} is not like 60/minute or 10/second", option="rate"
        ) from exc
    return rate


def create_key(
    store: TaskStore,
    name: str,
    languages: Iterable[str] | None = None,
    rate_limit: str | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key; returns it and its secret, which is shown once and never stored."""
    codes = normalise_language_set(languages) if languages is not None else None
    if rate_limit is not None:
        validate_rate(rate_limit)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(
        id=str(uuid.uuid4()),
        name=name,
        key_hash=hash_key(secret),
        languages=sorted(codes) if codes is not None else None,
        rate_limit=rate_limit,
        created_at=time.time(),
        revoked_at=None,
    )
    try:
        with store.session() as session:
            session.add(row)
            session.flush()
            key = ApiKey.of(row)
    except IntegrityError as exc:
        raise InvalidOptionError(f"a key named {name!r} already exists", option="name") from exc
    return key, secret


def list_keys(store: TaskStore) -> list[ApiKey]:
    with store.session() as session:
        return [ApiKey.of(row) for row in session.scalars(select(ApiKeyRow).order_by("created_at"))]


def revoke_key(store: TaskStore, name: str) -> bool:
    with store.session() as session:
        result = session.execute(
            update(ApiKeyRow)
            .where(ApiKeyRow.name == name, ApiKeyRow.revoked_at.is_(None))
            .values(revoked_at=time.time())
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


class Authenticator:
    """Turns an ``Authorization`` header into a :class:`Principal` (or refuses it)."""

    def __init__(self, store: TaskStore, loopback_bind: bool, default_rate: str | None) -> None:
        self.store = store
        self.loopback_bind = loopback_bind
        self.default_rate = default_rate
        self._lock = threading.Lock()
        self._keys_checked = 0.0
        self._has_keys = False

    def has_keys(self) -> bool:
        """Whether any unrevoked key exists (the check of ``aural serve`` on a public bind)."""
        with self.store.session() as session:
            count = session.scalar(
                select(func.count()).select_from(ApiKeyRow).where(ApiKeyRow.revoked_at.is_(None))
            )
        return bool(count)

    def keys_ever_created(self) -> bool:
        """Whether any key, revoked or not, exists (cached briefly; keys come from the CLI).

        Revoked keys count: revoking the last key must lock the server, not silently open it
        to anonymous clients again (behind a reverse proxy every client looks local).
        """
        now = time.monotonic()
        with self._lock:
            if now - self._keys_checked < _CACHE_S:
                return self._has_keys
        with self.store.session() as session:
            count = session.scalar(select(func.count()).select_from(ApiKeyRow))
        with self._lock:
            self._has_keys, self._keys_checked = bool(count), now
            return self._has_keys

    @property
    def required(self) -> bool:
        return not self.loopback_bind or self.keys_ever_created()

    def authenticate(self, authorization: str | None, client: str) -> Principal:
        if not self.required:
            return Principal(None, "anonymous", None, self.default_rate, f"client:{client}")
        token = _bearer(authorization)
        if token is None:
            raise UnauthorizedError("an API key is required: send 'Authorization: Bearer KEY'")
        with self.store.session() as session:
            row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == hash_key(token)))
            key = ApiKey.of(row) if row is not None else None
        if key is None or key.revoked_at is not None:
            raise UnauthorizedError("the API key is unknown or revoked")
        return Principal(
            key.id, key.name, key.languages, key.rate_limit or self.default_rate, f"key:{key.id}"
        )


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() not in ("bearer", "token") or not token.strip():
        return None
    return token.strip()


def licensed_for(principal: Principal, deployment: frozenset[str] | None) -> frozenset[str] | None:
    """The languages this caller may use: the key's list within the deployment's licence."""
    deployed = normalise_language_set(deployment)
    if principal.languages is None:
        return deployed
    if deployed is None:
        return principal.languages
    return principal.languages & deployed
