"""With a companion app, WeCom proves who opens a web form (OAuth2 snsapi_base); without one, the link is the identity."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from storage.timekeeping import ManualClock
from tests.platforms.wecom.bot import WeComBot, start
from tests.platforms.wecom.fake import AGENT_ID, CORP_ID

from .conftest import ADMIN, LI, ZHANG


@pytest.fixture
async def signed(sqlite_engine: sa.Engine, clock: ManualClock) -> AsyncIterator[WeComBot]:
    running = await start(sqlite_engine, clock, companion=True, **ADMIN)
    yield running
    await running.stop()


async def sign_in(bot: WeComBot, entry: str, userid: str, *, code: str | None = None) -> tuple[int, str]:
    """Through /wecom/signin and WeCom's authorize page (played here) back to the bot; (status, where it goes)."""
    bot.client.session.cookie_jar.clear()
    started = await bot.client.get(entry, allow_redirects=False)
    authorize = urlsplit(started.headers["Location"])
    query = parse_qs(authorize.query)
    assert started.status == 302 and authorize.fragment == "wechat_redirect"
    assert (query["appid"], query["agentid"], query["scope"]) == ([CORP_ID], [AGENT_ID], ["snsapi_base"])
    back = urlsplit(query["redirect_uri"][0])
    finished = await bot.client.get(f"{back.path}?{back.query}", allow_redirects=False,
                                    params={"code": code or bot.fake.oauth_code(userid), "state": query["state"][0]})  # fmt: skip
    return finished.status, finished.headers.get("Location", "")


async def test_the_form_opens_for_the_member_wecom_signed_in_and_no_one_else(signed: WeComBot) -> None:
    await signed.say(ZHANG, "新建记录 订单延迟")
    entry = signed.form_link()
    assert entry.startswith("/wecom/signin?next=%2Ff%2F"), "the card's link goes through WeCom's sign-in"
    status, page = await sign_in(signed, entry, ZHANG)
    assert status == 302 and page.startswith("/f/")
    assert (await signed.client.get(page)).status == 200

    status, _ = await sign_in(signed, entry, LI)
    refused = await signed.client.get(page)
    assert status == 302 and refused.status == 403 and 'data-refusal="wrong_person"' in await refused.text()

    signed.client.session.cookie_jar.clear()
    assert (await signed.client.get(page)).status == 403, "not signed in: refused"

    signed.fake.revoke_tokens()  # WeCom invalidated the app's token early (40014): fetched again, once
    assert await sign_in(signed, entry, ZHANG) == (302, page)


async def test_a_forged_state_or_a_used_code_signs_nobody_in(signed: WeComBot) -> None:
    await signed.say(ZHANG, "新建记录 订单延迟")
    entry = signed.form_link()
    code = signed.fake.oauth_code(ZHANG)
    assert (await sign_in(signed, entry, ZHANG, code=code))[0] == 302
    assert (await sign_in(signed, entry, ZHANG, code=code))[0] == 403, "a code works once"
    signed.client.session.cookie_jar.clear()
    forged = await signed.client.get("/wecom/oauth", params={"code": signed.fake.oauth_code(ZHANG), "state": "x" * 32,
                                                             "next": "/f/x"}, allow_redirects=False)  # fmt: skip
    assert forged.status == 403, "a state that is not the browser's own"
    assert (await signed.client.get("/wecom/signin", params={"next": "https://evil.example/"})).status == 400


async def test_without_a_companion_app_the_signed_link_is_the_identity(wecom: WeComBot) -> None:
    await wecom.say(ZHANG, "新建记录 订单延迟")
    link = wecom.form_link()
    assert link.startswith("/f/") and (await wecom.client.get(link)).status == 200
    assert (await wecom.client.get("/wecom/signin", params={"next": link})).status == 404
