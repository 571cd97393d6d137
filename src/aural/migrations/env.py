"""Alembic environment of the task store; ``target_metadata`` is the store's ``Base.metadata``.

:mod:`aural.jobs.migrate` runs it with an open connection in ``config.attributes["connection"]``
(inside its transaction and lock), so no ``alembic.ini`` is needed. Run from the ``alembic``
command line it connects to ``-x url=...``, else ``sqlalchemy.url``, else the configured store
(``AURAL_STORE_URL`` / the data directory). SQLite gets batch mode: ALTERs it cannot do in place
become a copy of the table.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from aural.jobs.store import Base, make_engine

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    url = url or config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from aural.config import get_settings

    return get_settings().resolved_store_url


def _run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    """Emit the SQL instead of running it (``alembic upgrade head --sql``)."""
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate over the connection handed in, or over a new one to the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_with(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as new_connection:
            _run_with(new_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
