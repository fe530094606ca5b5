"""Reopen, withdraw, roll-call and history, in both languages, with their refusals and what the scheduler does after."""

from __future__ import annotations

from datetime import datetime

import pytest

from storage.types import AuditAction, RecordStatus

from .conftest import SandboxChat, active_record, open_and_submit
from .story import audit, button, jump, posted_texts, press, record, submit_of, texts, the_form, titles


async def close_it(chat: SandboxChat) -> None:
    for ref, owner in (("R1-1", "lina"), ("R1-2", "wangfang"), ("R1-3", "zhaoqiang")):
        await chat.say(owner, f"/action done {ref} 已上线，延迟降到1小时")
    await chat.say("zhangwei", "/record close R1 11月30日监控显示延迟≤1.5小时，投诉下降15%")
    assert record(chat).status is RecordStatus.CLOSED


# ---------------------------------------------------------------- reopen


@pytest.mark.parametrize("text", ["重新打开 R1 12月又出现延迟", "/record reopen R1 12月又出现延迟"])
async def test_a_closed_record_is_reopened_by_its_recorder_with_a_reason(chat: SandboxChat, text: str) -> None:
    await active_record(chat)
    await close_it(chat)
    assert "只有记录人或管理员可以对 R1 执行“重新打开”" in texts(await chat.say("lina", text))
    assert "缺少原因" in texts(await chat.say("zhangwei", "重新打开 R1"))
    answer = await chat.say("zhangwei", text)
    said = posted_texts(answer)
    assert titles(answer) == ["R1 重新打开"]
    assert "原因：12月又出现延迟。上次的验证结果：11月30日监控显示延迟≤1.5小时，投诉下降15%" in said
    stored = record(chat)
    assert (stored.status, stored.verification, stored.closed_at) == (RecordStatus.IN_PROGRESS, None, None)
    (entry,) = audit(chat, AuditAction.RECORD_REOPENED)
    assert entry.detail["reason"] == "12月又出现延迟"
    assert "不能重新打开" in texts(await chat.say("zhangwei", text)), "an open record is not reopened"


async def test_the_closed_cards_reopen_button_asks_for_the_reason(chat: SandboxChat) -> None:
    await active_record(chat)
    await close_it(chat)
    card = (await chat.say("lina", "/record show R1"))["posted"][-1]["card"]
    form = the_form(await press(chat, "zhangwei", button(card, "record.reopen_open")))
    answer = await press(chat, "zhangwei", submit_of(form), {"reason": "客户再次投诉"})
    assert "R1 重新打开" in titles(answer) and record(chat).status is RecordStatus.IN_PROGRESS


# ---------------------------------------------------------------- withdraw


@pytest.mark.parametrize("text", ["撤回 R1 与 R2 重复", "/record withdraw R1 与 R2 重复"])
async def test_a_record_never_activated_is_withdrawn_and_leaves_lists_and_reminders(chat: SandboxChat,
                                                                                     text: str) -> None:  # fmt: skip
    await open_and_submit(chat)
    assert "只有记录人或管理员可以对 R1 执行“撤回”" in texts(await chat.say("lina", text))
    answer = await chat.say("zhangwei", text)
    assert titles(answer) == ["R1 已撤回"] and "与 R2 重复" in posted_texts(answer)
    assert record(chat).status is RecordStatus.WITHDRAWN
    assert "没有符合条件的记录" in texts(await chat.say("lina", "记录列表"))
    assert "没有符合条件的记录" in texts(await chat.say("lina", "/record list mine"))
    later = await jump(chat, "2026-11-25T16:00+08:00")  # half a workday on, and past two deadlines
    assert later["posted"] == [], "no sign-off reminder, no warning, no prompt"
    (entry,) = audit(chat, AuditAction.RECORD_WITHDRAWN)
    assert (entry.detail["reason"], entry.detail["previous"]) == ("与 R2 重复", "confirming")
    assert "已撤回" in texts(await chat.say("zhangwei", "/record show R1")), "still there to look at"


async def test_an_active_record_cannot_be_withdrawn(chat: SandboxChat) -> None:
    await active_record(chat)
    assert "当前状态为“进行中”，不能撤回" in texts(await chat.say("zhangwei", "撤回 R1"))
    assert record(chat).status is RecordStatus.IN_PROGRESS


# ---------------------------------------------------------------- roll-call


@pytest.mark.parametrize("text", ["催办 R1", "/remind R1"])
async def test_roll_call_before_activation_reminds_only_who_has_not_confirmed(chat: SandboxChat, text: str) -> None:
    answer, _ = await open_and_submit(chat)
    confirm = button(answer["posted"][-1]["card"], "record.confirm")
    await press(chat, "lina", confirm)
    assert "只有记录人或管理员可以对 R1 执行“催办”" in texts(await chat.say("lina", text))
    reminded = await chat.say("zhangwei", text)
    said = posted_texts(reminded)
    assert "<@zhangwei> 提醒：<@zhangwei> <@wangfang> 请核对 R1「订单系统数据延迟问题专项沟通」" in said
    assert "<@lina>" not in said
    assert (await press(chat, "wangfang", button(reminded["posted"][-1]["card"], "record.confirm")))[
        "toast"
    ] == "已确认 R1"


async def test_roll_call_on_an_active_record_reminds_only_who_has_not_reported_today(chat: SandboxChat) -> None:
    await active_record(chat)
    await chat.say("lina", "/progress R1-1 多线程改造完成一半 50%")
    await chat.say("zhaoqiang", "暂缓 R1-3 11月27日 出差")
    said = posted_texts(await chat.say("zhangwei", "/remind R1"))
    assert "<@wangfang>：R1-2 审批临时扩容预算5000元" in said
    assert "<@lina>" not in said and "<@zhaoqiang>" not in said, "reported today / snoozed"
    assert "/progress R1-2" in said
    chat.clock.set(datetime.fromisoformat("2026-11-25T09:00+08:00"))
    said = posted_texts(await chat.say("zhangwei", "催办 R1"))
    assert "<@lina>：R1-1" in said, "a new day"


# ---------------------------------------------------------------- history


@pytest.mark.parametrize(
    ("text", "title"), [("历史 R1", "R1 的修改历史（第 1/"), ("/record history R1", "R1 的修改历史")]
)
async def test_history_says_who_changed_what_and_when(chat: SandboxChat, text: str, title: str) -> None:
    await active_record(chat)
    await chat.say("wangfang", "改期 R1-2 12月4日 供应商延期到货")
    await chat.say("lina", "转交 R1-1 @赵强 出差")
    answer = await chat.say("lina", text)
    card = answer["posted"][-1]["card"]
    assert card["header"]["title"].startswith(title)
    history = card["elements"][0]["text"]
    first, second = history.splitlines()[:2]
    assert first.startswith("- 2026-11-24 09:00 李娜：R1-1 责任人 李娜 → 赵强，原因：出差")
    assert second.startswith(
        "- 2026-11-24 09:00 王芳：R1-2 完成时限 2026-11-26 18:00 → 2026-12-04 23:59，原因：供应商延期到货"
    )
    assert "<@" not in history, "reading the history pings nobody"
    following = button(card, "record.history", extra={"page": "2"})
    older = await press(chat, "lina", following)
    assert older["update"]["header"]["title"].startswith("R1 的修改历史（第 2/")
    assert "张伟：新建记录「订单系统数据延迟问题专项沟通」" in texts(await chat.say("lina", "历史 R1 9"))


async def test_history_in_english(chat: SandboxChat) -> None:
    await active_record(chat)
    await chat.say("zhangwei", "/settings language en")
    await chat.say("wangfang", "/action due R1-2 2026-12-04 vendor late")
    said = texts(await chat.say("lina", "/record history R1"))
    assert "History of R1" in said and "王芳: moved R1-2 from 2026-11-26 18:00 to 2026-12-04 23:59: vendor late" in said


async def test_history_names_the_ladders_steps(chat: SandboxChat) -> None:
    await active_record(chat)
    await jump(chat, "2026-11-27T10:00+08:00")  # R1-2 missed 26 Nov: step 1, and the record is delayed
    said = texts(await chat.say("zhangwei", "历史 R1"))
    assert "机器人：升级 R1-2（逾期提醒第 1 步）" in said and "机器人：记录转为已延期（R1-2 overdue）" in said
