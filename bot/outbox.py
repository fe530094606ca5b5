"""The durable outbox: every message that must arrive is a row first, a platform call second.

``storage.outbox.enqueue`` writes the row in the caller's transaction, keyed by
an idempotency key; this is the sending half. ``OutboxSender`` claims due rows (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL, so several workers share the queue), hands them to
the platform's deliverer, honours the platform's declared rate limits, and retries
failures with exponential backoff and jitter until ``max_attempts``. A file the
platform cannot take (its capabilities) is handed over as a download link, when
the hosted pages' links are configured.

Delivery is at-least-once at the platform boundary: if a process dies after the
platform accepted a message but before the row is marked sent, the row is sent
again once its lease expires. The idempotency key travels with the message so
platforms that deduplicate (Feishu's ``uuid``, WeCom's duplicate check) drop that
second copy.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import Session, col, select

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
    rate_limit: RateLimit

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


class TokenBucket:
    """Allows ``rate`` events per second on average, with bursts of up to ``rate`` (at least 1)."""

    def __init__(self, rate: float, now: datetime) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.updated = now

    def wait_time(self, now: datetime) -> float:
        """Seconds until one token is free (0: free now). Takes the token when it is free."""
        elapsed = max(0.0, (now - self.updated).total_seconds())
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class OutboxSender:
    """Delivers due outbox rows. ``run_once`` is one pass (tests call it); ``run`` loops."""

    def __init__(
        self,
        engine: sa.Engine,
        deliverers: Mapping[str, Deliverer],
        clock: Clock,
        *,
        max_attempts: int = 8,
        lease: timedelta = timedelta(seconds=60),
        base_backoff: float = 2.0,
        max_backoff: float = 900.0,
        rng: random.Random | None = None,
        capabilities: Mapping[str, Capabilities] | None = None,
        links: WebLinks | None = None,
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
        self.rng = rng or random.Random()
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self.wake = asyncio.Event()

    def backoff(self, attempts: int) -> float:
        """Exponential (2 s, 4 s, 8 s … up to 15 min) with ±50 % jitter so retries don't stampede."""
        delay = min(self.max_backoff, self.base_backoff * 2 ** max(0, attempts - 1))
        return delay * self.rng.uniform(0.5, 1.5)

    def _claim(self, limit: int, platform: str | None) -> list[OutboxMessage]:
        now = self.clock.now()
        with Session(self.engine, expire_on_commit=False) as session:
            query = (
                select(OutboxMessage)
                .where(
                    OutboxMessage.status == OutboxStatus.PENDING,
                    col(OutboxMessage.next_attempt_at) <= now,
                    sa.or_(col(OutboxMessage.locked_until).is_(None), col(OutboxMessage.locked_until) < now),
                    col(OutboxMessage.platform).in_(list(self.deliverers)),
                )
                .order_by(col(OutboxMessage.id))
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            if platform is not None:
                query = query.where(OutboxMessage.platform == platform)
            rows = list(session.exec(query))
            for row in rows:
                row.locked_until = now + self.lease
                session.add(row)
            session.commit()
            return rows

    def _finish(self, row_id: int, **changes: Any) -> None:
        with Session(self.engine) as session:
            session.execute(sa.update(OutboxMessage).where(col(OutboxMessage.id) == row_id).values(**changes))
            session.commit()

    def _rate_wait(self, deliverer: Deliverer, row: OutboxMessage, now: datetime) -> float:
        limit = deliverer.rate_limit
        buckets = [
            self._buckets.setdefault((row.platform, row.target), TokenBucket(limit.per_target, now)),
            self._buckets.setdefault((row.platform, "*"), TokenBucket(limit.per_app, now)),
        ]
        return max(bucket.wait_time(now) for bucket in buckets)

    async def run_once(self, *, limit: int = 100, platform: str | None = None) -> list[int]:
        """Send what is due now; returns the ids delivered in this pass."""
        rows = await in_db(self.engine, self._claim, limit, platform)
        delivered: list[int] = []
        held: set[tuple[str, str]] = set()  # a chat whose earlier message waits keeps its order
        for row in rows:
            now = self.clock.now()
            deliverer = self.deliverers[row.platform]
            wait = 0.0 if (row.platform, row.target) in held else self._rate_wait(deliverer, row, now)
            if (row.platform, row.target) in held or wait > 0:
                held.add((row.platform, row.target))
                retry_at = now + timedelta(seconds=max(wait, 1 / deliverer.rate_limit.per_target))
                await in_db(self.engine, self._finish, row.id, locked_until=None, next_attempt_at=retry_at)
                continue
            attempts = row.attempts + 1
            try:
                result = await deliverer.deliver(self._outgoing(row))
            except Exception as exc:
                await in_db(self.engine, self._failed, row, attempts, exc, now)
                held.add((row.platform, row.target))
                continue
            await in_db(self.engine,
                self._finish, row.id, status=OutboxStatus.SENT, attempts=attempts, sent_at=self.clock.now(),
                locked_until=None, last_error=None, platform_message_id=result.platform_message_id,
            )  # fmt: skip
            delivered.append(row.id)
        return delivered

    def _outgoing(self, row: OutboxMessage) -> OutgoingMessage:
        message = to_outgoing(row)
        if self.links is None:
            return message
        capabilities = self.capabilities.get(row.platform, MINIMAL)
        return replace(message, card=with_download_links(message.card, capabilities=capabilities, links=self.links))

    def _failed(self, row: OutboxMessage, attempts: int, exc: Exception, now: datetime) -> None:
        retry_after = exc.retry_after if isinstance(exc, DeliveryError) else None
        permanent = isinstance(exc, DeliveryError) and exc.permanent
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if permanent or attempts >= self.max_attempts:
            log.error("outbox %s (%s) given up after %d attempts: %s", row.id, row.idempotency_key, attempts, error)
            self._finish(row.id, status=OutboxStatus.DEAD, attempts=attempts, locked_until=None, last_error=error)
            return
        delay = max(retry_after or 0.0, self.backoff(attempts))
        log.warning("outbox %s attempt %d failed, retry in %.1fs: %s", row.id, attempts, delay, error)
        self._finish(
            row.id, attempts=attempts, locked_until=None, last_error=error,
            next_attempt_at=now + timedelta(seconds=delay),
        )  # fmt: skip

    async def run(self, stop: asyncio.Event, *, idle: float = 1.0) -> None:
        """Deliver until ``stop`` is set; ``wake`` cuts the idle wait short after a new enqueue."""
        while not stop.is_set():
            self.wake.clear()  # before the pass: a message queued during it wakes the next one at once
            try:
                sent = await self.run_once()
            except Exception:  # a database hiccup must not end the worker
                log.exception("outbox pass failed")
                sent = []
            if not sent:
                waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())]
                await asyncio.wait(waiters, timeout=idle, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
