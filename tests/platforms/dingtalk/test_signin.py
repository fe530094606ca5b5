"""With DINGTALK_WEB_SIGNIN, DingTalk proves who opens a web form or the board (OAuth2); without it, the link is the identity."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from storage.models import Record
from storage.timekeeping import ManualClock
from tests.platforms.dingtalk.fake import CLIENT_ID
from tests.platforms.drivers import DingTalkDriver
from tests.platforms.seed import seed_record


async def sign_in(driver: DingTalkDriver, entry: str, who: str, *, code: str | None = None) -> tuple[int, str]:
    """Through /dingtalk/signin and DingTalk's authorize page (played here) back to the bot; (status, where to)."""
    driver.client.session.cookie_jar.clear()
    started = await driver.client.get(entry, allow_redirects=False)
    authorize = urlsplit(started.headers["Location"])
    query = parse_qs(authorize.query)
    assert started.status == 302 and authorize.path == "/oauth2/auth"
    assert (query["client_id"], query["response_type"], query["scope"], query["prompt"]) == (
        [CLIENT_ID], ["code"], ["openid"], ["consent"])  # fmt: skip
    back = urlsplit(query["redirect_uri"][0])
    assert back.path == "/dingtalk/oauth", "the 重定向URL the README asks to register"
    code = code or driver.fake.oauth_code(driver.ids[who])
    finished = await driver.client.get(f"{back.path}?{back.query}", allow_redirects=False,
                                       params={"authCode": code, "state": query["state"][0]})  # fmt: skip
    return finished.status, finished.headers.get("Location", "")


@pytest.fixture
async def driver(sqlite_engine: sa.Engine, clock: ManualClock) -> AsyncIterator[DingTalkDriver]:
    driver = await DingTalkDriver.start(sqlite_engine, clock, signin=True)
    try:
        yield driver
    finally:
        await driver.client.close()
        await driver.stop()


async def test_the_form_opens_for_the_member_dingtalk_signed_in_and_no_one_else(
    driver: DingTalkDriver, sqlite_engine: sa.Engine
) -> None:
    entry = await driver.open_form("zhang", "/record new 订单系统数据延迟问题专项沟通")
    assert entry.startswith("/dingtalk/signin?next=%2Ff%2F"), "the card's link goes through DingTalk's sign-in"
    status, page = await sign_in(driver, entry, "zhang")
    assert status == 302 and page.startswith("/f/")
    assert (await driver.client.get(page)).status == 200

    status, _ = await sign_in(driver, entry, "li")
    refused = await driver.client.get(page)
    assert status == 302 and refused.status == 403 and 'data-refusal="wrong_person"' in await refused.text()

    driver.client.session.cookie_jar.clear()
    assert (await driver.client.get(page)).status == 403, "not signed in: refused"

    driver.fake.revoke_tokens()  # the app's token revoked early (40014 on the legacy host): fetched again, once
    assert await sign_in(driver, entry, "zhang") == (302, page)
    await driver.submit("zhang", page, seed_record(driver.ids))  # signed in: the form is used as ever
    with Session(sqlite_engine) as session:
        assert session.exec(select(Record)).one().topic == "订单系统数据延迟问题专项沟通"


async def test_a_forged_state_a_used_code_or_an_outsider_signs_nobody_in(driver: DingTalkDriver) -> None:
    entry = await driver.open_form("zhang", "/record new 订单延迟")
    code = driver.fake.oauth_code(driver.ids["zhang"])
    assert (await sign_in(driver, entry, "zhang", code=code))[0] == 302
    assert (await sign_in(driver, entry, "zhang", code=code))[0] == 403, "a code works once"
    outsider = driver.fake.oauth_code("0999guest", member=False)
    assert (await sign_in(driver, entry, "zhang", code=outsider))[0] == 403, "not a member of the organisation"
    driver.client.session.cookie_jar.clear()
    forged = await driver.client.get("/dingtalk/oauth", allow_redirects=False, params={
        "authCode": driver.fake.oauth_code(driver.ids["zhang"]), "state": "x" * 32, "next": "/f/x"})  # fmt: skip
    assert forged.status == 403 and "钉钉身份" in await forged.text(), "a state that is not the browser's own"
    assert (await driver.client.get("/dingtalk/signin", params={"next": "https://evil.example/"})).status == 400


async def test_without_the_signin_the_signed_link_is_the_identity(sqlite_engine: sa.Engine, clock: ManualClock) -> None:
    driver = await DingTalkDriver.start(sqlite_engine, clock)
    try:
        link = await driver.open_form("zhang", "/record new 订单延迟")
        assert link.startswith("/f/") and (await driver.client.get(link)).status == 200
        assert (await driver.client.get("/dingtalk/signin", params={"next": link})).status == 404
    finally:
        await driver.client.close()
        await driver.stop()
