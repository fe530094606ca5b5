"""The aiohttp application: health, every enabled platform's endpoints, and the outbox worker."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator, Sequence

import sqlalchemy as sa
from aiohttp import web

from bot.health import Health, Thresholds
from bot.inbox import Inbox
from bot.metrics import Metrics
from bot.outbox import OutboxSender
from bot.platforms import load_platforms
from bot.platforms.contract import Platform
from bot.platforms.gateway import Gateway
from bot.settings import Settings
from bot.web import links_for
from bot.web import mount as mount_web
from handlers import root_router
from handlers.dispatcher import Dispatcher, GroupDefaults
from scheduler.runner import SchedulerRunner
from storage.db import make_engine
from storage.timekeeping import Clock, SystemClock

log = logging.getLogger(__name__)
GATEWAY = web.AppKey("gateway", Gateway)
PLATFORMS = web.AppKey("platforms", list)


def create_app(
    settings: Settings,
    *,
    engine: sa.Engine | None = None,
    clock: Clock | None = None,
    platforms: Sequence[Platform] | None = None,
    run_sender: bool = True,
    run_inbox: bool = True,
    run_scheduler: bool | None = None,
) -> web.Application:
    """Everything ``closeloop serve`` runs. Tests pass their own clock and drive the workers themselves."""
    engine = engine or make_engine(settings.database_url)
    clock = clock or SystemClock()
    chosen = list(platforms) if platforms is not None else load_platforms(settings)
    defaults = GroupDefaults(settings.timezone, settings.language, settings.holiday_country, settings.admin_ids)
    capabilities = {p.name: p.capabilities for p in chosen}
    links = links_for(settings, clock, chosen)
    metrics = Metrics()
    sender = OutboxSender(engine, {p.name: p for p in chosen}, clock, capabilities=capabilities, links=links,
                          metrics=metrics)  # fmt: skip
    dispatcher = Dispatcher(engine=engine, clock=clock, router=root_router(), defaults=defaults,
                            on_enqueued=sender.wake.set, capabilities=capabilities, links=links,
                            on_dispatched=metrics.dispatched_event)  # fmt: skip
    inbox = Inbox(engine, dispatcher, clock, ack_budget=settings.ack_budget_seconds, metrics=metrics)
    gateway = Gateway(engine=engine, clock=clock, dispatcher=dispatcher, inbox=inbox, sender=sender,
                      capabilities=capabilities, default_zone=settings.timezone)  # fmt: skip
    app = web.Application()
    app[GATEWAY] = gateway
    app[PLATFORMS] = chosen
    app.on_startup.append(_latency_first)
    thresholds = Thresholds(settings.ready_write_budget_seconds, settings.ready_max_inbox, settings.ready_max_outbox,
                            inbox.max_attempts)  # fmt: skip
    Health(engine, clock, metrics, thresholds, platforms=lambda: [p.name for p in chosen]).mount(app)
    for platform in chosen:
        platform.mount(app, gateway)
    mount_web(app, gateway, links, chosen)
    if run_sender:
        app.cleanup_ctx.append(_outbox_worker)
    if run_inbox:
        app.cleanup_ctx.append(_inbox_worker)
    if settings.scheduler if run_scheduler is None else run_scheduler:
        runner = SchedulerRunner(engine, clock, interval_seconds=settings.tick_seconds, on_enqueued=sender.wake.set,
                                 on_tick=metrics.ticked)  # fmt: skip
        app.on_startup.append(lambda _app: _start(runner))
        app.on_cleanup.append(lambda _app: _stop(runner))
    app.on_cleanup.append(_close_platforms)
    app.on_cleanup.append(_close_inbox)  # after the workers (cleanup_ctx) have stopped
    return app


def new_event_loop(settings: Settings) -> asyncio.AbstractEventLoop:
    """The loop ``closeloop serve`` runs on: uvloop where it is installed (not on Windows), unless turned off.

    uvloop (libuv under asyncio's interface) takes the sockets and the loop's own
    bookkeeping out of Python, which is most of what an acknowledgement costs once its
    write is cheap: 159–171 µs of CPU per acknowledged webhook against 175–179 µs on
    asyncio's loop, in the same run of ``bench/inbound.py``'s load. The test suite runs
    on the same loop (``tests/conftest.py``). ``CLOSELOOP_UVLOOP=0`` falls back to
    asyncio's own loop (nothing here relies on either).
    """
    if settings.uvloop:
        try:
            import uvloop
        except ImportError:  # Windows, or an install without it
            log.info("uvloop is not installed: running on asyncio's own event loop")
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


async def _latency_first(_app: web.Application) -> None:
    """Two process settings for the webhooks' acknowledgement latency (``bench/inbound.py``).

    - Hand the GIL to the event loop sooner (1 ms instead of Python's 5 ms). The
      database work runs in threads; when one is busy in Python, a webhook waiting
      for the GIL waits a full switch interval each time it needs it (several times
      per request): p99 18–50 ms → about 6 ms at 200 requests/s.
    - Freeze what start-up allocated (modules, mappers, models, templates) out of
      the garbage collector's reach: a full collection then walks only what
      requests allocate, not the whole program — it took 60–90 ms, stalling every
      request in flight, once every few thousand requests.
    """
    sys.setswitchinterval(0.001)
    gc.collect()
    gc.freeze()


async def _outbox_worker(app: web.Application) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(app[GATEWAY].sender.run(stop))
    yield
    stop.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=10)


async def _inbox_worker(app: web.Application) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(app[GATEWAY].inbox.run(stop))
    yield
    stop.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=10)


async def _start(runner: SchedulerRunner) -> None:
    runner.start()


async def _stop(runner: SchedulerRunner) -> None:
    runner.stop()


async def _close_inbox(app: web.Application) -> None:
    await app[GATEWAY].inbox.close()


async def _close_platforms(app: web.Application) -> None:
    for platform in app[PLATFORMS]:
        await platform.close()
