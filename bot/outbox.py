"""The durable outbox: every message that must arrive is a row first, a platform call second.

``storage.outbox.enqueue`` writes the row in the caller's transaction, keyed by
an idempotency key; this is the sending half. ``OutboxSender`` claims rows just
before it sends them — never more than it can send at once — paces them as the
platform counts (``bot.pacing``), sends to different chats concurrently (at most
``concurrency`` calls out, a chat's messages one after another and in order), and
retries failures with exponential backoff and jitter until ``max_attempts``. A file the
platform cannot take (its capabilities) is handed over as a download link, when
the hosted pages' links are configured.

One sender per message while that sender lives. A claim leases the row to this
sender (``locked_by``) for a short ``lease`` (10 s); while the call is out, a
heartbeat renews the leases of every row in flight (every ``lease``/4), and the
row is marked sent or failed only where ``locked_by`` is still this sender. A
slow platform therefore never lets a second replica take a row that is being
sent, and a sender that dies (kill -9, a lost machine) stops renewing: its rows
are claimed again ``lease`` after its last heartbeat, not a minute later. A
sender that stops cleanly waits for its calls and holds nothing afterwards.

Delivery is at least once at the platform boundary: if a process dies after the
platform accepted a message but before the row is marked sent, the row is sent
again once its lease lapses. The idempotency key travels with the message so
platforms that deduplicate (Feishu's ``uuid``, WeCom's duplicate check) drop that
second copy.

Memory stays flat however many chats there are: the pacing state lives in the
database (``outbox_slots``, pruned as it goes), and the sender itself holds only
the calls in flight.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import Session, col

from bot import pacing
from bot.metrics import Metrics
from bot.pacing import Claimed, Window
from cards.model import Card
from handlers.capabilities import MINIMAL, Capabilities, RateLimit
from handlers.downloads import with_download_links
from handlers.webforms import WebLinks
from storage.db import in_db
from storage.models import OutboxMessage
from storage.timekeeping import Clock
from storage.types import OutboxStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutgoingMessage:
    """What a deliverer receives: the card, where it goes, and the names behind its mentions."""

    id: int
    key: str
    platform: str
    target: str
    card: Card
    names: Mapping[str, str] = field(default_factory=dict)
    reply_to: str | None = None  # a platform message id to answer in thread
    update_of: str | None = None  # a platform message id whose card this replaces
    visible_to: str | None = None  # only this user sees it (the platform's ephemeral or direct message)


@dataclass(frozen=True)
class Delivered:
    platform_message_id: str | None = None


class DeliveryError(Exception):
    """A failed platform call. ``retry_after`` (seconds) comes from the platform's throttling answer."""

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class Deliverer(Protocol):
    name: str

    @property
    def rate_limit(self) -> RateLimit: ...

    async def deliver(self, message: OutgoingMessage) -> Delivered: ...


def to_outgoing(row: OutboxMessage) -> OutgoingMessage:
    payload: dict[str, Any] = row.payload
    return OutgoingMessage(
        id=row.id or 0,
        key=row.idempotency_key,
        platform=row.platform,
        target=row.target,
        card=Card.load(payload["card"]),
        names=payload.get("names") or {},
        reply_to=payload.get("reply_to"),
        update_of=payload.get("update_of"),
        visible_to=payload.get("visible_to"),
    )


def error_code(exc: BaseException) -> str:
    """A bounded label for a failed send: the platform's own code, else what kind of failure it was."""
    code = getattr(exc, "code", None)
    if isinstance(code, int | str) and str(code) not in ("", "0"):
        return str(code)
    if isinstance(exc, DeliveryError):
        if exc.retry_after is not None:
            return "throttled"
        if exc.permanent:
            return "permanent"
        if "Timeout" in str(exc):
            return "timeout"
        return "retryable"
    return "timeout" if isinstance(exc, TimeoutError) else "error"


def worker_name() -> str:
    """Who holds a lease: host, process and a random part (a restarted process is a new worker)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class OutboxSender:
    """Delivers due outbox rows. ``run_once`` sends what may go now (tests, the sandbox); ``run`` loops."""

    def __init__(
        self,
        engine: sa.Engine,
        deliverers: Mapping[str, Deliverer],
        clock: Clock,
        *,
        max_attempts: int = 8,
        lease: timedelta = timedelta(seconds=10),
        base_backoff: float = 2.0,
        max_backoff: float = 900.0,
        concurrency: int = 32,
        counted_within: timedelta = timedelta(seconds=1),
        lookahead: timedelta = timedelta(milliseconds=100),
        rng: random.Random | None = None,
        capabilities: Mapping[str, Capabilities] | None = None,
        links: WebLinks | None = None,
        metrics: Metrics | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.engine = engine
        self.deliverers = dict(deliverers)
        self.capabilities = dict(capabilities or {})
        self.links = links  # a file a platform cannot take goes as a download link, when links are configured
        self.clock = clock
        self.max_attempts = max_attempts
        self.lease = lease
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.concurrency = concurrency
        self.counted_within = counted_within
        self.lookahead = lookahead  # ``run`` claims slots this far ahead (``run_once``: only what may go now)
        self.rng = rng or random.Random()
        self.metrics = metrics or Metrics()
        self.worker = worker_name()
        self.wake = asyncio.Event()
        self._sleep = sleep  # the heartbeat's pause: tests hand in one they control
        self._in_flight: dict[int, tuple[str, asyncio.Task[int | None]]] = {}  # row id → (platform, call)
        self._settling: set[int] = set()  # answered, being written down: no longer leased
        self._outcomes: list[tuple[Claimed, dict[str, Any], datetime, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._freed = asyncio.Event()
        self._claiming = asyncio.Lock()
        self._heartbeat: asyncio.Task[None] | None = None
        self._next_at: datetime | None = None

    def backoff(self, attempts: int) -> float:
        """Exponential (2 s, 4 s, 8 s … up to 15 min) with ±50 % jitter so retries don't stampede."""
        delay = min(self.max_backoff, self.base_backoff * 2 ** max(0, attempts - 1))
        return delay * self.rng.uniform(0.5, 1.5)

    def windows(self, platform: str) -> tuple[Window, Window]:
        limit = self.deliverers[platform].rate_limit
        return Window.of(limit.per_app), Window.of(limit.per_target)

    # ---------------------------------------------------------------- database work (on the db threads)

    def claim(self, platform: str, limit: int, lookahead: timedelta = timedelta(0)) -> pacing.Claim:
        """Lease up to ``limit`` rows of ``platform`` that may be sent now (or within ``lookahead``), with their slots."""
        app, chat = self.windows(platform)
        with Session(self.engine, expire_on_commit=False) as session:
            claimed = pacing.claim(
                session, platform=platform, worker=self.worker, now=self.clock.now(), limit=limit, app=app, chat=chat,
                lease=self.lease, lookahead=lookahead,
            )  # fmt: skip
            session.commit()
        return claimed

    def _outgoing(self, row: OutboxMessage) -> OutgoingMessage:
        message = to_outgoing(row)
        if self.links is None:
            return message
        capabilities = self.capabilities.get(row.platform, MINIMAL)
        return replace(message, card=with_download_links(message.card, capabilities=capabilities, links=self.links))

    def _settle(self, outcomes: list[tuple[Claimed, dict[str, Any], datetime]]) -> None:
        """Write outcomes where this sender still holds the rows (one commit for all), and when each send was counted."""
        table = OutboxMessage.__table__  # type: ignore[attr-defined]
        ids = [item.row.id for item, _, _ in outcomes]
        with self.engine.begin() as connection:
            held = set(connection.execute(
                sa.select(table.c.id).where(table.c.id.in_(ids), table.c.locked_by == self.worker)
            ).scalars())  # fmt: skip
            by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for item, changes, _ in outcomes:
                if item.row.id in held:
                    by_columns.setdefault(tuple(sorted(changes)), []).append({"row_id": item.row.id, **changes})
            for columns, rows in by_columns.items():
                statement = (
                    sa.update(table)
                    .where(table.c.id == sa.bindparam("row_id"))
                    .values(locked_by=None, locked_until=None, **{c: sa.bindparam(c) for c in columns})
                )
                connection.execute(statement, rows)
            pacing.counted(connection, {item.slot_id: at for item, _, at in outcomes})
        for row_id in set(ids) - held:
            log.warning("outbox %s: the lease was lost while sending (another sender may send it too)", row_id)

    async def _write_down(self, item: Claimed, changes: dict[str, Any], counted_at: datetime) -> None:
        """Group commit: outcomes that arrive while one is being written go together in the next commit."""
        self._settling.add(item.row.id or 0)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outcomes.append((item, changes, counted_at, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_outcomes())
        await done

    async def _write_outcomes(self) -> None:
        while self._outcomes:
            batch, self._outcomes = self._outcomes, []
            try:
                await in_db(self.engine, self._settle, [(item, changes, at) for item, changes, at, _ in batch])
            except Exception as exc:  # the rows stay leased and are sent again after the lease: at least once
                log.exception("outbox: could not write down %d outcomes", len(batch))
                for *_, done in batch:
                    done.set_exception(exc)
                continue
            for *_, done in batch:
                done.set_result(None)

    def _failure(self, item: Claimed, exc: BaseException) -> dict[str, Any]:
        row, attempts = item.row, item.row.attempts + 1
        retry_after = exc.retry_after if isinstance(exc, DeliveryError) else None
        permanent = isinstance(exc, DeliveryError) and exc.permanent
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if permanent or attempts >= self.max_attempts:
            log.error("outbox %s (%s) given up after %d attempts: %s", row.id, row.idempotency_key, attempts, error)
            return {"status": OutboxStatus.DEAD, "attempts": attempts, "last_error": error}
        delay = max(retry_after or 0.0, self.backoff(attempts))
        log.warning("outbox %s attempt %d failed, retry in %.1fs: %s", row.id, attempts, delay, error)
        retry_at = self.clock.now() + timedelta(seconds=delay)
        return {"attempts": attempts, "last_error": error, "next_attempt_at": retry_at}

    def renew_leases(self) -> list[int]:
        """The heartbeat: extend the lease of every row in flight; returns the ids still held."""
        ids = list(self._in_flight)
        if not ids:
            return []
        with Session(self.engine) as session:
            held = session.execute(
                sa.update(OutboxMessage)
                .where(col(OutboxMessage.id).in_(ids), col(OutboxMessage.locked_by) == self.worker,
                       col(OutboxMessage.status) == OutboxStatus.PENDING)
                .values(locked_until=self.clock.now() + self.lease)
                .returning(col(OutboxMessage.id))
            ).scalars().all()  # fmt: skip
            session.commit()
        for lost in set(ids) - set(held):
            if lost in self._in_flight and lost not in self._settling:
                log.warning("outbox %s: lease lost while its send is out", lost)
        return list(held)

    # ---------------------------------------------------------------- the calls

    async def _send(self, item: Claimed) -> int | None:
        """One platform call; returns the row id when the platform accepted it."""
        row = item.row
        loop = asyncio.get_running_loop()
        wait = (item.not_before - self.clock.now()).total_seconds()
        if wait > 0:  # a slot claimed ahead: it leaves the window only now
            await asyncio.sleep(wait)
        started, sent_from = loop.time(), self.clock.now()
        try:
            result = await self.deliverers[row.platform].deliver(self._outgoing(row))
        except Exception as exc:
            self.metrics.refused(row.platform, error_code(exc), loop.time() - started)
            await self._write_down(item, self._failure(item, exc), self._counted_at(sent_from))
            return None
        self.metrics.sent(row.platform, loop.time() - started)
        counted_at = self._counted_at(sent_from)
        await self._write_down(item, {"status": OutboxStatus.SENT, "attempts": row.attempts + 1, "sent_at": self.clock.now(),
                                      "last_error": None, "platform_message_id": result.platform_message_id},
                               counted_at)  # fmt: skip
        return row.id

    def _counted_at(self, sent_from: datetime) -> datetime:
        """When the platform had surely counted a send: at its answer, or ``counted_within`` after it left."""
        return min(self.clock.now(), sent_from + self.counted_within)

    def _start(self, item: Claimed) -> asyncio.Task[int | None]:
        row_id = item.row.id or 0
        task = asyncio.create_task(self._send(item), name=f"outbox-{row_id}")
        self._in_flight[row_id] = (item.row.platform, task)
        task.add_done_callback(lambda _task: self._done(row_id))
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._keep_leases())
        return task

    def _done(self, row_id: int) -> None:
        self._in_flight.pop(row_id, None)
        self._settling.discard(row_id)
        self._freed.set()

    async def _keep_leases(self) -> None:
        while self._in_flight:
            await self._sleep(self.lease.total_seconds() / 4)
            if not self._in_flight:
                return
            try:
                await in_db(self.engine, self.renew_leases)
            except Exception:  # the database is away: the next beat tries again, the lease has room for it
                log.warning("outbox: could not renew leases", exc_info=True)

    async def _fill(
        self, budget: int, platform: str | None, lookahead: timedelta = timedelta(0)
    ) -> list[asyncio.Task[int | None]]:
        """Claim what may go now (within ``budget`` and the free concurrency) and start sending it."""
        started: list[asyncio.Task[int | None]] = []
        async with self._claiming:  # one claimer per sender: ``run`` and ``run_once`` see each other's calls
            self._next_at = None
            for name in [platform] if platform is not None else list(self.deliverers):
                free = min(self.concurrency - len(self._in_flight), budget - len(started))
                if free <= 0:
                    break
                claim = await in_db(self.engine, self.claim, name, free, lookahead)
                if claim.next_at is not None and (self._next_at is None or claim.next_at < self._next_at):
                    self._next_at = claim.next_at
                started.extend(self._start(item) for item in claim.items)
        return started

    # ---------------------------------------------------------------- the loops

    async def run_once(self, *, limit: int = 100, platform: str | None = None) -> list[int]:
        """Send what may go now (up to ``limit`` messages) and wait for those calls; returns the ids sent.

        Also waits for calls ``run`` already has out (to ``platform``, or any), so a
        caller that just queued a message knows it went out when this returns.
        """
        mine: list[asyncio.Task[int | None]] = []
        while True:
            mine += await self._fill(limit - len(mine), platform)
            out = [task for name, task in self._in_flight.values() if platform in (None, name)]
            if not out:
                break
            await asyncio.wait(out, return_when=asyncio.FIRST_COMPLETED)
        return [row_id for task in mine if (row_id := task.result()) is not None]

    async def run(self, stop: asyncio.Event, *, idle: float = 1.0) -> None:
        """Deliver until ``stop`` is set; ``wake`` (a new message queued) cuts the idle wait short."""
        while not stop.is_set():
            self.wake.clear()  # before the pass: a message queued during it wakes the next one at once
            self._freed.clear()
            try:
                await self._fill(self.concurrency, None, self.lookahead)
            except Exception:  # a database hiccup must not end the worker
                log.exception("outbox pass failed")
            timeout = idle
            if self._next_at is not None:
                ahead = (self._next_at - self.clock.now() - self.lookahead).total_seconds()
                timeout = min(idle, max(0.002, ahead))
            waiters = [asyncio.ensure_future(event.wait()) for event in (stop, self.wake, self._freed)]
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
        if self._in_flight:  # a clean stop: let the calls out finish and be written down
            await asyncio.wait([task for _, task in self._in_flight.values()])
