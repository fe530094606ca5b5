"""Real @-mentions through the group's message-push robot: registered by an admin, sealed, paced, and typed text stays text."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from cards import reminders
from cards.model import Card, mentions_in_card
from cards.reminders import ItemLine
from storage.models import Group, OutboxMessage
from storage.outbox import enqueue
from storage.timekeeping import zone
from storage.types import OutboxStatus
from tests.platforms.wecom.bot import WeComBot

from .conftest import GROUP, LI, WANG, ZHANG, ZHAO


def said(bot: WeComBot, channel: str = "respond") -> list[str]:
    return [json.dumps(g.body, ensure_ascii=False) for g in bot.fake.got if g.channel == channel]


def warn(bot: WeComBot, key: str, *, owner: str = WANG, description: str = "审批临时扩容预算") -> None:
    """A deadline warning for ``owner`` queued as the scheduler does it."""
    line = ItemLine("R1-2", 1, 1, description, bot.clock.now() + timedelta(days=2))
    card = reminders.deadline_warning(item=line, owner=owner, recorder=ZHAO, days=2, lang="zh-CN",
                                      zone=zone("Asia/Shanghai"))  # fmt: skip
    with Session(bot.engine) as session:
        enqueue(session, platform="wecom", target=GROUP, card=card, key=key, now=bot.clock.now(),
                names={WANG: "王芳", ZHAO: "赵强"})  # fmt: skip
        session.commit()


def everything_stored(engine: sa.Engine) -> str:
    """Every row of every table, as text: where a secret must not be."""
    with engine.connect() as connection:
        tables = sa.inspect(engine).get_table_names()
        return "\n".join(
            str(row) for table in tables for row in connection.execute(sa.text(f'SELECT * FROM "{table}"'))
        )


async def register(bot: WeComBot, who: str = ZHANG) -> str:
    url = bot.fake.add_robot(GROUP)
    await bot.say(who, f"设置 企微推送 {url}")
    return url


async def test_without_a_push_robot_reminders_name_people_in_bold_and_settings_say_what_is_missing(
    wecom: WeComBot,
) -> None:
    await wecom.say(ZHANG, "设置")
    assert "企微推送（@提醒）" in said(wecom)[-1] and "添加一个“消息推送”机器人" in said(wecom)[-1]
    warn(wecom, "warning-1")
    await wecom.settle()
    (warning,) = said(wecom, "send")
    assert "王芳 任务「审批临时扩容预算」" in warning and "<@" not in warning, "the robot cannot @: names as text"
    assert said(wecom, "robot") == []
    warn(wecom, "warning-2", description="审批" * 80)  # too long for a card: the text goes first, as markdown
    await wecom.settle()
    assert "**王芳** 任务「审批审批" in said(wecom, "send")[-2], "names in bold"


async def test_an_admin_registers_the_push_robot_and_the_key_is_kept_sealed(wecom: WeComBot, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    url = wecom.fake.add_robot(GROUP)
    key = url.rsplit("=", 1)[1]
    await wecom.say(LI, f"设置 企微推送 {url}")
    assert "仅管理员" in said(wecom)[-1] or "管理员" in said(wecom)[-1], "admins only"
    await wecom.say(ZHANG, f"/settings wecom_webhook {url}")
    assert f"…{key[-4:]}" in said(wecom)[-1] and key not in "\n".join(said(wecom))
    with Session(wecom.engine) as session:
        stored = session.exec(select(Group)).one().platform_settings["wecom_webhook"]
    assert stored and key not in stored
    warn(wecom, "warning-1")
    await wecom.settle()
    (ping,) = [g for g in wecom.fake.got if g.channel == "robot"]
    assert ping.body["msgtype"] == "text" and ping.mentions == {WANG, ZHAO}, "really @-mentioned"
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "aiohttp.access")  # (the fake's access log)
    assert key not in everything_stored(wecom.engine) and key not in ours, "never stored nor logged as is"


async def test_a_wrong_address_is_refused_without_being_repeated_and_off_clears_it(wecom: WeComBot) -> None:
    await wecom.say(ZHANG, "设置 企微推送 https://evil.example/cgi-bin/webhook/send?key=secret-key-123")
    assert "“企微推送”的值无效" in said(wecom)[-1] and "secret-key-123" not in said(wecom)[-1]
    await register(wecom)
    await wecom.say(ZHANG, "设置 企微推送 关闭")
    with Session(wecom.engine) as session:
        assert session.exec(select(Group)).one().platform_settings == {}


async def test_twenty_a_minute_the_twenty_first_waits_and_nothing_is_sent_twice(wecom: WeComBot) -> None:
    await register(wecom)
    for number in range(21):
        warn(wecom, f"warning-{number}")
    for _ in range(25):  # the outbox's passes, a second apart: a minute has not passed
        await wecom.gateway.sender.run_once()
        wecom.clock.advance(timedelta(seconds=1))
    assert len(said(wecom, "robot")) == 20 and len(said(wecom, "send")) == 20, "the 21st waits, card and ping"
    await wecom.settle()
    assert len(said(wecom, "robot")) == 21 and len(said(wecom, "send")) == 21
    assert ("webhook/send", 45009) not in wecom.fake.refused_frames, "held back before WeCom had to refuse"


async def test_a_45009_after_the_card_retries_only_the_ping(wecom: WeComBot) -> None:
    url = await register(wecom)
    key = url.rsplit("=", 1)[1]
    wecom.fake._robot_times[key] = [wecom.clock.now()] * 20  # another sender used the robot's minute up
    warn(wecom, "warning-1")
    while not said(wecom, "send"):  # the outbox's passes, a second apart
        await wecom.gateway.sender.run_once()
        wecom.clock.advance(timedelta(seconds=1))
    assert said(wecom, "robot") == [] and ("webhook/send", 45009) in wecom.fake.refused_frames
    await wecom.settle()
    assert len(said(wecom, "send")) == 1 and len(said(wecom, "robot")) == 1, "the card once, the ping after a minute"


async def test_a_removed_push_robot_still_posts_the_reminder(wecom: WeComBot, caplog: Any) -> None:
    url = await register(wecom)
    del wecom.fake.robots[url.rsplit("=", 1)[1]]  # someone removed the robot from the group
    warn(wecom, "warning-1")
    await wecom.settle()
    with Session(wecom.engine) as session:
        row = session.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == "warning-1")).one()
    assert row.status is OutboxStatus.SENT and len(said(wecom, "send")) == 1
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "aiohttp.access")
    assert "errcode 93000" in ours and url.rsplit("=", 1)[1] not in ours


async def test_typed_mentions_stay_text_everywhere(wecom: WeComBot) -> None:
    """``@all`` and ``<@…>`` typed by a person: text in the robot's markdown, in the ping, never a mention."""
    await register(wecom)
    typed = "<@LiuYang> <@all> @all <font color='red'>红</font> **加粗**"
    warn(wecom, "warning-1", description=typed)
    await wecom.say(LI, f"进度 R9-1 {typed}")  # a command's free text (R9 does not exist: the error repeats nothing)
    await wecom.settle()
    pings = [g.mentions for g in wecom.fake.got if g.channel == "robot"]
    assert pings == [{WANG, ZHAO}, {LI}], "the people the cards name (the warning's, and Li Na told of her typo)"
    for got in wecom.fake.got:
        text = json.dumps(got.body, ensure_ascii=False)
        assert "<@" not in text and "<font" not in text, "no tag or mention can open (a zero-width space after <)"
        markdown = (got.body.get("markdown") or got.body.get("stream") or {}).get("content", "")
        assert "**加粗**" not in markdown, "not bold in markdown (a card's plain fields show it as typed)"
    with Session(wecom.engine) as session:
        cards = [Card.load(row.payload["card"]) for row in session.exec(select(OutboxMessage))]
    assert {user for card in cards for user in mentions_in_card(card)} == {WANG, ZHAO, LI}, "typed: never a token"
