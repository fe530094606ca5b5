"""Every command, in English and in Chinese, answered in the chat; bad input answered too, never silence."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from storage.models import ActionItem, AuditEntry, Department, Group, Person, ProgressUpdate, Record
from storage.types import AuditAction, ItemStatus, RecordStatus

from .conftest import SandboxChat, active_record


def texts(answer: dict) -> str:
    """Everything the bot said in answer, as one string (posted cards, inline cards, toast)."""
    cards = [m["card"] for m in answer["posted"]] + [answer[k] for k in ("update", "reply", "form") if answer.get(k)]
    parts = [answer.get("toast") or ""]
    for card in cards:
        parts.append(card.get("header", {}).get("title", ""))
        for element in card["elements"]:
            parts.append(element.get("text", ""))
            parts.extend(
                f"{i['label']}:{i['value']}" for i in element.get("items", []) if isinstance(i, dict) and "label" in i
            )
    return "\n".join(parts)


@pytest.mark.parametrize("text", ["/record list", "记录列表", "@bot /record list open", "/record list 进行中"])
async def test_list_in_both_languages(chat: SandboxChat, text: str) -> None:
    record = await active_record(chat)
    answer = await chat.say("lina", text.removeprefix("@bot "))
    said = texts(answer)
    assert (
        "记录列表（未闭环）" in said and f"**{record.ref}** 订单系统数据延迟问题专项沟通 — 进行中，未完成任务 3" in said
    )


@pytest.mark.parametrize(("text", "title"), [
    ("/record list delayed", "记录列表（已延期）"),
    ("记录列表 已闭环", "记录列表（已闭环）"),
    ("/record list mine", "记录列表（与我相关）"),
])  # fmt: skip
async def test_list_filters(chat: SandboxChat, text: str, title: str) -> None:
    await active_record(chat)
    said = texts(await chat.say("zhaoqiang", text))
    assert title in said
    assert ("R1" in said) == text.endswith("mine"), "赵强 owns R1-3; nothing is delayed or closed yet"


@pytest.mark.parametrize("text", ["/record show R1", "查看 R1", "/record export R1", "导出 r1"])
async def test_show_and_export(chat: SandboxChat, text: str) -> None:
    await active_record(chat)
    said = texts(await chat.say("wangfang", text))
    assert "订单系统数据延迟问题专项沟通" in said
    if "export" in text or "导出" in text:
        assert "| 沟通主题 | 订单系统数据延迟问题专项沟通 |" in said and "临时扩容服务器 5000 元" in said
    else:
        assert "R1-2" in said and "<@wangfang>" in said


@pytest.mark.parametrize("text", ["/progress R1-1 多线程改造完成一半 50%", "进度 R1-1 多线程改造完成一半 50％"])
async def test_progress_in_both_languages(chat: SandboxChat, text: str) -> None:
    await active_record(chat)
    said = texts(await chat.say("lina", text))
    assert "<@lina> 汇报 R1-1 进度 50%：多线程改造完成一半" in said
    with Session(chat.engine) as session:
        (update,) = session.exec(select(ProgressUpdate)).all()
        assert (update.percent, update.text) == (50, "多线程改造完成一半")


@pytest.mark.parametrize("text", ["/action done R1-2 审批单已通过", "完成 R1-2 审批单已通过"])
async def test_done_in_both_languages(chat: SandboxChat, text: str) -> None:
    await active_record(chat)
    said = texts(await chat.say("wangfang", text))
    assert "R1-2 已完成：审批单已通过" in said
    with Session(chat.engine) as session:
        item = session.exec(select(ActionItem).where(ActionItem.seq == 2)).one()
        assert (item.status, item.result) == (ItemStatus.DONE, "审批单已通过")


async def test_done_without_a_result_asks_for_it(chat: SandboxChat) -> None:
    await active_record(chat)
    answer = await chat.say("wangfang", "/action done R1-2")
    (form_card,) = [m["card"] for m in answer["posted"]]
    assert form_card["header"]["title"] == "完成 R1-2：请写明结果"
    form = form_card["elements"][0]
    done = await chat.act("wangfang", form["submit"]["action"], form["submit"]["payload"], {"result": "预算已批"})
    assert "R1-2 已完成：预算已批" in texts(done)


@pytest.mark.parametrize("text", ["/action add R1", "新增任务 R1"])
async def test_add_item_in_both_languages(chat: SandboxChat, text: str) -> None:
    await active_record(chat)
    answer = await chat.say("lina", text)
    (form_card,) = [m["card"] for m in answer["posted"]]
    submit = form_card["elements"][0]["submit"]
    added = await chat.act(
        "lina",
        submit["action"],
        submit["payload"],
        {"description": "压测同步脚本", "owner": "zhaoqiang", "due": "下周五", "measure": "TPS≥500"},
    )
    assert "已新增任务 R1-4：压测同步脚本，责任人 <@zhaoqiang>，2026-12-04 前完成。" in texts(added)


@pytest.mark.parametrize("text", ["/escalate R1-1 采购流程卡住", "升级 R1-1 采购流程卡住"])
async def test_escalate_reaches_owner_lead_and_director(chat: SandboxChat, text: str) -> None:
    await active_record(chat)
    said = texts(await chat.say("zhangwei", text))
    assert "<@zhangwei> 将 R1-1「订单系统数据延迟问题专项沟通」升级给 <@lina> <@liuyang>。原因：采购流程卡住" in said
    with Session(chat.engine) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == AuditAction.ESCALATED)).one()
        assert entry.detail == {"reason": "采购流程卡住"}


@pytest.mark.parametrize("text", ["/record close R1 延迟≤1.5小时", "闭环 R1 延迟≤1.5小时"])
async def test_close_refused_while_items_are_open_then_allowed(chat: SandboxChat, text: str) -> None:
    await active_record(chat)
    refused = texts(await chat.say("zhangwei", text))
    assert "还有未完成的任务：R1-1、R1-2、R1-3" in refused
    for ref, owner in (("R1-1", "lina"), ("R1-2", "wangfang"), ("R1-3", "zhaoqiang")):
        await chat.say(owner, f"/action done {ref} 已上线")
    said = texts(await chat.say("zhangwei", text))
    assert "R1 已闭环" in said and "验证结果：延迟≤1.5小时" in said
    with Session(chat.engine) as session:
        assert session.exec(select(Record)).one().status is RecordStatus.CLOSED


async def test_someone_else_closing_a_record_is_told_why(chat: SandboxChat) -> None:
    await active_record(chat)
    said = texts(await chat.say("lina", "/record close R1 好了"))
    assert "只有记录人或管理员可以对 R1 执行“闭环”。" in said
    with Session(chat.engine) as session:
        assert session.exec(select(Record)).one().status is RecordStatus.IN_PROGRESS


@pytest.mark.parametrize("text", ["/report 2026-11", "复盘 2026年11月", "/report"])
async def test_monthly_review(chat: SandboxChat, text: str) -> None:
    await active_record(chat)
    said = texts(await chat.say("zhangwei", text))
    assert "2026年11月 复盘" in said and "新建记录 1 条，闭环 0 条；本月到期任务 2 项" in said
    assert "技术问题：1" in said and "技术部：2" in said


@pytest.mark.parametrize(
    "text", ["/dept set 法务部 lead @陈静 director @刘洋", "部门 设置 法务部 负责人 @陈静 总监 @刘洋"]
)
async def test_departments_are_set_by_an_admin(chat: SandboxChat, text: str) -> None:
    denied = texts(await chat.say("lina", text))
    assert "只有管理员可以修改设置和部门。" in denied
    said = texts(await chat.say("zhangwei", text))
    assert "已设置部门 法务部：负责人 <@chenjing>，分管领导 <@liuyang>。" in said
    listed = texts(await chat.say("lina", "部门 列表"))
    assert "**法务部** 负责人 <@chenjing>，分管领导 <@liuyang>" in listed
    with Session(chat.engine) as session:
        department = session.exec(select(Department).where(Department.name == "法务部")).one()
        lead = session.get(Person, department.lead_id)
        assert lead.user_id == "chenjing"


@pytest.mark.parametrize(("text", "column", "value"), [
    ("/settings prompt 18:00", "prompt_time", "18:00"), ("设置 提醒时间 18:00", "prompt_time", "18:00"),
    ("/settings timezone Europe/Berlin", "timezone", "Europe/Berlin"), ("设置 语言 en", "language", "en"),
])  # fmt: skip
async def test_settings_in_both_languages(chat: SandboxChat, text: str, column: str, value: str) -> None:
    shown = texts(await chat.say("lina", "/settings"))
    assert "prompt:17:30" in shown and "timezone:Asia/Shanghai" in shown
    await chat.say("zhangwei", text)
    with Session(chat.engine) as session:
        group = session.exec(select(Group)).one()
        stored = getattr(group, column)
        assert (stored.strftime("%H:%M") if hasattr(stored, "strftime") else stored) == value


async def test_a_bad_setting_is_refused_and_nothing_changes(chat: SandboxChat) -> None:
    said = texts(await chat.say("zhangwei", "/settings prompt 25:00 timezone Mars/Base"))
    assert "“prompt”的值“25:00”无效" in said
    with Session(chat.engine) as session:
        assert session.exec(select(Group)).one().prompt_time.strftime("%H:%M") == "17:30"


async def test_english_groups_get_english_answers(chat: SandboxChat) -> None:
    await chat.say("zhangwei", "/settings language en")
    said = texts(await chat.say("lina", "/help"))
    assert "Closeloop help" in said and "/record new [topic]" in said
    assert "Unknown command" in texts(await chat.say("lina", "/recrod new x"))


@pytest.mark.parametrize(("text", "expected"), [
    ("/recrod new 订单", "不认识的命令“recrod”。您是不是想输入 /record new？"),
    ("新见记录 订单", "您是不是想输入 新建记录？"),
    ("/progress R1-1 60%", "缺少进度内容"),
    ("/progress R1-1 修复 150%", "进度百分比应在 0 到 100 之间"),
    ("/record show X9", "“X9”不是有效的编号"),
    ("/record show R99", "找不到记录 R99。"),
    ("/dept set 技术部 lead bob", "“bob”需要 @ 一个人。"),
    ("   ", "请输入命令"),
])  # fmt: skip
async def test_bad_commands_are_answered_in_the_chat(chat: SandboxChat, text: str, expected: str) -> None:
    answer = await chat.say("lina", text) if text.strip() else await chat.say("lina", text, status=400)
    if text.strip():
        (card,) = [m["card"] for m in answer["posted"]]
        assert card["header"]["title"] == "操作未完成" and expected in card["elements"][0]["text"]
        assert "用法" in card["elements"][0]["text"] or "/help" in card["elements"][0]["text"] or "R99" in text


async def test_help_lists_every_command_in_both_languages(chat: SandboxChat) -> None:
    said = texts(await chat.say("lina", "帮助"))
    for usage in ("/record new [主题]", "闭环 R12 <验证结果>", "部门 设置 <部门> 负责人 @x", "/report [YYYY-MM]"):
        assert usage in said


async def test_a_record_of_another_group_is_not_found_here(chat: SandboxChat) -> None:
    await active_record(chat)
    chat.group = "另一个群"
    said = texts(await chat.say("zhangwei", "/record show R1"))
    assert "找不到记录 R1。" in said
