"""The Stream client against the fake gateway: what is acknowledged is stored, whatever happens to the connection.

DingTalk does not push a robot message again once it was lost on a dropped
socket, so the client acknowledges a frame only after the event is in the
durable inbox; a connection that drops, or that DingTalk ends with
``disconnect``, is replaced by a new one with a new ticket, after a backoff with
jitter (the test's ``sleep`` records the delays instead of waiting).
"""

from __future__ import annotations

import asyncio
import json
import random

import sqlalchemy as sa
from sqlmodel import Session, select

from storage.models import InboundEvent, ProcessedEvent
from storage.timekeeping import ManualClock
from tests.platforms.dingtalk.fake import MESSAGES
from tests.platforms.dingtalk.peer import robot_message
from tests.platforms.drivers import DingTalkDriver


class Sleeps:
    """Stands in for ``asyncio.sleep`` in the client: records each backoff and yields once."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.recorded = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.recorded.set()
        await asyncio.sleep(0)


def processed(engine: sa.Engine) -> set[str]:
    with Session(engine) as session:
        return set(session.exec(select(ProcessedEvent.event_id)))


async def start(engine: sa.Engine, clock: ManualClock, sleeps: Sleeps) -> DingTalkDriver:
    return await DingTalkDriver.start(engine, clock, sleep=sleeps, rng=random.Random(5))


async def test_acknowledged_events_survive_a_dropped_connection_and_a_disconnect(
    sqlite_engine: sa.Engine, clock: ManualClock
) -> None:
    sleeps = Sleeps()
    driver = await start(sqlite_engine, clock, sleeps)
    fake = driver.fake
    try:
        before = processed(sqlite_engine)
        first = robot_message(fake, "/record list", sender=driver.ids["zhang"], msg_id="msgA")
        assert (await fake.push(MESSAGES, first))["code"] == 200
        await fake.drop()  # the network fails right after the acknowledgement
        await fake.connected()
        assert fake.opened == 2 and len(sleeps.delays) == 1, "reconnected once, after a backoff"
        again = await fake.push(MESSAGES, first)  # DingTalk (or a jittery network) sends it once more
        second = robot_message(fake, "/record list", sender=driver.ids["li"], msg_id="msgB")
        assert (await fake.push(MESSAGES, second))["code"] == 200 and again["code"] == 200
        ping = await fake.ping("123-dsfs")
        assert json.loads(ping["data"]) == {"opaque": "123-dsfs"}

        await fake.disconnect()  # "connection is expired": the client finishes, then connects anew at once
        await fake.connected()
        assert fake.opened == 3 and len(sleeps.delays) == 1, "a disconnect is not a failure: no backoff"
        third = robot_message(fake, "/record list", sender=driver.ids["wang"], msg_id="msgC")
        assert (await fake.push(MESSAGES, third))["code"] == 200

        await driver.settle()  # the inbox is handled after the acknowledgements, on whichever connection
        assert processed(sqlite_engine) - before == {"msg:msgA", "msg:msgB", "msg:msgC"}, "each once, none lost"
        answered = [s for s in fake.sent[-3:] if s.kind == "session"]
        assert len(answered) == 3, "each command answered in its conversation"
        assert all(ticket is None for ticket in fake.tickets.values()), "every ticket opened one connection"
        assert fake.problems == []
    finally:
        await driver.client.close()
        await driver.stop()


async def test_an_event_that_cannot_be_stored_is_not_acknowledged_as_done(
    sqlite_engine: sa.Engine, clock: ManualClock
) -> None:
    driver = await start(sqlite_engine, clock, Sleeps())
    try:
        with sqlite_engine.begin() as connection:
            connection.execute(sa.text(f"DROP TABLE {InboundEvent.__tablename__}"))  # the inbox cannot be written
        message = robot_message(driver.fake, "/record list", sender=driver.ids["zhang"], msg_id="msgLost")
        ack = await driver.fake.push(MESSAGES, message)
        assert ack["code"] == 500, "DingTalk must not think it was handled"
        assert driver.fake.problems == []
    finally:
        await driver.client.close()
        await driver.stop()


async def test_failing_connections_back_off_with_jitter_and_cancellation_ends_the_client(
    sqlite_engine: sa.Engine, clock: ManualClock
) -> None:
    sleeps = Sleeps()
    driver = await start(sqlite_engine, clock, sleeps)
    platform = driver.platform
    try:
        await driver.fake.drop()
        await driver.stop()  # DingTalk unreachable: every connections/open fails
        async with asyncio.timeout(5):
            while len(sleeps.delays) < 6:
                sleeps.recorded.clear()
                await sleeps.recorded.wait()
        delays = sleeps.delays[:6]
        for attempt, delay in enumerate(delays, start=1):
            assert 0.5 * 2**attempt <= delay <= 1.5 * 2**attempt, (attempt, delay)
        assert len(set(delays)) == len(delays), "jittered, not in lockstep"
        task = platform._stream_task
        assert task is not None and not task.done()
        await platform.close()  # shutting down cancels the client; it does not swallow the cancellation
        assert task.cancelled()
    finally:
        await driver.client.close()
