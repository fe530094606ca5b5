"""The engine (SQLite by default, PostgreSQL by URL) and the unit of work."""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

SQLITE_BUSY_TIMEOUT_MS = 5000
P = ParamSpec("P")
T = TypeVar("T")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the pragmas and pool each backend needs.

    SQLite gets WAL (readers don't block the writer), foreign keys (off by default
    in SQLite) and a busy timeout, on every new connection. A ``postgresql://`` URL
    is served by psycopg 3.
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        kwargs.setdefault("connect_args", {"check_same_thread": False})
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One transaction: commit when the block ends, roll back everything if it raises.

    Lifecycle functions never commit themselves, so a handler can put a change, its
    audit rows and the outbox messages it causes into one atomic commit.
    """
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


_executors: weakref.WeakKeyDictionary[Engine, ThreadPoolExecutor] = weakref.WeakKeyDictionary()


def executor_for(engine: Engine) -> ThreadPoolExecutor:
    """The threads that run an engine's transactions off the event loop, shared by every writer.

    SQLite has one writer at a time: a single thread queues the writes instead of
    letting them collide on the file lock (whose busy wait sleeps in steps of up to
    100 ms, the tail latency we would see). PostgreSQL takes several at once. The one
    other SQLite writer in the process is the inbox's acknowledgement, written on the
    event loop only while the lock is free and holding it for tens of microseconds
    (``bot/inbox.py``); a write here that meets it sleeps a millisecond (the busy
    handler's first step) and tries again.
    """
    executor = _executors.get(engine)
    if executor is None:
        workers = 1 if engine.dialect.name == "sqlite" else 8
        executor = _executors[engine] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="db")
    return executor


async def in_db(engine: Engine, work: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run synchronous database work from async code: the one way to do it (on ``executor_for(engine)``)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor_for(engine), functools.partial(work, *args, **kwargs))
