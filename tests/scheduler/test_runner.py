"""The APScheduler runner started by `closeloop serve`: it ticks at once, then every interval."""

from __future__ import annotations

import asyncio
from datetime import datetime

import sqlalchemy as sa

from scheduler.runner import SchedulerRunner
from storage.timekeeping import ManualClock

from .conftest import build


async def test_the_runner_ticks_on_start_and_wakes_the_sender(engine: sa.Engine) -> None:
    created = datetime.fromisoformat("2026-11-01T09:00+08:00")
    build(engine, created=created, dues=[("优化同步脚本", datetime.fromisoformat("2026-12-31T18:00+08:00"))])
    queued = asyncio.Event()
    runner = SchedulerRunner(engine, ManualClock(datetime.fromisoformat("2026-11-24T17:30+08:00")), interval_seconds=60,
                             on_enqueued=queued.set)  # fmt: skip
    runner.start()
    try:
        await asyncio.wait_for(queued.wait(), timeout=10)  # the first tick runs right away
    finally:
        runner.stop()
    assert await runner.tick() == {
        "daily_prompt": 0, "deadline_warning": 0, "overdue_ladder": 0, "meeting_reminder": 0, "confirmation_reminder": 0,
        "monthly_review": 0, "purge_files": 0,
        "approval_reminder": 0,
    }, "a second tick at the same instant queues nothing"  # fmt: skip


async def test_a_failing_tick_is_logged_not_raised(engine: sa.Engine, caplog) -> None:
    broken = sa.create_engine("sqlite:////nonexistent/dir/db.sqlite")
    runner = SchedulerRunner(broken, ManualClock(datetime.fromisoformat("2026-11-24T17:30+08:00")))
    assert await runner.tick() == {}
    assert "scheduler tick" in caplog.text
