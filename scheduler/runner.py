"""The runner: APScheduler ticks every minute and runs the jobs as of the clock's now.

``closeloop serve`` starts it (unless ``CLOSELOOP_SCHEDULER=0``); ``closeloop
scheduler`` runs it alone. Any number of runners may tick against one
PostgreSQL database: every job is query + enqueue under a unique key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

import sqlalchemy as sa
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from scheduler.jobs import run_jobs
from storage.db import in_db
from storage.timekeeping import Clock, SystemClock

log = logging.getLogger(__name__)


class SchedulerRunner:
    def __init__(
        self, engine: sa.Engine, clock: Clock, *, interval_seconds: int = 60,
        on_enqueued: Callable[[], None] | None = None,
        on_tick: Callable[[Mapping[str, int], float], None] | None = None,
    ) -> None:  # fmt: skip
        self.engine = engine
        self.clock = clock
        self.interval_seconds = interval_seconds
        self.on_enqueued = on_enqueued
        self.on_tick = on_tick  # what each job queued and how long the tick took (metrics)
        self._scheduler: AsyncIOScheduler | None = None

    async def tick(self) -> dict[str, int]:
        now = self.clock.now()
        started = time.perf_counter()
        try:
            counts = await in_db(self.engine, run_jobs, self.engine, as_of=now, now=now)
        except Exception:
            log.exception("scheduler tick at %s failed", now.isoformat())
            return {}
        if self.on_tick is not None:
            self.on_tick(counts, time.perf_counter() - started)
        if any(counts.values()):
            log.info("scheduler tick at %s queued %s", now.isoformat(), counts)
            if self.on_enqueued is not None:
                self.on_enqueued()
        return counts

    def start(self) -> None:
        """Tick now and then every ``interval_seconds`` (overlapping ticks are skipped, missed ones merged)."""
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._scheduler.add_job(
            self.tick, IntervalTrigger(seconds=self.interval_seconds), id="tick", max_instances=1, coalesce=True,
            next_run_time=SystemClock().now(), misfire_grace_time=self.interval_seconds,  # wall time: APScheduler's
        )  # fmt: skip
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
