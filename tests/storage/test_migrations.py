"""Migrations from an empty database on SQLite and PostgreSQL match the models exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from threading import Thread

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import Session, SQLModel, select

from storage.db import make_engine
from storage.migrate import alembic_config, current_revision, head_revision, newest_file_revision, upgrade
from storage.models import AuditEntry, Group
from storage.types import AuditAction


def schema_drift(engine: sa.Engine) -> list:
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), SQLModel.metadata)


def test_migrating_from_empty_gives_exactly_the_models(engine: sa.Engine) -> None:
    assert current_revision(engine) == head_revision() is not None
    assert schema_drift(engine) == []


def test_revisions_are_numbered_like_their_files_so_the_newest_file_is_the_head() -> None:
    assert newest_file_revision() == head_revision()


def test_migrating_again_is_a_no_op(engine: sa.Engine) -> None:
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_downgrade_to_empty_and_back(sqlite_engine: sa.Engine) -> None:
    with sqlite_engine.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
    assert set(sa.inspect(sqlite_engine).get_table_names()) == {"alembic_version"}
    upgrade(sqlite_engine)
    assert schema_drift(sqlite_engine) == []


def test_sqlite_runs_with_wal_foreign_keys_and_a_busy_timeout(sqlite_engine: sa.Engine) -> None:
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        with pytest.raises(sa.exc.IntegrityError):
            connection.exec_driver_sql("INSERT INTO participants (record_id, person_id, decision_authority, "
                                       "resource_authority) VALUES (999, 999, 0, 0)")  # fmt: skip


def test_the_audit_trail_refuses_update_and_delete(engine: sa.Engine) -> None:
    now = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    with Session(engine) as session:
        session.add(AuditEntry(action=AuditAction.RECORD_CREATED, at=now, detail={"topic": "x"}))
        session.commit()
    for statement in ("UPDATE audit_trail SET action = 'record.closed'", "DELETE FROM audit_trail"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as connection:
            connection.exec_driver_sql(statement)
    with Session(engine) as session:
        assert session.exec(select(AuditEntry)).one().action is AuditAction.RECORD_CREATED


def test_instants_come_back_aware_in_utc_and_naive_ones_are_refused(engine: sa.Engine) -> None:
    beijing = timezone(timedelta(hours=8))
    with Session(engine) as session:
        session.add(
            Group(
                platform="sandbox", chat_id="c", workspace="w", created_at=datetime(2026, 3, 5, 14, 0, tzinfo=beijing)
            )
        )
        session.commit()
    with Session(engine) as session:
        group = session.exec(select(Group)).one()
        assert group.created_at == datetime(2026, 3, 5, 6, 0, tzinfo=UTC) and group.created_at.tzinfo is UTC
        group.created_at = datetime(2026, 3, 5, 14, 0)  # naive
        with pytest.raises(sa.exc.StatementError, match="naive datetime"):
            session.commit()


@pytest.mark.postgres
def test_two_replicas_migrating_at_once_both_succeed(postgres_database: str) -> None:
    """Replicas start together; the advisory lock makes the second wait, then find nothing to do."""
    admin = make_engine(postgres_database.rsplit("/", 1)[0] + "/test", isolation_level="AUTOCOMMIT")
    name = postgres_database.rsplit("/", 1)[1] + "_race"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = postgres_database.rsplit("/", 1)[0] + "/" + name
    engines = [make_engine(url) for _ in range(2)]
    errors: list[BaseException] = []

    def run(engine: sa.Engine) -> None:
        try:
            upgrade(engine)
        except BaseException as exc:
            errors.append(exc)

    threads = [Thread(target=run, args=(engine,)) for engine in engines]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert current_revision(engines[0]) == head_revision()
    finally:
        for engine in engines:
            engine.dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
