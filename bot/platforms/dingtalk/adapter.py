"""The DingTalk platform: an enterprise internal app's robot, over Stream mode (or HTTP), cards out.

Inbound: with ``DINGTALK_MODE=stream`` (the default, DingTalk's recommendation)
the bot opens a Stream connection (``stream.py``) and needs no public URL; with
``http`` DingTalk posts to ``POST /dingtalk/events`` and cards are created with
``callbackType: HTTP``. The HTTP endpoint is mounted in both modes (a request
must carry DingTalk's signature either way), so switching the console's mode
loses nothing. What the core does with each event is declared in
``CAPABILITIES``: a robot message's answer shows nothing, so it is stored in the
durable inbox and acknowledged (then handled); a card callback's answer updates
the card — the public data for everyone, and the private ``toast`` for the person
who pressed — so it is handled before the acknowledgement.

Outbound (``deliver``): a card with buttons, a form or mentions is a template card
(``createAndDeliver``, with ``atUserIds``: the real @); a reply without buttons
goes through the command's session webhook while it is valid (a real @ as
well); anything else is a markdown message (``groupMessages/send``). Updates are
``PUT /v1.0/card/instances``. A notice for one person (``visible_to``) is a
message in their 1:1 chat with the robot (``oToMessages/batchSend``): DingTalk has
no ephemeral message in a group. Links to the hosted web form open inside
DingTalk (``dingtalk://dingtalkclient/page/link?pc_slide=true&url=…``).

Web pages: with ``DINGTALK_WEB_SIGNIN=1`` DingTalk proves who opens them (OAuth2,
``signin.py``: every link to a form or the board goes through ``/dingtalk/signin``
first, and ``web_viewer`` names the member); without it the signed link is the identity.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from bot.outbox import Delivered, OutgoingMessage
from bot.platforms.contract import Challenge, RawRequest, Rejected
from bot.platforms.dingtalk import cards
from bot.platforms.dingtalk.api import DingTalkClient, DingTalkError
from bot.platforms.dingtalk.inbound import (
    Session,
    body_id,
    card_callback,
    check_signature,
    is_card_callback,
    json_object,
    robot_message,
)
from bot.platforms.dingtalk.settings import DingTalkSettings, Mode
from bot.platforms.dingtalk.signin import SignIn
from bot.platforms.dingtalk.stream import CARD_CALLBACKS, MESSAGES, Frame, StreamClient
from bot.platforms.gateway import MALFORMED, Gateway, InboxUnavailable
from cards.model import Actions, Card, Form, LinkButton
from handlers.capabilities import Capabilities, FormStyle, Limits, Private, RateLimit, Respond, Source
from handlers.dispatcher import DispatchResult
from handlers.events import Event
from storage.i18n import Catalog
from storage.timekeeping import Clock, SystemClock

log = logging.getLogger(__name__)
NO_RESPONSE = json.dumps({"response": None})
CATALOG = Catalog.load(Path(__file__).with_name("messages.toml"))

CAPABILITIES = Capabilities(
    forms=FormStyle.CARD,
    respond={Source.BUTTON: Respond.TOAST | Respond.UPDATE},  # the callback's answer: card data + a private toast
    card_inputs=cards.CARD_INPUTS,  # no person picker, no repeated rows: those forms open as the web page
    message_update=True,
    private=Private.DIRECT,  # the robot's 1:1 chat
    limits=Limits(message_bytes=cards.MAX_MESSAGE_BYTES),
    # DingTalk gives 20 calls a second per API and app (standard edition; 40/60 for higher editions) and
    # documents no per-group figure for app robots: one a second per group keeps a burst readable
    rate_limit=RateLimit(per_target=1, per_app=20),
)


class DingTalkRenderer:
    def render(self, card: Card, *, names: Any = None) -> list[dict[str, Any]]:
        return cards.render_pages(card, names or {})

    def form_values(self, submitted: Any) -> dict[str, Any]:
        return cards.form_values(submitted)

    def escape(self, text: str) -> str:
        return cards.escape(text)


class DingTalkInbound:
    """``POST /dingtalk/events``: the signature, then the same parsing as a Stream frame's data."""

    def __init__(self, platform: DingTalkPlatform) -> None:
        self.platform = platform

    async def open(self, request: RawRequest) -> Event | Challenge | None:
        check_signature(request.headers, self.platform.settings.dingtalk_client_secret or "", self.platform.clock.now())
        body = json_object(request.body, "body")
        return self.platform.event_of(body, callback_id=body_id(request.body))

    def acknowledge(self, event: Event | None) -> web.Response:
        return web.json_response({})

    def answer(self, event: Event, result: DispatchResult) -> web.Response:
        """A card callback's answer (the bare update: whether HTTP wants it wrapped in ``response`` is UNCONFIRMED)."""
        return web.json_response(self.platform.callback_answer(result))

    def challenge(self, challenge: Challenge) -> web.Response:
        return web.json_response({})


class DingTalkPlatform:
    name = "dingtalk"
    capabilities = CAPABILITIES

    def __init__(self, settings: DingTalkSettings, *, clock: Clock | None = None, public_url: str | None = None,
                 secret_key: str | None = None, **stream_options: Any) -> None:  # fmt: skip
        self.settings = settings
        self.clock = clock or SystemClock()
        self.client = DingTalkClient(
            base=settings.dingtalk_api_base, oapi_base=settings.dingtalk_oapi_base,
            client_id=settings.dingtalk_client_id or "", client_secret=settings.dingtalk_client_secret or "",
            robot_code=settings.robot_code, clock=self.clock,
        )  # fmt: skip
        self.renderer = DingTalkRenderer()
        self.inbound = DingTalkInbound(self)
        self.stream = StreamClient(
            base=settings.dingtalk_stream_base, client_id=settings.dingtalk_client_id or "",
            client_secret=settings.dingtalk_client_secret or "", handle=self.on_frame, **stream_options,
        )  # fmt: skip
        self.signin = SignIn(
            client=self.client, public_url=public_url or "", secret_key=secret_key or "",
            login_base=settings.dingtalk_login_base, clock=self.clock, catalog=CATALOG,
        ) if settings.dingtalk_web_signin and public_url and secret_key else None  # fmt: skip
        self.gateway: Gateway | None = None
        self._stream_task: asyncio.Task[None] | None = None

    @property
    def rate_limit(self) -> RateLimit:
        return self.capabilities.rate_limit

    # ------------------------------------------------------------ inbound

    def mount(self, app: web.Application, gateway: Gateway) -> None:
        self.gateway = gateway
        self.clock = self.client.clock = gateway.clock

        async def events(request: web.Request) -> web.Response:
            return await gateway.webhook(request, self.inbound, platform=self.name)

        app.router.add_post("/dingtalk/events", events)
        if self.signin is not None:
            self.signin.use_clock(gateway.clock)
            self.signin.mount(app)
        if self.settings.dingtalk_mode is Mode.STREAM:
            app.on_startup.append(self._start_stream)

    async def _start_stream(self, _app: web.Application) -> None:
        """Connect in the background: the server must not wait for DingTalk."""
        self._stream_task = asyncio.create_task(self.stream.run())

    def event_of(self, data: dict[str, Any], *, callback_id: str) -> Event | None:
        """A robot message or a card callback (the same JSON over Stream and HTTP) as a neutral event."""
        if is_card_callback(data):
            return card_callback(data, event_id=callback_id)
        oapi_host = urlsplit(self.settings.dingtalk_oapi_base).hostname or ""
        return robot_message(data, robot_code=self.settings.robot_code, oapi_host=oapi_host)

    async def on_frame(self, frame: Frame) -> tuple[int, str]:
        """A Stream callback, stored or handled before its acknowledgement is sent."""
        assert self.gateway is not None, "mount() first"
        if frame.topic not in (MESSAGES, CARD_CALLBACKS):
            return 404, NO_RESPONSE
        try:
            event = self.event_of(json_object(frame.data, "data"), callback_id=f"cb:{frame.message_id}")
        except Rejected as rejected:
            log.warning("dingtalk: refused a pushed %s: %s", frame.topic, rejected.reason)
            return 200, NO_RESPONSE  # nothing DingTalk could send better by sending it again
        except MALFORMED as exc:
            log.warning("dingtalk: refused a malformed %s: %s", frame.topic, type(exc).__name__)
            return 200, NO_RESPONSE
        if event is None:
            return 200, NO_RESPONSE
        try:
            result = await self.gateway.receive(event)
        except InboxUnavailable:
            return 500, NO_RESPONSE  # not acknowledged as done
        if result is None:
            return 200, NO_RESPONSE
        return 200, json.dumps({"response": self.callback_answer(result)}, ensure_ascii=False)

    def callback_answer(self, result: DispatchResult) -> dict[str, Any]:
        """The card's new public data, and the notice in the presser's private ``toast``."""
        outcome = result.outcome
        if outcome.update is None and not outcome.toast:
            return {}
        answer: dict[str, Any] = {"cardUpdateOptions": {"updateCardDataByKey": True, "updatePrivateDataByKey": True}}
        if outcome.update is not None:
            update = self.signin.wrap(outcome.update) if self.signin is not None else outcome.update
            answer["cardData"] = {"cardParamMap": cards.answer_params(update, result.names)}
        answer["userPrivateData"] = {"cardParamMap": {"toast": outcome.toast or ""}}
        return answer

    def web_viewer(self, request: web.Request) -> str | None:
        """The member DingTalk signed in (``DINGTALK_WEB_SIGNIN``); otherwise the signed link is the identity."""
        return self.signin.viewer(request) if self.signin is not None else None

    # ------------------------------------------------------------ the client side

    async def deliver(self, message: OutgoingMessage) -> Delivered:
        card, names = message.card, dict(message.names)
        if self.signin is not None:
            card = self.signin.wrap(card)
        if message.visible_to:
            return await self._private(message.visible_to, card, names)
        pages = cards.render_pages(card, names)
        if message.update_of:
            first = pages[0]
            params = first.get("cardParamMap") or cards.card_params(card, first["markdown"])
            await self.client.update_card(message.update_of, params)
            await self._send(message, pages[1:], start=1)
            return Delivered(message.update_of)
        if message.reply_to and not any(isinstance(e, Actions | Form) for e in card.elements):
            session = Session.decode(message.reply_to)
            if session.valid_at(self.clock.now()):
                title, text = cards.session_markdown(card, names)
                if len(text.encode()) <= cards.MAX_MESSAGE_BYTES:
                    try:
                        await self.client.reply_in_session(
                            session.session, title, text, list(cards.mentioned(card, names))
                        )
                        return Delivered(None)
                    except DingTalkError as refused:  # expired early, or refused: the group still hears it
                        log.warning("dingtalk: session reply refused (%s); sending to the group", refused)
        return Delivered(await self._send(message, pages))

    async def _send(self, message: OutgoingMessage, pages: list[dict[str, Any]], *, start: int = 0) -> str | None:
        first: str | None = None
        callback = "HTTP" if self.settings.dingtalk_mode is Mode.HTTP else "STREAM"
        for number, page in enumerate(pages, start=start):
            if "cardParamMap" in page:
                track = f"cl-{uuid.uuid4().hex}"  # unique per card instance: callbacks and updates name it
                await self.client.create_card(
                    template_id=self.settings.dingtalk_card_template_id or "", track_id=track, target=message.target,
                    params=page["cardParamMap"], at=page.get("atUserIds") or {}, callback=callback,
                )  # fmt: skip
                sent = track
            else:
                sent = await self.client.send_markdown(message.target, page["title"], page["markdown"])
            if number == start:
                first = sent
        return first

    async def _private(self, user_id: str, card: Card, names: dict[str, str]) -> Delivered:
        """A notice in the person's 1:1 chat with the robot; a link button stays a button there."""
        title = card.header.title if card.header else "Closeloop"
        text = "\n".join([f"**{cards.escape(title)}**", *cards.body_lines(card, names)])
        link = next((b for e in card.elements if isinstance(e, Actions) for b in e.buttons
                     if isinstance(b, LinkButton)), None)  # fmt: skip
        if link is not None:
            return Delivered(
                await self.client.send_action_card(user_id, title, text, link.label, cards.in_app(link.url))
            )
        return Delivered(await self.client.send_markdown(f"u:{user_id}", title, text))

    async def close(self) -> None:
        if self._stream_task is not None:
            self._stream_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stream_task
        await self.client.close()
