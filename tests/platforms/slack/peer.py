"""Slack as it calls us: signed slash commands, events and interactions, as a test client of the bot.

Shared by the Slack tests and the conformance kit (``tests/platforms``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from bot.app import GATEWAY
from bot.platforms.slack.adapter import SlackPlatform
from storage.timekeeping import ManualClock
from tests.platforms.slack.fake import FakeSlack, SlackSigner


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
