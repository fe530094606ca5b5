"""Fixtures for the Slack tests: the fake Web API and the bot with Slack configured."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.platforms.slack.adapter import SlackPlatform
from bot.platforms.slack.settings import SlackSettings
from bot.settings import load_settings
from storage.timekeeping import ManualClock
from tests.platforms.slack.fake import BOT_TOKEN, SIGNING_SECRET, FakeSlack, SlackSigner
from tests.platforms.slack.peer import Slack

__all__ = ["Slack"]


@pytest.fixture
async def fake_slack(clock: ManualClock) -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(clock)
    fake.server = TestServer(fake.app(), host="127.0.0.1")
    await fake.server.start_server()
    yield fake
    await fake.server.close()


@pytest.fixture
async def slack(engine: sa.Engine, clock: ManualClock, fake_slack: FakeSlack) -> AsyncIterator[Slack]:
    settings = SlackSettings(_env_file=None, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                             SLACK_API_BASE=fake_slack.base)  # fmt: skip
    platform = SlackPlatform(settings, clock=clock)
    app = create_app(load_settings(_env_file=None), engine=engine, clock=clock, platforms=[platform], run_sender=False, run_inbox=False,
                     run_scheduler=False)  # fmt: skip
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield Slack(client, engine, clock, fake_slack, SlackSigner())
    await client.close()
