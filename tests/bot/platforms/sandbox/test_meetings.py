"""Preparation and the meeting (seed steps 1–2), and escalation for the people it reaches: a prepared record,
the meeting notice and its replies, the reminders before it, and 二次沟通 called by the director."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from storage.models import MeetingReply, Person
from storage.types import AuditAction, RecordStatus

from .conftest import SEED_FORM, SandboxChat, active_record, inputs_of
from .story import audit, button, jump, posted_texts, press, record, submit_of, texts, the_form, titles

PREPARED = {
    "topic": "订单系统数据延迟问题专项沟通", "meeting_start": "11月26日 14:00", "meeting_end": "11月26日 15:30",
    "place": "3楼会议室", "category": "technical",
    "meeting_goal": "确定延迟原因和恢复方案", "meeting_agenda": "1. 现状 2. 各部门意见 3. 解决方案",
    "material_link": "https://wiki.example.com/delay", "participants": SEED_FORM["participants"],
    "problem": "自11月20日起订单系统数据同步延迟约4小时，客服无法查询最新订单状态",
}  # fmt: skip


async def prepare(chat: SandboxChat) -> dict:
    opened = await chat.say("zhangwei", "/record new 订单系统数据延迟问题专项沟通")
    return await press(chat, "zhangwei", submit_of(opened["posted"][-1]["card"]), PREPARED)


async def test_a_record_prepared_before_its_meeting_sends_the_notice_and_collects_replies(chat: SandboxChat) -> None:
    prepared = await prepare(chat)
    assert prepared["toast"] == "R1 已保存（会前准备）；可以发会议通知了"
    assert record(chat).status is RecordStatus.DRAFT and record(chat).meeting_goal == "确定延迟原因和恢复方案"
    # the form turns into a line that says so; the record card is posted below it, once
    assert prepared["update"]["header"]["title"] == "R1 的表单已提交"
    (card,) = [m["card"] for m in prepared["posted"]]
    assert "**会议目标**\n确定延迟原因和恢复方案" in texts(prepared)
    notify = button(card, "meeting.notify")

    sent = await press(chat, "zhangwei", notify)
    assert sent["toast"] == "R1 会议通知已发出"
    (notice,) = [m["card"] for m in sent["posted"]]
    said = texts({"posted": [{"card": notice}]})
    assert notice["header"]["title"] == "会议通知：R1 订单系统数据延迟问题专项沟通"
    assert "<@zhangwei> <@lina> <@wangfang> 请参加 2026-11-26 14:00 的沟通会（3楼会议室）。" in said
    assert "目标：确定延迟原因和恢复方案" in said and "议程：1. 现状 2. 各部门意见 3. 解决方案" in said
    assert "资料：https://wiki.example.com/delay" in said and "提前确认其决策权限" in said
    assert "R1 的这次会议通知已经发过了" in texts(await chat.say("zhangwei", "通知 R1"))

    reply = submit_of(notice)
    answered = await press(chat, "lina", reply, {"attending": "yes", "authority": "both", "note": "带上监控数据"})
    assert answered["toast"] == "已回复 R1 的会议通知"
    roll = texts(answered)
    assert "李娜 参加（决策权和资源权限）：带上监控数据" in roll and "待回复：张伟, 王芳" in roll
    await press(chat, "wangfang", reply, {"attending": "no"})
    assert "不是 R1 的参与人员，无需回复会议通知" in texts(await press(chat, "chenjing", reply, {"attending": "yes"}))
    with Session(chat.engine) as session:
        replies = {r.person_id: r for r in session.exec(select(MeetingReply))}
    assert len(replies) == 2 and {r.meeting_at for r in replies.values()} == {datetime(2026, 11, 26, 6, tzinfo=UTC)}

    eve = await jump(chat, "2026-11-25T10:00+08:00")
    (card,) = [m["card"] for m in eve["posted"]]
    assert card["header"]["title"] == "明日会议：R1 订单系统数据延迟问题专项沟通"
    assert "<@wangfang>" not in card["elements"][0]["text"], "she said she cannot come"
    assert "<@lina>" in card["elements"][0]["text"] and "目标：确定延迟原因和恢复方案" in card["elements"][1]["text"]
    assert titles(await jump(chat, "2026-11-26T12:59+08:00")) == []
    assert titles(await jump(chat, "2026-11-26T13:00+08:00")) == ["会议提醒：R1 订单系统数据延迟问题专项沟通"]
    assert titles(await jump(chat, "2026-11-26T13:30+08:00")) == [], "each reminder once"


async def test_after_the_meeting_the_prepared_record_is_completed_and_submitted(chat: SandboxChat) -> None:
    await prepare(chat)
    chat.clock.set(datetime.fromisoformat("2026-11-26T15:40+08:00"))
    form = the_form(await chat.say("zhangwei", "/record edit R1"))
    assert submit_of(form)["action"] == "record.submit", "a prepared record's form asks for sign-off"
    values = {**PREPARED, "items": SEED_FORM["items"][2:], "key_points": SEED_FORM["key_points"]}
    answer = await press(chat, "zhangwei", submit_of(form), values)
    assert answer["toast"] == "R1 已提交，等待参与人确认"
    assert record(chat).status is RecordStatus.CONFIRMING


async def test_a_notice_needs_a_meeting_ahead(chat: SandboxChat) -> None:
    await active_record(chat)
    chat.clock.set(datetime.fromisoformat("2026-12-02T09:00+08:00"))  # both meetings are past
    assert "R1 没有待召开的会议" in texts(await chat.say("zhangwei", "/record notify R1"))
    assert "只有 R1 的记录人、参与人员或管理员可以发会议通知" in texts(await chat.say("chenjing", "通知 R1"))


# ---------------------------------------------------------------- escalation for the people it reaches


async def test_the_director_called_in_by_the_ladder_calls_the_second_meeting(chat: SandboxChat) -> None:
    await active_record(chat)
    step2 = await jump(chat, "2026-12-01T10:00+08:00")
    card = next(m["card"] for m in step2["posted"] if m["card"]["header"]["title"].startswith("逾期升级：R1-2"))
    second = button(card, "record.second_meeting")
    assert "只有 R1 的记录人、参与人员或管理员可以升级" in texts(await press(chat, "chenjing", second))
    pressed = await press(chat, "liuyang", second)  # 刘洋: director, on the cc list, not a participant
    (notice,) = [m["card"] for m in pressed["posted"]]
    assert "<@liuyang> 发起二次沟通：请 <@zhangwei> <@lina> <@wangfang> 参加" in notice["elements"][0]["text"]
    form = the_form(await press(chat, "liuyang", button(notice, "meeting.form_open")))
    assert next(i for s in form["elements"][0]["sections"] for i in s["inputs"] if i["name"] == "meeting_goal")[
        "value"] == "二次沟通：逾期任务的原因和新的完成时间"  # fmt: skip
    scheduled = await press(chat, "liuyang", submit_of(form), {"at": "12月3日 10:00", "meeting_goal": "逾期原因和新时间",
                                                               "meeting_agenda": "R1-2 预算审批卡在哪里"})  # fmt: skip
    assert scheduled["toast"] == "R1 会议通知已发出"
    said = posted_texts(scheduled)
    assert "请参加 2026-12-03 10:00 的沟通会" in said and "议程：R1-2 预算审批卡在哪里" in said
    assert record(chat).next_meeting_at == datetime(2026, 12, 3, 2, tzinfo=UTC)
    assert len(audit(chat, AuditAction.MEETING_SCHEDULED)) == 1


@pytest.mark.parametrize("text", ["/escalate R1-2 预算卡住", "升级 R1-2 预算卡住"])
async def test_the_people_escalation_reaches_may_escalate_others_may_not(chat: SandboxChat, text: str) -> None:
    await active_record(chat)
    assert "只有 R1 的记录人、参与人员或管理员可以升级" in texts(await chat.say("chenjing", text))
    answer = await chat.say("liuyang", text)  # 刘洋: director of 财务部, on the cc list
    assert (
        "<@liuyang> 将 R1-2「订单系统数据延迟问题专项沟通」升级给 <@wangfang> <@liuyang>。原因：预算卡住"
        in posted_texts(answer)
    )
    assert button(answer["posted"][-1]["card"], "record.second_meeting")["label"] == "发起二次沟通"
    assert len(audit(chat, AuditAction.ESCALATED)) == 1


async def test_when_the_owner_is_the_lead_the_first_step_goes_to_the_director(chat: SandboxChat) -> None:
    await active_record(chat)  # 王芳 owns R1-2 and leads 财务部; 刘洋 is its director
    overdue = await jump(chat, "2026-11-27T10:00+08:00")
    card = next(m["card"] for m in overdue["posted"] if m["card"]["header"]["title"] == "已逾期：R1-2，记录转为已延期")
    text = card["elements"][0]["text"]
    assert text.count("<@wangfang>") == 1 and "<@liuyang> 请关注并协调" in text


async def test_the_recorder_is_a_field_that_starts_with_whoever_opens_the_record(chat: SandboxChat) -> None:
    opened = (await chat.say("lina", "/record new 订单系统数据延迟"))["posted"][-1]["card"]
    assert inputs_of(opened)["recorder"]["values"] == ["lina"]
    coordinator = {**SEED_FORM, "recorder": ["chenjing"]}  # a neutral coordinator keeps the record
    assert (await press(chat, "lina", submit_of(opened), coordinator))["toast"] == "R1 已提交，等待参与人确认"
    with Session(chat.engine) as session:
        assert session.get(Person, record(chat).recorder_id).user_id == "chenjing"
    assert "只有记录人或管理员可以对 R1 执行“撤回”" in texts(await chat.say("lina", "撤回 R1"))
    assert "R1 已撤回" in texts(await chat.say("chenjing", "撤回 R1 换一个主题重新记"))
