"""Schema migrations on real SQLite files and real PostgreSQL databases (one fresh per test).

Covered: an empty database reaches the head and then matches ``Base.metadata`` exactly (alembic's
autogenerate comparison finds nothing); revision 0001 is the first release's ``create_all``; a
database of that release (no ``alembic_version``) keeps its rows through the upgrade; upgrading
again changes nothing; concurrent upgrades (separate processes) all succeed with one head, because
the upgrade waits for the migration lock; ``aural db upgrade`` / ``aural db current``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError
from typer.testing import CliRunner

from aural.cli import app as cli
from aural.config import get_settings
from aural.jobs import migrate
from aural.jobs.store import Base, TaskStore, make_engine

# What revisions 0002 and 0003 added; the first release had neither.
LEASE_COLUMNS = {"heartbeat_at", "dispatched_at", "progress"}
LEASE_INDEX = "ix_tasks_state_heartbeat_at"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'aural.db'}"
    return str(request.getfixturevalue("postgres_url"))


def first_release_metadata() -> sa.MetaData:
    """The tables of the release before migrations: today's, without what 0002-0003 added."""
    old = sa.MetaData()
    for table in Base.metadata.sorted_tables:
        # Copied columns keep index=True / unique=True, so their indexes and constraints come
        # back; the composite lease index (declared on the table) does not.
        sa.Table(
            table.name, old, *(c._copy() for c in table.columns if c.name not in LEASE_COLUMNS)
        )
    assert LEASE_INDEX not in {index.name for t in old.tables.values() for index in t.indexes}
    return old


def schema_diff(url: str, metadata: sa.MetaData) -> list[Any]:
    """What autogenerate would change to make the database match ``metadata`` (empty: same)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def snapshot(url: str) -> dict[str, Any]:
    """Tables, columns, indexes and version rows: what a no-op upgrade must leave alone."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            tables = sorted(inspector.get_table_names())
            return {
                "tables": tables,
                "columns": {t: [c["name"] for c in inspector.get_columns(t)] for t in tables},
                "indexes": {
                    t: sorted(i["name"] or "" for i in inspector.get_indexes(t)) for t in tables
                },
                "versions": connection.exec_driver_sql(
                    "SELECT version_num FROM alembic_version"
                ).all(),
            }
    finally:
        engine.dispose()


def test_there_is_one_head_and_it_is_the_progress_revision() -> None:
    assert migrate.head_revision() == "0003_task_progress"


def test_an_empty_database_gets_the_whole_schema_matching_the_metadata(db_url: str) -> None:
    assert migrate.current_revision(db_url) is None
    migrate.upgrade(db_url)
    assert migrate.current_revision(db_url) == migrate.head_revision()
    assert schema_diff(db_url, Base.metadata) == []
    engine = make_engine(db_url)
    try:
        indexes = {i["name"]: i["column_names"] for i in sa.inspect(engine).get_indexes("tasks")}
    finally:
        engine.dispose()
    assert indexes[LEASE_INDEX] == ["state", "heartbeat_at"]


def test_revision_0001_is_the_schema_the_first_release_created(db_url: str) -> None:
    migrate.upgrade(db_url, migrate.BASELINE_REVISION)
    assert migrate.current_revision(db_url) == "0001_initial"
    assert schema_diff(db_url, first_release_metadata()) == []
    assert schema_diff(db_url, Base.metadata) != []


def test_a_database_of_the_first_release_is_stamped_then_upgraded_keeping_its_rows(
    db_url: str,
) -> None:
    old = first_release_metadata()
    engine = sa.create_engine(db_url)
    try:
        old.create_all(engine)
        with engine.begin() as connection:
            connection.execute(
                old.tables["tasks"].insert(),
                {
                    "id": "t-1", "state": "done", "face": "openai", "model": "base",
                    "options": {"language": "en"}, "face_options": None, "media_path": None,
                    "upload_bytes": 10, "media_bytes": 0, "result": {"text": "hi"},
                    "result_bytes": 2, "error": None, "webhook_state": "none",
                    "webhook_attempts": 0, "created_at": 1.0, "finished_at": 2.0, "attempts": 1,
                },
            )  # fmt: skip
            connection.execute(
                old.tables["api_keys"].insert(),
                {"id": "k-1", "name": "acme", "key_hash": "h" * 64, "created_at": 1.0},
            )
    finally:
        engine.dispose()
    assert migrate.current_revision(db_url) is None

    store = TaskStore(db_url)
    try:
        store.create_schema()  # what every start does: stamp 0001, then upgrade to the head
        record = store.get("t-1")
        with store.session() as session:
            lease = session.execute(
                sa.text("SELECT heartbeat_at, dispatched_at FROM tasks WHERE id = 't-1'")
            ).one()
            keys = session.execute(sa.text("SELECT name FROM api_keys")).scalars().all()
    finally:
        store.close()
    assert record is not None and record.result == {"text": "hi"} and record.attempts == 1
    assert tuple(lease) == (None, None)
    assert keys == ["acme"]
    assert migrate.current_revision(db_url) == migrate.head_revision()
    assert schema_diff(db_url, Base.metadata) == []
    assert snapshot(db_url)["versions"] == [(migrate.head_revision(),)]


def test_upgrading_again_is_a_no_op(db_url: str) -> None:
    migrate.upgrade(db_url)
    before = snapshot(db_url)
    migrate.upgrade(db_url)
    store = TaskStore(db_url)
    try:
        store.create_schema()
    finally:
        store.close()
    assert snapshot(db_url) == before
    assert before["versions"] == [(migrate.head_revision(),)]


def test_an_upgrade_never_downgrades_and_refuses_an_unknown_revision(db_url: str) -> None:
    migrate.upgrade(db_url)
    migrate.upgrade(db_url, "0001_initial")  # already past it: nothing to do
    assert migrate.current_revision(db_url) == migrate.head_revision()
    with pytest.raises(CommandError):
        migrate.upgrade(db_url, "9999_nope")
    assert migrate.current_revision(db_url) == migrate.head_revision()


def test_the_lease_revision_downgrades_and_upgrades_again(db_url: str) -> None:
    migrate.upgrade(db_url)
    # Through env.py's own connection (the path of the alembic command line).
    command.downgrade(migrate.alembic_config(db_url), "0001_initial")
    assert migrate.current_revision(db_url) == "0001_initial"
    assert schema_diff(db_url, first_release_metadata()) == []
    migrate.upgrade(db_url)
    assert schema_diff(db_url, Base.metadata) == []


UPGRADE_ON_GO = """
import sys
from aural.jobs import migrate
url = sys.argv[1]
print("ready", flush=True)
sys.stdin.readline()
migrate.upgrade(url)
print(migrate.current_revision(url))
"""


def test_concurrent_upgrades_from_separate_processes_all_succeed(db_url: str) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", UPGRADE_ON_GO, db_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for process in processes:  # every process imported and waiting ...
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
    for process in processes:  # ... then all go at once
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    outcomes = [(*p.communicate(timeout=60), p.returncode) for p in processes]
    head = migrate.head_revision()
    for out, err, returncode in outcomes:
        assert returncode == 0, err
        assert out.strip() == head
    assert snapshot(db_url)["versions"] == [(head,)]
    assert schema_diff(db_url, Base.metadata) == []


def test_an_upgrade_waits_while_another_node_holds_the_postgresql_lock(postgres_url: str) -> None:
    holder = sa.create_engine(postgres_url, poolclass=sa.NullPool)
    try:
        with holder.connect() as connection:
            connection.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": migrate.PG_LOCK_KEY})
            worker = threading.Thread(target=migrate.upgrade, args=(postgres_url,))
            worker.start()
            worker.join(timeout=1.0)
            assert worker.is_alive()  # blocked on the lock, nothing migrated yet
            assert migrate.current_revision(postgres_url) is None
            connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": migrate.PG_LOCK_KEY})
            connection.commit()
        worker.join(timeout=30)
        assert not worker.is_alive()
    finally:
        holder.dispose()
    assert migrate.current_revision(postgres_url) == migrate.head_revision()


def test_db_upgrade_and_current_commands(db_url: str, tmp_path: Path) -> None:
    env = {"AURAL_STORE_URL": db_url, "AURAL_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    get_settings.cache_clear()
    try:
        empty = runner.invoke(cli, ["db", "current"], env=env)
        to_first = runner.invoke(cli, ["db", "upgrade", "0001_initial"], env=env)
        at_first = runner.invoke(cli, ["db", "current"], env=env)
        to_head = runner.invoke(cli, ["db", "upgrade"], env=env)
        at_head = runner.invoke(cli, ["db", "current"], env=env)
        again = runner.invoke(cli, ["db", "upgrade"], env=env)
        unknown = runner.invoke(cli, ["db", "upgrade", "9999_nope"], env=env)
    finally:
        get_settings.cache_clear()
    head = migrate.head_revision()
    assert (empty.exit_code, empty.stdout) == (0, "none\n"), empty.output
    assert to_first.exit_code == 0, to_first.output
    assert to_first.stderr == "database at 0001_initial\n"
    assert at_first.stdout == "0001_initial\n"
    assert to_head.exit_code == 0 and to_head.stderr == f"database at {head}\n"
    assert at_head.stdout == f"{head}\n"
    assert again.exit_code == 0 and again.stderr == f"database at {head}\n"
    assert unknown.exit_code == 2 and unknown.stderr.startswith("error: ")
    assert (tmp_path / "data").is_dir()
