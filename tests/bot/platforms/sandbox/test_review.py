"""The monthly review in the chat: the card with its chart, the workspace-wide review for admins, month words."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from .conftest import SandboxChat, active_record, open_and_submit
from .test_commands import texts


async def test_the_review_card_comes_with_its_chart(chat: SandboxChat) -> None:
    await active_record(chat)
    answer = await chat.say("lina", "复盘")
    (message,) = answer["posted"]
    card = message["card"]
    assert card["header"]["title"] == "2026年11月 复盘"
    said = texts(answer)
    assert "新建记录 1 条，闭环 0 条；本月到期任务 2 项，按时完成 0 项（—），逾期 0 项，已取消 0 项。" in said
    assert "月底仍未闭环 1 条。" in said and "尚未到期 2 项。" in said
    assert "- 技术问题：1 条（近三月 9月 0 → 10月 0 → 11月 1） — R1 订单系统数据延迟问题专项沟通" in said
    assert "- 技术部：2 项未完成（当前逾期 0 项）；本月到期 1 项，按时率 —" in said
    assert "- 财务部：1 项未完成（当前逾期 0 项）；本月到期 1 项，按时率 —" in said
    assert "资源需求：待审批 1 项 5000 元。" in said and "人工升级 0 次" in said
    (chart,) = [e for e in card["elements"] if e["kind"] == "attachment"]
    assert chart["image"] and chart["mime"] == "image/png" and chart["filename"] == "复盘图表-2026-11.png"
    response = await chat.client.get(f"/sandbox/files/{chart['file_id']}")
    assert response.status == 200 and response.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(await response.read())).size == (1000, 420)
    page = await (await chat.client.get(f"/?group={chat.group}&as=lina")).text()
    assert f'<img class="attachment" src="/sandbox/files/{chart["file_id"]}" alt="复盘图表-2026-11.png">' in page


async def test_a_type_that_recurs_is_called_out(chat: SandboxChat) -> None:
    await open_and_submit(chat)
    await open_and_submit_again(chat)
    said = texts(await chat.say("zhangwei", "/report"))
    assert "技术问题：2 条" in said
    assert "⚠ 技术问题（本月 2 条）：建议复盘“技术问题”相关流程，找到根因并优化，避免再次发生。" in said


async def open_and_submit_again(chat: SandboxChat) -> None:
    from .conftest import SEED_FORM, form_of

    opened = await chat.say("zhangwei", "/record new 订单系统再次延迟")
    submit = form_of(opened["posted"][0]["card"])["submit"]
    await chat.act("zhangwei", submit["action"], submit["payload"], {**SEED_FORM, "topic": "订单系统再次延迟"})


async def test_the_workspace_review_is_for_admins(chat: SandboxChat) -> None:
    await active_record(chat)
    chat.group = "另一个项目群"
    await open_and_submit_again(chat)
    refused = texts(await chat.say("lina", "/report all"))
    assert "只有管理员可以查看全部群的复盘。" in refused
    said = texts(await chat.say("zhangwei", "复盘 全部"))
    assert "2026年11月 复盘（全部群）" in said and "新建记录 2 条" in said and "技术问题：2 条" in said
    assert "新建记录 1 条" in texts(await chat.say("zhangwei", "/report"))


@pytest.mark.parametrize(("text", "title"), [
    ("复盘 上个月", "2026年10月 复盘"), ("复盘 十一月", "2026年11月 复盘"), ("复盘 2026年十月", "2026年10月 复盘"),
    ("复盘 本月", "2026年11月 复盘"), ("/report 2026-11 all", "2026年11月 复盘（全部群）"),
    ("复盘 12月", "2025年12月 复盘"),  # no year: the latest December, not next month's
])  # fmt: skip
async def test_months_as_people_say_them(chat: SandboxChat, text: str, title: str) -> None:
    assert title in texts(await chat.say("zhangwei", text))
