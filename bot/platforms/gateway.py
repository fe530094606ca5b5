"""The one pipeline every platform's events go through, and the few core services an adapter may use.

``webhook`` serves a platform's HTTP endpoint with its ``Inbound`` part:
read (bounded) → verify and parse → challenge, ignore, or ``receive`` → answer.
Anything malformed becomes a 4xx here, whatever the platform: a verifier or
parser that trips over a body (deeply nested JSON, wrong types, bad encodings)
is a bad request, not a server error. ``receive`` decides from the platform's
capabilities: an event whose answer shows nothing is acknowledged once it is in
the durable inbox (503 if the inbox cannot be written, so the platform delivers
again); the others are dispatched now and answered. Duplicates are dropped by
the inbox and by the dispatcher's ``processed_events``.

Adapters never touch the database or the outbox: what they need from the core
(the group's time zone for a date picker, the card behind a posted message, a
form posted when a dialog cannot open, a stored file to upload and the key the
platform gave back for it, a setting the group's admins gave the platform) is
asked here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from aiohttp import web
from sqlmodel import Session, select

from bot.inbox import Inbox
from bot.inbox import InboxUnavailable as InboxBusy
from bot.outbox import OutboxSender
from bot.platforms.contract import Challenge, Inbound, RawRequest, Rejected
from cards.model import Card
from handlers.capabilities import MINIMAL, Capabilities
from handlers.context import mention_names
from handlers.dispatcher import Dispatcher, DispatchResult
from handlers.events import Event
from storage.db import in_db, unit_of_work
from storage.files import FileContent, file_content, remember_upload, upload_key
from storage.models import Group
from storage.outbox import enqueue, posted_card
from storage.timekeeping import Clock

log = logging.getLogger(__name__)
MALFORMED = (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError, UnicodeError, OverflowError)


class InboxUnavailable(Exception):
    """The event could not be stored: the platform must get an error status and deliver it again."""


@dataclass
class Gateway:
    engine: sa.Engine
    clock: Clock
    dispatcher: Dispatcher
    inbox: Inbox
    sender: OutboxSender
    capabilities: Mapping[str, Capabilities]
    default_zone: str = "Asia/Shanghai"

    # ------------------------------------------------------------ the pipeline

    async def receive(self, event: Event) -> DispatchResult | None:
        """Dispatch now (the result says what to answer), or store for later (``None``: acknowledge it)."""
        if self.capabilities.get(event.chat.platform, MINIMAL).handled_later(event.source):
            try:
                await self.inbox.accept(event)
            except InboxBusy as exc:  # busy, not broken: one line, no traceback
                log.error("%s: could not store event %s: %s", event.chat.platform, event.event_id, exc)
                raise InboxUnavailable from exc
            except Exception as exc:
                log.exception("%s: could not store event %s", event.chat.platform, event.event_id)
                raise InboxUnavailable from exc
            return None
        return await self.dispatcher.feed(event)

    async def webhook(self, request: web.Request, inbound: Inbound, *, platform: str) -> web.Response:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({"error": "body too large"}, status=413)
        try:
            opened = await inbound.open(RawRequest(raw, request.headers, request.query))
        except Rejected as rejected:
            log.warning("%s: refused a request: %s", platform, rejected.reason)
            return web.json_response({"error": rejected.reason}, status=rejected.status)
        except MALFORMED as exc:
            log.warning("%s: refused a malformed request: %s", platform, type(exc).__name__)
            return web.json_response({"error": "malformed request"}, status=400)
        if isinstance(opened, Challenge):
            return inbound.challenge(opened)
        if opened is None:
            return inbound.acknowledge(None)
        try:
            result = await self.receive(opened)
        except InboxUnavailable:
            return web.json_response({"error": "try again"}, status=503)
        return inbound.acknowledge(opened) if result is None else inbound.answer(opened, result)

    # ------------------------------------------------------------ what adapters may ask of the core

    async def zone_of(self, platform: str, chat_id: str) -> str:
        """The group's time zone (the default for a group not seen yet)."""

        def read() -> str | None:
            with Session(self.engine) as session:
                query = select(Group.timezone).where(Group.platform == platform, Group.chat_id == chat_id)
                return session.exec(query).first()

        return await in_db(self.engine, read) or self.default_zone

    async def group_setting(self, platform: str, chat_id: str, key: str) -> str | None:
        """What the group's admins set for the platform (``Capabilities.group_settings``), as the platform wrote it."""

        def read() -> str | None:
            with Session(self.engine) as session:
                query = select(Group.platform_settings).where(Group.platform == platform, Group.chat_id == chat_id)
                values = session.exec(query).first()
            return (values or {}).get(key) or None

        return await in_db(self.engine, read)

    async def posted_card(self, platform: str, target: str, message_id: str) -> Card | None:
        """The card of a message the bot posted (a button on it was pressed)."""

        def read() -> Card | None:
            with Session(self.engine) as session:
                found = posted_card(session, platform=platform, target=target, platform_message_id=message_id)
            return Card.load(found) if found is not None else None

        return await in_db(self.engine, read)

    async def post_instead(self, event: Event, card: Card, *, part: str, update_of: str | None = None) -> None:
        """Post ``card`` into the event's chat because the answer could not show it (a dialog that did not open),
        or record it as the new state of the message ``update_of`` (a card the answer replaced on screen)."""

        def write() -> None:
            with unit_of_work(self.engine) as session:
                enqueue(
                    session, platform=event.chat.platform, target=event.chat.chat_id, card=card,
                    key=f"{event.chat.platform}:{event.chat.chat_id}:event:{event.event_id}:{part}",
                    now=self.clock.now(), names=mention_names(session, event.chat.platform, [card]),
                    update_of=update_of,
                )  # fmt: skip

        await in_db(self.engine, write)
        self.sender.wake.set()

    async def upload_once(
        self, *, platform: str, file_id: int, scope: str, upload: Callable[[FileContent], Awaitable[str | None]]
    ) -> str | None:
        """The platform's key for a stored file in ``scope``: the one kept from an earlier upload, or ``upload``'s.

        ``None`` when the file has expired (or is not one of ``platform``'s groups'),
        or when ``upload`` gives none (the platform refused it for good). A failing
        ``upload`` raises, and the message it belongs to is retried by the outbox.
        """

        def read() -> tuple[str | None, FileContent | None]:
            with Session(self.engine) as session:
                kept = upload_key(session, file_id=file_id, platform=platform, scope=scope)
                if kept is not None:
                    return kept, None
                return None, file_content(session, file_id=file_id, platform=platform, now=self.clock.now())

        kept, content = await in_db(self.engine, read)
        if kept is not None or content is None:
            return kept
        key = await upload(content)
        if key is None:
            return None

        def write() -> str:
            with unit_of_work(self.engine) as session:
                return remember_upload(session, file_id=file_id, platform=platform, scope=scope, key=key,
                                       now=self.clock.now())  # fmt: skip

        return await in_db(self.engine, write)
