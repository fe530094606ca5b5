"""Exactly once from people too, the lint made visible, and the small fixes the first trial asked for."""

from __future__ import annotations

import copy

import pytest
from sqlmodel import Session, select

from storage.models import ActionItem, FormSubmission, ProgressUpdate, Record
from storage.types import ItemStatus, RecordStatus

from .conftest import SEED_FORM, SandboxChat, active_record, form_of, inputs_of
from .story import button, field_errors, jump, posted_texts, press, record, submit_of, texts, the_form


def records(chat: SandboxChat) -> list[Record]:
    with Session(chat.engine) as session:
        return list(session.exec(select(Record)))


# ---------------------------------------------------------------- exactly once


async def test_the_same_form_twice_makes_one_record_and_a_stale_copy_points_to_it(chat: SandboxChat) -> None:
    form = (await chat.say("zhangwei", "/record new 订单系统数据延迟"))["posted"][-1]["card"]
    submit = form_of(form)["submit"]
    assert submit["payload"]["extra"]["token"], "the form carries its submission token"
    first = await press(chat, "zhangwei", submit, SEED_FORM)
    assert first["toast"] == "R1 已提交，等待参与人确认"
    for _ in range(2):  # a double click, a browser resend
        again = await press(chat, "zhangwei", submit, SEED_FORM)
        assert again["toast"] == "已经提交过了，见 R1" and again["posted"] == []
        assert again["update"]["header"]["title"] == "R1 订单系统数据延迟问题专项沟通"
    assert len(records(chat)) == 1
    with Session(chat.engine) as session:
        (claim,) = session.exec(select(FormSubmission)).all()
        assert (claim.record_id, claim.action) == (1, "record.submit")
    other = (await chat.say("zhangwei", "/record new 另一个问题"))["posted"][-1]["card"]
    assert form_of(other)["submit"]["payload"]["extra"]["token"] != submit["payload"]["extra"]["token"]


async def test_a_form_coming_back_with_errors_keeps_its_token_for_the_corrected_submission(chat: SandboxChat) -> None:
    form = (await chat.say("zhangwei", "/record new 订单系统数据延迟"))["posted"][-1]["card"]
    submit = form_of(form)["submit"]
    broken = copy.deepcopy(SEED_FORM)
    broken["items"][0]["owner"] = ""
    assert (
        "每项任务需要一位责任人。" in field_errors((await press(chat, "zhangwei", submit, broken))["update"]).values()
    )
    assert (await press(chat, "zhangwei", submit, SEED_FORM))["toast"] == "R1 已提交，等待参与人确认"


async def test_an_item_form_sent_twice_adds_one_item(chat: SandboxChat) -> None:
    await active_record(chat)
    form = the_form(await chat.say("lina", "新增任务 R1"))
    values = {"description": "压测同步脚本", "owner": "zhaoqiang", "due": "下周五", "measure": "TPS≥500"}
    assert "已新增任务 R1-4" in posted_texts(await press(chat, "lina", submit_of(form), values))
    assert (await press(chat, "lina", submit_of(form), values))["toast"] == "已经提交过了，见 R1-4"
    with Session(chat.engine) as session:
        assert len(session.exec(select(ActionItem)).all()) == 4


async def progress_form(chat: SandboxChat) -> tuple[dict, str]:
    """李娜's progress form, and the one item it offers her (preselected)."""
    form = the_form(await press(chat, "lina", {"action": "item.progress_open", "payload": {"record_id": 1}}))
    return form, inputs_of(form)["item"]["value"]


async def test_a_progress_form_sent_twice_is_one_report(chat: SandboxChat) -> None:
    await active_record(chat)
    form, item = await progress_form(chat)
    values = {"item": item, "text": "改造完成一半", "percent": "（60%）"}
    await press(chat, "lina", submit_of(form), values)
    await press(chat, "lina", submit_of(form), values)
    with Session(chat.engine) as session:
        (update,) = session.exec(select(ProgressUpdate)).all()
        assert update.percent == 60


# ---------------------------------------------------------------- the lint, visible


async def test_a_form_with_only_warnings_comes_back_once_with_every_warning_and_submit_anyway(
    chat: SandboxChat,
) -> None:
    form = (await chat.say("zhangwei", "/record new 订单系统数据延迟"))["posted"][-1]["card"]
    submit = form_of(form)["submit"]
    vague = copy.deepcopy(SEED_FORM)
    vague["problem"] = "技术部不配合，需求也不合理，数据一直延迟"
    vague["items"][1]["measure"] = ""
    vague["items"][0]["description"] = "尽快优化同步脚本，加强沟通"
    back = await press(chat, "zhangwei", submit, vague)
    assert records(chat) == [] and back["posted"] == [], "not stored silently"
    card = back["update"]
    warnings = field_errors(card, "warning")
    assert warnings["problem"].startswith("“不配合”带有主观评价") and "“不合理”带有主观评价" in warnings["problem"]
    assert (
        "“尽快”不够具体" in warnings["items.0.description"] and "“加强沟通”不够具体" in warnings["items.0.description"]
    )
    assert warnings["items.1.measure"].startswith("建议写明衡量标准")
    assert (
        card["elements"][0]["text"] == "**有 3 处建议修改（见黄色提示）。改好后再提交，或点“仍然提交”保存现在的内容。**"
    )
    anyway = form_of(card)["submit"]
    assert anyway["label"] == "仍然提交" and field_errors(card) == {}
    stored = await press(chat, "zhangwei", anyway, vague)
    assert stored["toast"] == "R1 已提交，等待参与人确认" and record(chat).problem.startswith("技术部不配合")


async def test_opening_the_form_again_shows_the_warnings_again(chat: SandboxChat) -> None:
    vague = {**copy.deepcopy(SEED_FORM), "problem": "尽快解决数据延迟问题，客服无法查询"}
    form = (await chat.say("zhangwei", "/record new 订单系统数据延迟"))["posted"][-1]["card"]
    assert "problem" in field_errors(
        (await press(chat, "zhangwei", form_of(form)["submit"], vague))["update"], "warning"
    )
    fresh = (await chat.say("zhangwei", "/record new"))["posted"][-1]["card"]
    again = await press(chat, "zhangwei", form_of(fresh)["submit"], vague)
    assert "problem" in field_errors(again["update"], "warning") and records(chat) == []


@pytest.mark.parametrize("text", ["/record close R1 尽快验证", "闭环 R1 尽快验证"])
async def test_a_vague_verification_comes_back_in_the_close_form_once(chat: SandboxChat, text: str) -> None:
    await active_record(chat)
    for ref, owner in (("R1-1", "lina"), ("R1-2", "wangfang"), ("R1-3", "zhaoqiang")):
        await chat.say(owner, f"/action done {ref} 已上线")
    back = await chat.say("zhangwei", text)
    assert record(chat).status is RecordStatus.IN_PROGRESS
    card = the_form(back)
    warning = field_errors(card, "warning")["verification"]
    assert "“尽快”不够具体" in warning and "没有可核对的事实" in warning
    assert inputs_of(card)["verification"]["value"] == "尽快验证"
    closed = await press(chat, "zhangwei", form_of(card)["submit"], {"verification": "尽快验证"})
    assert "R1 已闭环" in posted_texts(closed) and record(chat).verification == "尽快验证"


async def test_an_empty_verification_is_a_field_error_in_the_close_form_not_a_red_card(chat: SandboxChat) -> None:
    await active_record(chat)
    for ref, owner in (("R1-1", "lina"), ("R1-2", "wangfang"), ("R1-3", "zhaoqiang")):
        await chat.say(owner, f"/action done {ref} 已上线")
    card = (await chat.say("zhangwei", "/record show R1"))["posted"][-1]["card"]
    form = the_form(await press(chat, "zhangwei", button(card, "record.close_open")))
    answer = await press(chat, "zhangwei", submit_of(form), {"verification": "  "})
    assert answer["posted"] == [], "nothing for the whole group"
    assert field_errors(answer["update"]) == {"verification": "请填写“验证结果”。"}
    good = await press(chat, "zhangwei", submit_of(form), {"verification": "12月1日监控显示延迟≤1.5小时"})
    assert "R1 已闭环" in posted_texts(good)


# ---------------------------------------------------------------- point 12


@pytest.mark.parametrize(("text", "percent", "said"), [
    ("进度 R1-1 改造完成一半 60％", 60, "改造完成一半"),
    ("进度 R1-1 改造完成一半（60%）", 60, "改造完成一半"),
    ("进度 R1-1 改造完成一半 （60%）", 60, "改造完成一半"),
    ("/progress R1-1 50% 改造完成一半", 50, "改造完成一半"),
])  # fmt: skip
async def test_a_percent_is_read_the_same_wherever_it_is_typed(chat: SandboxChat, text: str, percent: int,
                                                               said: str) -> None:  # fmt: skip
    await active_record(chat)
    assert f"<@lina> 汇报 R1-1 进度 {percent}%：{said}" in posted_texts(await chat.say("lina", text))
    with Session(chat.engine) as session:
        (update,) = session.exec(select(ProgressUpdate)).all()
        assert (update.percent, update.text) == (percent, said)


@pytest.mark.parametrize(("typed", "stored"), [("60%", 60), ("（60%）", 60), ("60", 60), ("60.0", 60)])
async def test_the_progress_form_reads_the_percent_as_the_command_does(chat: SandboxChat, typed: str,
                                                                       stored: int) -> None:  # fmt: skip
    await active_record(chat)
    form, item = await progress_form(chat)
    await press(chat, "lina", submit_of(form), {"item": item, "text": "改造中", "percent": typed})
    with Session(chat.engine) as session:
        assert session.exec(select(ProgressUpdate)).one().percent == stored


async def test_a_bad_percent_in_the_form_is_a_field_error(chat: SandboxChat) -> None:
    await active_record(chat)
    form, item = await progress_form(chat)
    answer = await press(chat, "lina", submit_of(form), {"item": item, "text": "改造中", "percent": "150%"})
    assert field_errors(answer["update"])["percent"].startswith("进度百分比应在 0 到 100 之间")


async def test_the_daily_prompt_shows_a_real_item_number(chat: SandboxChat) -> None:
    await active_record(chat)
    prompt = await jump(chat, "2026-11-24T17:30+08:00")
    (card,) = [m["card"] for m in prompt["posted"]]
    hint = next(e["text"] for e in card["elements"] if e["kind"] == "note")
    assert hint == "发送 /progress R1-2 <进展> [60%]，或点下面的按钮汇报。"


async def test_the_completion_notice_and_the_card_show_the_result(chat: SandboxChat) -> None:
    await active_record(chat)
    await chat.say("lina", "/progress R1-1 改造完成一半 50%")
    answer = await chat.say("lina", "/action done R1-1 多线程上线，延迟降至1小时")
    notice = next(m["card"] for m in answer["posted"] if m["card"]["header"]["title"] == "R1-1 已完成")
    assert notice["elements"][0]["text"] == "R1-1 已完成：多线程上线，延迟降至1小时"
    shown = texts(await chat.say("lina", "/record show R1"))
    assert (
        "（已完成：多线程上线，延迟降至1小时）" in shown and "最新进度" not in shown.split("R1-1")[1].split("R1-2")[0]
    )
    with Session(chat.engine) as session:
        assert session.exec(select(ActionItem).where(ActionItem.seq == 1)).one().status is ItemStatus.DONE
