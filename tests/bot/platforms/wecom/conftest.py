"""The bot with WeCom on (long connection and callback URL) against the fake WeCom, and the people of the group."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from storage.timekeeping import ManualClock
from tests.platforms.wecom.bot import GROUP, WeComBot, start

ZHANG, LI, WANG, ZHAO = "ZhangWei", "LiNa", "WangFang", "ZhaoQiang"
ADMIN = {"CLOSELOOP_ADMINS": f"wecom:{ZHANG}"}

__all__ = ["ADMIN", "GROUP", "LI", "WANG", "ZHANG", "ZHAO"]


@pytest.fixture
async def wecom(sqlite_engine: sa.Engine, clock: ManualClock) -> AsyncIterator[WeComBot]:
    running = await start(sqlite_engine, clock, **ADMIN)
    yield running
    await running.stop()


@pytest.fixture
async def callback_only(sqlite_engine: sa.Engine, clock: ManualClock) -> AsyncIterator[WeComBot]:
    """The robot in callback URL mode only: no long connection."""
    running = await start(sqlite_engine, clock, long_connection=False, **ADMIN)
    yield running
    await running.stop()
