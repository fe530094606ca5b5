"""The commands for the life of a record, in English and Chinese, and their mistakes."""

from __future__ import annotations

import pytest

from handlers.grammar import (
    ActionCancel,
    ActionDue,
    ActionEdit,
    ActionOwner,
    CommandName,
    ItemRef,
    Mention,
    Problem,
    Progress,
    RecordHistory,
    RecordNotify,
    RecordRef,
    RecordReopen,
    RecordWithdraw,
    Remind,
    ResourceApprove,
    ResourceReject,
    Snooze,
    UsageError,
    parse_command,
)

R12, R12_2 = RecordRef(12), ItemRef(12, 2)


@pytest.mark.parametrize(("english", "chinese", "expected"), [
    ("/action due R12-2 3月15日 等供应商", "改期 R12-2 3月15日 等供应商", ActionDue(R12_2, "3月15日 等供应商")),
    ("/action owner R12-2 <@ou_li> 出差", "转交 R12-2 <@ou_li> 出差", ActionOwner(R12_2, Mention("ou_li"), "出差")),
    ("/action owner R12-2 <@ou_li>", "转交R12-2 <@ou_li>", ActionOwner(R12_2, Mention("ou_li"), None)),
    ("/action cancel R12-2 合并到 R13", "取消 R12-2 合并到 R13", ActionCancel(R12_2, "合并到 R13")),
    ("/action edit R12-2", "编辑任务 R12-2", ActionEdit(R12_2)),
    ("/record reopen R12 又出现了", "重新打开 R12 又出现了", RecordReopen(R12, "又出现了")),
    ("/record withdraw R12", "撤回 R12", RecordWithdraw(R12, None)),
    ("/record withdraw R12 重复", "记录 撤回 R12 重复", RecordWithdraw(R12, "重复")),
    ("/record notify R12", "通知 R12", RecordNotify(R12)),
    ("/record history R12", "历史 R12", RecordHistory(R12)),
    ("/record history R12 2", "历史 R12 第2页", RecordHistory(R12, 2)),
    ("/approve R12", "批准 R12", ResourceApprove(R12, None, None)),
    ("/approve R12 2 同意", "批准 R12 2 同意", ResourceApprove(R12, 2, "同意")),
    ("/reject R12 预算不足", "驳回 R12 预算不足", ResourceReject(R12, None, "预算不足")),
    ("/reject R12 1 预算不足", "驳回 R12 1 预算不足", ResourceReject(R12, 1, "预算不足")),
    ("/remind R12", "催办 R12", Remind(R12)),
    ("/snooze R12-2 3月15日 出差", "暂缓 R12-2 3月15日 出差", Snooze(R12_2, "3月15日 出差")),
    ("/action due R12-2 2026-03-15 18:00 原因", "任务 改期 R12-2 2026-03-15 18:00 原因",
     ActionDue(R12_2, "2026-03-15 18:00 原因")),
])  # fmt: skip
def test_each_command_in_both_languages(english: str, chinese: str, expected: object) -> None:
    assert parse_command(english) == expected
    assert parse_command(chinese) == expected


@pytest.mark.parametrize(("text", "key", "command"), [
    ("改期 R12-2", Problem.MISSING_ARGUMENT, CommandName.ACTION_DUE),
    ("改期 R12", Problem.BAD_REFERENCE, CommandName.ACTION_DUE),
    ("转交 R12-2", Problem.MISSING_ARGUMENT, CommandName.ACTION_OWNER),
    ("转交 R12-2 李娜", Problem.BAD_MENTION, CommandName.ACTION_OWNER),
    ("取消 R12-2", Problem.MISSING_ARGUMENT, CommandName.ACTION_CANCEL),
    ("重新打开 R12", Problem.MISSING_ARGUMENT, CommandName.RECORD_REOPEN),
    ("驳回 R12 2", Problem.MISSING_ARGUMENT, CommandName.RESOURCE_REJECT),
    ("历史 R12 abc", Problem.BAD_REFERENCE, CommandName.RECORD_HISTORY),
    ("暂缓 R12-2", Problem.MISSING_ARGUMENT, CommandName.SNOOZE),
    ("催办", Problem.MISSING_ARGUMENT, CommandName.REMIND),
])  # fmt: skip
def test_mistakes_name_the_problem_and_the_usage(text: str, key: Problem, command: CommandName) -> None:
    with pytest.raises(UsageError) as caught:
        parse_command(text)
    assert (caught.value.key, caught.value.command) == (key, command)
    assert "用法" in caught.value.message() and "Usage" in caught.value.message("en")


@pytest.mark.parametrize(("text", "expected"), [
    ("进度 R12-2 修复 60％", Progress(R12_2, "修复", 60)),
    ("进度 R12-2 修复（60%）", Progress(R12_2, "修复", 60)),
    ("进度 R12-2 修复 （60%）", Progress(R12_2, "修复", 60)),
    ("进度 R12-2 修复 (60 %)", Progress(R12_2, "修复", 60)),
    ("进度 R12-2 50% 修复", Progress(R12_2, "修复", 50)),
    ("进度 R12-2 投诉下降15% 继续跟进", Progress(R12_2, "投诉下降15% 继续跟进", None)),
])  # fmt: skip
def test_a_percent_is_read_first_or_last_bracketed_or_full_width(text: str, expected: Progress) -> None:
    assert parse_command(text) == expected


def test_only_someone_really_mentioned_takes_an_item() -> None:
    """A ``<@id>`` a person typed as text (not a platform mention) is no new owner."""
    assert parse_command("转交 R12-2 <@ou_li> 出差", {"ou_li": "李娜"}) == ActionOwner(R12_2, Mention("ou_li"), "出差")
    with pytest.raises(UsageError) as caught:
        parse_command("转交 R12-2 <@ou_li> 出差", {})
    assert caught.value.key is Problem.BAD_MENTION
