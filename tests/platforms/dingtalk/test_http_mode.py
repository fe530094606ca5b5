"""HTTP mode and 1:1 chats: DingTalk posts signed callbacks to ``/dingtalk/events``; a 1:1 chat is its person.

In HTTP mode there is no Stream connection: cards are created with
``callbackType: HTTP`` and their callbacks are answered in the HTTP response
(the card's new data and the presser's private notice). A message in the
robot's 1:1 chat is answered in that chat, not in a group.
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from storage.timekeeping import ManualClock
from tests.platforms.dingtalk import peer
from tests.platforms.dingtalk.fake import FakeDingTalk
from tests.platforms.drivers import DingTalkDriver
from tests.platforms.seed import seed_record


async def test_card_callbacks_over_http_are_answered_in_the_response(
    sqlite_engine: sa.Engine, clock: ManualClock
) -> None:
    driver = await DingTalkDriver.start(sqlite_engine, clock, mode="http")
    try:
        assert driver.fake.opened == 0, "no Stream connection in HTTP mode"
        link = await driver.open_form("zhang", "/record new 订单系统数据延迟问题专项沟通")
        await driver.submit("zhang", link, seed_record(driver.ids))
        button = driver.button("record.confirm")
        assert button.message.card.callback == "HTTP", "cards made in HTTP mode call back over HTTP"
        body = peer.card_callback(button.message.card.track, user=driver.ids["li"], action_ids=["button"],
                                  params={"action": button.raw["action"], "payload": button.raw["payload"]})  # fmt: skip
        raw = json.dumps(body).encode()
        response = await driver.client.post("/dingtalk/events", data=raw, headers=peer.signed(clock))
        answer = await response.json()
        assert response.status == 200 and answer["userPrivateData"]["cardParamMap"]["toast"]
        assert "已确认" in answer["cardData"]["cardParamMap"]["markdown"]
        again = await driver.client.post("/dingtalk/events", data=raw, headers=peer.signed(clock))
        assert again.status == 200 and await again.json() == {}, "the same callback body is handled once"
        forged = await driver.client.post("/dingtalk/events", data=raw, headers=peer.signed(clock, secret="x"))
        assert forged.status == 401
    finally:
        await driver.client.close()
        await driver.stop()


async def test_a_one_to_one_chat_is_answered_there(sqlite_engine: sa.Engine, clock: ManualClock) -> None:
    driver = await DingTalkDriver.start(sqlite_engine, clock)
    fake: FakeDingTalk = driver.fake
    try:
        message = peer.robot_message(fake, "/help", sender=driver.ids["li"], group=False, session=False)
        assert (await fake.push(peer.MESSAGES, message))["code"] == 200
        await driver.settle()
        reply = fake.sent[-1]
        assert reply.target == driver.ids["li"] and reply.kind in ("direct", "card")
        if reply.card is not None:
            assert reply.card.space_type == "IM_ROBOT"
    finally:
        await driver.client.close()
        await driver.stop()
