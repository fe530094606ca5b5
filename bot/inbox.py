"""The durable inbox: acknowledge a platform's event once it is stored, handle it after.

Platforms give a webhook a few seconds (Feishu 3, Slack 3, DingTalk 5) and
redeliver what they think was lost. An event whose answer does not have to be in
the HTTP response (an ``@bot`` text command: the bot answers with a new message)
is written here and acknowledged; the inbox worker then runs it through the
dispatcher like any other event. So the acknowledgement costs one write, not the
command's database work, and a slow moment in the database or a restart loses
nothing: the row is handled when the worker gets to it.

Writes are group-committed: requests that arrive while a commit is in progress
wait for the next one, which takes them all in one transaction (one statement, one
fsync). A lone request is committed at once; under load the batches grow and the
cost per request falls. A request is acknowledged only after its commit, so a 200
always means the event is on disk.

On SQLite (one file, WAL, ``synchronous=NORMAL``) a commit of one row is an append
to the log, tens of microseconds of C; the trip to the database thread and back
(a queue, a wake-up of each side, the GIL handed over each way) cost as much as all
the rest of an acknowledgement. So an event is written right on the event loop,
over a connection of the inbox's own, when the file's write lock is free at that
instant (``BEGIN IMMEDIATE`` with no busy wait) and nothing is queued before it;
otherwise — a command being handled holds the lock, a commit is under way, the
write fails — it joins the group commit on the database thread as above, which
waits and reports errors as before. That connection never checkpoints the log
(the database thread's commits do, with their fsync), so the loop never waits on
the disk. On PostgreSQL the group commit itself runs on the loop, over an async
connection of the inbox's own (psycopg's ``AsyncConnection``): the batch waits for
the server without a thread; should that connection fail, it is closed and the
batch goes to the database thread, which tries again and reports what fails.

Duplicates: the inbox is unique by (platform, event id) while the row waits; once
handled, the dispatcher's ``processed_events`` drops a redelivery. The worker
claims rows with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so replicas
share the work); a row whose worker died is claimed again when the lease runs out,
and the dispatcher's dedupe makes that second run a no-op if the first committed.
After ``max_attempts`` failures a row stays as a dead letter with its last error.

An acknowledgement waits for the database at most ``ack_budget`` (1.5 s,
``CLOSELOOP_ACK_BUDGET_SECONDS``): past it, ``accept`` raises ``InboxUnavailable``
and the platform gets a 503 while it still listens (Feishu and Slack wait 3 s), so
it delivers again — rather than a locked file or a full disk holding every
webhook for a minute. An event not yet handed to a commit is withdrawn, so
nothing is written for it; one whose commit was under way may still land, and the
redelivery is then dropped as a duplicate.

The worker handles a backlog in runs: up to ``batch_size`` (32) events in one
trip to the database thread and one transaction (``Dispatcher.handle_together``),
for at most ``batch_time`` (20 ms). An event that fails rolls its run back, and
the run's events are handled again one by one, so each still has its own effects
and its own answer.

Acknowledgements come first: the worker shares the process (and Python's GIL,
and on SQLite the one writer thread) with the webhooks, so before each run it
waits for a pause of ``quiet`` (2 ms) in the acknowledgements — but never longer
than ``max_defer`` (100 ms), so under a flood it still handles at least 10 events
a second and the backlog drains once the flood ends. A run goes on only while the
acknowledgements stay calm: one under way, or one within ``quiet``, ends it after
the event in hand (under a flood a run is one event). At ordinary loads (up to a
few hundred events a second on SQLite) there are pauses enough and it keeps up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from bot.metrics import Metrics
from handlers.dispatcher import Dispatcher
from handlers.events import Event, event_from_json, event_to_json
from storage.db import in_db
from storage.models import InboundEvent
from storage.timekeeping import Clock

log = logging.getLogger(__name__)
INSERTED = ("platform", "event_id", "event", "received_at")


class InboxUnavailable(Exception):
    """The event could not be stored within the acknowledgement's budget: answer 503 so the platform retries."""


class Inbox:
    def __init__(
        self,
        engine: sa.Engine,
        dispatcher: Dispatcher,
        clock: Clock,
        *,
        lease: timedelta = timedelta(seconds=60),
        max_attempts: int = 5,
        max_defer: float = 0.1,
        quiet: float = 0.002,
        ack_budget: float | None = 1.5,
        batch_time: float = 0.02,
        batch_size: int = 32,
        metrics: Metrics | None = None,
    ) -> None:
        self.engine = engine
        self.dispatcher = dispatcher
        self.clock = clock
        self.lease = lease
        self.max_attempts = max_attempts
        self.max_defer = max_defer
        self.wake = asyncio.Event()
        self.quiet = quiet
        self.ack_budget = ack_budget
        self.batch_time = batch_time
        self.batch_size = batch_size
        self.metrics = metrics
        self._in_flight = 0
        self._last_ack = float("-inf")
        self._waiting: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._committing = False
        self._committer: asyncio.Task[None] | None = None
        self._statement: str | None = None
        self._to_db: list[Any] = []
        self._here: sqlite3.Connection | None = None  # the event loop's own SQLite connection, where there is one
        self._here_tried = False
        self._pg: Any = None  # PostgreSQL: the event loop's own async connection (psycopg), once opened

    async def accept(self, event: Event) -> None:
        """Store the event durably (a redelivery of one still waiting here is dropped).

        Raises the database's error when the write fails, and ``InboxUnavailable`` when
        it takes longer than ``ack_budget``: the platform must then get an error status,
        so that it delivers again.
        """
        row = {
            "platform": event.chat.platform,
            "event_id": event.event_id[:200],
            "event": json.dumps(event_to_json(event)),  # here, so that an event that cannot be stored fails alone
            "received_at": self.clock.now(),
            "attempts": 0,
        }
        if not self._waiting and not self._committing and self._store_here(row):
            self._last_ack = asyncio.get_running_loop().time()
            self.wake.set()
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, done))
        if not self._committing:
            self._committing = True
            self._committer = asyncio.create_task(self._commit_loop())  # held: a task nobody holds may be collected
        self._in_flight += 1
        try:
            async with asyncio.timeout(self.ack_budget):
                await done
        except TimeoutError:
            self._waiting = [(r, d) for r, d in self._waiting if d is not done]  # not handed to a commit yet: withdrawn
            done.cancel()
            if self.metrics is not None:
                self.metrics.inbox_unavailable.inc()
            raise InboxUnavailable(f"the inbox took no write within {self.ack_budget:g} s") from None
        finally:
            self._in_flight -= 1
            self._last_ack = asyncio.get_running_loop().time()

    def _acks_busy(self) -> bool:
        """An acknowledgement under way, or one within ``quiet``: a flood, whose acks a long run would slow.

        Read on the database thread (``loop.time()`` is ``time.monotonic()``): under a
        flood a run is one event, as before runs existed, and the backlog waits for the calm.
        """
        return bool(self._in_flight) or time.monotonic() - self._last_ack < self.quiet

    async def _acks_first(self) -> None:
        """Let acknowledgements go first: wait for a pause of ``quiet`` seconds in them, at most ``max_defer``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_defer
        while True:
            now = loop.time()
            calm = 0.0 if self._in_flight else now - self._last_ack
            if calm >= self.quiet or now >= deadline:
                return
            await asyncio.sleep(min(self.quiet - calm, deadline - now))

    async def _commit_loop(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    rows = [r for r, _ in batch]
                    if not await self._insert_async(rows):
                        await in_db(self.engine, self._insert, rows)
                except Exception as exc:
                    log.exception("inbox: a commit of %d events failed", len(batch))
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)
                self.wake.set()
        finally:
            self._committing = False

    async def _insert_async(self, rows: list[dict[str, Any]]) -> bool:
        """PostgreSQL, on the event loop: the batch over the inbox's own async connection (``False``: not done).

        Any failure (or the budget running out) closes that connection, and the batch
        goes to the database thread, which tries again and reports what fails.
        """
        if self.engine.dialect.name != "postgresql":
            return False
        import psycopg

        try:
            async with asyncio.timeout(self.ack_budget):
                if self._pg is None:
                    conninfo = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
                    self._pg = await psycopg.AsyncConnection.connect(conninfo)
                async with self._pg.cursor() as cursor:
                    await cursor.executemany(self._prepared(), [self._values(row) for row in rows])
                await self._pg.commit()
        except (psycopg.Error, TimeoutError) as exc:
            log.warning("inbox: the loop's connection failed (%s); the database thread takes the batch",
                        type(exc).__name__)  # fmt: skip
            await self._close_pg()
            return False
        return True

    async def _close_pg(self) -> None:
        pg, self._pg = self._pg, None
        if pg is not None:
            with contextlib.suppress(Exception):
                await pg.close()

    def _store_here(self, row: dict[str, Any]) -> bool:
        """On SQLite, on the event loop: store the row now if the write lock is free this instant (else ``False``)."""
        if not self._here_tried:
            self._here, self._here_tried = self._open_here(), True
        if self._here is None:
            return False
        try:
            statement, values = self._prepared(), self._values(row)
        except Exception:  # the database thread tries again and reports what fails
            return False
        try:
            self._here.execute("BEGIN IMMEDIATE")  # busy_timeout is 0: a held lock fails at once
        except sqlite3.Error:
            return False
        try:
            self._here.execute(statement, values)
            self._here.execute("COMMIT")
        except sqlite3.Error:  # as above: the database thread tries again and reports what fails
            with contextlib.suppress(sqlite3.Error):
                self._here.execute("ROLLBACK")
            return False
        return True

    def _open_here(self) -> sqlite3.Connection | None:
        """The inbox's own connection to an SQLite file in WAL mode, for the event loop (``None`` where there is none).

        No busy wait and no checkpoints on it: nothing it does may make the loop wait.
        """
        url = self.engine.url
        if self.engine.dialect.name != "sqlite" or url.database in (None, "", ":memory:") or url.query:
            return None
        try:
            connection = sqlite3.connect(url.database, isolation_level=None)  # BEGIN and COMMIT are ours
            connection.execute("PRAGMA busy_timeout=0")
            connection.execute("PRAGMA wal_autocheckpoint=0")
            connection.execute("PRAGMA synchronous=NORMAL")
            (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
        except sqlite3.Error:
            return None
        if mode != "wal":  # a rollback journal syncs on every commit: not on the loop
            connection.close()
            return None
        return connection

    async def close(self) -> None:
        """Close the event loop's own connection (the worker has stopped)."""
        if self._here is not None:
            self._here.close()
        self._here, self._here_tried = None, False
        await self._close_pg()

    def _values(self, row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(process(row[name]) for process, name in zip(self._to_db, INSERTED, strict=True))

    def _prepared(self) -> str:
        """The driver-level INSERT (a redelivery's row skipped) and each value's conversion, made once.

        SQLAlchemy's per-row parameter handling cost as much as the rest of the
        acknowledgement (it holds the GIL the webhooks need), so the rows go to
        the driver as tuples (the timestamp formatted by its column's own type).
        """
        dialect = self.engine.dialect
        if self._statement is None:
            columns = InboundEvent.__table__.c  # type: ignore[attr-defined]
            as_is = lambda value: value  # noqa: E731  (the event is JSON text already: json.dumps, as SQLAlchemy writes it)
            stamp = columns["received_at"].type.bind_processor(dialect) or as_is
            self._to_db = [as_is, as_is, as_is, stamp]
            if dialect.name == "postgresql":
                self._statement = (
                    "INSERT INTO inbox (platform, event_id, event, received_at, attempts) "
                    "VALUES (%s, %s, %s::json, %s, 0) ON CONFLICT DO NOTHING"
                )
            else:
                self._statement = (
                    "INSERT INTO inbox (platform, event_id, event, received_at, attempts) "
                    "VALUES (?, ?, ?, ?, 0) ON CONFLICT DO NOTHING"
                )
        return self._statement

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        """On the database thread: one transaction for the batch, one driver-level ``executemany``."""
        statement = self._prepared()
        with self.engine.begin() as connection:
            connection.exec_driver_sql(statement, [self._values(row) for row in rows])

    def _claim(self, limit: int) -> list[InboundEvent]:
        now = self.clock.now()
        with Session(self.engine, expire_on_commit=False) as session:
            query = (
                select(InboundEvent)
                .where(
                    col(InboundEvent.attempts) < self.max_attempts,
                    sa.or_(col(InboundEvent.locked_until).is_(None), col(InboundEvent.locked_until) < now),
                )
                .order_by(col(InboundEvent.id))
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            rows = list(session.exec(query))
            if rows:
                session.execute(
                    sa.update(InboundEvent)
                    .where(col(InboundEvent.id).in_([r.id for r in rows]))
                    .values(locked_until=now + self.lease)
                )
            session.commit()
            return rows

    def _settle(self, handled: list[int], failed: dict[int, tuple[int, str]]) -> None:
        with Session(self.engine) as session:
            if handled:
                session.execute(sa.delete(InboundEvent).where(col(InboundEvent.id).in_(handled)))
            for row_id, (attempts, error) in failed.items():
                retry_at = self.clock.now() + timedelta(seconds=2**attempts)  # 2, 4, 8 … s: not a hot loop
                session.execute(
                    sa.update(InboundEvent)
                    .where(col(InboundEvent.id) == row_id)
                    .values(attempts=attempts, last_error=error, locked_until=retry_at)
                )
            session.commit()

    async def run_once(self, *, limit: int = 100) -> int:
        """Handle what is waiting, oldest first; returns how many events were handled."""
        rows = await in_db(self.engine, self._claim, limit)
        handled: list[int] = []
        failed: dict[int, tuple[int, str]] = {}
        position = 0
        while position < len(rows):
            await self._acks_first()
            done = await in_db(self.engine, self._handle_some, rows[position:])
            if not done:  # cannot happen (a run handles one event at least); were it to, the lease brings them back
                break
            position += len(done)
            for row, event, outcome in done:
                if isinstance(outcome, Exception):  # the dispatcher answers domain errors itself: the database failed
                    attempts = row.attempts + 1
                    log.error("inbox: event %s/%s failed (attempt %d)", row.platform, row.event_id, attempts,
                              exc_info=outcome)  # fmt: skip
                    failed[row.id or 0] = (attempts, f"{type(outcome).__name__}: {outcome}"[:2000])
                    continue
                if event is not None:
                    self.dispatcher.handled(event, *outcome)
                handled.append(row.id or 0)
        if handled or failed:
            await in_db(self.engine, self._settle, handled, failed)
        return len(handled)

    def _handle_some(self, rows: list[InboundEvent]) -> list[tuple[InboundEvent, Event | None, Any]]:
        """On the database thread: handle rows in order, together, until acknowledgements are busy or time is up.

        One trip to the thread and one transaction for several events
        (``Dispatcher.handle_together``): a trip per event (the executor's queue,
        a wake-up of the loop) and a commit per event each cost a sixth of the
        ``/record list`` they carried. While acknowledgements are busy
        (``_acks_busy``) a run ends after the event in hand, so they wait no longer
        than for a single event; ``batch_time`` bounds the run otherwise. Rows are
        read only as far as the run goes; one this version cannot read ends the
        run before it, and fails alone as the next run's first.
        """
        events: list[Event] = []
        unreadable: list[Exception] = []

        def readable() -> Iterator[Event]:
            for row in rows[: self.batch_size]:
                try:
                    event = event_from_json(row.event)
                except Exception as exc:  # a row this version cannot read
                    unreadable.append(exc)
                    return
                events.append(event)
                yield event

        deadline = time.perf_counter() + self.batch_time
        outcomes = self.dispatcher.handle_together(
            readable(), enough=lambda: self._acks_busy() or time.perf_counter() >= deadline
        )
        if not outcomes and unreadable:
            return [(rows[0], None, unreadable[0])]
        n = len(outcomes)  # a prefix of the events: those handled
        return list(zip(rows[:n], events[:n], outcomes, strict=True))

    async def run(self, stop: asyncio.Event, *, idle: float = 1.0) -> None:
        """Handle events until ``stop`` is set; ``wake`` (a new event stored) cuts the idle wait short."""
        while not stop.is_set():
            self.wake.clear()  # before the pass: an event stored during it wakes the next one at once
            try:
                handled = await self.run_once()
            except Exception:  # a database hiccup must not end the worker
                log.exception("inbox pass failed")
                handled = 0
            if not handled:
                waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())]
                await asyncio.wait(waiters, timeout=idle, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
