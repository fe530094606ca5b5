"""Bring a database to the newest schema with Alembic, safely from several replicas at once.

A database already at the newest revision is recognised without Alembic (its import
and the reading of every migration script cost a fifth of ``closeloop serve``'s
start): revisions are numbered like their files (``0003_….py`` is revision
``0003``; ``tests/storage/test_migrations.py`` keeps it so), so the newest file
names the head.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
# Any fixed number: replicas starting together take turns on it (PostgreSQL only).
ADVISORY_LOCK_KEY = 0x0C105E100


def alembic_config(connection: sa.Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def newest_file_revision() -> str:
    return max(path.name.split("_", 1)[0] for path in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def at_newest(engine: sa.Engine) -> bool:
    try:
        with engine.connect() as connection:
            current = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except sa.exc.DBAPIError:  # no schema yet
        return False
    return current == newest_file_revision()


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    if revision == "head" and at_newest(engine):
        return
    from alembic import command

    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        command.upgrade(alembic_config(connection), revision)


def current_revision(engine: sa.Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
