"""The seed record, approved, finished and closed, exported through the chat as Excel, Word and Markdown,
downloaded from the sandbox and opened with openpyxl and python-docx; the list export as CSV and XLSX."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from docx import Document
from sqlmodel import Session, select

from storage.models import AuditEntry, Group, ResourceRequest, StoredFile
from storage.types import AuditAction, ResourceStatus

from .conftest import SandboxChat, active_record, open_and_submit

CST = ZoneInfo("Asia/Shanghai")
VERIFIED = "11月27日监控显示延迟≤1.5小时，投诉量下降15%"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CST)


async def closed_seed(chat: SandboxChat) -> None:
    """The template's example to the end: 王芳 approves the 5000 元, the owners finish, 张伟 closes with a result."""
    await active_record(chat)
    chat.clock.set(at("2026-11-24 10:00"))
    approved = await chat.say("wangfang", "批准 R1")
    assert (
        "<@wangfang> 批准了 R1 的资源需求：临时扩容服务器 5000 元"
        in approved["posted"][0]["card"]["elements"][0]["text"]
    )
    chat.clock.set(at("2026-11-26 17:00"))
    await chat.say("lina", "/action done R1-1 多线程版本已上线")
    await chat.say("wangfang", "/action done R1-2 审批单已通过")
    await chat.say("zhaoqiang", "/action done R1-3 监控告警已配置")
    chat.clock.set(at("2026-11-27 18:00"))
    closed = await chat.say("zhangwei", f"/record close R1 {VERIFIED}")
    assert "R1 已闭环" in closed["posted"][0]["card"]["header"]["title"]


async def download(chat: SandboxChat, answer: dict) -> tuple[dict, bytes, str]:
    """The file the bot's answer refers to, fetched as a browser would from the sandbox."""
    (message,) = answer["posted"]
    (attachment,) = [e for e in message["card"]["elements"] if e["kind"] == "attachment"]
    response = await chat.client.get(f"/sandbox/files/{attachment['file_id']}")
    assert response.status == 200
    return attachment, await response.read(), response.headers["Content-Type"]


def expected_rows() -> list[tuple[str, list[str]]]:
    """Every row of the seed's table, in the seed's order, as the group reads it (Asia/Shanghai)."""
    return [
        ("沟通主题", ["订单系统数据延迟问题专项沟通"]),
        ("沟通时间", ["2026-11-24 14:00–15:30"]),
        ("沟通地点/形式", ["3楼会议室 https://meeting.example.com/123"]),
        ("参与部门及人员", [
            "运营部 张伟（有决策权），已确认 2026-11-24 09:00",
            "技术部 李娜（决策权和资源权限），已确认 2026-11-24 09:00",
            "财务部 王芳（有资源权限），已确认 2026-11-24 09:00",
        ]),
        ("问题描述", [
            "自11月20日起订单系统数据同步延迟约4小时，客服无法查询最新订单状态",
            "何事（What）：订单数据同步延迟", "何时（When）：11月20日起", "何地（Where）：订单中心 → 客服系统",
            "涉及谁（Who）：客服、仓储", "原因（Why）：同步脚本单线程，服务器负载高", "如何发生（How）：高峰期任务堆积",
            "影响：客服投诉每天约40起",
        ]),
        ("沟通要点", ["技术部：硬件采购需走流程，周期约5天", "运营部：需在双12前恢复到1.5小时以内",
                      "财务部：临时扩容预算可走紧急审批"]),
        ("解决方案", [
            "【短期】R1-1 优化同步脚本为多线程（衡量标准：延迟≤1.5小时）",
            "【短期】R1-2 审批临时扩容预算5000元（衡量标准：审批单通过）",
            "【长期】R1-3 建立延迟监控告警（衡量标准：延迟超1小时告警）",
        ]),
        ("责任人/完成时限", [
            "R1-1 责任人 李娜（技术部），完成时限 2026-11-27",
            "R1-2 责任人 王芳（财务部），完成时限 2026-11-26 18:00",
            "R1-3 责任人 赵强（技术部），完成时限 2026-12-10",
        ]),
        ("资源需求", ["临时扩容服务器 5000 元，审批人 王芳：已批准（2026-11-24 10:00）"]),
        ("状态跟踪", [
            "已闭环（2026-11-27 18:00）",
            "R1-1 已完成（2026-11-26 17:00）：多线程版本已上线",
            "R1-2 已完成（2026-11-26 17:00）：审批单已通过",
            "R1-3 已完成（2026-11-26 17:00）：监控告警已配置",
            f"验证结果：{VERIFIED}",
        ]),
        ("备注", ["下次会议：12月1日10:00 复盘进展", "下次会议：2026-12-01 10:00"]),
        ("记录人", ["张伟"]),
        ("抄送", ["刘洋、总经办"]),
        ("问题类型", ["技术问题"]),
    ]  # fmt: skip


@pytest.mark.parametrize("text", ["/record export R1 xlsx", "导出 R1 excel", "导出R1 表格"])
async def test_the_record_as_an_excel_file_holds_every_row_of_the_template(chat: SandboxChat, text: str) -> None:
    await closed_seed(chat)
    answer = await chat.say("lina", text)
    attachment, content, mime = await download(chat, answer)
    assert attachment["filename"] == "R1-订单系统数据延迟问题专项沟通.xlsx" and not attachment.get("image")
    assert mime == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert answer["posted"][0]["card"]["header"]["title"] == "导出文件：R1-订单系统数据延迟问题专项沟通.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    assert sheet["A1"].value == "跨部门沟通记录及问题解决方案表"
    assert sheet["A2"].value == "R1 订单系统数据延迟问题专项沟通"
    rows = [(row[0], (row[1] or "").split("\n")) for row in sheet.iter_rows(min_row=3, values_only=True)]
    assert rows == expected_rows()
    assert all(sheet.cell(r, 2).data_type == "s" for r in range(3, sheet.max_row + 1)), "text cells, never formulas"
    assert "<@" not in str(rows) and "@wangfang" not in str(rows), "people by name, never mention markup"


@pytest.mark.parametrize("text", ["/record export R1 docx", "导出 R1 word"])
async def test_the_record_as_a_word_file_holds_every_row_of_the_template(chat: SandboxChat, text: str) -> None:
    await closed_seed(chat)
    attachment, content, mime = await download(chat, await chat.say("zhangwei", text))
    assert attachment["filename"].endswith(".docx")
    assert mime == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    document = Document(io.BytesIO(content))
    assert document.paragraphs[0].text == "跨部门沟通记录及问题解决方案表"
    assert document.paragraphs[1].text == "R1 订单系统数据延迟问题专项沟通"
    (table,) = document.tables
    rows = [(row.cells[0].text, [p.text for p in row.cells[1].paragraphs]) for row in table.rows]
    assert rows == expected_rows()


@pytest.mark.parametrize("text", ["/record export R1", "/record export R1 md", "导出 R1"])
async def test_the_markdown_export_writes_people_by_name(chat: SandboxChat, text: str) -> None:
    await closed_seed(chat)
    (message,) = (await chat.say("lina", text))["posted"]
    table = message["card"]["elements"][0]["text"]
    lines = table.split("\n")[2:]
    assert [line.split(" | ")[0].removeprefix("| ") for line in lines] == [label for label, _ in expected_rows()]
    for label, values in expected_rows():
        assert f"| {label} | {'；'.join(values)} |" in table
    assert "审批人 王芳：已批准" in table and "@" not in table


async def test_the_list_exports_one_row_per_item_as_csv_with_a_bom(chat: SandboxChat) -> None:
    await closed_seed(chat)
    attachment, content, mime = await download(chat, await chat.say("lina", "/export 2026-11 csv"))
    assert attachment["filename"] == "记录与任务-2026-11.csv" and mime.startswith("text/csv")
    assert content.startswith(b"\xef\xbb\xbf"), "Excel reads UTF-8 only with the BOM"
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    assert rows[0][:3] == ["记录编号", "沟通主题", "问题类型"] and len(rows) == 4
    assert [r[8] for r in rows[1:]] == ["R1-1", "R1-2", "R1-3"]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first == {
        "记录编号": "R1", "沟通主题": "订单系统数据延迟问题专项沟通", "问题类型": "技术问题", "记录状态": "已闭环",
        "记录人": "张伟", "创建时间": "2026-11-24 09:00", "闭环时间": "2026-11-27 18:00", "验证结果": VERIFIED,
        "任务编号": "R1-1", "任务内容": "优化同步脚本为多线程", "期限类型": "短期", "责任人": "李娜", "责任部门": "技术部",
        "完成时限": "2026-11-27", "任务状态": "已完成", "完成时间": "2026-11-26 17:00", "是否按时": "是",
        "结果/取消原因": "多线程版本已上线",
    }  # fmt: skip
    assert [r[16] for r in rows[1:]] == ["是", "是", "是"]


@pytest.mark.parametrize("text", ["/export", "导出全部", "导出全部 excel", "导出 全部 表格", "/export xlsx"])
async def test_the_list_exports_as_xlsx(chat: SandboxChat, text: str) -> None:
    await closed_seed(chat)
    attachment, content, _ = await download(chat, await chat.say("zhangwei", text))
    assert attachment["filename"] == "记录与任务.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "记录编号" and [v[8] for v in values[1:]] == ["R1-1", "R1-2", "R1-3"]
    assert values[3][12] == "技术部" and values[3][11] == "赵强"


async def test_files_are_served_only_for_sandbox_groups_and_until_they_expire(chat: SandboxChat) -> None:
    await closed_seed(chat)
    attachment, _, _ = await download(chat, await chat.say("lina", "/record export R1 xlsx"))
    with Session(chat.engine, expire_on_commit=False) as session:
        stored = session.get(StoredFile, attachment["file_id"])
        other = Group(platform="elsewhere", chat_id="c", workspace="w", created_at=stored.created_at)
        session.add(other)
        session.flush()
        session.add(StoredFile(group_id=other.id, kind=stored.kind, filename="x.xlsx", mime=stored.mime,
                               content=b"secret", created_at=stored.created_at, expires_at=stored.expires_at))  # fmt: skip
        session.commit()
        foreign = session.exec(select(StoredFile).where(StoredFile.group_id == other.id)).one().id
    assert (await chat.client.get(f"/sandbox/files/{foreign}")).status == 404
    for bad in ("0", "x", "99999", "1" * 40):
        assert (await chat.client.get(f"/sandbox/files/{bad}")).status == 404
    chat.clock.set(stored.expires_at)
    assert (await chat.client.get(f"/sandbox/files/{attachment['file_id']}")).status == 404


async def test_only_the_approver_decides_and_only_once(chat: SandboxChat) -> None:
    await active_record(chat)
    denied = await chat.say("lina", "/approve R1 1")
    assert (
        "只有资源需求“临时扩容服务器”的审批人或管理员可以审批。" in denied["posted"][0]["card"]["elements"][0]["text"]
    )
    nothing = await chat.say("lina", "批准 R1")
    assert "R1 没有等您审批的资源需求。" in nothing["posted"][0]["card"]["elements"][0]["text"]
    rejected = await chat.say("wangfang", "驳回 R1 1 预算已用完")
    text = rejected["posted"][0]["card"]["elements"][0]["text"]
    assert text == "<@wangfang> 驳回了 R1 的资源需求：临时扩容服务器 5000 元（原因：预算已用完）"
    again = await chat.say("wangfang", "/approve R1 1")
    assert "已审批过" in again["posted"][0]["card"]["elements"][0]["text"]
    with Session(chat.engine) as session:
        assert session.exec(select(ResourceRequest)).one().status is ResourceStatus.REJECTED
        (entry,) = session.exec(select(AuditEntry).where(AuditEntry.action == AuditAction.RESOURCE_DECIDED)).all()
        assert entry.detail["decision"] == "rejected" and entry.detail["reason"] == "预算已用完"


async def test_a_withdrawn_record_is_left_out_of_the_list_export(chat: SandboxChat) -> None:
    await open_and_submit(chat)  # R1, filed by mistake: the same problem as another group's
    _, content, _ = await download(chat, await chat.say("lina", "/export csv"))
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    assert {r[0] for r in rows[1:]} == {"R1"}
    assert "R1 已撤回" in str(await chat.say("zhangwei", "撤回 R1 重复"))
    answer = await chat.say("lina", "/export csv")
    assert "（0 行）" in str(answer), "withdrawn: kept in the audit trail, left out of the company's case list"
    _, content, _ = await download(chat, answer)
    assert len(list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))) == 1, "the header alone"
