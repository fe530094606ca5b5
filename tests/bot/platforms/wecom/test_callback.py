"""The callback URL (``GET|POST /wecom/events``), with WeCom's side played by wechatpy's crypto."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import Session, select

from storage.models import InboundEvent, OutboxMessage, ProcessedEvent, Record
from storage.types import OutboxStatus
from tests.platforms.wecom.bot import WeComBot, count
from tests.platforms.wecom.peer import card_event, message

from .conftest import GROUP, LI, WANG, ZHANG, ZHAO

PEOPLE = {"zhang": ZHANG, "li": LI, "wang": WANG, "zhao": ZHAO, "liu": "LiuYang"}


def rows(bot: WeComBot) -> tuple[int, ...]:
    return tuple(count(bot.engine, model) for model in (InboundEvent, ProcessedEvent, OutboxMessage, Record))


async def test_url_verification_answers_the_plaintext_and_nothing_else(wecom: WeComBot) -> None:
    status, text = await wecom.peer.verify_url("1616140317555161061")
    assert (status, text) == (200, "1616140317555161061"), "no quotes, no BOM, no line break"
    assert (await wecom.peer.verify_url(token="not-our-token"))[0] == 401
    old = int((wecom.clock.now() - timedelta(minutes=6)).timestamp())
    assert (await wecom.peer.verify_url(timestamp=old))[0] == 401


async def test_forged_stale_and_undecryptable_callbacks_change_nothing(wecom: WeComBot) -> None:
    body = message("@Closeloop /record new 伪造", sender=ZHANG, chat=GROUP)
    before = rows(wecom)
    assert (await wecom.peer.send(body, token="not-our-token"))[0] == 401
    stale = int((wecom.clock.now() - timedelta(minutes=6)).timestamp())
    assert (await wecom.peer.send(body, timestamp=stale))[0] == 401
    future = int((wecom.clock.now() + timedelta(minutes=6)).timestamp())
    assert (await wecom.peer.send(body, timestamp=future))[0] == 401
    assert (await wecom.peer.send(body, aes_key="b" * 43))[0] == 400, "signed with our token, another key"
    await wecom.settle()
    assert rows(wecom) == before


async def test_a_message_is_acknowledged_once_stored_and_a_redelivery_is_handled_once(callback_only: WeComBot) -> None:
    bot = callback_only
    body = message("@Closeloop 记录列表", sender=ZHANG, chat=GROUP, response_url=bot.fake.response_url(GROUP),
                   msgid="msg-1")  # fmt: skip
    status, answer = await bot.peer.send(body)
    assert (status, answer) == (200, "") and count(bot.engine, InboundEvent) == 1, "stored, then an empty 200"
    await bot.settle()
    assert (await bot.peer.send(body)) == (200, "")  # WeCom did not get our answer in time and sends it again
    await bot.settle()
    (reply,) = [g for g in bot.fake.got if g.channel == "response_url"]
    assert "没有符合条件的记录" in reply.body["markdown"]["content"]
    assert count(bot.engine, ProcessedEvent) == 1 and count(bot.engine, OutboxMessage) == 1


async def test_a_press_is_answered_with_the_updated_card_encrypted(wecom: WeComBot) -> None:
    await wecom.new_record(ZHANG, people=PEOPLE)
    request = next(g for g in reversed(wecom.fake.got) if "核对记录内容" in json.dumps(g.body, ensure_ascii=False))
    card = request.body["template_card"]
    (confirm,) = [b for b in card["button_list"] if "|record.confirm|" in b["key"]]
    press = card_event(confirm["key"], card["task_id"], sender=LI, chat=GROUP, msgid="press-1")
    status, answer = await wecom.peer.send(press)
    update = wecom.peer.opened(answer)
    assert status == 200 and update["response_type"] == "update_template_card" and "userids" not in update
    assert update["template_card"]["task_id"] == card["task_id"], "the pressed card, replaced for everyone"
    assert update["template_card"]["sub_title_text"].startswith("已确认 R1"), "what the press did"
    assert {"type": 3, "keyname": "操作人", "userid": LI} in update["template_card"]["horizontal_content_list"]
    again, answer = await wecom.peer.send(press)
    assert (again, answer) == (200, ""), "a redelivered press changes nothing and shows nothing new"


async def test_in_callback_mode_each_message_is_answered_through_its_response_url(callback_only: WeComBot) -> None:
    bot = callback_only
    for who, text in ((ZHANG, "记录列表"), (LI, "新建记录 订单延迟")):
        await bot.peer.send(message(f"@Closeloop {text}", sender=who, chat=GROUP,
                                    response_url=bot.fake.response_url(GROUP)))  # fmt: skip
        await bot.settle()
    assert [g.channel for g in bot.fake.got] == ["response_url", "response_url"]
    link = bot.fake.got[-1].body["template_card"]
    assert link["card_type"] == "text_notice" and "/f/" in link["card_action"]["url"], "the form opens as a web page"


def queue_reminder(bot: WeComBot, key: str) -> None:
    """What the scheduler does: a warning that names its owner, queued for the group."""
    from cards import reminders
    from cards.reminders import ItemLine
    from storage.outbox import enqueue
    from storage.timekeeping import zone

    line = ItemLine("R1-2", 1, 1, "审批临时扩容预算**5000**元", bot.clock.now() + timedelta(days=2))
    card = reminders.deadline_warning(item=line, owner=WANG, recorder=ZHAO, days=2, lang="zh-CN",
                                      zone=zone("Asia/Shanghai"))  # fmt: skip
    with Session(bot.engine) as session:
        enqueue(session, platform="wecom", target=GROUP, card=card, key=key, now=bot.clock.now(),
                names={WANG: "王芳", ZHAO: "赵强"})  # fmt: skip
        session.commit()


async def test_in_callback_mode_reminders_go_through_the_push_robot_with_real_mentions(callback_only: WeComBot) -> None:
    bot = callback_only
    await bot.peer.send(
        message("@Closeloop 记录列表", sender=ZHANG, chat=GROUP, response_url=bot.fake.response_url(GROUP))
    )
    await bot.settle()
    queue_reminder(bot, "warning-without-robot")
    await bot.settle()
    with Session(bot.engine) as session:
        dead = session.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == "warning-without-robot")).one()
    assert dead.status is OutboxStatus.DEAD and "wecom_webhook" in (dead.last_error or ""), "said why, not retried"

    url = bot.fake.add_robot(GROUP)
    await bot.peer.send(message(f"@Closeloop 设置 企微推送 {url}", sender=ZHANG, chat=GROUP,
                                response_url=bot.fake.response_url(GROUP)))  # fmt: skip
    await bot.settle()
    queue_reminder(bot, "warning-with-robot")
    await bot.settle()
    assert [g.channel for g in bot.fake.got] == ["response_url", "response_url", "robot"]
    pushed = bot.fake.got[-1]
    content = pushed.body["markdown"]["content"]
    assert pushed.body["msgtype"] == "markdown" and pushed.mentions == {WANG, ZHAO}, "@ inline, as <@userid>"
    assert "\\*\\*5000\\*\\*" in content and "**5000**" not in content, "typed text stays text"
