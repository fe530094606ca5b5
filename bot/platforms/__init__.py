"""Chat platforms. Each lives in its own folder here and exposes ``create(settings) -> Platform | None``.

Adding a platform means adding a folder: ``load_platforms`` finds every package
below this one and asks it whether the settings enable it.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from aiohttp import web

from bot.inbox import Inbox
from bot.outbox import Delivered, OutboxSender, OutgoingMessage, RateLimit
from bot.settings import Settings
from handlers.dispatcher import Dispatcher
from storage.timekeeping import Clock


@dataclass(frozen=True)
class Services:
    """What a platform's inbound side may use: the core, the inbox, the outbox, the database, the clock.

    An event whose answer can be a new message goes to ``inbox.accept`` (acknowledge
    once stored); one whose answer must be in the HTTP response goes to
    ``dispatcher.feed``.
    """

    settings: Settings
    engine: sa.Engine
    clock: Clock
    dispatcher: Dispatcher
    sender: OutboxSender
    inbox: Inbox


class Platform(Protocol):
    name: str
    rate_limit: RateLimit

    def mount(self, app: web.Application, services: Services) -> None:
        """Add the platform's inbound routes (webhooks, pages) to the application."""
        ...

    async def deliver(self, message: OutgoingMessage) -> Delivered:
        """Render the neutral card for the platform and send (or update) it."""
        ...

    async def close(self) -> None: ...


def load_platforms(settings: Settings) -> list[Platform]:
    platforms = []
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not module.ispkg:
            continue
        package = importlib.import_module(f"{__name__}.{module.name}")
        platform = package.create(settings)
        if platform is not None:
            platforms.append(platform)
    return platforms
