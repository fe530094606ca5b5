"""What we send Slack: throttling honoured, errors told apart, updates in place, a slow Slack survived."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from cards.markup import md
from cards.model import Card, Header, Markdown
from storage.db import unit_of_work
from storage.models import OutboxMessage
from storage.outbox import enqueue
from storage.types import OutboxStatus

from .conftest import Slack


def queue(slack: Slack, key: str, *, channel: str = "C0GROUP", update_of: str | None = None, text: str = "hi") -> None:
    card = Card(header=Header(title="截止预警"), elements=[Markdown(text=md("{} <@U0LI>", text))])
    with unit_of_work(slack.engine) as session:
        enqueue(
            session, platform="slack", target=channel, card=card, key=key, now=slack.clock.now(), update_of=update_of
        )


def row(slack: Slack) -> OutboxMessage:
    with Session(slack.engine) as session:
        return session.exec(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()  # type: ignore[union-attr]


async def test_a_429_is_retried_after_retry_after(slack: Slack) -> None:
    queue(slack, "warning:R1-1")
    slack.fake.fail_next("chat.postMessage", error="ratelimited", status=429, headers={"Retry-After": "7"})
    await slack.work()
    pending = row(slack)
    assert pending.status is OutboxStatus.PENDING and pending.next_attempt_at - slack.clock.now() >= timedelta(
        seconds=7
    )
    slack.clock.advance(timedelta(seconds=6))
    await slack.work()
    assert slack.fake.posted == [], "not before Slack said"
    slack.clock.advance(timedelta(seconds=5))
    await slack.work()
    assert len(slack.fake.posted) == 1 and row(slack).status is OutboxStatus.SENT


async def test_the_per_channel_pace_is_kept_so_slack_never_throttles(slack: Slack) -> None:
    for n in range(4):
        queue(slack, f"k{n}", channel="C1")
        queue(slack, f"j{n}", channel="C2")
    for _ in range(4):
        await slack.work()
        slack.clock.advance(timedelta(seconds=1))
    assert [p.channel for p in slack.fake.posted].count("C1") == 4 and len(slack.fake.posted) == 8
    assert "ratelimited" not in str(slack.fake.calls)


async def test_a_refusal_is_final_and_a_server_error_is_retried(slack: Slack) -> None:
    queue(slack, "a", channel="C_GONE")
    slack.fake.fail_next("chat.postMessage", error="channel_not_found")
    await slack.work()
    assert row(slack).status is OutboxStatus.DEAD and "channel_not_found" in row(slack).last_error
    queue(slack, "b")
    slack.fake.fail_next("chat.postMessage", error="internal_error", status=500)
    await slack.work()
    assert row(slack).status is OutboxStatus.PENDING
    slack.clock.advance(timedelta(minutes=1))
    await slack.work()
    assert row(slack).status is OutboxStatus.SENT and len(slack.fake.posted) == 1


async def test_an_update_replaces_the_message_in_place(slack: Slack) -> None:
    queue(slack, "first", text="v1")
    await slack.work()
    (posted,) = slack.fake.posted
    slack.clock.advance(timedelta(seconds=1))
    queue(slack, "second", update_of=posted.ts, text="v2")
    await slack.work()
    (updated,) = slack.fake.updated
    assert updated.ts == posted.ts and "v2" in updated.everything and len(slack.fake.posted) == 1


async def test_a_slow_slack_times_out_and_the_message_waits_for_a_retry(slack: Slack) -> None:
    slack.platform.web.timeout = 0.2
    slack.fake.stall_next(2)
    queue(slack, "slow")
    await slack.work()
    assert row(slack).status is OutboxStatus.PENDING and "Timeout" in (row(slack).last_error or "")
