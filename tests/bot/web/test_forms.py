"""Hosted forms over HTTP: a form in the chat links to its page; the page posts like the card; every bad link is refused."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from sqlmodel import Session, select

from storage.models import FormDraft, OutboxMessage, ProcessedEvent, Record, WebForm
from storage.timekeeping import ManualClock

from ..platforms.sandbox.conftest import SEED_FORM, SandboxChat
from .conftest import csrf_of, flat, open_form_link

SUBMIT = ("action", "record.submit")


async def page_of(chat: SandboxChat, link: str, **headers: str) -> tuple[int, str, dict]:
    response = await chat.client.get(link, headers=headers)
    return response.status, await response.text(), dict(response.headers)


async def post(chat: SandboxChat, link: str, data: list[tuple[str, str]], **headers: str) -> tuple[int, str]:
    response = await chat.client.post(link, data=data, headers=headers)
    return response.status, await response.text()


def counts(chat: SandboxChat) -> tuple[int, int, int]:
    """(records, used web forms, outbox messages)."""
    with Session(chat.engine) as session:
        used = [f for f in session.exec(select(WebForm)) if f.submitted_at is not None]
        return len(session.exec(select(Record)).all()), len(used), len(session.exec(select(OutboxMessage)).all())


async def test_the_form_in_the_chat_links_to_its_page_behind_strict_headers(site: SandboxChat) -> None:
    link = await open_form_link(site)
    status, html, headers = await page_of(site, link)
    assert status == 200 and 'name="topic"' in html and 'value="订单系统数据延迟问题专项沟通"' in html
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store" and headers["Referrer-Policy"] == "same-origin"
    assert "<script>" not in html and " onclick=" not in html and "<style>" not in html, "nothing inline"
    script = re.search(r'<script src="(/web/static/cards\.[0-9a-f]+\.js)" integrity="(sha384-[^"]+)"', html)
    served = await site.client.get(script.group(1))
    assert served.status == 200 and "data-add-row" in await served.text()
    assert 'data-search="lina ln"' in html, "the person picker searches by pinyin initials"
    assert "张伟（运营部）" in html and "刘洋（总经办）" in html


async def test_the_seed_record_from_the_page_is_posted_to_the_group_once(site: SandboxChat) -> None:
    link = await open_form_link(site)
    _, html, _ = await page_of(site, link)
    data = [("csrf", csrf_of(html)), SUBMIT, *flat(SEED_FORM)]
    status, answer = await post(site, link, data)
    assert status == 200 and "已提交" in answer and "R1 已提交，等待参与人确认" in answer
    assert "<@" not in answer and 'value="record.confirm"' not in answer, "names, and no chat buttons on a page"
    assert (await post(site, link, data))[0] == 410, "a resend is refused: the link is used"
    assert counts(site)[:2] == (1, 1)
    await site.sender.run_once()
    titles = [m["card"]["header"]["title"] for m in await site.history()]
    assert titles[-2:] == [
        "R1 订单系统数据延迟问题专项沟通",
        "R1 订单系统数据延迟问题专项沟通",
    ]  # summary, sign-off request
    with Session(site.engine) as session:
        (form,) = session.exec(select(WebForm)).all()
        assert form.result["record_id"] == 1 and form.result["toast"] == "R1 已提交，等待参与人确认"
    status, used, _ = await page_of(site, link)
    assert status == 410 and 'data-refusal="used"' in used and "订单系统数据延迟问题专项沟通" in used


async def test_the_same_page_sent_twice_at_once_is_one_submission(site: SandboxChat) -> None:
    link = await open_form_link(site)
    _, html, _ = await page_of(site, link)
    data = [("csrf", csrf_of(html)), SUBMIT, *flat(SEED_FORM)]
    event_ids_before = len(_processed(site))
    first, again = await asyncio.gather(site.client.post(link, data=data), site.client.post(link, data=data))
    assert sorted([first.status, again.status]) == [200, 410]
    assert counts(site)[:2] == (1, 1) and len(_processed(site)) == event_ids_before + 1


def _processed(chat: SandboxChat) -> list[ProcessedEvent]:
    with Session(chat.engine) as session:
        return list(session.exec(select(ProcessedEvent)))


async def test_field_errors_come_back_on_the_page_with_what_was_typed(site: SandboxChat) -> None:
    link = await open_form_link(site)
    _, html, _ = await page_of(site, link)
    wrong = {**SEED_FORM, "items": [{**SEED_FORM["items"][0], "owner": ""}, *SEED_FORM["items"][1:]]}
    status, page = await post(site, link, [("csrf", csrf_of(html)), SUBMIT, *flat(wrong)])
    assert status == 200 and "每项任务需要一位责任人。" in page and 'value="优化同步脚本为多线程"' in page
    assert 'aria-invalid="true"' in page and counts(site)[:2] == (0, 0), "nothing stored, the link not used"
    status, page = await post(site, link, [("csrf", csrf_of(page)), SUBMIT, *flat(SEED_FORM)])
    assert status == 200 and "R1 已提交" in page and counts(site)[:2] == (1, 1)


async def test_a_draft_keeps_what_was_typed_and_leaves_the_link_usable(site: SandboxChat) -> None:
    link = await open_form_link(site)
    _, html, _ = await page_of(site, link)
    half = [("csrf", csrf_of(html)), ("action", "record.save_draft"), ("topic", "订单延迟"), ("problem", "同步慢")]
    status, page = await post(site, link, half)
    assert status == 200 and "草稿已保存" in page and 'value="订单延迟"' in page
    status, again, _ = await page_of(site, link)
    assert status == 200 and "同步慢" in again, "the page opens again with the draft"
    with Session(site.engine) as session:
        assert session.exec(select(FormDraft)).one().values["problem"] == "同步慢"
    assert counts(site)[:2] == (0, 0)


async def test_refused_links_store_nothing(site: SandboxChat, clock: ManualClock) -> None:
    link = await open_form_link(site)
    _, html, _ = await page_of(site, link)
    data = [("csrf", csrf_of(html)), SUBMIT, *flat(SEED_FORM)]
    token = link.rsplit("/", 1)[1]
    for changed in (token[:-1] + ("x" if token[-1] != "x" else "y"), token[:20], token.replace(".", "", 1), "x"):
        status, page, _ = await page_of(site, f"/f/{changed}")
        assert status == 403 and 'data-refusal="invalid"' in page and "改动" in page
        assert (await post(site, f"/f/{changed}", data))[0] == 403
    board = (await site.say("zhangwei", "/board"))["posted"][0]["card"]["elements"][1]["buttons"][0]["url"]
    assert (await page_of(site, "/f/" + board.rsplit("/", 1)[1]))[0] == 403, "a board token is no form token"

    status, page = await post(site, link, [("csrf", "forged"), SUBMIT, *flat(SEED_FORM)])
    assert status == 403, "no page token, no post"
    status, page = await post(site, link, data, Origin="https://evil.example.com")
    assert status == 403, "a post from another site"
    stranger = [("csrf", csrf_of(html)), SUBMIT, *flat({**SEED_FORM, "cc_people": ["ou_outsider"]})]
    status, page = await post(site, link, stranger)
    assert status == 400 and "不是本群的成员" in page
    status, page = await post(site, link, [("csrf", csrf_of(html)), ("action", "record.confirm")])
    assert status == 400, "only the form's own buttons"

    status, page, _ = await page_of(site, link, Cookie="closeloop_sandbox_as=lina")
    assert status == 403 and 'data-refusal="wrong_person"' in page and "张伟" in page

    clock.advance(timedelta(minutes=30))
    status, page, _ = await page_of(site, link)
    assert status == 410 and 'data-refusal="expired"' in page
    assert (await post(site, link, data))[0] == 410
    assert counts(site)[:2] == (0, 0)


async def test_form_links_last_as_long_as_configured(engine, clock: ManualClock) -> None:
    from .conftest import start_site

    chat = await start_site(engine, clock, CLOSELOOP_FORM_LINK_MINUTES="5")
    try:
        link = await open_form_link(chat)
        clock.advance(timedelta(minutes=4, seconds=59))
        assert (await page_of(chat, link))[0] == 200
        clock.advance(timedelta(seconds=1))
        assert (await page_of(chat, link))[0] == 410
    finally:
        await chat.client.close()


async def test_forms_the_bot_answers_with_get_a_link_and_the_page_is_in_the_groups_language(site: SandboxChat) -> None:
    await site.say("zhangwei", "/settings language en")
    answer = await site.say("zhangwei", "/record new Order sync delay")
    (card,) = [m["card"] for m in answer["posted"]]
    (button,) = [b for e in card["elements"] if e["kind"] == "actions" for b in e["buttons"]]
    assert button["label"] == "Open in browser"
    link = re.sub(r"^http://127\.0\.0\.1:[0-9]+", "", button["url"])
    _, html, _ = await page_of(site, link)
    assert '<html lang="en">' in html and "Filling in as 张伟" in html
    _, zh, _ = await page_of(site, link + "?lang=zh-CN")
    assert '<html lang="zh-CN">' in zh and "填写人：张伟" in zh
