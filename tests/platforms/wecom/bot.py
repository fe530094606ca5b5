"""The bot with WeCom on, both modes, against the fake: what the WeCom tests and the conformance driver start.

``start`` runs the fake on 127.0.0.1, the bot's app with the long connection pointed at it
(short heartbeat and backoff, so a dead socket is noticed in a test's time) and the callback
URL on, web forms at the bot's own address, and waits until the robot is subscribed.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer, unused_port
from sqlmodel import Session, select

from bot.app import GATEWAY, create_app
from bot.platforms.wecom.adapter import WeComPlatform
from bot.platforms.wecom.settings import WeComSettings
from bot.settings import load_settings
from storage.models import InboundEvent, OutboxMessage, ProcessedEvent
from storage.timekeeping import ManualClock
from storage.types import OutboxStatus
from tests.platforms.seed import flat, seed_record
from tests.platforms.wecom.fake import AGENT_ID, APP_SECRET, BOT_ID, BOT_SECRET, CORP_ID, FakeWeCom
from tests.platforms.wecom.peer import AES_KEY, TOKEN, WeComPeer

SECRET_KEY = "test-signing-key-0123456789abcdefghijklmnop"
GROUP = "wrkGroupOrders"


@dataclass
class WeComBot:
    client: TestClient
    engine: sa.Engine
    clock: ManualClock
    fake: FakeWeCom
    fake_server: TestServer
    peer: WeComPeer
    platform: WeComPlatform
    sent_before: dict[str, int] = field(default_factory=dict)

    @property
    def gateway(self) -> Any:
        return self.client.server.app[GATEWAY]

    async def settle(self, rounds: int = 90) -> None:
        """The inbox and outbox workers' passes, a second at a time, until nothing is pending."""
        for _ in range(rounds):
            await self.gateway.inbox.run_once()
            await self.gateway.sender.run_once()
            with Session(self.engine) as session:
                pending = session.exec(select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING)).all()
            if not pending:
                return
            self.clock.advance(timedelta(seconds=1))
        raise AssertionError("the outbox did not drain")

    def received(self) -> int:
        """Events stored or handled so far (what the bot has taken from WeCom)."""
        return count(self.engine, InboundEvent) + count(self.engine, ProcessedEvent)

    async def say(self, who: str, text: str, *, chat: str | None = GROUP) -> None:
        """``@Closeloop <text>`` in the group over the long connection, stored, handled and answered."""
        before = self.received()
        await self.fake.push_message(f"@Closeloop {text}", sender=who, chat=chat)
        await until(lambda: self.received() > before)
        await self.settle()

    def form_link(self) -> str:
        """The latest web-form link the bot posted (a link card's button), as a path on the bot's server."""
        for got in reversed(self.fake.got):
            card = got.body.get("template_card") or {}
            links = [j["url"] for j in card.get("jump_list", []) if "/f/" in j["url"] or "/wecom/signin?" in j["url"]]
            if links:
                return re.sub(r"^https?://[^/]+", "", links[0])
        raise AssertionError("no form link was posted")

    async def submit_form(self, link: str, values: Mapping[str, Any]) -> str:
        """The web page behind a form link, filled in with ``values`` (nested) and posted as a browser does."""
        page = await self.client.get(link)
        text = await page.text()
        assert page.status == 200, text[:500]
        csrf = html.unescape(re.search(r'name="csrf" value="([^"]+)"', text).group(1))
        action = re.search(r'<button type="submit" name="action" value="([^"]+)"', text).group(1)
        posted = [("csrf", csrf), ("action", action)]
        for name, value in flat(values).items():
            posted.extend((name, v) for v in value) if isinstance(value, list) else posted.append((name, value))
        answer = await self.client.post(link, data=posted)
        text = await answer.text()
        assert answer.status == 200, text[:500]
        await self.settle()
        return text

    async def new_record(self, recorder: str, *, people: Mapping[str, str], topic: str = "订单系统数据延迟") -> None:
        """The seed record, opened by ``recorder`` and submitted on its web page; ``people`` maps roles to
        userids (each says something first: WeCom does not tell the bot who is in the group)."""
        for userid in people.values():
            await self.say(userid, "记录列表")
        await self.say(recorder, f"新建记录 {topic}")
        await self.submit_form(self.form_link(), seed_record(people))

    async def stop(self) -> None:
        await self.client.close()
        await self.fake_server.close()


def count(engine: sa.Engine, model: Any) -> int:
    with Session(engine) as session:
        return session.exec(select(sa.func.count()).select_from(model)).one()


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Until ``condition()`` holds: what the bot does on its own (a callback in its task) is looked at every 5 ms."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("the bot did not get there in time")
        await asyncio.sleep(0.005)


async def start(engine: sa.Engine, clock: ManualClock, *, companion: bool = False, long_connection: bool = True,
                **core: str) -> WeComBot:  # fmt: skip
    fake = FakeWeCom(clock)
    fake_server = TestServer(fake.app(), host="127.0.0.1")
    await fake_server.start_server()
    fake.server = fake_server
    port = unused_port()
    own: dict[str, str] = {"WECOM_TOKEN": TOKEN, "WECOM_ENCODING_AES_KEY": AES_KEY, "WECOM_WS_URL": fake.ws_url,
                           "WECOM_API_BASE": fake.base, "WECOM_OAUTH_BASE": fake.base}  # fmt: skip
    if long_connection:
        own.update(WECOM_BOT_ID=BOT_ID, WECOM_BOT_SECRET=BOT_SECRET)
    if companion:
        own.update(WECOM_CORP_ID=CORP_ID, WECOM_APP_AGENT_ID=AGENT_ID, WECOM_APP_SECRET=APP_SECRET)
    public = f"http://127.0.0.1:{port}"
    settings = load_settings(_env_file=None, CLOSELOOP_PORT=str(port), CLOSELOOP_PUBLIC_URL=public,
                             CLOSELOOP_SECRET_KEY=SECRET_KEY, **core)  # fmt: skip
    platform = WeComPlatform(WeComSettings(_env_file=None, **own), secret_key=SECRET_KEY, public_url=public,
                             clock=clock, heartbeat=0.2, backoff=0.01, retry_delay=0.01)  # fmt: skip
    app = create_app(settings, engine=engine, clock=clock, platforms=[platform], run_sender=False, run_inbox=False,
                     run_scheduler=False)  # fmt: skip
    client = TestClient(TestServer(app, host="127.0.0.1", port=port))
    await client.start_server()
    if long_connection:
        await fake.wait_for(lambda: fake.connected)
    return WeComBot(client, engine, clock, fake, fake_server, WeComPeer(client, clock), platform)
