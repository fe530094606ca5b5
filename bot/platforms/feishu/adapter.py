"""The Feishu / Lark platform: ``POST /feishu/events`` in, IM v1 messages out.

One URL serves event subscription 2.0 (``im.message.receive_v1``) and the
``card.action.trigger`` callback (configure both to it in the developer console).
What the core does with each is declared in ``CAPABILITIES``: a command message's
answer shows nothing, so it is acknowledged once stored in the durable inbox and
handled after; a card callback's answer carries the toast and the updated card
(Feishu waits 3 seconds for it), so it is handled before. What the bot says goes
to the outbox; a notice for one person is an ephemeral card ("仅对你可见"). Files
the bot made are uploaded first (``uploads.py``): an image shows in the card, any
other file follows it as a ``file`` message.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from bot.outbox import Delivered, DeliveryError, OutgoingMessage
from bot.platforms.contract import Challenge, RawRequest
from bot.platforms.feishu import cards
from bot.platforms.feishu.api import CARD_REFUSED, FeishuClient, FeishuError
from bot.platforms.feishu.inbound import open_request, to_event
from bot.platforms.feishu.settings import FeishuSettings
from bot.platforms.feishu.uploads import Uploader
from bot.platforms.gateway import Gateway
from handlers.capabilities import Capabilities, FormStyle, Limits, Private, RateLimit, Respond, Source
from handlers.dispatcher import DispatchResult
from handlers.events import Event
from storage.timekeeping import Clock, SystemClock

log = logging.getLogger(__name__)

CAPABILITIES = Capabilities(
    forms=FormStyle.CARD,
    respond={Source.BUTTON: Respond.TOAST | Respond.UPDATE},
    message_update=True,
    private=Private.EPHEMERAL,
    limits=Limits(message_bytes=cards.MAX_CARD_BYTES),
    rate_limit=RateLimit(per_target=5, per_app=50),  # IM v1: 5 QPS per chat, 50 per second per app
    files=True,  # im/v1/files → a file message
    images=True,  # im/v1/images → an img in the card
)


class FeishuRenderer:
    def render(self, card: Any, *, names: Any = None) -> list[dict[str, Any]]:
        return cards.render_pages(card)

    def form_values(self, submitted: Any) -> dict[str, Any]:
        return cards.form_values(submitted)

    def escape(self, text: str) -> str:
        return cards.escape(text)


class FeishuInbound:
    """Verification and parsing (``inbound.py``), and the answers Feishu expects."""

    def __init__(self, platform: FeishuPlatform) -> None:
        self.platform = platform

    async def open(self, request: RawRequest) -> Event | Challenge | None:
        settings, clock = self.platform.settings, self.platform.client.clock
        opened = open_request(
            raw=request.body, headers=request.headers, verification_token=settings.feishu_verification_token or "",
            encrypt_key=settings.feishu_encrypt_key, now=clock.now(),
        )  # fmt: skip
        if opened.challenge is not None:
            return Challenge(opened.challenge)
        return to_event(opened.body, bot_open_id=await self.platform.bot_open_id())

    def acknowledge(self, event: Event | None) -> web.Response:
        """``{}``: the acknowledgement Feishu expects (built without the JSON encoder: it is on the hot path)."""
        return web.Response(body=b"{}", content_type="application/json")

    def answer(self, event: Event, result: DispatchResult) -> web.Response:
        answer: dict[str, Any] = {}
        if result.outcome.toast:
            answer["toast"] = {"type": "info", "content": result.outcome.toast}
        if result.outcome.update is not None:
            answer["card"] = {"type": "raw", "data": cards.render_pages(result.outcome.update)[0]}
        return web.json_response(answer)

    def challenge(self, challenge: Challenge) -> web.Response:
        return web.json_response({"challenge": challenge.value})


class FeishuPlatform:
    name = "feishu"
    capabilities = CAPABILITIES

    def __init__(self, settings: FeishuSettings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.client = FeishuClient(
            base=settings.feishu_api_base, app_id=settings.feishu_app_id or "",
            app_secret=settings.feishu_app_secret or "", clock=clock or SystemClock(),
        )  # fmt: skip
        self.renderer = FeishuRenderer()
        self.inbound = FeishuInbound(self)
        self.uploader = Uploader(self.client, images=self.capabilities.images, files=self.capabilities.files)
        self.gateway: Gateway | None = None
        self._bot_open_id: str | None = None

    @property
    def rate_limit(self) -> RateLimit:
        return self.capabilities.rate_limit

    def mount(self, app: web.Application, gateway: Gateway) -> None:
        self.client.clock = gateway.clock
        self.gateway = gateway

        async def events(request: web.Request) -> web.Response:
            return await gateway.webhook(request, self.inbound, platform=self.name)

        app.router.add_post("/feishu/events", events)

    async def bot_open_id(self) -> str | None:
        """The bot's own open_id, to recognise (and strip) its @-mention in group messages."""
        if self._bot_open_id is None:
            try:
                self._bot_open_id = await self.client.bot_open_id()
            except DeliveryError as exc:
                log.warning("feishu: cannot read the bot's open_id yet: %s", exc)
        return self._bot_open_id

    # ------------------------------------------------------------ the client side

    async def deliver(self, message: OutgoingMessage) -> Delivered:
        """Upload the card's files first; then the card; then each file that is not an image in it, as a file.

        A retry after a failure sends nothing twice: uploads are kept (``Gateway.upload_once``)
        and Feishu drops a send whose ``uuid`` it has seen in the last hour.
        """
        new_message = not (message.visible_to or message.update_of)  # an update or a private notice carries no files
        uploaded = await self.uploader.upload(message.card, self.gateway, with_files=new_message)
        pages = cards.render_pages(message.card, images=uploaded.images)
        if message.visible_to:
            return Delivered(await self.client.send_ephemeral(message.target, message.visible_to, pages[0]))
        if message.update_of:
            await self.client.patch_card(message.update_of, pages[0])
            return Delivered(message.update_of)
        try:
            delivered = await self._send_pages(message, pages)
        except FeishuError as refused:
            if refused.code not in CARD_REFUSED:
                raise
            # Feishu refused the card's content: a reminder matters more than its layout, so say it as text
            log.warning("feishu: card %s refused (%s); sending it as text", message.key, refused)
            delivered = await self._send(message, "text", {"text": cards.text_message(message.card, message.names)},
                                         key=f"{message.key}#text")  # fmt: skip
        for file_id, file_key in uploaded.files:  # where the card went: in reply to the same message, or the chat
            await self._send(message, "file", {"file_key": file_key}, key=f"{message.key}#file:{file_id}")
        return delivered

    async def _send(self, message: OutgoingMessage, msg_type: str, content: dict[str, Any], *, key: str) -> Delivered:
        if message.reply_to:
            return Delivered(await self.client.reply(message.reply_to, msg_type, content, key=key))
        return Delivered(await self.client.send(message.target, msg_type, content, key=key))

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
