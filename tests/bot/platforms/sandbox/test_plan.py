"""Changing the plan from the chat: a new deadline, another owner, a cancellation, a rewrite, a snooze —
each announced with old → new, refused to the wrong person, and followed by the scheduler."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session, select

from storage.models import ActionItem, AuditEntry, Department, Participant, Person
from storage.types import AuditAction, ItemStatus, RecordStatus

from .conftest import SEED_FORM, SandboxChat, active_record, open_and_submit
from .story import audit, button, field_errors, jump, posted_texts, press, record, submit_of, texts, the_form, titles


def item(chat: SandboxChat, seq: int) -> ActionItem:
    with Session(chat.engine) as session:
        return session.exec(select(ActionItem).where(ActionItem.seq == seq)).one()


# ---------------------------------------------------------------- 改期


@pytest.mark.parametrize("text", ["改期 R1-2 12月4日 供应商延期到货", "/action due R1-2 2026-12-04 供应商延期到货"])
async def test_a_new_deadline_is_announced_and_warned_about_once_at_its_new_date(chat: SandboxChat, text: str) -> None:
    await active_record(chat)  # R1-2 (王芳) due 26 Nov 18:00: warned on 24 Nov at 10:00
    answer = await chat.say("wangfang", text)
    said = posted_texts(answer)
    assert titles(answer) == ["R1-2 改期"]
    assert "<@wangfang> 将 R1-2「审批临时扩容预算5000元」的完成时限由 2026-11-26 18:00 改为 2026-12-04。" in said
    assert "原因：供应商延期到货。" in said
    assert item(chat, 2).due_at == datetime(2026, 12, 4, 15, 59, tzinfo=UTC)
    (entry,) = audit(chat, AuditAction.ITEM_RESCHEDULED)
    assert entry.detail["reason"] == "供应商延期到货" and entry.detail["old"].startswith("2026-11-26T10:00")

    warned = await jump(chat, "2026-11-24T10:00+08:00")
    assert not any("R1-2" in t for t in titles(warned)), "the old date is not warned about"
    assert not any("R1-2" in t for t in titles(await jump(chat, "2026-11-27T10:00+08:00"))), "nor is it overdue"
    about = [t for t in titles(await jump(chat, "2026-12-02T10:00+08:00")) if "R1-2" in t]
    assert about == ["到期预警：R1-2 将于 2026-12-04 到期"]
    assert [t for t in titles(await jump(chat, "2026-12-02T10:05+08:00")) if "R1-2" in t] == [], "once"


async def test_a_record_delayed_only_by_this_item_is_in_progress_again(chat: SandboxChat) -> None:
    await active_record(chat)
    overdue = await jump(chat, "2026-11-27T10:00+08:00")  # R1-2 missed 26 Nov 18:00
    assert "已逾期：R1-2，记录转为已延期" in titles(overdue)
    assert record(chat).status is RecordStatus.DELAYED
    chat.clock.set(datetime.fromisoformat("2026-11-27T11:00+08:00"))
    answer = await chat.say("zhangwei", "改期 R1-2 12月1日 预算流程需要会签")
    assert "R1-2 改期" in titles(answer)
    assert record(chat).status is RecordStatus.IN_PROGRESS
    # the warning day of 1 Dec is Friday 27 Nov (the weekend before it is off): still today, within the window
    assert "到期预警：R1-2 将于 2026-12-01 到期" in titles(await jump(chat, "2026-11-27T11:30+08:00"))


@pytest.mark.parametrize(("user", "text", "expected"), [
    ("zhaoqiang", "改期 R1-2 12月4日 帮忙改一下", "只有 R1-2 的责任人、记录人或管理员可以改期"),
    ("wangfang", "改期 R1-2 2026-11-20 补录", "完成时限不能早于现在"),
    ("wangfang", "改期 R1-2 11月26日 18:00 没变", "新的完成时限与原来相同"),
    ("wangfang", "改期 R1-2 下下周八 原因", "无法识别的日期“下下周八"),
    ("wangfang", "改期 R1-2", "缺少日期"),
])  # fmt: skip
async def test_a_new_deadline_is_refused_when_it_should_be(chat: SandboxChat, user: str, text: str,
                                                           expected: str) -> None:  # fmt: skip
    await active_record(chat)
    assert expected in texts(await chat.say(user, text))
    assert item(chat, 2).due_at == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert audit(chat, AuditAction.ITEM_RESCHEDULED) == []


async def test_the_record_card_and_the_overdue_notice_carry_the_buttons(chat: SandboxChat) -> None:
    await active_record(chat)
    shown = (await chat.say("zhangwei", "/record show R1"))["posted"][-1]["card"]
    r12 = item(chat, 2)
    due = button(shown, "item.due_open", item_id=r12.id)
    assert [b["label"] for b in shown["elements"] if b["kind"] == "actions" for b in b["buttons"]][:4] == [
        "改期", "转交", "取消", "编辑"]  # fmt: skip
    form = the_form(await press(chat, "wangfang", due))
    assert form["header"]["title"] == "R1-2 改期"
    moved = await press(chat, "wangfang", submit_of(form), {"due": "12月3日 18:00", "reason": "财务系统升级"})
    assert "由 2026-11-26 18:00 改为 2026-12-03 18:00" in posted_texts(moved) and moved["toast"] == "R1-2 改期"
    again = await press(chat, "wangfang", submit_of(form), {"due": "12月3日 18:00", "reason": "财务系统升级"})
    assert again["toast"] == "已经提交过了，见 R1-2" and again["posted"] == [], "a second press stores nothing"

    overdue = await jump(chat, "2026-11-30T10:00+08:00")  # R1-1 (李娜) missed Friday 27 Nov
    notice = next(m["card"] for m in overdue["posted"] if m["card"]["header"]["title"].startswith("已逾期：R1-1"))
    r11 = item(chat, 1)
    assert {b["action"] for b in notice["elements"][2]["buttons"]} == {"item.due_open", "item.owner_open",
                                                                        "item.cancel_open"}  # fmt: skip
    cancel = the_form(await press(chat, "zhangwei", button(notice, "item.cancel_open", item_id=r11.id)))
    empty = await press(chat, "zhangwei", submit_of(cancel), {"reason": ""})
    assert field_errors(empty["update"]) == {"reason": "请填写“原因”。"} and empty["posted"] == []
    assert item(chat, 1).status is ItemStatus.OPEN
    done = await press(chat, "zhangwei", submit_of(cancel), {"reason": "并入 R1-3 一起做"})
    assert "R1-1 已取消" in titles(done) and item(chat, 1).status is ItemStatus.CANCELLED


# ---------------------------------------------------------------- 转交


def participant_elsewhere() -> dict:
    """The seed form with 陈静 (of 运营部) taking part for 技术部."""
    form = copy.deepcopy(SEED_FORM)
    form["participants"].append({"person": "chenjing", "department": "技术部", "authority": "none"})
    return form


@pytest.mark.parametrize("text", ["转交 R1-1 @陈静 李娜出差", "/action owner R1-1 @chenjing 李娜出差"])
async def test_reassigning_mentions_both_and_the_department_follows_the_record(chat: SandboxChat, text: str) -> None:
    opened = await chat.say("zhangwei", "/record new 订单系统数据延迟问题专项沟通")
    form = opened["posted"][-1]["card"]
    await press(chat, "zhangwei", submit_of(form), participant_elsewhere())
    answer = await chat.say("lina", text)
    said = posted_texts(answer)
    assert "<@lina> 将 R1-1「优化同步脚本为多线程」由 <@lina> 转交给 <@chenjing>，原因：李娜出差。" in said
    with Session(chat.engine) as session:
        moved = session.exec(select(ActionItem).where(ActionItem.seq == 1)).one()
        owner = session.get(Person, moved.owner_id)
        department = session.get(Department, moved.department_id)
        home = session.get(Department, owner.department_id)
        assert (owner.user_id, department.name, home.name) == ("chenjing", "技术部", "运营部")
    (entry,) = audit(chat, AuditAction.ITEM_REASSIGNED)
    assert entry.detail["reason"] == "李娜出差"


async def test_someone_else_cannot_reassign_and_a_mention_is_needed(chat: SandboxChat) -> None:
    await active_record(chat)
    assert "只有 R1-1 的责任人、记录人或管理员可以转交" in texts(await chat.say("chenjing", "转交 R1-1 @陈静"))
    assert "需要 @ 一个人" in texts(await chat.say("lina", "转交 R1-1 陈静"))
    assert "已经是这项任务的责任人" in texts(await chat.say("lina", "转交 R1-1 @李娜"))
    assert audit(chat, AuditAction.ITEM_REASSIGNED) == []


# ---------------------------------------------------------------- 取消


@pytest.mark.parametrize("text", ["取消 R1-3 改由运维统一建设监控", "/action cancel R1-3 改由运维统一建设监控"])
async def test_a_cancelled_item_is_never_prompted_again(chat: SandboxChat, text: str) -> None:
    await active_record(chat)
    assert "只有 R1-3 的责任人、记录人或管理员可以取消任务" in texts(await chat.say("lina", text))
    answer = await chat.say("zhangwei", text)
    assert (
        "<@zhangwei> 取消了 R1-3「建立延迟监控告警」（责任人 <@zhaoqiang>）。原因：改由运维统一建设监控"
        in posted_texts(answer)
    )
    assert (item(chat, 3).status, item(chat, 3).cancel_reason) == (ItemStatus.CANCELLED, "改由运维统一建设监控")
    prompt = await jump(chat, "2026-11-24T17:30+08:00")
    (card,) = [m["card"] for m in prompt["posted"]]
    assert "<@zhaoqiang>" not in card["elements"][0]["text"] and "R1-3" not in card["elements"][0]["text"]
    late = await jump(chat, "2026-12-14T10:00+08:00")  # long past 10 Dec: the ladder does not know R1-3 any more
    assert not any("R1-3" in t for t in titles(late))
    shown = texts(await chat.say("lina", "/record show R1"))
    assert "R1-3** 建立延迟监控告警" in shown and "（已取消：改由运维统一建设监控）" in shown


async def test_an_owner_cancels_their_own_item_and_the_recorder_signs_again(chat: SandboxChat) -> None:
    await active_record(chat)
    answer = await chat.say("zhaoqiang", "取消 R1-3 改由运维统一建设监控")
    assert titles(answer) == ["R1-3 已取消"] and item(chat, 3).status is ItemStatus.CANCELLED
    # a task is not dropped by its owner alone: the recorder is asked to confirm the record again
    assert "<@zhangwei> 请重新确认修改后的内容。" in posted_texts(answer)
    with Session(chat.engine) as session:
        signed = {p.person_id: p.confirmed_at for p in session.exec(select(Participant))}
        names = {p.id: p.user_id for p in session.exec(select(Person))}
    assert {names[k] for k, at in signed.items() if at is None} == {"zhangwei"}


# ---------------------------------------------------------------- 编辑任务


@pytest.mark.parametrize("text", ["编辑任务 R1-1", "/action edit R1-1"])
async def test_an_item_is_rewritten_with_its_form_and_its_owner_signs_again(chat: SandboxChat, text: str) -> None:
    await active_record(chat)
    form = the_form(await chat.say("lina", text))
    assert form["header"]["title"] == "编辑 R1-1"
    values = {"description": "同步脚本改为8线程并发", "owner": "lina", "due": "11月27日", "measure": "延迟≤1小时",
              "term": "short", "resources": "两台临时服务器"}  # fmt: skip
    answer = await press(chat, "zhangwei", submit_of(form), values)
    said = posted_texts(answer)
    assert "R1-1 已修改" in titles(answer)
    assert (
        "R1-1 任务内容：优化同步脚本为多线程 → 同步脚本改为8线程并发；R1-1 衡量标准：延迟≤1.5小时 → 延迟≤1小时" in said
    )
    assert "R1-1 所需资源：— → 两台临时服务器" in said and "<@lina> 请重新确认修改后的内容。" in said
    with Session(chat.engine) as session:
        edited = session.exec(select(ActionItem).where(ActionItem.seq == 1)).one()
        assert (edited.measure, edited.resources) == ("延迟≤1小时", "两台临时服务器")
        lina = session.exec(select(Person).where(Person.user_id == "lina")).one()
        row = session.exec(select(Participant).where(Participant.person_id == lina.id)).one()
        assert row.confirmed_at is None, "李娜 signs the rewritten item again"
    confirm = button(answer["posted"][-1]["card"], "record.confirm")
    assert (await press(chat, "lina", confirm))["toast"] == "已确认 R1"


# ---------------------------------------------------------------- 暂缓


@pytest.mark.parametrize("text", ["暂缓 R1-3 11月27日 出差参加展会", "/snooze R1-3 2026-11-27 出差参加展会"])
async def test_a_snoozed_item_skips_the_daily_prompt_and_comes_back(chat: SandboxChat, text: str) -> None:
    await active_record(chat)
    answer = await chat.say("zhaoqiang", text)
    said = posted_texts(answer)
    assert "<@zhaoqiang> 暂缓了 R1-3「建立延迟监控告警」的每日汇报提醒，至 2026-11-27（含）" in said
    assert "<@zhangwei> 请知悉；到期预警和逾期提醒照常。" in said, "the recorder is told"
    assert item(chat, 3).snoozed_until == date(2026, 11, 27)
    for day in ("2026-11-24", "2026-11-27"):
        (card,) = [
            m["card"]
            for m in (await jump(chat, f"{day}T17:30+08:00"))["posted"]
            if "汇报进度" in m["card"]["header"]["title"]
        ]
        assert "<@zhaoqiang>" not in card["elements"][0]["text"], day
    (card,) = [
        m["card"]
        for m in (await jump(chat, "2026-11-30T17:30+08:00"))["posted"]
        if "汇报进度" in m["card"]["header"]["title"]
    ]
    assert "<@zhaoqiang>：R1-3" in card["elements"][0]["text"], "back after the snooze"
    shown = texts(await chat.say("zhangwei", "/record show R1"))
    assert "每日提醒暂缓至 2026-11-27" in shown


async def test_a_snooze_never_hides_the_deadline_warning(chat: SandboxChat) -> None:
    await active_record(chat)
    await chat.say("wangfang", "暂缓 R1-2 11月26日 在外培训")
    warned = await jump(chat, "2026-11-24T10:00+08:00")
    assert titles(warned) == ["到期预警：R1-2 将于 2026-11-26 18:00 到期"]


@pytest.mark.parametrize(("text", "expected"), [
    ("暂缓 R1-2 11月27日 出差", "暂缓不能超过完成时限"),
    ("暂缓 R1-3 12月8日 出差", "暂缓最多 5 个工作日（这次是 11 个）"),
    ("暂缓 R1-3 2026-11-20 出差", "已经过去了"),
    ("暂缓 R1-3 11月27日", "请填写“原因”"),
])  # fmt: skip
async def test_a_snooze_past_the_deadline_too_long_or_in_the_past_is_refused(chat: SandboxChat, text: str,
                                                                            expected: str) -> None:  # fmt: skip
    await active_record(chat)
    user = "wangfang" if "R1-2" in text else "zhaoqiang"
    assert expected in texts(await chat.say(user, text))
    assert item(chat, 2).snoozed_until is None and item(chat, 3).snoozed_until is None


async def test_changing_the_plan_of_a_closed_record_is_refused(chat: SandboxChat) -> None:
    await active_record(chat)
    for ref, owner in (("R1-1", "lina"), ("R1-2", "wangfang"), ("R1-3", "zhaoqiang")):
        await chat.say(owner, f"/action done {ref} 已上线，延迟降到1小时")
    await chat.say("zhangwei", "/record close R1 11月30日监控显示延迟≤1.5小时")
    for text in ("改期 R1-1 12月4日 x", "取消 R1-1 x", "转交 R1-1 @陈静", "暂缓 R1-1 12月1日 x"):
        assert "不能" in texts(await chat.say("zhangwei", text)), text
    assert record(chat).status is RecordStatus.CLOSED


async def test_an_item_added_to_a_submitted_record_takes_its_owners_department_in_the_record(chat: SandboxChat) -> None:
    opened = await chat.say("zhangwei", "/record new 订单系统数据延迟问题专项沟通")
    await press(chat, "zhangwei", submit_of(opened["posted"][-1]["card"]), participant_elsewhere())
    form = the_form(await chat.say("zhangwei", "新增任务 R1"))
    await press(chat, "zhangwei", submit_of(form),
                {"description": "补充压测报告", "owner": "chenjing", "due": "12月5日", "measure": "TPS≥500"})  # fmt: skip
    with Session(chat.engine) as session:
        added = session.exec(select(ActionItem).where(ActionItem.seq == 4)).one()
        assert session.get(Department, added.department_id).name == "技术部", "not her own 运营部"
        entries = session.exec(select(AuditEntry).where(AuditEntry.action == AuditAction.ITEM_ADDED)).all()
        assert len(entries) == 4


async def test_open_and_submit_is_unchanged_by_all_this(chat: SandboxChat) -> None:
    answer, stored = await open_and_submit(chat)
    assert stored.status is RecordStatus.CONFIRMING and "R1 已提交" in answer["toast"]
