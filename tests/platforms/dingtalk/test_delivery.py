"""Sending to DingTalk through the outbox: tokens, throttling, refusals, real @-mentions, replies in the session.

Each test drives the bot with a real command over the fake's Stream gateway and
looks at what arrived at the fake and what the outbox row says.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.models import OutboxMessage
from storage.timekeeping import ManualClock
from storage.types import OutboxStatus
from tests.platforms.drivers import DingTalkDriver


@pytest.fixture
async def driver(sqlite_engine: sa.Engine, clock: ManualClock) -> AsyncIterator[DingTalkDriver]:
    started = await DingTalkDriver.start(sqlite_engine, clock)
    yield started
    await started.client.close()
    await started.stop()


def last_row(engine: sa.Engine) -> OutboxMessage:
    with Session(engine) as session:
        return session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id).desc())).first()


async def test_a_reply_within_ninety_minutes_goes_through_the_session_webhook_with_real_mentions(
    driver: DingTalkDriver,
) -> None:
    await driver.command("zhang", "/dept set 质量部 lead @li")
    reply = driver.fake.sent[-1]
    assert reply.kind == "session" and reply.at == [driver.ids["li"]]
    assert f"@{driver.ids['li']}" in reply.text, "DingTalk shows the name for @userId of the people in atUserIds"


async def test_throttling_is_retried_and_a_rejected_token_refreshed_once(driver: DingTalkDriver) -> None:
    driver.fake.throttle_next()
    driver.fake.revoke_tokens()
    issued = driver.fake.tokens_issued
    await driver.command("zhang", "/record list", session=False)  # no session webhook: the OpenAPI
    row = last_row(driver.engine)
    assert row.status is OutboxStatus.SENT and row.attempts == 2, "403 QpsLimit → tried again later"
    assert driver.fake.sent[-1].kind == "group"
    assert driver.fake.tokens_issued == issued + 1, "the revoked token was replaced once"


async def test_a_refused_request_is_not_retried(driver: DingTalkDriver) -> None:
    driver.fake.fail_next(400, "InvalidParameter.OpenConversationId", "群不存在")
    sent = len(driver.fake.sent)
    await driver.command("zhang", "/record list", session=False)  # no session webhook: the OpenAPI
    row = last_row(driver.engine)
    assert row.status is OutboxStatus.DEAD and row.attempts == 1
    assert "InvalidParameter.OpenConversationId" in (row.last_error or "") and len(driver.fake.sent) == sent


async def test_server_errors_are_retried(driver: DingTalkDriver) -> None:
    driver.fake.fail_next(503, "ServiceUnavailable")
    await driver.command("zhang", "/record list", session=False)  # no session webhook: the OpenAPI
    row = last_row(driver.engine)
    assert row.status is OutboxStatus.SENT and row.attempts == 2


async def test_a_refusal_to_the_person_who_typed_goes_to_their_one_to_one_chat(driver: DingTalkDriver) -> None:
    await driver.command("li", "/record close R99 已完成")
    notice = driver.fake.sent[-1]
    assert notice.kind == "direct" and notice.target == driver.ids["li"], "refusals reach only the person"


async def test_a_session_that_expired_early_falls_back_to_the_group(driver: DingTalkDriver) -> None:
    driver.fake.sessions_expire_early = True  # DingTalk ends the session before the time it gave
    await driver.command("zhang", "/record list")
    assert driver.fake.sent[-1].kind == "group" and last_row(driver.engine).status is OutboxStatus.SENT
