"""Faults injected in the database itself, so that every writer meets them (not only SQLAlchemy's connections)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa


class InboxRefusal:
    """While on, the database refuses every INSERT into the inbox with ``reason`` (a trigger, on any connection)."""

    def __init__(self, engine: sa.Engine, reason: str) -> None:
        self.engine, self.reason, self.on = engine, reason.replace("'", ""), False

    def start(self) -> None:
        with self.engine.begin() as connection:
            if self.engine.dialect.name == "postgresql":
                connection.exec_driver_sql(
                    "CREATE FUNCTION refuse_inbox() RETURNS trigger LANGUAGE plpgsql "
                    f"AS $$ BEGIN RAISE EXCEPTION '{self.reason}'; END $$"
                )
                connection.exec_driver_sql(
                    "CREATE TRIGGER refuse_inbox BEFORE INSERT ON inbox FOR EACH ROW EXECUTE FUNCTION refuse_inbox()"
                )
            else:
                connection.exec_driver_sql(
                    f"CREATE TRIGGER refuse_inbox BEFORE INSERT ON inbox BEGIN SELECT RAISE(ABORT, '{self.reason}'); END"
                )
        self.on = True

    def stop(self) -> None:
        if not self.on:
            return
        with self.engine.begin() as connection:
            if self.engine.dialect.name == "postgresql":
                connection.exec_driver_sql("DROP TRIGGER refuse_inbox ON inbox")
                connection.exec_driver_sql("DROP FUNCTION refuse_inbox()")
            else:
                connection.exec_driver_sql("DROP TRIGGER refuse_inbox")
        self.on = False


@contextmanager
def inbox_refuses(engine: sa.Engine, reason: str = "database or disk is full") -> Iterator[InboxRefusal]:
    refusal = InboxRefusal(engine, reason)
    refusal.start()
    try:
        yield refusal
    finally:
        refusal.stop()
