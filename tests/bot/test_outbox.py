"""The outbox: written with the change, sent once, retried with backoff, rate limited, safe to restart."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from bot.outbox import Delivered, DeliveryError, OutboxSender, OutgoingMessage, RateLimit
from cards.model import Card, Header, Markdown
from storage.db import unit_of_work
from storage.models import OutboxMessage
from storage.outbox import enqueue
from storage.timekeeping import ManualClock
from storage.types import OutboxStatus


@dataclass
class FakePlatform:
    """Stands in for a chat platform's API: records calls, fails on demand."""

    name: str = "fake"
    rate_limit: RateLimit = field(default_factory=lambda: RateLimit(per_target=100, per_app=1000))
    failures: list[Exception] = field(default_factory=list)
    received: list[OutgoingMessage] = field(default_factory=list)
    calls: int = 0

    async def deliver(self, message: OutgoingMessage) -> Delivered:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        self.received.append(message)
        return Delivered(platform_message_id=f"m{len(self.received)}")


def card(text: str) -> Card:
    return Card(header=Header(title="提醒"), elements=[Markdown(text=text)])


def put(engine: sa.Engine, clock: ManualClock, key: str, *, target: str = "chat-1", text: str = "hi") -> bool:
    with unit_of_work(engine) as session:
        return enqueue(session, platform="fake", target=target, card=card(text), key=key, now=clock.now())


def rows(engine: sa.Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


def sender_for(engine: sa.Engine, platform: FakePlatform, clock: ManualClock, **kwargs) -> OutboxSender:
    return OutboxSender(engine, {platform.name: platform}, clock, rng=random.Random(7), **kwargs)


async def test_the_same_key_is_queued_once_and_sent_once(engine: sa.Engine, clock: ManualClock) -> None:
    platform = FakePlatform()
    assert put(engine, clock, "warning:R1-1:2026-11-27") is True
    assert put(engine, clock, "warning:R1-1:2026-11-27") is False
    sender = sender_for(engine, platform, clock)
    assert len(await sender.run_once()) == 1
    assert await sender.run_once() == []
    (row,) = rows(engine)
    assert (row.status, row.attempts, row.platform_message_id, row.sent_at) == (OutboxStatus.SENT, 1, "m1", clock.now())
    assert platform.received[0].card == card("hi") and platform.received[0].key == "warning:R1-1:2026-11-27"


async def test_a_rolled_back_change_queues_nothing(engine: sa.Engine, clock: ManualClock) -> None:
    with pytest.raises(RuntimeError), unit_of_work(engine) as session:
        enqueue(session, platform="fake", target="c", card=card("x"), key="k", now=clock.now())
        raise RuntimeError("the change failed")
    assert rows(engine) == []


async def test_a_failure_is_recorded_and_retried_with_backoff(engine: sa.Engine, clock: ManualClock) -> None:
    platform = FakePlatform(failures=[ConnectionError("connection reset")])
    put(engine, clock, "k1")
    sender = sender_for(engine, platform, clock)
    assert await sender.run_once() == []
    (row,) = rows(engine)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.PENDING, 1, "ConnectionError: connection reset")
    delay = (row.next_attempt_at - clock.now()).total_seconds()
    assert 1.0 <= delay <= 3.0, "2 s ± 50 % jitter"
    assert await sender.run_once() == [], "not before its time"
    clock.advance(timedelta(seconds=3))
    assert len(await sender.run_once()) == 1
    (row,) = rows(engine)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.SENT, 2, None)
    assert platform.calls == 2 and len(platform.received) == 1


def test_backoff_grows_exponentially_with_jitter_and_a_cap(engine: sa.Engine, clock: ManualClock) -> None:
    sender = sender_for(engine, FakePlatform(), clock)
    for attempts, nominal in ((1, 2), (2, 4), (5, 32), (20, 900)):
        delays = [sender.backoff(attempts) for _ in range(50)]
        assert all(nominal * 0.5 <= d <= nominal * 1.5 for d in delays)
        assert len(set(delays)) > 1, "jittered"


async def test_the_platforms_retry_after_is_honoured(engine: sa.Engine, clock: ManualClock) -> None:
    platform = FakePlatform(failures=[DeliveryError("HTTP 429", retry_after=30)])
    put(engine, clock, "k1")
    await sender_for(engine, platform, clock).run_once()
    (row,) = rows(engine)
    assert (row.next_attempt_at - clock.now()).total_seconds() >= 30


async def test_permanent_errors_and_the_last_attempt_give_up(engine: sa.Engine, clock: ManualClock) -> None:
    platform = FakePlatform(failures=[DeliveryError("chat not found", permanent=True)] + [TimeoutError("slow")] * 3)
    put(engine, clock, "doomed")
    put(engine, clock, "flaky", target="chat-2")
    sender = sender_for(engine, platform, clock, max_attempts=3)
    for _ in range(4):
        await sender.run_once()
        clock.advance(timedelta(minutes=20))
    doomed, flaky = rows(engine)
    assert (doomed.status, doomed.attempts, doomed.last_error) == (
        OutboxStatus.DEAD,
        1,
        "DeliveryError: chat not found",
    )
    assert (flaky.status, flaky.attempts) == (OutboxStatus.DEAD, 3)


async def test_a_crash_between_commit_and_send_loses_nothing_and_sends_once(
    engine: sa.Engine, clock: ManualClock
) -> None:
    put(engine, clock, "k1")  # committed; the process dies before any send
    platform = FakePlatform()
    restarted = sender_for(engine, platform, clock)  # a new process
    assert len(await restarted.run_once()) == 1
    assert await restarted.run_once() == []
    assert len(platform.received) == 1


async def test_a_crash_while_sending_holds_the_message_only_for_a_short_lease(
    engine: sa.Engine, clock: ManualClock
) -> None:
    put(engine, clock, "k1")
    dying = sender_for(engine, FakePlatform(), clock)
    claimed = dying.claim("fake", 10).items  # claimed, then the process died before delivering
    assert len(claimed) == 1
    platform = FakePlatform()
    restarted = sender_for(engine, platform, clock)
    assert await restarted.run_once() == [], "the lease still holds"
    clock.advance(dying.lease - timedelta(seconds=1))
    assert await restarted.run_once() == [], "the lease still holds"
    clock.advance(timedelta(seconds=2))
    assert len(await restarted.run_once()) == 1 and len(platform.received) == 1
    assert dying.lease <= timedelta(seconds=15), "after a crash the message waits seconds, not a minute"


async def test_the_per_chat_rate_limit_spaces_messages_and_keeps_their_order(
    engine: sa.Engine, clock: ManualClock
) -> None:
    platform = FakePlatform(rate_limit=RateLimit(per_target=1, per_app=100))
    for index in range(3):
        put(engine, clock, f"k{index}", text=f"第{index}条")
    put(engine, clock, "other", target="chat-2", text="另一个群")
    sender = sender_for(engine, platform, clock)
    await sender.run_once()
    assert [m.card.elements[0].text for m in platform.received] == ["第0条", "另一个群"]
    for _ in range(2):
        clock.advance(timedelta(seconds=1))
        await sender.run_once()
    assert [m.card.elements[0].text for m in platform.received] == ["第0条", "另一个群", "第1条", "第2条"]


@pytest.mark.postgres
async def test_two_workers_share_the_queue_and_send_each_message_once(
    postgres_engine: sa.Engine, clock: ManualClock
) -> None:
    from tests.conftest import _truncate_all  # the shared PostgreSQL database, emptied

    _truncate_all(postgres_engine)
    for index in range(60):
        put(postgres_engine, clock, f"k{index}", target=f"chat-{index % 7}")
    platform = FakePlatform(rate_limit=RateLimit(per_target=1000, per_app=10000))
    workers = [sender_for(postgres_engine, platform, clock) for _ in range(2)]

    async def drain(worker: OutboxSender) -> int:
        sent = 0
        while batch := await worker.run_once(limit=5):
            sent += len(batch)
        return sent

    counts = await asyncio.gather(drain(workers[0]), drain(workers[1]))
    assert sum(counts) == 60 and len(platform.received) == 60
    assert len({m.key for m in platform.received}) == 60
    assert {row.status for row in rows(postgres_engine)} == {OutboxStatus.SENT}
