"""A platform that cannot take files gets a button to a signed, expiring download link instead of the file.

The platform here is a chat that only takes cards (as DingTalk and WeCom will be):
it declares neither ``files`` nor ``images``. Commands reach the bot through the
gateway, as an adapter hands them over; what the outbox delivers is what the
platform would render; the links are fetched from the bot's own pages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import Session, select

from bot.app import GATEWAY, create_app
from bot.outbox import Delivered, OutgoingMessage
from bot.platforms.gateway import Gateway
from bot.settings import load_settings
from cards.model import Actions, Attachment, LinkButton
from handlers.capabilities import Capabilities, FormStyle, RateLimit
from handlers.events import Chat, CommandEvent, Sender
from storage.models import StoredFile
from storage.timekeeping import ManualClock
from storage.types import FileKind

KEY = "test-signing-key-0123456789abcdefghijklmnop"
PUBLIC = "https://closeloop.example.com"


@dataclass
class CardsOnly:
    """A chat platform whose messages are cards and nothing else: no files, no images."""

    name: str = "cardsonly"
    capabilities: Capabilities = field(default_factory=lambda: Capabilities(forms=FormStyle.CARD))
    received: list[OutgoingMessage] = field(default_factory=list)

    @property
    def rate_limit(self) -> RateLimit:
        return self.capabilities.rate_limit

    def mount(self, app: web.Application, gateway: Gateway) -> None:
        return None

    async def deliver(self, message: OutgoingMessage) -> Delivered:
        self.received.append(message)
        return Delivered(f"m{len(self.received)}")

    async def close(self) -> None:
        return None


@dataclass
class Bot:
    client: TestClient
    engine: sa.Engine
    clock: ManualClock
    platform: CardsOnly

    async def say(self, text: str) -> list[OutgoingMessage]:
        gateway = self.client.server.app[GATEWAY]
        before = len(self.platform.received)
        event = CommandEvent(event_id=f"ev-{text}", chat=Chat(self.platform.name, "c1", "acme"),
                             sender=Sender("u-zhang", "张伟"), text=text)  # fmt: skip
        await gateway.receive(event)
        await gateway.inbox.run_once()
        self.clock.advance(timedelta(seconds=1))  # a message a second to one chat, as it declares
        await gateway.sender.run_once()
        return self.platform.received[before:]

    def stored(self, kind: FileKind) -> StoredFile:
        with Session(self.engine) as session:
            return session.exec(select(StoredFile).where(StoredFile.kind == kind)).one()


async def start(engine: sa.Engine, clock: ManualClock, **settings: str) -> Bot:
    platform = CardsOnly()
    app = create_app(load_settings(_env_file=None, **settings), engine=engine, clock=clock, platforms=[platform],
                     run_sender=False, run_inbox=False, run_scheduler=False)  # fmt: skip
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return Bot(client, engine, clock, platform)


@pytest.fixture
async def bot(engine: sa.Engine, clock: ManualClock) -> AsyncIterator[Bot]:
    started = await start(engine, clock, CLOSELOOP_PUBLIC_URL=PUBLIC, CLOSELOOP_SECRET_KEY=KEY)
    yield started
    await started.client.close()


def download_buttons(message: OutgoingMessage) -> list[LinkButton]:
    return [b for e in message.card.elements if isinstance(e, Actions) for b in e.buttons if isinstance(b, LinkButton)]


async def fetch(bot: Bot, url: str) -> tuple[int, bytes, Any]:
    assert url.startswith(PUBLIC + "/d/")
    response = await bot.client.get(urlsplit(url).path)
    return response.status, await response.read(), response.headers


async def test_an_export_and_the_chart_come_as_download_links_that_serve_their_bytes(bot: Bot) -> None:
    (answer,) = await bot.say("/export csv")
    export = bot.stored(FileKind.LIST_EXPORT)
    assert not any(isinstance(e, Attachment) for e in answer.card.elements), "no file the platform cannot take"
    (button,) = download_buttons(answer)
    assert button.label == f"⬇ {export.filename}"
    status, body, headers = await fetch(bot, button.url)
    assert status == 200 and body == export.content and body.startswith("\ufeff".encode())
    assert headers["Content-Type"].startswith("text/csv")
    assert headers["Content-Disposition"] == f"attachment; filename*=UTF-8''{quote(export.filename)}"
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Cache-Control"] == "private, no-store"

    (review,) = await bot.say("/report")
    chart = bot.stored(FileKind.REVIEW_CHART)
    (button,) = download_buttons(review)
    status, body, headers = await fetch(bot, button.url)
    assert status == 200 and body == chart.content and body.startswith(b"\x89PNG")
    assert headers["Content-Disposition"].startswith("inline;"), "the chart opens in the in-app browser"


async def test_a_changed_link_is_refused_and_a_link_expires_with_its_file(bot: Bot) -> None:
    (answer,) = await bot.say("/export csv")
    (export_button,) = download_buttons(answer)
    (review,) = await bot.say("/report")
    (chart_button,) = download_buttons(review)

    token = export_button.url.rsplit("/", 1)[1]
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    status, body, _ = await fetch(bot, f"{PUBLIC}/d/{forged}")
    assert status == 403 and "下载链接不完整或被改动过" in body.decode()
    status, _, _ = await fetch(bot, f"{PUBLIC}/d/{token}.{token}")
    assert status == 403

    bot.clock.advance(timedelta(days=7, minutes=1))  # exports are kept 7 days, charts 40
    status, body, _ = await fetch(bot, export_button.url)
    assert status == 410 and "文件已过期" in body.decode()
    assert (await fetch(bot, chart_button.url))[0] == 200
    bot.clock.advance(timedelta(days=33))
    assert (await fetch(bot, chart_button.url))[0] == 410


async def test_without_links_configured_the_card_names_the_file(engine: sa.Engine, clock: ManualClock) -> None:
    bot = await start(engine, clock)
    try:
        (answer,) = await bot.say("/export csv")
        (attachment,) = [e for e in answer.card.elements if isinstance(e, Attachment)]
        assert attachment.filename == bot.stored(FileKind.LIST_EXPORT).filename and download_buttons(answer) == []
        assert (await bot.client.get("/d/anything")).status == 404, "no download pages without links"
    finally:
        await bot.client.close()
