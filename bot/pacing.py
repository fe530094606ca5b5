"""Claiming outbox rows at the pace the platform counts: sliding windows per app and per chat, for all replicas.

Platforms count sends in sliding one-second windows (Feishu: 50 per app and 5 per
chat in any second; Slack: about 1 per channel). A token bucket that starts full
lets about twice the limit into one second and draws refusals; here a send is
allowed only while the window it would fall into holds fewer than the limit.

The window's state is shared through the database, so N replicas together keep
one limit: every send takes a row in ``outbox_slots`` *in the same transaction
that claims its outbox row*, and that transaction first takes a per-platform
lock (``pg_advisory_xact_lock`` on PostgreSQL; SQLite has one writer anyway).
Why a table of slots and not a counter behind an advisory lock: a counter says
how many, not when each send leaves the window, and a sliding window needs the
when; the slot rows are also what lets a claim skip a chat whose own window is
full, in the same query that finds the next message to send.

When does a send leave the window? The platform counts it when the request
reaches it, which is somewhere between our sending it and its answer. A slot
therefore counts while its call is out, and afterwards until ``counted_at`` + the
window, where ``counted_at`` is when the answer came (exact: the platform certainly
counted it by then) or, for an answer slower than ``counted_within`` (1 s), a second
after the request left (a slow call does not hold its slot for its whole timeout).
So a backlog goes out at the limit divided by (1 s + the round trip): ≥ 95 % of it
while the platform answers within 50 ms, and the platform never sees more than the
limit in any second, however the network delays one request against the next. A
sender that dies with calls out leaves their slots counted until its lease would
have run out.

Per-chat order: only a chat's oldest waiting message can be claimed (a message
waiting for a retry holds back the later ones of its chat), so one message per
chat is out at a time on every replica together, and a chat's messages arrive
in the order they were queued.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from storage.models import OutboxMessage, OutboxSlot
from storage.types import OutboxStatus

PACE_LOCK = 0x0C105E1  # with the platform's hash: one advisory lock per platform, shared by every replica


@dataclass(frozen=True)
class Window:
    """At most ``count`` sends in any ``seconds``: how a platform counts a rate (5/s → 5 in any 1 s)."""

    count: int
    seconds: float

    @classmethod
    def of(cls, rate: float) -> Window:
        count = max(1, math.floor(rate))
        return cls(count, count / rate)

    @property
    def length(self) -> timedelta:
        return timedelta(seconds=self.seconds)


@dataclass(frozen=True)
class Claimed:
    """An outbox row this sender holds, and the slot its send takes in the platform's windows."""

    row: OutboxMessage
    slot_id: int
    not_before: datetime  # when its slot is free: the send waits for it (never later than ``lookahead`` from the claim)


@dataclass
class Claim:
    items: list[Claimed] = field(default_factory=list)
    next_at: datetime | None = None  # when something held back now (window, backoff) may go


def claim(
    session: Session,
    *,
    platform: str,
    worker: str,
    now: datetime,
    limit: int,
    app: Window,
    chat: Window,
    lease: timedelta,
    lookahead: timedelta = timedelta(0),
) -> Claim:
    """Take up to ``limit`` sendable rows of ``platform`` and a slot for each, in the caller's transaction.

    With a ``lookahead``, a slot that leaves the app's window within it may be taken too: its send waits for
    that instant. A claim takes a few milliseconds (more on a busy machine); claiming ahead keeps that time out
    of the pace, so a backlog goes at the limit rather than at the limit less a claim per slot.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            sa.select(sa.func.pg_advisory_xact_lock(sa.cast(PACE_LOCK, sa.Integer), sa.func.hashtext(platform)))
        )
    longest = max(app.length, chat.length)
    session.execute(
        sa.delete(OutboxSlot).where(col(OutboxSlot.platform) == platform, col(OutboxSlot.counted_at) <= now - longest)
    )
    in_app_window = session.exec(
        select(OutboxSlot.taken_at, OutboxSlot.counted_at).where(
            OutboxSlot.platform == platform, col(OutboxSlot.counted_at) > now - app.length
        )
    ).all()
    busy = [(taken, counted + app.length) for taken, counted in in_app_window]
    starts = start_times(busy, now=now, until=now + lookahead, count=app.count, want=limit)
    free = len(starts)
    rows: list[OutboxMessage] = []
    if free > 0:
        rows = list(session.exec(_heads(platform, now, chat, free)))
    result = Claim(next_at=_next_at(session, platform, now, app, chat))
    if not rows:
        return result
    session.execute(
        sa.update(OutboxMessage)
        .where(col(OutboxMessage.id).in_([row.id for row in rows]))
        .values(locked_by=worker, locked_until=now + lease)
    )
    slot_ids = session.execute(  # counted until the answer says when (or the lease, if the sender dies)
        sa.insert(OutboxSlot).returning(col(OutboxSlot.id), sort_by_parameter_order=True),
        [
            {"platform": platform, "target": row.target, "taken_at": start, "counted_at": start + lease}
            for row, start in zip(rows, starts, strict=False)
        ],
    ).scalars()
    result.items = [Claimed(row, slot_id, start) for row, slot_id, start in zip(rows, slot_ids, starts, strict=False)]
    return result


def start_times(busy: list[tuple[datetime, datetime]], *, now: datetime, until: datetime, count: int,
                want: int) -> list[datetime]:  # fmt: skip
    """When up to ``want`` new sends may start — now, or as earlier ones leave the window, up to ``until`` — so
    that at no instant more than ``count`` sends are in the window. ``busy``: (start, leaves the window) of the
    sends already there (some claimed ahead, starting later). A new send stays in the window past ``until``."""
    starts, ends = sorted(start for start, _ in busy), sorted(end for _, end in busy)
    ahead = [start for start in starts if start > now]

    def in_window(moment: datetime) -> int:
        return bisect.bisect_right(starts, moment) - bisect.bisect_right(ends, moment)

    chosen: list[datetime] = []
    for at in sorted({now, *(end for end in ends if now < end <= until)}):
        peak = max(in_window(moment) for moment in [at, *(start for start in ahead if start > at)])
        room = min(want - len(chosen), count - peak - len(chosen))  # every send chosen so far is still in the window
        chosen += [at] * max(0, room)
    return chosen


def _heads(platform: str, now: datetime, chat: Window, limit: int) -> SelectOfScalar[OutboxMessage]:
    """Due rows that are their chat's oldest waiting message, in chats whose window has room."""
    older = aliased(OutboxMessage)
    in_chat_window = (
        sa.select(sa.func.count())
        .select_from(OutboxSlot)
        .where(
            col(OutboxSlot.platform) == platform,
            col(OutboxSlot.target) == col(OutboxMessage.target),
            col(OutboxSlot.counted_at) > now - chat.length,
        )
        .scalar_subquery()
    )
    older_waiting = (
        sa.select(sa.literal(1))
        .where(
            col(older.platform) == col(OutboxMessage.platform),
            col(older.target) == col(OutboxMessage.target),
            col(older.status) == OutboxStatus.PENDING,
            col(older.id) < col(OutboxMessage.id),
        )
        .exists()
    )
    return (
        select(OutboxMessage)
        .where(
            OutboxMessage.platform == platform,
            OutboxMessage.status == OutboxStatus.PENDING,
            col(OutboxMessage.next_attempt_at) <= now,
            sa.or_(col(OutboxMessage.locked_until).is_(None), col(OutboxMessage.locked_until) < now),
            ~older_waiting,
            in_chat_window < chat.count,
        )
        .order_by(col(OutboxMessage.id))
        .limit(limit)
        .with_for_update(skip_locked=True, of=OutboxMessage)
    )


def _next_at(session: Session, platform: str, now: datetime, app: Window, chat: Window) -> datetime | None:
    """The next instant worth another look: a slot leaving a window, or a retry coming due."""
    oldest_slot = session.exec(select(sa.func.min(OutboxSlot.counted_at)).where(OutboxSlot.platform == platform)).one()
    next_retry = session.exec(
        select(sa.func.min(OutboxMessage.next_attempt_at)).where(
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.platform == platform,
            col(OutboxMessage.next_attempt_at) > now,
        )
    ).one()
    candidates = [next_retry] if next_retry is not None else []
    if oldest_slot is not None:
        candidates += [oldest_slot + app.length, oldest_slot + chat.length]
    later = [at for at in candidates if at > now]
    return min(later) if later else None


def counted(connection: sa.Connection, counted_at: dict[int, datetime]) -> None:
    """The platform answered: each slot leaves the windows one window-length after its ``counted_at``."""
    table = OutboxSlot.__table__  # type: ignore[attr-defined]
    statement = sa.update(table).where(table.c.id == sa.bindparam("slot")).values(counted_at=sa.bindparam("at"))
    connection.execute(statement, [{"slot": slot, "at": at} for slot, at in counted_at.items()])
