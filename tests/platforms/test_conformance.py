"""The conformance kit: the same flows on every platform, each through its own fake speaking its real protocol.

Every platform must: run the seed example end to end (new → form → sign-off →
active → a reminder with real @-mentions → close with a verified result); keep
what a person typed as text (no @all, @channel, @here, mention, link or
formatting from it, anywhere); refuse forged and stale requests and handle a
duplicate once, changing nothing; render every card within its limits; read
every form back as the values that were put in; and deliver the files the bot
makes as it declares (``files``, ``images``), with their bytes intact.
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from cards import forms, reminders, templates
from cards.markup import Markup
from cards.model import Card, Header, Markdown
from cards.reminders import ItemLine
from storage.models import (
    ActionItem,
    InboundEvent,
    OutboxMessage,
    Person,
    ProcessedEvent,
    Record,
    ResourceRequest,
    StoredFile,
)
from storage.types import FileKind, ItemStatus, RecordStatus, ResourceStatus
from tests.platforms.drivers import Driver
from tests.platforms.seed import INJECTION, seed_record

SHANGHAI = ZoneInfo("Asia/Shanghai")
VERIFICATION = "11月26日监控显示延迟≤1.5小时，投诉量下降15%"


def record(engine: sa.Engine) -> Record:
    with Session(engine) as session:
        return session.exec(select(Record)).one()


async def run_seed_example(driver: Driver, *, typed: str = "") -> None:
    """The template's example, as people do it on the platform; ``typed`` goes into every free text."""
    form = await driver.open_form("zhang", "/record new 订单系统数据延迟问题专项沟通")
    await driver.submit("zhang", form, seed_record(driver.ids, typed=typed))
    assert record(driver.engine).status is RecordStatus.CONFIRMING
    for who in ("li", "wang", "zhang"):
        await driver.press(who, driver.button("record.confirm"))
    assert record(driver.engine).status is RecordStatus.IN_PROGRESS
    await driver.command("li", f"/progress R1-1 多线程改造完成一半{typed} 50%")
    await driver.jobs("2026-11-24T17:30+08:00")
    for who, ref in (("li", "R1-1"), ("wang", "R1-2"), ("zhao", "R1-3")):
        await driver.command(who, f"/action done {ref} 已上线并验证{typed}")
    await driver.command("zhang", f"/record close R1 {VERIFICATION}{typed}")


async def test_the_seed_example_end_to_end(driver: Driver) -> None:
    await run_seed_example(driver)
    ids = driver.ids
    request = driver.find("核对记录内容", first=True)
    assert {ids["zhang"], ids["li"], ids["wang"]} <= request.mentions, "the sign-off request @-mentions each one"
    assert "已启动跟进" in driver.find("已启动跟进").text
    prompt = driver.find("下班前请汇报进度")
    assert {ids["wang"], ids["zhao"]} <= prompt.mentions, "the evening prompt really @-mentions the owners to report"
    assert ids["li"] not in prompt.mentions, "李娜 reported today: listed, not nagged"
    closed = driver.find(VERIFICATION)
    assert "已闭环" in closed.text
    assert record(driver.engine).status is RecordStatus.CLOSED and record(driver.engine).verification == VERIFICATION


async def test_typed_text_never_becomes_markup_or_a_mention(driver: Driver) -> None:
    await run_seed_example(driver, typed=INJECTION)
    # a display name as the platform gives it with a mention: kept as the person's name, shown as text
    await driver.command("zhang", "/record new 与 @li 的对账差异", li=INJECTION)
    await driver.command("zhang", "/record show R1")
    await driver.command("zhang", "/record export R1")
    if driver.gives_names:
        with Session(driver.engine) as session:
            named = session.exec(select(Person).where(Person.user_id == driver.ids["li"])).one()
        assert named.display_name == INJECTION[:100], "names are kept as given (up to 100 characters)"
    seen = driver.everything()
    assert len(seen) > 10
    known = set(driver.ids.values())
    for message in seen:
        leaked = [leak for leak in driver.leaks if leak in message.markup]
        assert leaked == [], f"{driver.name} let typed text through as markup: {leaked}\n{message.markup[:500]}"
        assert message.mentions <= known, f"{driver.name} mentioned someone nobody named: {message.mentions - known}"
    assert any(INJECTION in message.text for message in seen), "typed text is shown as typed"
    assert record(driver.engine).status is RecordStatus.CLOSED


async def test_forged_stale_and_duplicate_requests_change_nothing(driver: Driver) -> None:
    def counts() -> tuple[int, ...]:
        with Session(driver.engine) as session:
            return tuple(
                session.exec(select(sa.func.count()).select_from(model)).one()
                for model in (OutboxMessage, ProcessedEvent, InboundEvent, Record)
            )

    before = counts()
    assert 400 <= await driver.forged() < 500
    assert 400 <= await driver.stale() < 500
    assert counts() == before, "nothing stored, nothing said"
    duplicate = await driver.duplicate()
    if duplicate is not None:  # platforms redeliver; the sandbox mints its own event ids
        assert duplicate == (200, 200)
        outbox, processed, *_ = counts()
        assert (outbox, processed) == (before[0] + 1, before[1] + 1), "handled once, answered once"


def template_cards() -> list[Card]:
    """Every kind of card the bot sends, at sizes people reach."""
    line = ItemLine("R1-2", 1, 3, "审批临时扩容预算5000元" * 10, datetime.fromisoformat("2026-11-26T18:00+08:00"))
    at = datetime.fromisoformat("2026-12-01T10:00+08:00")
    shanghai = SHANGHAI
    owners = [(f"ou_{n}", [line] * 3) for n in range(40)]
    return [
        forms.record_form(lang="zh-CN", payload=templates.payload_of(Record(id=1, version=1)), topic="订单系统数据延迟"),
        reminders.daily_prompt(owners=owners, reported=["李娜"] * 20, date="2026-11-24", lang="zh-CN", zone=shanghai),
        reminders.deadline_warning(item=line, owner="ou_li", recorder="ou_zhang", days=2, lang="zh-CN", zone=shanghai),
        reminders.overdue_first(item=line, owner="ou_li", leads=["ou_chen"], lang="zh-CN", zone=shanghai),
        reminders.overdue_second(item=line, owner="ou_li", people=["ou_liu"], days=2, lang="zh-CN", zone=shanghai),
        reminders.meeting_reminder(ref="R1", topic="订单", at=at, place="3楼", people=["ou_li"], lang="zh-CN",
                                   zone=shanghai),
        reminders.confirmation_reminder(ref="R1", record_id=1, version=1, topic="订单", people=["ou_li"], lang="en"),
        Card(header=Header(title="记录列表"), elements=[
            Markdown(text=Markup("\n".join(f"- **R{n}** 订单系统数据延迟问题专项沟通 — 进行中" for n in range(900))))]),
    ]  # fmt: skip


def test_every_card_renders_within_the_platforms_limits(driver: Driver) -> None:
    limits = driver.capabilities.limits
    for card in template_cards():
        pages = driver.render(card)
        assert pages, "every card becomes at least one message"
        for page in pages:
            if limits.message_bytes is not None:
                assert len(json.dumps(page, ensure_ascii=False).encode()) <= limits.message_bytes
            if limits.blocks is not None:
                assert len(page["blocks"]) <= limits.blocks
            if limits.text_chars is not None:
                texts = [b["text"]["text"] for b in page.get("blocks", []) if isinstance(b.get("text"), dict)]
                assert all(len(text) <= limits.text_chars for text in texts)


def test_every_form_reads_back_as_the_values_put_in(driver: Driver) -> None:
    """Render the seed record's form filled in, submit it unchanged as the platform would: the same record."""
    shanghai = SHANGHAI
    now = datetime.fromisoformat("2026-11-24T09:00+08:00")
    values = seed_record(driver.ids)
    card = forms.record_form(lang="zh-CN", payload=templates.payload_of(Record(id=1, version=1)), topic="")
    filled = forms.refill(card, values=values, errors={}, warnings={}, lang="zh-CN")
    expected = forms.parse_record_form(values, now=now, zone=shanghai, lang="zh-CN")
    read_back = forms.parse_record_form(driver.submitted(filled), now=now, zone=shanghai, lang="zh-CN")
    assert read_back.errors == {} and expected.errors == {}
    assert read_back == expected


@pytest.mark.parametrize("field", ["topic", "notes"])
def test_typed_text_in_a_form_reads_back_exactly(driver: Driver, field: str) -> None:
    values = {**seed_record(driver.ids), field: "订单 " + INJECTION}
    card = forms.record_form(lang="zh-CN", payload=templates.payload_of(Record(id=1, version=1)), topic="")
    filled = forms.refill(card, values=values, errors={}, warnings={}, lang="zh-CN")
    read = forms.parse_record_form(driver.submitted(filled), now=datetime.fromisoformat("2026-11-24T09:00+08:00"),
                                   zone=SHANGHAI, lang="zh-CN")  # fmt: skip
    assert read.fields[field] == "订单 " + INJECTION


async def test_an_export_and_the_reviews_chart_arrive_as_the_platform_declares(driver: Driver) -> None:
    form = await driver.open_form("zhang", "/record new 订单系统数据延迟问题专项沟通")
    await driver.submit("zhang", form, seed_record(driver.ids))
    await driver.command("zhang", "/record export R1 xlsx")
    await driver.command("zhang", "/report")
    with Session(driver.engine) as session:
        made = {f.kind: f for f in session.exec(select(StoredFile))}
    export, chart = made[FileKind.RECORD_EXPORT], made[FileKind.REVIEW_CHART]
    arrived = {a.filename: a for a in await driver.arrived()}
    capabilities = driver.capabilities  # a platform that takes neither: tests/bot/web/test_downloads.py
    if capabilities.files:
        assert arrived[export.filename].content == export.content and not arrived[export.filename].image
    if capabilities.images:
        assert arrived[chart.filename].content == chart.content and arrived[chart.filename].image
    assert len(arrived) == capabilities.files + capabilities.images, "each file once"


async def test_the_life_of_a_record_after_it_is_written(driver: Driver) -> None:
    """Approve from the sign-off request, move a deadline, hand an item over, cancel one: each announced with real
    @-mentions, and the scheduler warns about the moved deadline at its new date (issue 11)."""
    ids = driver.ids
    form = await driver.open_form("zhang", "/record new 订单系统数据延迟问题专项沟通")
    await driver.submit("zhang", form, seed_record(ids))
    await driver.press("wang", driver.button("resource.approve"))
    for who in ("li", "wang", "zhang"):
        await driver.press(who, driver.button("record.confirm"))
    assert record(driver.engine).status is RecordStatus.IN_PROGRESS
    assert ids["wang"] in driver.find("批准了 R1 的资源需求").mentions
    await driver.command("wang", "/action due R1-2 2026-12-04 供应商延期到货")
    assert ids["wang"] in driver.find("改为 2026-12-04").mentions
    if driver.mentions_in_commands:
        await driver.command("li", "/action owner R1-1 @zhao 出差")
    else:  # where a command cannot name a person, the item's 转交 button opens a form that can
        await driver.press("li", driver.button("item.owner_open"))
        form = next(seen.form for seen in reversed(driver.everything()) if seen.form is not None)
        await driver.submit("li", form, {"owner": ids["zhao"], "reason": "出差"})
    assert {ids["li"], ids["zhao"]} <= driver.find("转交给").mentions
    await driver.command("zhang", "/action cancel R1-3 改由运维统一建设")
    assert "已取消" in driver.find("改由运维统一建设").text
    await driver.jobs("2026-12-02T10:00+08:00")
    assert ids["wang"] in driver.find("到期预警：R1-2 将于 2026-12-04").mentions
    with Session(driver.engine) as session:
        assert session.exec(select(ResourceRequest)).one().status is ResourceStatus.APPROVED
        items = {i.seq: i for i in session.exec(select(ActionItem))}
        assert session.get(Person, items[1].owner_id).user_id == ids["zhao"]
        assert items[3].status is ItemStatus.CANCELLED
