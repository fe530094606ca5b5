"""Alembic environment: run by ``closeloop migrate`` (and by ``serve`` on start).

The connection comes from ``storage.migrate``; running alembic by hand
(``alembic -c storage/alembic.ini revision --autogenerate -m "…"``) uses
``CLOSELOOP_DATABASE_URL`` instead.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.types import EnumText, UTCDateTime

target_metadata = SQLModel.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write plain SQLAlchemy types into migrations, so old migrations never import app code."""
    if type_ != "type":
        return False
    if isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, EnumText):
        return "sa.String(length=24)"
    if isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_item=render_item,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    import os

    from storage.db import make_engine

    # ``alembic`` run by hand (see README, Contributing): the same variable and default as the bot's settings
    url = os.environ.get("CLOSELOOP_DATABASE_URL") or "sqlite:///closeloop.db"
    with make_engine(url).connect() as conn:
        run(conn)
        conn.commit()
