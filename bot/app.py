"""The aiohttp application: health, and (in later layers) the platforms' endpoints."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from aiohttp import web

from bot.settings import Settings
from scheduler.timekeeping import Clock, SystemClock
from storage.db import make_engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    """What every part of the running bot shares: settings, the database, the clock."""

    settings: Settings
    engine: sa.Engine
    clock: Clock


RUNTIME = web.AppKey("runtime", Runtime)


def create_app(settings: Settings, *, engine: sa.Engine | None = None, clock: Clock | None = None) -> web.Application:
    runtime = Runtime(
        settings=settings, engine=engine or make_engine(settings.database_url), clock=clock or SystemClock()
    )
    app = web.Application()
    app[RUNTIME] = runtime
    app.router.add_get("/healthz", healthz)
    return app


async def healthz(request: web.Request) -> web.Response:
    """Liveness and database reachability, for the load balancer."""
    runtime = request.app[RUNTIME]
    try:
        with runtime.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        log.warning("health check: database unreachable: %s", exc)
        return web.json_response({"status": "error", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "database": "ok", "platforms": list(runtime.settings.enabled_platforms)})
