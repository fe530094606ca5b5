"""The Feishu / Lark platform: ``POST /feishu/events`` in, IM v1 messages out.

One URL serves event subscription 2.0 (``im.message.receive_v1``) and the
``card.action.trigger`` callback (configure both to it in the developer console).
A command message is acknowledged as soon as it is stored in the durable inbox
(``bot/inbox.py``) and handled after; a card callback is handled before the
answer, which carries the toast and the updated card (Feishu waits 3 seconds for
it). What the bot says goes to the outbox.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from bot.outbox import Delivered, DeliveryError, OutgoingMessage, RateLimit
from bot.platforms import Services
from bot.platforms.feishu import cards
from bot.platforms.feishu.api import CARD_REFUSED, FeishuClient, FeishuError
from bot.platforms.feishu.inbound import Rejected, open_request, to_event
from bot.settings import Settings
from handlers.events import CommandEvent
from storage.timekeeping import Clock, SystemClock

log = logging.getLogger(__name__)


class FeishuPlatform:
    name = "feishu"
    rate_limit = RateLimit(per_target=5, per_app=50)  # IM v1: 5 QPS per chat, 50 per second per app

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.client = FeishuClient(
            base=settings.feishu_api_base, app_id=settings.feishu_app_id or "",
            app_secret=settings.feishu_app_secret or "", clock=clock or SystemClock(),
        )  # fmt: skip
        self.bot_open_id: str | None = None
        self.services: Services | None = None

    def mount(self, app: web.Application, services: Services) -> None:
        self.services = services
        self.client.clock = services.clock
        app.router.add_post("/feishu/events", self.events)

    async def _bot(self) -> str | None:
        """The bot's own open_id, to recognise (and strip) its @-mention in group messages."""
        if self.bot_open_id is None:
            try:
                self.bot_open_id = await self.client.bot_open_id()
            except DeliveryError as exc:
                log.warning("feishu: cannot read the bot's open_id yet: %s", exc)
        return self.bot_open_id

    async def events(self, request: web.Request) -> web.Response:
        assert self.services is not None
        raw = await request.read()
        try:
            opened = open_request(
                raw=raw, headers=request.headers, verification_token=self.settings.feishu_verification_token or "",
                encrypt_key=self.settings.feishu_encrypt_key, now=self.services.clock.now(),
            )  # fmt: skip
            if opened.challenge is not None:
                return web.json_response({"challenge": opened.challenge})
            event = to_event(opened.body, bot_open_id=await self._bot())
        except Rejected as rejected:
            log.warning("feishu: refused a request: %s", rejected.reason)
            return web.json_response({"error": rejected.reason}, status=rejected.status)
        if event is None:
            return _empty()
        if isinstance(event, CommandEvent):  # answered with new messages: acknowledge once stored
            try:
                await self.services.inbox.accept(event)
            except Exception:
                log.exception("feishu: could not store event %s", event.event_id)
                return web.json_response({"error": "try again"}, status=503)  # Feishu delivers again
            return _empty()
        result = await self.services.dispatcher.feed(event)
        answer: dict[str, Any] = {}
        if result.outcome.toast:
            answer["toast"] = {"type": "info", "content": result.outcome.toast}
        if result.outcome.update is not None:
            answer["card"] = {"type": "raw", "data": cards.render_pages(result.outcome.update)[0]}
        return web.json_response(answer)

    async def deliver(self, message: OutgoingMessage) -> Delivered:
        pages = cards.render_pages(message.card)
        if message.update_of:
            await self.client.patch_card(message.update_of, pages[0])
            return Delivered(message.update_of)
        try:
            return await self._send_pages(message, pages)
        except FeishuError as refused:
            if refused.code not in CARD_REFUSED:
                raise
            # Feishu refused the card's content: a reminder matters more than its layout, so say it as text
            log.warning("feishu: card %s refused (%s); sending it as text", message.key, refused)
        text, key = {"text": cards.text_message(message.card, message.names)}, f"{message.key}#text"
        if message.reply_to:
            return Delivered(await self.client.reply(message.reply_to, "text", text, key=key))
        return Delivered(await self.client.send(message.target, "text", text, key=key))

    async def _send_pages(self, message: OutgoingMessage, pages: list[dict[str, Any]]) -> Delivered:
        first: str | None = None
        for number, page in enumerate(pages):
            key = message.key if number == 0 else f"{message.key}#{number}"
            if message.reply_to and number == 0:
                sent = await self.client.reply_card(message.reply_to, page, key=key)
            else:
                sent = await self.client.send_card(message.target, page, key=key)
            first = first or sent
        return Delivered(first)

    async def close(self) -> None:
        await self.client.close()


def _empty() -> web.Response:
    """``{}``: the acknowledgement Feishu expects (built without the JSON encoder: it is on the hot path)."""
    return web.Response(body=b"{}", content_type="application/json")
