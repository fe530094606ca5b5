"""A running bot with the sandbox platform on 127.0.0.1, a clock that moves only when told."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from bot.app import SERVICES, create_app
from bot.settings import load_settings
from scheduler.timekeeping import ManualClock


@dataclass
class SandboxChat:
    client: TestClient
    engine: sa.Engine
    clock: ManualClock
    group: str = "订单项目群"

    async def say(self, user: str, text: str, *, status: int = 200) -> dict[str, Any]:
        response = await self.client.post("/sandbox/api/messages", json={"group": self.group, "user": user, "text": text})
        assert response.status == status, await response.text()
        return await response.json()

    async def act(self, user: str, action: str, payload: Any, form: dict | None = None, *, status: int = 200) -> dict:
        body = {"group": self.group, "user": user, "action": action, "payload": payload, "form": form or {}}
        response = await self.client.post("/sandbox/api/actions", json=body)
        assert response.status == status, await response.text()
        return await response.json()

    async def history(self) -> list[dict[str, Any]]:
        response = await self.client.get(f"/sandbox/api/groups/{self.group}/messages")
        assert response.status == 200
        return (await response.json())["messages"]

    @property
    def sender(self):  # the app's outbox sender, to drive retries in tests
        return self.client.server.app[SERVICES].sender


async def start_chat(engine: sa.Engine, clock: ManualClock, **settings: str) -> SandboxChat:
    app = create_app(load_settings(_env_file=None, **settings), engine=engine, clock=clock, run_sender=False)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return SandboxChat(client, engine, clock)


@pytest.fixture
async def chat(engine: sa.Engine, clock: ManualClock) -> AsyncIterator[SandboxChat]:
    chat = await start_chat(engine, clock)
    yield chat
    await chat.client.close()
