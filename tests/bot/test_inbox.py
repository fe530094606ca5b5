"""The durable inbox: stored before the acknowledgement, group-committed, handled once, leased, dead-lettered."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import time, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from bot.inbox import Inbox
from handlers import root_router
from handlers.dispatcher import Dispatcher
from handlers.events import Chat, CommandEvent, MentionedUser, Sender, event_from_json, event_to_json
from storage.db import executor_for
from storage.models import Department, Group, InboundEvent, OutboxMessage, Person, ProcessedEvent
from storage.timekeeping import ManualClock
from tests.faults import inbox_refuses

MADE: list[Inbox] = []


def inbox_for(engine: sa.Engine, clock: ManualClock) -> Inbox:
    MADE.append(Inbox(engine, Dispatcher(engine=engine, clock=clock, router=root_router()), clock))
    return MADE[-1]


@pytest.fixture(autouse=True)
async def close_inboxes() -> AsyncIterator[None]:
    """Each inbox's own connection (the loop's, on SQLite or PostgreSQL) closes with its test, as serve closes it."""
    yield
    while MADE:
        await MADE.pop().close()


def command(event_id: str, text: str = "/help", chat: str = "oc_1") -> CommandEvent:
    return CommandEvent(
        event_id=event_id, chat=Chat("feishu", chat, "tenant"), sender=Sender("ou_zhang", "张伟"), message_id="om_1",
        text=text, mentions=(MentionedUser("ou_li", "李娜"),),
    )  # fmt: skip


def answered(message: OutboxMessage) -> str:
    """The event a message answers, from its key (``feishu:oc_1:event:ev-3:reply:1``)."""
    return message.idempotency_key.split(":event:")[1].split(":")[0]


def table(engine: sa.Engine, model: type) -> list:
    with Session(engine) as session:
        return list(session.exec(select(model)))


def test_a_neutral_event_survives_the_round_trip_through_json() -> None:
    event = command("ev-1", "/record new 订单延迟 <@ou_li>")
    assert event_from_json(event_to_json(event)) == event


async def test_stored_before_the_acknowledgement_handled_after(engine: sa.Engine, clock: ManualClock) -> None:
    inbox = inbox_for(engine, clock)
    await inbox.accept(command("ev-1"))
    (row,) = table(engine, InboundEvent)
    assert (row.platform, row.event_id, row.event["text"]) == ("feishu", "ev-1", "/help")
    assert row.received_at == clock.now() and table(engine, OutboxMessage) == []
    assert await inbox.run_once() == 1
    assert table(engine, InboundEvent) == [], "a handled event leaves the inbox"
    assert [e.event_id for e in table(engine, ProcessedEvent)] == ["ev-1"]
    (reply,) = table(engine, OutboxMessage)
    assert (reply.target, reply.payload["reply_to"]) == ("oc_1", "om_1")


async def test_redeliveries_are_handled_once_whether_waiting_or_done(engine: sa.Engine, clock: ManualClock) -> None:
    inbox = inbox_for(engine, clock)
    await asyncio.gather(*(inbox.accept(command("ev-1")) for _ in range(3)))  # in one group commit
    await inbox.accept(command("ev-1"))  # in the next
    assert len(table(engine, InboundEvent)) == 1
    assert await inbox.run_once() == 1
    await inbox.accept(command("ev-1"))  # after it was handled
    assert await inbox.run_once() == 1
    assert len(table(engine, ProcessedEvent)) == 1 and len(table(engine, OutboxMessage)) == 1


async def test_concurrent_events_share_commits(engine: sa.Engine, clock: ManualClock) -> None:
    commits = []

    def count(connection: sa.Connection) -> None:
        commits.append(1)

    sa.event.listen(engine, "commit", count)
    try:
        await asyncio.gather(*(inbox_for(engine, clock).accept(command(f"ev-{n}")) for n in range(1)))
        commits.clear()
        inbox = inbox_for(engine, clock)
        await asyncio.gather(*(inbox.accept(command(f"ev-{n}")) for n in range(1, 41)))
    finally:
        sa.event.remove(engine, "commit", count)
    assert len(table(engine, InboundEvent)) == 41
    assert len(commits) <= 2, f"40 events arriving together took {len(commits)} commits"


async def test_an_event_that_fails_is_retried_with_backoff_then_kept_as_a_dead_letter(
    engine: sa.Engine, clock: ManualClock
) -> None:
    inbox = inbox_for(engine, clock)
    written = {**event_to_json(command("ev-x")), "kind": "Unknown"}
    with Session(engine) as session:  # a row this version cannot read (say, written by a newer one)
        session.add(InboundEvent(platform="feishu", event_id="ev-x", event=written, received_at=clock.now()))
        session.commit()
    for attempt in range(1, inbox.max_attempts + 1):
        assert await inbox.run_once() == 0
        (row,) = table(engine, InboundEvent)
        assert row.attempts == attempt and "Unknown" in (row.last_error or "")
        assert await inbox.run_once() == 0 and table(engine, InboundEvent)[0].attempts == attempt, "not before backoff"
        clock.advance(timedelta(seconds=2**attempt + 1))
    await inbox.accept(command("ev-ok"))
    assert await inbox.run_once() == 1, "a dead letter does not block the others"
    (dead,) = table(engine, InboundEvent)
    assert dead.event_id == "ev-x" and dead.attempts == inbox.max_attempts


async def test_a_row_claimed_by_a_worker_that_died_is_handled_when_its_lease_ends(
    engine: sa.Engine, clock: ManualClock
) -> None:
    first, second = inbox_for(engine, clock), inbox_for(engine, clock)
    await first.accept(command("ev-1"))
    (claimed,) = first._claim(10)  # the first worker claims it, then dies before handling it
    assert await second.run_once() == 0, "leased to the other worker"
    clock.advance(first.lease + timedelta(seconds=1))
    assert await second.run_once() == 1
    assert claimed.event_id == "ev-1" and len(table(engine, ProcessedEvent)) == 1


async def test_a_failed_write_fails_every_caller_in_the_batch_and_stores_nothing(
    engine: sa.Engine, clock: ManualClock
) -> None:
    inbox = inbox_for(engine, clock)
    with inbox_refuses(engine, "disk I/O error"):
        results = await asyncio.gather(*(inbox.accept(command(f"ev-{n}")) for n in range(3)), return_exceptions=True)
    assert all(isinstance(r, sa.exc.DBAPIError) and "disk I/O error" in str(r) for r in results), results
    assert table(engine, InboundEvent) == []
    await inbox.accept(command("ev-0"))  # the platform delivers again; now it is stored
    assert [r.event_id for r in table(engine, InboundEvent)] == ["ev-0"]


async def test_an_event_that_cannot_be_stored_fails_alone(engine: sa.Engine, clock: ManualClock) -> None:
    inbox = inbox_for(engine, clock)
    odd = CommandEvent(event_id="ev-odd", chat=Chat("feishu", "oc_1", "t"), sender=Sender("ou"),
                       mentions=({"not json": {1, 2}},))  # type: ignore[arg-type]  # fmt: skip
    results = await asyncio.gather(inbox.accept(command("ev-1")), inbox.accept(odd), return_exceptions=True)
    assert results[0] is None and isinstance(results[1], TypeError)
    assert [r.event_id for r in table(engine, InboundEvent)] == ["ev-1"]


async def test_a_backlog_is_handled_in_few_transactions_each_event_with_its_own_answer(
    engine: sa.Engine, clock: ManualClock
) -> None:
    inbox = inbox_for(engine, clock)
    inbox.batch_time = 10  # no time limit: the count is the batch size's
    for n in range(40):
        await inbox.accept(command(f"ev-{n}", chat=f"oc_{n % 7}"))
    commits = []
    sa.event.listen(engine, "commit", lambda connection: commits.append(1))
    assert await inbox.run_once() == 40
    assert len(commits) <= 4, f"40 waiting events took {len(commits)} commits (claim, settle and the handling)"
    replies = table(engine, OutboxMessage)
    assert sorted(answered(m) for m in replies) == sorted(f"ev-{n}" for n in range(40))
    assert {m.target for m in replies} == {f"oc_{n}" for n in range(7)}
    assert len(table(engine, ProcessedEvent)) == 40 and table(engine, InboundEvent) == []


async def test_under_a_flood_of_acknowledgements_each_run_is_one_event(engine: sa.Engine, clock: ManualClock) -> None:
    """A long run would hold the database thread (and the GIL) from the acks: while they keep coming, one at a time."""
    inbox = inbox_for(engine, clock)
    inbox.batch_time = 10
    for n in range(5):
        await inbox.accept(command(f"ev-{n}"))
    inbox.quiet, inbox.max_defer = 3600.0, 0.0  # the last ack counts as "just now"; the worker goes at once
    commits = []
    sa.event.listen(engine, "commit", lambda connection: commits.append(1))
    assert await inbox.run_once() == 5
    assert len(commits) == 1 + 5 + 1, "the claim, a transaction per event, the settle"
    assert sorted(answered(m) for m in table(engine, OutboxMessage)) == [f"ev-{n}" for n in range(5)]


async def test_one_failing_event_in_a_backlog_costs_the_others_nothing(engine: sa.Engine, clock: ManualClock) -> None:
    """Handled together, an error rolls the run back: each event is then handled alone, once."""
    inbox = inbox_for(engine, clock)
    inbox.batch_time = 10
    texts = ["/settings prompt 17:00", "/record show R999", "/dept set 研发部 <@ou_li>", "/help"]
    for n, text in enumerate(texts):
        event = command(f"ev-{n}", text)
        await inbox.accept(replace(event, sender=replace(event.sender, is_chat_admin=True)))
    assert await inbox.run_once() == 4
    with Session(engine) as session:
        (group,) = session.exec(select(Group))
        (department,) = session.exec(select(Department))
        lead = session.get(Person, department.lead_id)
    assert group.prompt_time == time(17, 0), "the change made before the failing event, in the run rolled back"
    assert department.name == "研发部" and lead is not None and lead.user_id == "ou_li", "and the one after"
    by_event: dict[str, list[OutboxMessage]] = {}
    for message in table(engine, OutboxMessage):
        by_event.setdefault(answered(message), []).append(message)
    assert sorted(by_event) == ["ev-0", "ev-1", "ev-2", "ev-3"] and all(len(m) == 1 for m in by_event.values())
    (error,) = by_event["ev-1"]
    assert "R999" in json.dumps(error.payload, ensure_ascii=False) and error.idempotency_key.endswith(":error")
    assert len(table(engine, ProcessedEvent)) == 4 and table(engine, InboundEvent) == []


async def test_an_unreadable_row_among_readable_ones_fails_alone(engine: sa.Engine, clock: ManualClock) -> None:
    inbox = inbox_for(engine, clock)
    await inbox.accept(command("ev-1"))
    with Session(engine) as session:
        written = {**event_to_json(command("ev-x")), "kind": "Unknown"}
        session.add(InboundEvent(platform="feishu", event_id="ev-x", event=written, received_at=clock.now()))
        session.commit()
    await inbox.accept(command("ev-2"))
    assert await inbox.run_once() == 2
    (dead,) = table(engine, InboundEvent)
    assert dead.event_id == "ev-x" and dead.attempts == 1
    assert sorted(e.event_id for e in table(engine, ProcessedEvent)) == ["ev-1", "ev-2"]


async def test_when_the_database_refuses_a_backlog_every_event_waits_for_the_next_try(
    engine: sa.Engine, clock: ManualClock
) -> None:
    inbox = inbox_for(engine, clock)
    for n in range(3):
        await inbox.accept(command(f"ev-{n}"))

    def refuse(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO OUTBOX"):
            raise sa.exc.OperationalError(statement, parameters, Exception("disk I/O error"))

    sa.event.listen(engine, "before_cursor_execute", refuse)
    try:
        assert await inbox.run_once() == 0
    finally:
        sa.event.remove(engine, "before_cursor_execute", refuse)
    assert [(r.event_id, r.attempts) for r in table(engine, InboundEvent)] == [("ev-0", 1), ("ev-1", 1), ("ev-2", 1)]
    assert table(engine, ProcessedEvent) == [] and table(engine, OutboxMessage) == [], "nothing half written"
    clock.advance(timedelta(seconds=3))
    assert await inbox.run_once() == 3
    assert len(table(engine, ProcessedEvent)) == 3 and len(table(engine, OutboxMessage)) == 3


def test_handling_together_stops_after_the_event_in_hand_when_told(engine: sa.Engine, clock: ManualClock) -> None:
    """The inbox's worker says 'enough' when an acknowledgement waits: it gets the database after one event."""
    dispatcher = Dispatcher(engine=engine, clock=clock, router=root_router())
    events = [command(f"ev-{n}") for n in range(5)]
    done = dispatcher.handle_together(events, enough=lambda: True)
    assert len(done) == 1 and [e.event_id for e in table(engine, ProcessedEvent)] == ["ev-0"]
    done = dispatcher.handle_together(events[1:], enough=lambda: False)
    assert len(done) == 4 and len(table(engine, ProcessedEvent)) == 5


async def until_true(condition: Callable[[], bool]) -> None:
    """Let the loop run (no time passes) until ``condition`` holds."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("never happened")


@contextmanager
def database_thread_busy(engine: sa.Engine) -> Iterator[threading.Event]:
    """Every database thread (SQLite has one, PostgreSQL several) is held by other work until the block ends."""
    release = threading.Event()
    executor = executor_for(engine)
    held = [executor.submit(release.wait) for _ in range(executor._max_workers)]
    try:
        yield release
    finally:
        release.set()
        for job in held:
            job.result()


async def test_an_acknowledgement_does_not_wait_for_the_database_thread(engine: sa.Engine, clock: ManualClock) -> None:
    """Written from the event loop (SQLite: when the file is free; PostgreSQL: over the inbox's async connection):
    work queued on the database thread delays no acknowledgement."""
    inbox = inbox_for(engine, clock)
    with database_thread_busy(engine):
        async with asyncio.timeout(10):  # a safety net: it does not wait for the thread at all
            await inbox.accept(command("ev-1"))
        assert [r.event_id for r in table(engine, InboundEvent)] == ["ev-1"]
    await inbox.accept(command("ev-1"))  # a redelivery is dropped on this path too
    assert len(table(engine, InboundEvent)) == 1
    assert await inbox.run_once() == 1 and len(table(engine, ProcessedEvent)) == 1


async def test_on_sqlite_while_another_writer_holds_the_file_the_event_waits_its_turn_in_order(
    sqlite_engine: sa.Engine, clock: ManualClock
) -> None:
    """No busy wait on the loop: a held lock sends the event to the group commit, and later events queue behind it."""
    inbox = inbox_for(sqlite_engine, clock)
    other = sqlite3.connect(sqlite_engine.url.database or "", isolation_level=None)
    with database_thread_busy(sqlite_engine) as release:
        other.execute("BEGIN IMMEDIATE")  # another writer (another process, a migration) holds the file
        first = asyncio.create_task(inbox.accept(command("ev-first")))
        await until_true(lambda: inbox._committing)  # not stored on the loop: queued for the database thread
        other.execute("ROLLBACK")  # the file is free again ...
        second = asyncio.create_task(inbox.accept(command("ev-second")))
        await until_true(lambda: len(inbox._waiting) == 1)  # ... but the later event does not overtake the first
        assert not first.done() and table(sqlite_engine, InboundEvent) == []
        release.set()
        await asyncio.gather(first, second)
    other.close()
    stored = sorted(table(sqlite_engine, InboundEvent), key=lambda r: r.id)
    assert [r.event_id for r in stored] == ["ev-first", "ev-second"]
