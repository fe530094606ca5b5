"""The outbox under pressure: slow platforms, several replicas, backlogs at the platform's own rate limit.

The fake platform here counts as platforms do — sliding one-second windows per
app and per chat — and refuses (HTTP 429) what goes over; time moves only with
the test's ManualClock, so "a platform answering in 3 s" is the clock moving 3 s
while the call is out.
"""

from __future__ import annotations

import asyncio
import gc
import random
import tracemalloc
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from bot.outbox import Delivered, DeliveryError, OutboxSender, OutgoingMessage, RateLimit
from cards.model import Card, Header, Markdown
from storage.db import make_engine, unit_of_work
from storage.models import OutboxMessage
from storage.outbox import QueuedCard, enqueue_many
from storage.timekeeping import ManualClock
from storage.types import OutboxStatus

SECOND = timedelta(seconds=1)


@dataclass
class CountingPlatform:
    """A platform that counts every call in sliding one-second windows and refuses what goes over."""

    clock: ManualClock
    name: str = "fake"
    rate_limit: RateLimit = field(default_factory=lambda: RateLimit(per_target=5, per_app=50))
    answer_takes: timedelta = timedelta(0)  # the clock moves this much while a call is out
    gates: dict[str, asyncio.Event] = field(default_factory=dict)  # a chat whose calls wait until the gate opens
    received: list[OutgoingMessage] = field(default_factory=list)
    keep: bool = True  # False: count the messages without holding on to them
    arrivals: list[datetime] = field(default_factory=list)
    refusals: int = 0
    progress: asyncio.Event = field(default_factory=asyncio.Event)  # set whenever a call starts or ends
    out: int = 0
    most_out: int = 0
    _app: deque[datetime] = field(default_factory=deque)
    _chats: dict[str, deque[datetime]] = field(default_factory=lambda: defaultdict(deque))

    def _over(self, log: deque[datetime], limit: float, now: datetime) -> bool:
        while log and log[0] <= now - SECOND:
            log.popleft()
        return len(log) >= limit

    async def deliver(self, message: OutgoingMessage) -> Delivered:
        now = self.clock.now()
        chat = self._chats[message.target]
        if self._over(self._app, self.rate_limit.per_app, now) or self._over(chat, self.rate_limit.per_target, now):
            self.refusals += 1
            raise DeliveryError("HTTP 429 too many requests", retry_after=1)
        self._app.append(now)
        chat.append(now)
        self.out += 1
        self.most_out = max(self.most_out, self.out)
        self.progress.set()
        try:
            if message.target in self.gates:
                await self.gates[message.target].wait()
            if self.answer_takes:
                self.clock.advance(self.answer_takes)
            for _ in range(3):  # let the other calls and senders run while this one is "out"
                await asyncio.sleep(0)
        finally:
            self.out -= 1
        self.received.append(message if self.keep else None)  # type: ignore[arg-type]
        self.arrivals.append(now)
        self.progress.set()
        return Delivered(f"m{len(self.received)}")

    def sent_keys(self) -> list[str]:
        return [m.key for m in self.received]

    async def until(self, reached: Callable[[], bool]) -> None:
        """Wait (at most 10 s) until ``reached()`` holds: woken by the calls, never by a timer."""

        async def watch() -> None:
            while not reached():
                self.progress.clear()
                await self.progress.wait()

        await asyncio.wait_for(watch(), timeout=10)


def card(text: str) -> Card:
    return Card(header=Header(title="提醒"), elements=[Markdown(text=text)])


def queue(engine: sa.Engine, clock: ManualClock, messages: list[tuple[str, str]]) -> None:
    """(chat, key) pairs; a chat's messages go in the order of their keys (``enqueue_many`` sorts them)."""
    with unit_of_work(engine) as session:
        for start in range(0, len(messages), 500):
            enqueue_many(
                session, [QueuedCard("fake", chat, card(key), key) for chat, key in messages[start : start + 500]],
                now=clock.now(),
            )  # fmt: skip


def statuses(engine: sa.Engine) -> dict[str, OutboxStatus]:
    with Session(engine) as session:
        return {row.idempotency_key: row.status for row in session.exec(select(OutboxMessage))}


def sender(engine: sa.Engine, platform: CountingPlatform, clock: ManualClock, **kwargs) -> OutboxSender:
    return OutboxSender(engine, {platform.name: platform}, clock, rng=random.Random(3), **kwargs)


@pytest.fixture
def replicas(postgres_engine: sa.Engine, postgres_database: str) -> Iterator[list[sa.Engine]]:
    """Two engines on one emptied PostgreSQL database: what two replicas of the bot have."""
    from tests.conftest import _truncate_all

    _truncate_all(postgres_engine)
    engines = [make_engine(postgres_database) for _ in range(2)]
    yield engines
    for engine in engines:
        engine.dispose()


# ---------------------------------------------------------------- finding 1: one sender per message


@pytest.mark.postgres
async def test_two_replicas_against_a_platform_answering_in_3_s_send_each_message_once(
    replicas: list[sa.Engine], clock: ManualClock
) -> None:
    platform = CountingPlatform(clock, rate_limit=RateLimit(per_target=1, per_app=50), answer_takes=3 * SECOND)
    queue(replicas[0], clock, [(f"C{n}", f"k{n}") for n in range(40)])
    first, second = (sender(engine, platform, clock, concurrency=1) for engine in replicas)

    async def drain(worker: OutboxSender) -> None:
        for _ in range(5000):
            await worker.run_once()
            await asyncio.sleep(0)
            if len(set(platform.sent_keys())) == 40:
                return

    await asyncio.gather(drain(first), drain(second))
    assert sorted(platform.sent_keys()) == sorted(f"k{n}" for n in range(40)), "each message exactly once"
    assert set(statuses(replicas[0]).values()) == {OutboxStatus.SENT}


async def test_a_call_longer_than_the_lease_keeps_its_lease_while_the_sender_lives(
    engine: sa.Engine, clock: ManualClock
) -> None:
    beats: asyncio.Queue[asyncio.Future[None]] = asyncio.Queue()

    async def heartbeat_pause(_seconds: float) -> None:  # the test decides when a heartbeat comes
        beat: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await beats.put(beat)
        await beat

    platform = CountingPlatform(clock, gates={"C1": asyncio.Event()})
    queue(engine, clock, [("C1", "slow")])
    first = sender(engine, platform, clock, sleep=heartbeat_pause)
    other = sender(engine, CountingPlatform(clock), clock)
    sending = asyncio.create_task(first.run_once())
    for _ in range(30):  # 90 s of a platform that does not answer, a heartbeat every 3 s
        beat = await asyncio.wait_for(beats.get(), timeout=5)
        clock.advance(3 * SECOND)
        beat.set_result(None)
        assert await other.run_once() == [], "the row is leased to the sender whose call is out"
    platform.gates["C1"].set()
    await asyncio.wait_for(sending, timeout=5)
    assert platform.sent_keys() == ["slow"] and statuses(engine) == {"slow": OutboxStatus.SENT}


async def test_a_stopped_sender_finishes_its_calls_and_holds_nothing(engine: sa.Engine, clock: ManualClock) -> None:
    platform = CountingPlatform(clock, gates={"C1": asyncio.Event()})
    queue(engine, clock, [("C1", "a"), ("C2", "b")])
    worker = sender(engine, platform, clock)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await platform.until(lambda: platform.out == 2)
    stop.set()
    platform.gates["C1"].set()
    await asyncio.wait_for(running, timeout=5)
    with Session(engine) as session:
        rows = list(session.exec(select(OutboxMessage)))
    assert {r.idempotency_key: r.status for r in rows} == {"a": OutboxStatus.SENT, "b": OutboxStatus.SENT}
    assert all(r.locked_by is None and r.locked_until is None for r in rows)


# ---------------------------------------------------------------- finding 2: a slow chat stalls nobody


async def test_a_chat_whose_calls_hang_does_not_hold_back_the_others(engine: sa.Engine, clock: ManualClock) -> None:
    platform = CountingPlatform(clock, gates={"C-slow": asyncio.Event()})
    queue(engine, clock, [("C-slow", "slow-1"), ("C-slow", "slow-2")] + [(f"C{n}", f"k{n}") for n in range(20)])
    worker = sender(engine, platform, clock, concurrency=4)
    sending = asyncio.create_task(worker.run_once())
    await platform.until(lambda: len(platform.received) == 20)  # every other chat is served while one hangs
    assert not sending.done()
    assert platform.most_out <= 4, "at most `concurrency` calls out at once"
    assert "slow-2" not in platform.sent_keys(), "a chat's next message waits for the one before it"
    platform.gates["C-slow"].set()
    await asyncio.wait_for(sending, timeout=5)
    assert platform.sent_keys()[-2:] == ["slow-1", "slow-2"], "in the order they were queued"


async def test_a_chat_waiting_for_a_retry_keeps_its_order(engine: sa.Engine, clock: ManualClock) -> None:
    platform = CountingPlatform(clock)
    queue(engine, clock, [("C1", "first"), ("C1", "second"), ("C2", "other")])
    worker = sender(engine, platform, clock)
    original = platform.deliver
    failures = iter([ConnectionError("reset")])

    async def flaky(message: OutgoingMessage) -> Delivered:
        if message.key == "first" and (error := next(failures, None)):
            raise error
        return await original(message)

    platform.deliver = flaky  # type: ignore[method-assign]
    await worker.run_once()
    assert platform.sent_keys() == ["other"], "the second waits behind the first's retry"
    clock.advance(timedelta(seconds=4))
    await worker.run_once()
    assert platform.sent_keys() == ["other", "first", "second"]


# ---------------------------------------------------------------- finding 3: pace as the platform counts


async def drive(workers: list[OutboxSender], platform: CountingPlatform, clock: ManualClock, total: int) -> None:
    """Run the senders as time passes in 20 ms steps until every message is out."""
    for _ in range(20_000):
        await asyncio.gather(*(worker.run_once(limit=1000) for worker in workers))
        if len(platform.received) >= total:
            return
        clock.advance(timedelta(milliseconds=20))
    raise AssertionError(f"only {len(platform.received)} of {total} sent")


def achieved_rate(platform: CountingPlatform) -> float:
    """Messages per second after the first second's worth (the limit allows N at once, then N per second)."""
    first, last = min(platform.arrivals), max(platform.arrivals)
    return (len(platform.arrivals) - platform.rate_limit.per_app) / (last - first).total_seconds()


async def test_a_backlog_goes_out_at_the_limit_with_no_refusal(engine: sa.Engine, clock: ManualClock) -> None:
    platform = CountingPlatform(clock)
    queue(engine, clock, [(f"C{n % 40}", f"k{n}") for n in range(600)])
    await drive([sender(engine, platform, clock)], platform, clock, 600)
    assert platform.refusals == 0
    assert achieved_rate(platform) >= 0.95 * 50, achieved_rate(platform)
    assert sorted(platform.sent_keys()) == sorted(f"k{n}" for n in range(600))


async def test_one_busy_chat_keeps_to_its_own_limit(engine: sa.Engine, clock: ManualClock) -> None:
    platform = CountingPlatform(clock)
    queue(engine, clock, [("C1", f"k{n:02}") for n in range(30)])
    await drive([sender(engine, platform, clock)], platform, clock, 30)
    assert platform.refusals == 0 and platform.sent_keys() == [f"k{n:02}" for n in range(30)]
    span = (max(platform.arrivals) - min(platform.arrivals)).total_seconds()
    assert 5.0 <= span <= 5.3, "5 a second, as fast as the chat's window allows"


@pytest.mark.postgres
async def test_two_replicas_keep_one_limit_together(replicas: list[sa.Engine], clock: ManualClock) -> None:
    platform = CountingPlatform(clock)
    queue(replicas[0], clock, [(f"C{n % 60}", f"k{n}") for n in range(500)])
    await drive([sender(engine, platform, clock) for engine in replicas], platform, clock, 500)
    assert platform.refusals == 0
    assert achieved_rate(platform) >= 0.95 * 50, achieved_rate(platform)
    assert sorted(platform.sent_keys()) == sorted(f"k{n}" for n in range(500)), "each message once"


# ---------------------------------------------------------------- finding 8: flat memory however many chats


async def test_the_sender_keeps_no_state_per_chat(sqlite_engine: sa.Engine, clock: ManualClock) -> None:
    engine = sqlite_engine
    platform = CountingPlatform(clock, rate_limit=RateLimit(per_target=5, per_app=100_000), keep=False)
    worker = sender(engine, platform, clock)
    queue(engine, clock, [(f"warmup-{n}", f"w{n}") for n in range(100)])
    await worker.run_once(limit=10_000)
    tracemalloc.start()
    try:
        gc.collect()  # what is kept, not garbage a collection has not reached yet (its timing depends on the tests before)
        before = tracemalloc.take_snapshot()
        for batch in range(3):
            queue(engine, clock, [(f"chat-{batch}-{n}", f"k{batch}-{n}") for n in range(200)])
            await worker.run_once(limit=10_000)
            clock.advance(SECOND)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    assert len(platform.received) == 700
    only_ours = [tracemalloc.Filter(True, "*/bot/outbox.py"), tracemalloc.Filter(True, "*/bot/pacing.py")]
    grown = sum(
        s.size_diff for s in after.filter_traces(only_ours).compare_to(before.filter_traces(only_ours), "filename")
    )
    assert grown < 20_000, f"the sender kept {grown} bytes after sending to 600 more chats"
