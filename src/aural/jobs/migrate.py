"""Schema migrations of the task store: Alembic, configured in code, safe to run on every start.

The revisions live in :mod:`aural.migrations` (``script_location = aural:migrations``), so no
``alembic.ini`` is needed. :func:`upgrade` handles the three databases there are:

* an empty one gets the whole schema;
* one made by the first release (``create_all``, no ``alembic_version`` table) is stamped
  :data:`BASELINE_REVISION` first, then upgraded;
* a versioned one is upgraded from where it is (nothing to do at the head).

The whole upgrade is one transaction under a database-wide lock, so API nodes and workers that
start together neither race nor see half a schema: on PostgreSQL a transaction-level advisory
lock (``pg_advisory_xact_lock``, fixed key :data:`PG_LOCK_KEY`), on SQLite ``BEGIN IMMEDIATE``
(the other writers wait out the busy timeout). Both locks end with the transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from aural.jobs.store import make_engine

SCRIPT_LOCATION = "aural:migrations"
# The schema of the release before migrations; unversioned databases with a tasks table are it.
BASELINE_REVISION = "0001_initial"
# Key of the PostgreSQL advisory lock held while migrating: b"aural-db" as a big-endian bigint.
PG_LOCK_KEY = int.from_bytes(b"aural-db", "big")

# Alembic's ``context``/``op`` proxies are module globals: one migration per process at a time.
_process_lock = threading.Lock()


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic config for the store's revisions, without any ``alembic.ini``.

    ``connection`` is handed to ``env.py`` (which then migrates over it, in its transaction);
    otherwise ``env.py`` connects to ``url`` (or to the configured store when that is None too).
    Usable with any :mod:`alembic.command`, e.g. ``command.revision(alembic_config(url), ...)``.
    """
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    # New revision files are named after their id, like 0001_initial.py (pass rev_id="NNNN_slug").
    config.set_main_option("file_template", "%%(rev)s")
    if url is not None:
        # The value goes through configparser interpolation: escape URL-encoded characters.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The revision the code expects: the newest of :mod:`aural.migrations.versions`."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("aural.migrations has no revisions")
    return head


@contextmanager
def _engine_for(engine_or_url: Engine | str) -> Iterator[Engine]:
    """The engine given, or a short-lived one for a URL (disposed afterwards)."""
    if isinstance(engine_or_url, Engine):
        yield engine_or_url
        return
    engine = make_engine(engine_or_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _lock(connection: Connection) -> None:
    """Take the database-wide migration lock for the current transaction."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
    elif dialect == "sqlite":
        # pysqlite opens no transaction before DDL on its own; take the write lock up front.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _is_unversioned(connection: Connection) -> bool:
    """Whether this is a database of the first release: tables, but no ``alembic_version``."""
    tables = set(inspect(connection).get_table_names())
    return "tasks" in tables and "alembic_version" not in tables


def upgrade(engine_or_url: Engine | str, revision: str = "head") -> None:
    """Bring the database to ``revision`` (the head by default); a no-op when it is there.

    Safe to call from every process on start: the upgrade is serialised by a database lock and
    runs in one transaction (PostgreSQL's DDL is transactional; SQLite's is too, under
    ``BEGIN IMMEDIATE``). Raises :class:`alembic.util.CommandError` for an unknown revision or
    one below the database's, and SQLAlchemy's errors when the database cannot be reached.
    """
    with (
        _engine_for(engine_or_url) as engine,
        _process_lock,
        engine.connect() as connection,
        connection.begin(),
    ):
        _lock(connection)
        if _is_unversioned(connection):
            command.stamp(alembic_config(connection=connection), BASELINE_REVISION)
        command.upgrade(alembic_config(connection=connection), revision)


def current_revision(engine_or_url: Engine | str) -> str | None:
    """The database's revision, or None when it is empty or predates migrations."""
    with _engine_for(engine_or_url) as engine, engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
