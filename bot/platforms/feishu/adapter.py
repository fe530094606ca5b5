"""The Feishu / Lark platform: ``POST /feishu/events`` for event subscription 2.0 and card callbacks.

State of this adapter (issue 5): inbound is complete (signature, replay window,
decryption, verification token, URL verification, messages that @-mention the
bot, card actions). Sending (tenant token, IM v1 messages, card JSON 2.0) is the
next step, so ``create`` does not enable the platform yet.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.outbox import Delivered, DeliveryError, OutgoingMessage, RateLimit
from bot.platforms import Services
from bot.platforms.feishu.inbound import Rejected, open_request, to_event
from bot.settings import Settings

log = logging.getLogger(__name__)


class FeishuPlatform:
    name = "feishu"
    rate_limit = RateLimit(per_target=5, per_app=50)  # 5 QPS per chat, 50/s per app (IM v1 limits)

    def __init__(self, settings: Settings, *, bot_open_id: str | None = None) -> None:
        self.settings = settings
        self.bot_open_id = bot_open_id  # from GET /open-apis/bot/v3/info once the API client lands
        self.services: Services | None = None

    def mount(self, app: web.Application, services: Services) -> None:
        self.services = services
        app.router.add_post("/feishu/events", self.events)

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
            event = to_event(opened.body, bot_open_id=self.bot_open_id)
        except Rejected as rejected:
            log.warning("feishu: refused a request: %s", rejected.reason)
            return web.json_response({"error": rejected.reason}, status=rejected.status)
        if event is None:
            return web.json_response({})
        result = await self.services.dispatcher.feed(event)
        outcome = result.outcome
        answer: dict = {}
        if outcome.toast:
            answer["toast"] = {"type": "info", "content": outcome.toast}
        return web.json_response(answer)

    async def deliver(self, message: OutgoingMessage) -> Delivered:
        raise DeliveryError("the Feishu sender is not built yet", retry_after=600)

    async def close(self) -> None:
        return None
