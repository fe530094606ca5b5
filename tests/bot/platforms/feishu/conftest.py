"""Fixtures for the Feishu tests: the fake open platform and the bot with Feishu configured."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.platforms.feishu.adapter import FeishuPlatform
from bot.platforms.feishu.settings import FeishuSettings
from bot.settings import load_settings
from storage.timekeeping import ManualClock
from tests.platforms.feishu.fake import FakeFeishu
from tests.platforms.feishu.peer import APP, BOT, Feishu, feishu_encrypt

__all__ = ["APP", "BOT", "Feishu", "feishu_encrypt"]


@pytest.fixture
async def fake_feishu(clock: ManualClock) -> AsyncIterator[FakeFeishu]:
    fake = FakeFeishu(clock)
    fake.server = TestServer(fake.app(), host="127.0.0.1")
    await fake.server.start_server()
    yield fake
    await fake.server.close()


@pytest.fixture
async def feishu(engine: sa.Engine, clock: ManualClock, fake_feishu: FakeFeishu) -> AsyncIterator[Feishu]:
    platform = FeishuPlatform(FeishuSettings(_env_file=None, **APP, FEISHU_API_BASE=fake_feishu.base), clock=clock)
    app = create_app(load_settings(_env_file=None), engine=engine, clock=clock, platforms=[platform], run_sender=False,
                     run_inbox=False, run_scheduler=False)  # fmt: skip
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield Feishu(client, engine, clock, fake=fake_feishu)
    await client.close()
