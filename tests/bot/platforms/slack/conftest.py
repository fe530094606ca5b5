"""Slack as it calls us: signed slash commands, events and interactions; a fake Web API for what we call."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from bot.app import GATEWAY, create_app
from bot.platforms.slack.adapter import SlackPlatform
from bot.platforms.slack.settings import SlackSettings
from bot.settings import load_settings
from storage.timekeeping import ManualClock

from .fake_slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack, SlackSigner


@dataclass
class Slack:
    client: TestClient
    engine: sa.Engine
    clock: ManualClock
    fake: FakeSlack
    signer: SlackSigner

    @property
    def platform(self) -> SlackPlatform:
        return self.client.server.app[GATEWAY].sender.deliverers["slack"]

    async def work(self) -> None:
        """What the app's workers do in the background: handle stored events, then send what they said."""
        services = self.client.server.app[GATEWAY]
        await services.inbox.run_once()
        await services.sender.run_once()

    async def send(self, body: bytes, *, content_type: str = "application/x-www-form-urlencoded",
                   headers: dict[str, str] | None = None, retry: int | None = None) -> tuple[int, Any]:  # fmt: skip
        """POST to /slack/events, signed now (by the test's clock) unless ``headers`` say otherwise."""
        signed = headers or self.signer.headers(body, timestamp=int(self.clock.now().timestamp()),
                                                content_type=content_type, retry=retry)  # fmt: skip
        response = await self.client.post("/slack/events", data=body, headers=signed)
        text = await response.text()
        try:
            return response.status, json.loads(text) if text else None
        except ValueError:
            return response.status, text


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
