"""A real browser: Debian's Chromium driven by Playwright through the sandbox chat, a hosted form and the board.

The seed record is typed into the hosted form at phone size (390×844) with the
keyboard, rows added, a field error seen and mended, and submitted; the result
arrives in the chat; the board shows it under 进行中, and under 已延期 once the
sandbox clock passes a deadline. Links opened after use, with a changed byte,
after expiry and as another person are refused. Any console error fails.

Screenshots go to the test's folder, or to ``docs/screenshots`` with
``CLOSELOOP_SCREENSHOTS=docs/screenshots`` (how the README's pictures are made).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import BrowserContext, Page, async_playwright, expect
from sqlmodel import Session, select

from storage.models import Record, WebForm
from storage.timekeeping import ManualClock
from storage.types import RecordStatus

from ..platforms.sandbox.conftest import SEED_FORM, SandboxChat
from .conftest import open_form_link, start_site

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
GROUP = "demo"


@dataclass
class Console:
    """Every console error and page error. A refused link answers 403 or 410 on purpose, which the browser
    logs as a failed load of that very URL; only those, for the URLs a test expects refused, are let pass."""

    errors: list[tuple[str, str]] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)

    def unexpected(self) -> list[str]:
        return [
            text for text, where in self.errors
            if not (where in self.refused and re.fullmatch(r"Failed to load resource: .* status of 4(03|10) .*", text))
        ]  # fmt: skip


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[tuple[BrowserContext, Console]]:
    """Debian's Chromium with a fresh profile, and its console."""
    if not HAVE_CHROMIUM:
        message = f"{CHROMIUM} is missing (.ci/run installs Debian's chromium package)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    console = Console()
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            tmp_path / "profile", executable_path=str(CHROMIUM), headless=True, args=FLAGS, viewport=PHONE,
            locale="zh-CN", timezone_id="Asia/Shanghai",
        )  # fmt: skip
        context.on(
            "console",
            lambda m: console.errors.append((m.text, m.location.get("url", ""))) if m.type == "error" else None,
        )
        context.on("weberror", lambda error: console.errors.append((str(error.error), "")))
        context.set_default_timeout(10_000)
        yield context, console
        await context.close()


@pytest.fixture
async def site(sqlite_engine: sa.Engine, clock: ManualClock) -> AsyncIterator[SandboxChat]:
    chat = await start_site(sqlite_engine, clock, run_sender=True)
    chat.group = GROUP
    yield chat
    await chat.client.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CLOSELOOP_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def url(chat: SandboxChat, path: str) -> str:
    return str(chat.client.make_url(path))


async def say(page: Page, text: str) -> None:
    """Type in the sandbox chat's message box and send it."""
    box = page.locator("form.say input[name=text]")
    await box.click()
    await page.keyboard.type(text)
    await page.keyboard.press("Enter")
    await page.wait_for_load_state()


async def type_into(page: Page, name: str, text: str) -> None:
    field = page.locator(f'[name="{name}"]')
    await field.click()
    await page.keyboard.press("ControlOrMeta+a")
    await page.keyboard.type(text)


async def pick(page: Page, name: str, search: str, user_id: str) -> None:
    """A person picker: type pinyin initials into its search box; the one match is chosen."""
    select = page.locator(f'select[name="{name}"]')
    box = page.locator(f"#{await select.get_attribute('id')}-search")
    await box.click()
    await page.keyboard.type(search)
    await expect(select).to_have_value(user_id)


async def add_row(page: Page, group: str) -> None:
    await page.locator(f"#f-{group} > button.add-row").click()


async def fill_seed(page: Page, form: dict[str, Any], *, third_due: str) -> None:
    for name in ("meeting_start", "meeting_end", "place", "meeting_link"):
        await type_into(page, name, form[name])
    await page.locator('select[name="category"]').select_option(form["category"])
    for index, row in enumerate(form["participants"]):
        if index:
            await add_row(page, "participants")
        await pick(page, f"participants.{index}.person", {"zhangwei": "zw", "lina": "ln", "wangfang": "wf"}[row["person"]],
                   row["person"])  # fmt: skip
        await type_into(page, f"participants.{index}.department", row["department"])
        await page.locator(f'select[name="participants.{index}.authority"]').select_option(row["authority"])
    for name in ("problem", *[f"problem_{p}" for p in ("what", "when", "where", "who", "why", "how")], "impact"):
        await type_into(page, name, form[name])
    for index, row in enumerate(form["key_points"]):
        if index:
            await add_row(page, "key_points")
        await type_into(page, f"key_points.{index}.department", row["department"])
        await type_into(page, f"key_points.{index}.text", row["text"])
    initials = {"lina": "ln", "wangfang": "wf", "zhaoqiang": "zq"}
    for index, row in enumerate(form["items"]):
        if index:
            await add_row(page, "items")
        await type_into(page, f"items.{index}.description", row["description"])
        await pick(page, f"items.{index}.owner", initials[row["owner"]], row["owner"])
        await type_into(page, f"items.{index}.due", third_due if index == 2 else row["due"])
        await type_into(page, f"items.{index}.measure", row["measure"])
        await page.locator(f'select[name="items.{index}.term"]').select_option(row.get("term", "short"))
    resource = form["resources"][0]
    await type_into(page, "resources.0.what", resource["what"])
    await type_into(page, "resources.0.amount", resource["amount"])
    await type_into(page, "resources.0.unit", resource["unit"])
    await pick(page, "resources.0.approver", "wf", "wangfang")
    await page.locator('select[name="cc_people"]').select_option(form["cc_people"])
    await type_into(page, "cc_departments", form["cc_departments"])
    await type_into(page, "notes", form["notes"])
    await type_into(page, "next_meeting_at", form["next_meeting_at"])


async def accessibility_violations(page: Page) -> list[str]:
    """axe-core's WCAG 2 A/AA rules: every input labelled, text contrast, names, structure."""
    results = await Axe().run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa"]}})
    return [f"{v['id']}: {[n['target'] for n in v['nodes']][:3]}" for v in results.response["violations"]]


async def test_the_seed_record_through_the_hosted_form_and_the_board(
    site: SandboxChat, browser: tuple[BrowserContext, Console], shots: Path, clock: ManualClock
) -> None:
    context, console = browser
    page = await context.new_page()

    # the sandbox chat: /record new answers with the form, and a button that opens it as a web page
    await page.goto(url(site, f"/?group={GROUP}&as=zhangwei"))
    await say(page, "/record new 订单系统数据延迟问题专项沟通")
    open_in_browser = page.get_by_role("link", name="在网页中填写").last
    await open_in_browser.click()
    await page.wait_for_load_state()
    assert "/f/" in page.url
    form_url = page.url
    await expect(page.locator('input[name="topic"]')).to_have_value("订单系统数据延迟问题专项沟通")

    # typed with the keyboard at phone size, rows added; one deadline nobody can read
    await fill_seed(page, SEED_FORM, third_due="等月亮圆了")
    await page.locator("#f-participants").scroll_into_view_if_needed()
    await page.screenshot(path=shots / "form-phone.png")
    await page.locator('button[value="record.submit"]').click()
    await page.wait_for_load_state()
    error = page.locator("#f-items-2-due-error")
    await expect(error).to_be_visible()
    await expect(page.locator('[name="items.2.description"]')).to_have_value("建立延迟监控告警")
    await expect(page.locator('[name="participants.2.person"]')).to_have_value("wangfang")
    await page.locator('[name="items.2.owner"]').scroll_into_view_if_needed()
    await page.screenshot(path=shots / "form-errors-phone.png")
    assert await accessibility_violations(page) == []
    with Session(site.engine) as session:
        assert session.exec(select(Record)).all() == [], "a form with errors stores nothing"

    await type_into(page, "items.2.due", SEED_FORM["items"][2]["due"])
    await page.set_viewport_size(DESKTOP)
    await page.screenshot(path=shots / "form-desktop.png")
    await page.set_viewport_size(PHONE)
    await page.locator('button[value="record.submit"]').click()
    await page.wait_for_load_state()
    await expect(page.locator("section.submitted")).to_be_visible()
    await expect(page.locator("p.toast")).to_have_text("R1 已提交，等待参与人确认")
    with Session(site.engine) as session:
        record = session.exec(select(Record)).one()
        assert record.status is RecordStatus.CONFIRMING and record.topic == SEED_FORM["topic"]
        assert session.exec(select(WebForm)).one().result["record_id"] == record.id

    # the result is in the chat, as a card form's would be
    await page.goto(url(site, f"/?group={GROUP}&as=zhangwei"))
    await expect(page.get_by_text("R1「订单系统数据延迟问题专项沟通」已提交").first).to_be_visible()

    # signed off by everyone; then /board in the chat answers with a link to the board
    for user in ("lina", "wangfang", "zhangwei"):
        await site.act(user, "record.confirm", {"record_id": record.id, "version": record.version + 0})
    await page.goto(url(site, f"/?group={GROUP}&as=zhangwei"))
    await say(page, "/board")
    await page.get_by_role("link", name="打开看板").last.click()
    await page.wait_for_load_state()
    in_progress = page.locator('[data-status="in_progress"] [data-ref="R1"]')
    await expect(in_progress).to_be_visible()
    await expect(in_progress).to_contain_text("优化同步脚本为多线程")
    await expect(in_progress).to_contain_text("李娜")
    board_url = page.url

    # the sandbox clock passes 26 Nov 18:00 (R1-2's deadline): the ladder marks the record 已延期
    moved = await site.client.post("/sandbox/api/clock", json={"group": GROUP, "at": "2026-11-27T10:00+08:00"})
    assert moved.status == 200
    await page.reload()
    await expect(page.locator('[data-status="delayed"] [data-ref="R1"]')).to_be_visible()
    await expect(page.locator('[data-status="in_progress"] [data-ref="R1"]')).to_have_count(0)

    # two days on: a fresh board (the old link lasted a day) shows what is overdue in red, what is due soon in amber
    clock.advance(timedelta(days=3, hours=1))  # 2026-11-27 10:00 in Shanghai
    console.refused.add(board_url)
    await page.goto(board_url)
    await expect(page.locator('[data-refusal="expired"]')).to_be_visible()
    await page.goto(url(site, f"/?group={GROUP}&as=zhangwei"))
    await say(page, "看板")
    await page.get_by_role("link", name="打开看板").last.click()
    await page.wait_for_load_state()
    await expect(page.locator('[data-ref="R1"] .item').nth(1).locator(".due.overdue")).to_contain_text("已逾期")
    await expect(page.locator('[data-ref="R1"] .item').nth(0).locator(".due.soon")).to_contain_text("即将到期")
    await expect(page.locator('[data-ref="R1"] .item').nth(2).locator(".due")).to_have_class("due")
    board_url = page.url
    await page.screenshot(path=shots / "board-phone.png")
    await page.set_viewport_size(DESKTOP)
    await page.screenshot(path=shots / "board-desktop.png")

    # the record's page: the whole record, names (not mention markup), its history
    await page.locator('[data-ref="R1"] h3 a').click()
    await page.wait_for_load_state()
    await expect(page.locator("ol.history")).to_contain_text("创建了记录")
    await expect(page.locator("ol.history")).to_contain_text("标记为已延期")
    assert "<@" not in await page.content()
    await page.screenshot(path=shots / "record-desktop.png")

    # a used link is refused with a clear page; the board link still works
    await page.set_viewport_size(PHONE)
    console.refused.add(form_url)
    await page.goto(form_url)
    await expect(page.locator('[data-refusal="used"]')).to_be_visible()
    await page.goto(board_url)
    await expect(page.locator('[data-ref="R1"]')).to_be_visible()
    assert console.unexpected() == []


async def test_links_refused_when_edited_expired_or_opened_as_someone_else(
    site: SandboxChat, browser: tuple[BrowserContext, Console], shots: Path, clock: ManualClock
) -> None:
    context, console = browser
    page = await context.new_page()
    await page.goto(url(site, f"/?group={GROUP}&as=zhangwei"))  # the sandbox knows who you are from here on

    link = await open_form_link(site, "zhangwei", "/record new 盘点差异")
    await page.goto(url(site, link))
    await expect(page.locator('input[name="topic"]')).to_have_value("盘点差异")

    token = link.rsplit("/", 1)[1]
    changed = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    console.refused.update({url(site, link.replace(token, changed)), url(site, link)})
    await page.goto(url(site, link.replace(token, changed)))
    await expect(page.locator('[data-refusal="invalid"]')).to_contain_text("改动")
    await page.screenshot(path=shots / "refused-phone.png")

    await page.goto(url(site, f"/?group={GROUP}&as=lina"))  # now 李娜 on this phone
    await page.goto(url(site, link))
    await expect(page.locator('[data-refusal="wrong_person"]')).to_contain_text("张伟")

    await page.goto(url(site, f"/?group={GROUP}&as=zhangwei"))
    clock.advance(timedelta(minutes=31))
    await page.goto(url(site, link))
    await expect(page.locator('[data-refusal="expired"]')).to_be_visible()
    with Session(site.engine) as session:
        assert session.exec(select(Record)).all() == []
    assert console.unexpected() == []
