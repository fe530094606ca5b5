"""A running sandbox bot with web forms on (a fixed signing key, links to the server's own port)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html import unescape
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer, unused_port

from bot.app import create_app
from bot.settings import load_settings
from storage.timekeeping import ManualClock

from ..platforms.sandbox.conftest import SEED_FORM, SandboxChat, form_of

KEY = "test-signing-key-0123456789abcdefghijklmnop"


async def start_site(
    engine: sa.Engine, clock: ManualClock, *, run_sender: bool = False, **settings: str
) -> SandboxChat:
    port = unused_port()
    values = {"CLOSELOOP_PORT": str(port), "CLOSELOOP_SECRET_KEY": KEY, **settings}
    app = create_app(load_settings(_env_file=None, **values), engine=engine, clock=clock, run_sender=run_sender,
                     run_scheduler=False)  # fmt: skip
    client = TestClient(TestServer(app, host="127.0.0.1", port=port))
    await client.start_server()
    return SandboxChat(client, engine, clock)


@pytest.fixture
async def site(engine: sa.Engine, clock: ManualClock) -> AsyncIterator[SandboxChat]:
    chat = await start_site(engine, clock)
    yield chat
    await chat.client.close()


def link_in(card: dict[str, Any]) -> str:
    """The URL of the card's (only) link button, as a path on this server."""
    (url,) = [b["url"] for e in card["elements"] if e["kind"] == "actions" for b in e["buttons"] if "url" in b]
    return re.sub(r"^http://127\.0\.0\.1:[0-9]+", "", url)


def csrf_of(html: str) -> str:
    return unescape(re.search(r'name="csrf" value="([^"]+)"', html).group(1))


def flat(values: dict[str, Any]) -> list[tuple[str, str]]:
    """Nested form values as a browser posts them: items.0.owner=…, a multi-select once per choice."""
    posted: list[tuple[str, str]] = []
    for name, value in values.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for index, row in enumerate(value):
                posted.extend((f"{name}.{index}.{k}", v) for k, v in row.items())
        elif isinstance(value, list):
            posted.extend((name, v) for v in value)
        else:
            posted.append((name, value))
    return posted


async def open_form_link(
    chat: SandboxChat, user: str = "zhangwei", text: str = "/record new 订单系统数据延迟问题专项沟通"
) -> str:
    answer = await chat.say(user, text)
    (card,) = [m["card"] for m in answer["posted"]]
    assert form_of(card)
    return link_in(card)


__all__ = ["SEED_FORM", "csrf_of", "flat", "link_in", "open_form_link", "start_site"]
