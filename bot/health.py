"""Health that tells the truth: liveness, readiness and metrics for an operator and a load balancer.

- ``GET /livez`` — the process and its event loop answer. Restarting helps only
  when this fails, so it asks nothing of the database.
- ``GET /healthz`` — alive, and the database answers a read (kept for existing probes).
- ``GET /readyz`` — ready for traffic: the database *takes a write* within
  ``CLOSELOOP_READY_WRITE_BUDGET_SECONDS`` (a locked SQLite file or a full disk
  still answers reads, which is how the old ``/healthz`` kept saying ``ok``), and
  the inbox and the outbox hold fewer than their thresholds. 503 otherwise, with
  the reason in the JSON body.
- ``GET /metrics`` — Prometheus' text format (``bot.metrics``); the backlog
  gauges are read from the database at each scrape.

Every database step runs on the database threads under a time budget, and at most
one probe is out at a time: a database that hangs makes the checks answer 503
quickly instead of piling up waiting probes.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from bot.metrics import CONTENT_TYPE, Backlog, Metrics, OutboxCounts
from storage.db import in_db
from storage.models import InboundEvent, OutboxMessage, ReadinessProbe
from storage.timekeeping import Clock
from storage.types import OutboxStatus

log = logging.getLogger(__name__)
T = TypeVar("T")


def read_backlog(engine: sa.Engine, *, inbox_max_attempts: int) -> Backlog:
    """What waits: the inbox (and its dead letters), the outbox per platform (pending, retrying, dead)."""
    with Session(engine) as session:
        waiting, oldest = session.exec(
            select(sa.func.count(), sa.func.min(InboundEvent.received_at)).where(
                col(InboundEvent.attempts) < inbox_max_attempts
            )
        ).one()
        dead_events = session.exec(
            select(sa.func.count()).where(col(InboundEvent.attempts) >= inbox_max_attempts)
        ).one()
        retried = sa.func.sum(sa.case((col(OutboxMessage.attempts) > 0, 1), else_=0))
        rows = session.execute(
            sa.select(col(OutboxMessage.platform), col(OutboxMessage.status), sa.func.count(), retried,
                      sa.func.min(OutboxMessage.created_at))
            .where(col(OutboxMessage.status).in_([OutboxStatus.PENDING, OutboxStatus.DEAD]))
            .group_by(col(OutboxMessage.platform), col(OutboxMessage.status))
        ).all()  # fmt: skip
    outbox: dict[str, OutboxCounts] = {}
    for platform, status, count, retrying, first in rows:
        known = outbox.get(platform, OutboxCounts())
        if status == OutboxStatus.PENDING:
            outbox[platform] = OutboxCounts(count, known.dead, int(retrying or 0), first)
        else:
            outbox[platform] = OutboxCounts(known.pending, count, known.retrying, known.oldest_pending)
    return Backlog(inbox_waiting=waiting, inbox_dead=dead_events, inbox_oldest=oldest, outbox=outbox)


def write_probe(engine: sa.Engine, *, name: str, now: datetime) -> None:
    """Commit one small upsert: the proof that the database takes writes now."""
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    statement = insert(ReadinessProbe).values(name=name, checked_at=now)
    statement = statement.on_conflict_do_update(index_elements=["name"], set_={"checked_at": now})
    with engine.begin() as connection:
        connection.execute(statement)


@dataclass(frozen=True)
class Thresholds:
    write_budget: float = 1.0
    max_inbox: int = 5000
    max_outbox: int = 20000
    inbox_max_attempts: int = 5


class Health:
    def __init__(self, engine: sa.Engine, clock: Clock, metrics: Metrics, thresholds: Thresholds,
                 platforms: Callable[[], list[str]]) -> None:  # fmt: skip
        self.engine = engine
        self.clock = clock
        self.metrics = metrics
        self.thresholds = thresholds
        self.platforms = platforms
        self.name = socket.gethostname()[:64]
        self._probes: dict[str, asyncio.Future[Any]] = {}

    def mount(self, app: web.Application) -> None:
        app.router.add_get("/livez", self.livez)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics_page)

    async def _within_budget(self, kind: str, work: Callable[[], Awaitable[T]]) -> T:
        """At most one probe of a kind out at a time; a caller waits for it no longer than the budget."""
        probe = self._probes.get(kind)
        if probe is None or probe.done():
            probe = self._probes[kind] = asyncio.ensure_future(work())
        return await asyncio.wait_for(asyncio.shield(probe), timeout=self.thresholds.write_budget)

    async def livez(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def healthz(self, request: web.Request) -> web.Response:
        """Alive, and the database answers a read."""

        def read() -> None:
            with self.engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))

        try:
            await self._within_budget("read", lambda: in_db(self.engine, read))
        except (TimeoutError, sa.exc.SQLAlchemyError) as exc:
            log.warning("health check: database unreachable: %s", type(exc).__name__)
            return web.json_response({"status": "error", "database": "unreachable"}, status=503)
        return web.json_response({"status": "ok", "database": "ok", "platforms": self.platforms()})

    async def readyz(self, request: web.Request) -> web.Response:
        problems: list[str] = []
        body: dict[str, Any] = {"platforms": self.platforms()}
        now = self.clock.now()
        try:
            await self._within_budget("write", lambda: in_db(self.engine, write_probe, self.engine, name=self.name,
                                                               now=now))  # fmt: skip
            body["database"] = "ok"
        except TimeoutError:
            body["database"] = "slow"
            problems.append(f"the database took no write within {self.thresholds.write_budget:g} s")
        except Exception as exc:  # locked, read-only, disk full, unreachable: all mean "not now"
            body["database"] = "error"
            problems.append(f"the database refused a write ({type(exc).__name__})")
        if not problems:
            try:
                backlog = await self._backlog()
            except Exception as exc:
                problems.append(f"the backlog could not be read ({type(exc).__name__})")
            else:
                body["inbox"], body["outbox"] = backlog.inbox_waiting, backlog.outbox_pending
                if backlog.inbox_waiting >= self.thresholds.max_inbox:
                    problems.append(
                        f"{backlog.inbox_waiting} events wait in the inbox (limit {self.thresholds.max_inbox})"
                    )
                if backlog.outbox_pending >= self.thresholds.max_outbox:
                    problems.append(
                        f"{backlog.outbox_pending} messages wait in the outbox (limit {self.thresholds.max_outbox})"
                    )
        body["status"] = "not ready" if problems else "ready"
        if problems:
            body["problems"] = problems
            log.warning("not ready: %s", "; ".join(problems))
        return web.json_response(body, status=503 if problems else 200)

    async def _backlog(self) -> Backlog:
        backlog = await self._within_budget(
            "backlog",
            lambda: in_db(
                self.engine, read_backlog, self.engine, inbox_max_attempts=self.thresholds.inbox_max_attempts
            ),
        )
        self.metrics.show_backlog(backlog, self.clock.now())
        return backlog

    async def metrics_page(self, request: web.Request) -> web.Response:
        try:
            await self._backlog()
        except Exception as exc:  # the counters still tell something; the gauges keep their last values
            log.warning("metrics: the backlog could not be read (%s)", type(exc).__name__)
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})
