"""The review, export and approval commands in both languages, and their usage errors."""

from __future__ import annotations

import pytest

from handlers.grammar import (
    CommandName,
    Export,
    Problem,
    RecordExport,
    RecordRef,
    Report,
    ResourceApprove,
    ResourceReject,
    UsageError,
    parse_command,
)
from storage.types import ExportFormat

R12 = RecordRef(12)
MD, XLSX, DOCX, CSV = ExportFormat.MARKDOWN, ExportFormat.XLSX, ExportFormat.DOCX, ExportFormat.CSV


@pytest.mark.parametrize(("text", "expected"), [
    ("/report all", Report(None, None, workspace=True)),
    ("/report 2026-03 all", Report(2026, 3, workspace=True)),
    ("复盘 全部 2026年3月", Report(2026, 3, workspace=True)),
    ("复盘 所有群", Report(None, None, workspace=True)),
    ("复盘 三月", Report(None, 3)),
    ("复盘 2026年十二月", Report(2026, 12)),
    ("复盘 3月份", Report(None, 3)),
    ("复盘 本月", Report(None, None)),
    ("复盘 上个月", Report(None, None, months_ago=1)),
    ("复盘上月", Report(None, None, months_ago=1)),
    ("/record export R12", RecordExport(R12, MD)),
    ("/record export R12 xlsx", RecordExport(R12, XLSX)),
    ("/record export R12 docx", RecordExport(R12, DOCX)),
    ("/record export R12 md", RecordExport(R12, MD)),
    ("导出 R12 excel", RecordExport(R12, XLSX)),
    ("导出R12 word", RecordExport(R12, DOCX)),
    ("导出 R12 Excel", RecordExport(R12, XLSX)),
    ("导出 R12 表格", RecordExport(R12, XLSX)),
    ("/export", Export(None, None, XLSX)),
    ("/export 2026-03 csv", Export(2026, 3, CSV)),
    ("/export csv 2026-03", Export(2026, 3, CSV)),
    ("导出全部", Export(None, None, XLSX)),
    ("导出全部 2026年3月 excel", Export(2026, 3, XLSX)),
    ("导出全部 上个月 csv", Export(None, None, CSV, months_ago=1)),
    ("导出 全部 csv", Export(None, None, CSV)),
    ("/approve R12", ResourceApprove(R12, None, None)),
    ("批准 R12 1", ResourceApprove(R12, 1, None)),
    ("批准 R12 第2项 同意走紧急流程", ResourceApprove(R12, 2, "同意走紧急流程")),
    ("/reject R12 预算已用完", ResourceReject(R12, None, "预算已用完")),
    ("驳回 R12 #1 预算已用完", ResourceReject(R12, 1, "预算已用完")),
])  # fmt: skip
def test_parsed(text: str, expected: object) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(("text", "problem", "command", "message"), [
    ("/record export R12 pdf", Problem.BAD_FORMAT, CommandName.RECORD_EXPORT,
     "不支持的格式“pdf”，这里可用：excel（xlsx）、word（docx）或 md。"),
    ("/record export R12 csv", Problem.BAD_FORMAT, CommandName.RECORD_EXPORT, "不支持的格式“csv”"),
    ("/export pdf", Problem.BAD_FORMAT, CommandName.EXPORT, "不支持的格式“pdf”，这里可用：excel（xlsx）或 csv。"),
    ("/export 2026-13", Problem.BAD_MONTH, CommandName.EXPORT, "“2026-13”不是有效的月份"),
    ("/export csv xlsx", Problem.BAD_FORMAT, CommandName.EXPORT, "不支持的格式"),
    ("复盘 十三月", Problem.BAD_MONTH, CommandName.REPORT, "“十三月”不是有效的月份"),
    ("复盘 下个月", Problem.BAD_MONTH, CommandName.REPORT, "“下个月”不是有效的月份"),
    ("/approve", Problem.MISSING_ARGUMENT, CommandName.RESOURCE_APPROVE, "缺少记录编号"),
])  # fmt: skip
def test_refused_with_a_reason(text: str, problem: Problem, command: CommandName, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_command(text)
    assert (caught.value.key, caught.value.command) == (problem, command)
    assert message in caught.value.message() and caught.value.message("en")
