"""The long connection against the fake WeCom: subscribe, heartbeat, acks by req_id, displacement, no event lost."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.platforms.wecom.longconn import LongConnection
from storage.models import InboundEvent, OutboxMessage, ProcessedEvent
from storage.types import OutboxStatus
from tests.faults import inbox_refuses
from tests.platforms.wecom.bot import WeComBot, count, until
from tests.platforms.wecom.fake import BOT_ID, BOT_SECRET, INVALID_REQ_ID, NOT_SUBSCRIBED, WINDOW_PASSED

from .conftest import GROUP, LI, WANG, ZHANG, ZHAO

PEOPLE = {"zhang": ZHANG, "li": LI, "wang": WANG, "zhao": ZHAO, "liu": "LiuYang"}


def replies(bot: WeComBot) -> list[str]:
    """What the robot said in the group (replies and posts), as text."""
    return [json.dumps(g.body, ensure_ascii=False) for g in bot.fake.got if g.channel in ("respond", "send")]


async def test_the_robot_subscribes_with_its_id_and_secret_and_every_ack_carries_the_req_id(wecom: WeComBot) -> None:
    assert wecom.fake.subscribes == 1 and wecom.fake.connected
    await wecom.say(ZHANG, "记录列表")
    (reply,) = [g for g in wecom.fake.got if g.channel == "respond"]
    pushed = wecom.fake.pushed[-1]
    assert reply.req_id == pushed.req_id and pushed.answered, "the reply answers the message with its own req_id"
    assert wecom.fake.refused_frames == []


async def test_a_wrong_secret_is_refused_and_tried_again_with_backoff(wecom: WeComBot, caplog: Any) -> None:
    seen: list[Any] = []

    async def collect(*args: Any) -> None:
        seen.append(args)

    wrong = LongConnection(url=wecom.fake.ws_url, bot_id=BOT_ID, secret="not-the-secret", on_callback=collect,
                           backoff=0.01, backoff_cap=0.02)  # fmt: skip
    wrong.start()
    try:
        await until(lambda: [c for c, _ in wecom.fake.refused_frames].count("aibot_subscribe") >= 3)
        assert not wrong.subscribed.is_set() and wecom.fake.subscribes == 1, "the bot's own connection stays"
        assert "not-the-secret" not in caplog.text and "errcode 40001" in caplog.text
    finally:
        await wrong.stop()


async def test_two_pings_without_an_ack_mean_a_dead_socket_and_a_new_connection(wecom: WeComBot) -> None:
    wecom.fake.ack_pings = False
    await until(lambda: wecom.fake.subscribes == 2)
    wecom.fake.ack_pings = True
    await wecom.say(ZHANG, "记录列表")
    assert len(replies(wecom)) == 1


async def test_a_lost_subscription_subscribes_again_and_the_message_is_sent_after(wecom: WeComBot) -> None:
    wecom.fake.fail_next("aibot_respond_msg", NOT_SUBSCRIBED)
    await wecom.fake.push_message("@Closeloop 记录列表", sender=ZHANG, chat=GROUP)
    await until(lambda: wecom.received() == 1)
    await wecom.gateway.inbox.run_once()
    await wecom.gateway.sender.run_once()
    await until(lambda: wecom.fake.subscribes == 2 and wecom.fake.connected)
    await wecom.settle()
    assert len(replies(wecom)) == 1 and ("aibot_respond_msg", NOT_SUBSCRIBED) in wecom.fake.refused_frames


async def test_a_new_connection_displaces_the_old_one_which_stops(wecom: WeComBot) -> None:
    taken: list[Any] = []

    async def collect(cmd: str, req_id: str, body: dict[str, Any]) -> None:
        taken.append(body)

    other = LongConnection(url=wecom.fake.ws_url, bot_id=BOT_ID, secret=BOT_SECRET, on_callback=collect, backoff=0.01)
    other.start()
    try:
        await until(lambda: wecom.platform.connection.displaced and wecom.fake.subscribes == 2)
        runner = wecom.platform.connection._runner
        await until(lambda: runner is not None and runner.done())
        assert wecom.fake.subscribes == 2, "the displaced one does not come back (they would take turns)"
        await wecom.fake.push_message("@Closeloop 记录列表", sender=ZHANG, chat=GROUP)
        await until(lambda: len(taken) == 1)
        assert wecom.received() == 0, "events go to the connection that holds the robot"
    finally:
        await other.stop()


async def test_a_dropped_connection_loses_no_acknowledged_event(wecom: WeComBot) -> None:
    """Stored before anything is answered; what WeCom pushes again after the drop is one event, not two."""
    for text in ("记录列表", "帮助"):
        await wecom.fake.push_message(f"@Closeloop {text}", sender=ZHANG, chat=GROUP)
    await until(lambda: count(wecom.engine, InboundEvent) == 2)
    assert not any(p.answered for p in wecom.fake.pushed), "nothing answered before the worker handles it"
    await wecom.fake.drop()
    await wecom.fake.push_message("@Closeloop 看板", sender=LI, chat=GROUP)  # while the robot is away
    await until(lambda: wecom.fake.subscribes == 2 and wecom.received() == 3)
    await wecom.settle()
    assert count(wecom.engine, ProcessedEvent) == 3 and count(wecom.engine, InboundEvent) == 0
    assert sum(p.redelivered for p in wecom.fake.pushed) == 2, "WeCom pushed the two unanswered ones again"
    said = replies(wecom)
    assert len(said) == 3 and sum("Closeloop 使用帮助" in s for s in said) == 1, "each answered once"
    assert ("aibot_respond_msg", INVALID_REQ_ID) in wecom.fake.refused_frames, "old req_ids: sent as new messages"


async def test_an_event_that_cannot_be_stored_is_not_answered_and_comes_again(wecom: WeComBot) -> None:
    with inbox_refuses(wecom.engine, "database or disk is full") as refusal:
        await wecom.fake.push_message("@Closeloop 记录列表", sender=ZHANG, chat=GROUP)
        await until(lambda: wecom.fake.subscribes == 2)  # gave up storing: reconnects so that WeCom pushes it again
        refusal.stop()
        await until(lambda: wecom.received() == 1)
    await wecom.settle()
    assert count(wecom.engine, ProcessedEvent) == 1 and len(replies(wecom)) == 1


async def test_a_press_updates_the_card_within_five_seconds_or_posts_it(wecom: WeComBot) -> None:
    await wecom.new_record(ZHANG, people=PEOPLE)
    request = next(g for g in reversed(wecom.fake.got) if "核对记录内容" in json.dumps(g.body, ensure_ascii=False))
    card = request.body["template_card"]
    (confirm,) = [b for b in card["button_list"] if "|record.confirm|" in b["key"]]

    await wecom.fake.push_card_event(confirm["key"], card["task_id"], sender=LI, chat=GROUP)
    await until(lambda: any(g.channel == "update" for g in wecom.fake.got))
    (update,) = [g for g in wecom.fake.got if g.channel == "update"]
    assert update.body["template_card"]["task_id"] == card["task_id"] and update.userids is None

    sent, queued = len([g for g in wecom.fake.got if g.channel == "send"]), count(wecom.engine, OutboxMessage)
    wecom.fake.fail_next("aibot_respond_update_msg", WINDOW_PASSED)  # the dispatcher took too long
    await wecom.fake.push_card_event(confirm["key"], card["task_id"], sender=WANG, chat=GROUP)
    await until(lambda: count(wecom.engine, OutboxMessage) >= queued + 2)  # the update and the notice, queued
    await wecom.settle()
    posted = [g for g in wecom.fake.got if g.channel == "send"][sent:]
    assert any("R1 订单系统数据延迟" in json.dumps(p.body, ensure_ascii=False) for p in posted), "posted instead"


async def test_a_refusal_on_a_press_is_shown_to_the_presser_only(wecom: WeComBot) -> None:
    await wecom.new_record(ZHANG, people=PEOPLE)
    request = next(g for g in reversed(wecom.fake.got) if "核对记录内容" in json.dumps(g.body, ensure_ascii=False))
    card = request.body["template_card"]
    (confirm,) = [b for b in card["button_list"] if "|record.confirm|" in b["key"]]
    stale = confirm["key"].replace('"version":1', '"version":9')  # a card older than the record: refused
    await wecom.fake.push_card_event(stale, card["task_id"], sender=ZHAO, chat=GROUP)
    await until(lambda: any(g.channel == "update" for g in wecom.fake.got))
    (update,) = [g for g in wecom.fake.got if g.channel == "update"]
    assert update.userids == [ZHAO], "only the presser's copy of the card changes"


async def test_a_person_opening_the_chat_is_welcomed(wecom: WeComBot) -> None:
    await wecom.fake.push("aibot_event_callback", {"msgid": "m-enter", "aibotid": BOT_ID, "chattype": "single",
                                                   "from": {"userid": LI}, "msgtype": "event",
                                                   "event": {"eventtype": "enter_chat"}})  # fmt: skip
    await until(lambda: any(g.channel == "welcome" for g in wecom.fake.got))
    assert wecom.received() == 0


@pytest.mark.parametrize("errcode", [6000, 45009])
async def test_a_busy_or_throttled_send_is_retried_later(wecom: WeComBot, errcode: int) -> None:
    await wecom.say(ZHANG, "记录列表")  # the group, first seen
    wecom.fake.fail_next("aibot_send_msg", errcode)
    await wecom.new_record(ZHANG, people=PEOPLE)
    with Session(wecom.engine) as session:
        rows = session.exec(select(OutboxMessage)).all()
    assert all(r.status is OutboxStatus.SENT for r in rows) and any(r.attempts == 2 for r in rows)


async def test_a_malformed_callback_is_ignored_and_the_connection_carries_on(wecom: WeComBot, caplog: Any) -> None:
    for body in ({"msgid": "m1", "msgtype": "text", "text": {"content": "@Closeloop 帮助"}},  # from whom?
                 {"msgid": 5, "from": {"userid": ZHANG}, "chattype": "group", "chatid": GROUP, "msgtype": "text"},
                 {"msgid": "m3", "from": {"userid": ZHANG}, "chattype": "group", "chatid": GROUP, "msgtype": "event",
                  "event": {"eventtype": "template_card_event", "template_card_event": {"event_key": "forged",
                                                                                       "task_id": "t1"}}}):  # fmt: skip
        await wecom.fake.push("aibot_msg_callback", body)
    await wecom.say(ZHANG, "记录列表")
    assert wecom.received() == 1 and wecom.fake.subscribes == 1 and len(replies(wecom)) == 1
    assert caplog.text.count("ignored a malformed callback") == 3
