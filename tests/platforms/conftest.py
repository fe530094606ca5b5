"""The conformance kit's fixture: the bot with one platform at a time, driven through that platform's fake."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from storage.timekeeping import ManualClock
from tests.platforms.drivers import DRIVERS, Driver


@pytest.fixture(params=sorted(DRIVERS))
async def driver(request: pytest.FixtureRequest, sqlite_engine: sa.Engine, clock: ManualClock) -> AsyncIterator[Driver]:
    started = await DRIVERS[request.param].start(sqlite_engine, clock)
    try:
        yield started
    finally:
        await started.client.close()
        await started.stop()
