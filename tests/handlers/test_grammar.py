"""The command grammar: every command in English and Chinese, references, mentions, and usage errors."""

from __future__ import annotations

import pytest

from handlers.grammar import (
    COMMANDS,
    ActionAdd,
    ActionDone,
    CommandName,
    DeptList,
    DeptSet,
    Escalate,
    Help,
    ItemRef,
    ListFilter,
    Mention,
    Problem,
    Progress,
    RecordClose,
    RecordEdit,
    RecordExport,
    RecordList,
    RecordNew,
    RecordRef,
    RecordShow,
    Report,
    Settings,
    UsageError,
    mentions_in,
    parse_command,
)

R12, R12_2 = RecordRef(12), ItemRef(12, 2)


@pytest.mark.parametrize(("text", "expected"), [
    ("/record new 订单系统数据延迟", RecordNew("订单系统数据延迟")),
    ("新建记录 订单系统数据延迟", RecordNew("订单系统数据延迟")),
    ("/新建记录 订单系统 数据延迟", RecordNew("订单系统 数据延迟")),
    ("/record 新建 订单", RecordNew("订单")), ("/记录 新建 订单", RecordNew("订单")),
    ("record new", RecordNew(None)), ("/RECORD NEW Sync delay", RecordNew("Sync delay")),
    ("/record list", RecordList(ListFilter.OPEN)), ("记录列表 我的", RecordList(ListFilter.MINE)),
    ("/record list delayed", RecordList(ListFilter.DELAYED)), ("记录列表 已闭环", RecordList(ListFilter.CLOSED)),
    ("/record show R12", RecordShow(R12)), ("查看 r12", RecordShow(R12)),
    ("/record edit R12", RecordEdit(R12)), ("编辑 R12", RecordEdit(R12)),
    ("/record close R12 3月11日延迟≤1.5小时，投诉下降15%", RecordClose(R12, "3月11日延迟≤1.5小时，投诉下降15%")),
    ("闭环 R12 监控显示 延迟≤1.5小时", RecordClose(R12, "监控显示 延迟≤1.5小时")),
    ("/record export R12", RecordExport(R12)), ("导出 R12", RecordExport(R12)),
    ("/action add R12", ActionAdd(R12)), ("新增任务 R12", ActionAdd(R12)),
    ("/action done R12-2", ActionDone(R12_2, None)), ("完成 R12-2 已上线", ActionDone(R12_2, "已上线")),
    ("/progress R12-2 脚本改造中 60%", Progress(R12_2, "脚本改造中", 60)),
    ("进度 R12-2 脚本改造中 60％", Progress(R12_2, "脚本改造中", 60)),
    ("进度 R12-2 等待 <@ou_1> 审批", Progress(R12_2, "等待 <@ou_1> 审批", None)),
    ("/escalate R12", Escalate(R12, None)), ("升级 R12-2 采购卡住", Escalate(R12_2, "采购卡住")),
    ("/report", Report(None, None)), ("/report 2026-03", Report(2026, 3)), ("复盘 2026年3月", Report(2026, 3)),
    ("复盘 2026/11", Report(2026, 11)),
    ("/dept set 技术部 lead <@ou_li> director <@ou_liu>", DeptSet("技术部", Mention("ou_li"), Mention("ou_liu"))),
    ("部门 设置 财务部 负责人 <@ou_w>", DeptSet("财务部", Mention("ou_w"), None)),
    ("/dept list", DeptList()), ("部门", DeptList()), ("/dept", DeptList()),
    ("/settings", Settings(())), ("设置 提醒时间 17:30", Settings((("提醒时间", "17:30"),))),
    ("/settings timezone Europe/Berlin prompt 18:00", Settings((("timezone", "Europe/Berlin"), ("prompt", "18:00")))),
    ("/help", Help(None)), ("帮助", Help(None)), ("/help record close", Help(CommandName.RECORD_CLOSE)),
    ("／ｒｅｃｏｒｄ　ｓｈｏｗ　Ｒ１２", RecordShow(R12)),
])  # fmt: skip
def test_commands_in_english_and_chinese(text: str, expected: object) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(("text", "problem", "nearest"), [
    ("/recrod new x", Problem.UNKNOWN_COMMAND, "/record new"),
    ("新见记录 x", Problem.UNKNOWN_COMMAND, "新建记录"),
    ("/hlep", Problem.UNKNOWN_COMMAND, "/help"),
    ("/record close R12", Problem.MISSING_ARGUMENT, None),
    ("/record show", Problem.MISSING_ARGUMENT, None),
    ("/progress R12-2 60%", Problem.MISSING_ARGUMENT, None),
    ("/progress R12-2 修复 150%", Problem.BAD_PERCENT, None),
    ("/action done R12", Problem.BAD_REFERENCE, None),
    ("/record show 12x", Problem.BAD_REFERENCE, None),
    ("/report 2026-13", Problem.BAD_MONTH, None),
    ("/dept set 技术部 lead bob", Problem.BAD_MENTION, None),
    ("/dept set 技术部", Problem.MISSING_ARGUMENT, None),
    ("/record list someday", Problem.BAD_FILTER, None),
    ("   ", Problem.EMPTY, None),
])  # fmt: skip
def test_mistakes_name_the_problem_the_usage_and_the_nearest_command(
    text: str, problem: Problem, nearest: str | None
) -> None:
    with pytest.raises(UsageError) as caught:
        parse_command(text)
    assert caught.value.problem is problem and caught.value.nearest == nearest
    zh, en = caught.value.message("zh-CN"), caught.value.message("en")
    assert zh != en and (caught.value.command is None or ("用法：" in zh and "Usage: " in en))
    if nearest:
        assert f"您是不是想输入 {nearest}？" in zh and f"Did you mean {nearest}?" in en


def test_the_close_usage_names_the_verification() -> None:
    with pytest.raises(UsageError) as caught:
        parse_command("闭环 R12")
    assert (
        caught.value.message()
        == "缺少验证结果。用法：/record close R12 <验证结果>（中文：闭环 R12 <验证结果>）".replace("（中文：", "（")
    )


def test_mentions_are_found() -> None:
    assert mentions_in("请 <@ou_a> 和 <@U024BE7LH> 确认") == [Mention("ou_a"), Mention("U024BE7LH")]


def test_every_command_has_a_parser_a_usage_and_a_chinese_word() -> None:
    assert {spec.name for spec in COMMANDS} == set(CommandName)
    for spec in COMMANDS:
        assert spec.chinese and spec.usage("zh-CN").startswith("/") and spec.usage("en").startswith("/")


JUNK = ["/", "//", "@", "<@>", "R", "R-1", "/record", "/record show R0-0", "进度", "\x00", "🙂" * 50, "/report 0000-00",
        "/settings a", "/dept set x director <@y>", "/escalate R1--2", "部门 设置", "a" * 5000, "/record close R1 " + " " * 10]  # fmt: skip


@pytest.mark.parametrize("text", JUNK)
def test_junk_only_ever_raises_a_usage_error(text: str) -> None:
    try:
        parse_command(text)
    except UsageError as error:
        assert error.message() and error.message("en")
