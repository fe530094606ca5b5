"""The WeCom platform: the intelligent robot (智能机器人) in project groups, over either of its two API modes.

In: the long connection (``longconn.py``; pushed callbacks) and/or the callback URL
(``GET|POST /wecom/events``, ``inbound.py``). A typed command's answer shows nothing, so it is
acknowledged once it is in the durable inbox (``gateway.receive`` → ``None``) and handled after;
on the long connection nothing is answered before that. A card press is handled at once and
answered within WeCom's 5 seconds with the updated card (``aibot_respond_update_msg``, or the
callback's encrypted answer); if that window is missed, the update is posted instead.

Out (``deliver``), per outbox message:
- long connection: the first part of a reply answers the person's message (``aibot_respond_msg``
  with its ``req_id``, once); everything else is ``aibot_send_msg`` to the chat — the scheduler's
  reminders too. If the group registered a message-push robot (``robot.py``), a card that names
  people is followed by a one-line ping whose ``mentioned_list`` really @-mentions them; without
  one, the names stay bold and ``/settings`` tells the admins what is missing;
- callback URL only: a reply goes to the message's ``response_url`` (one use), everything else
  through the message-push robot (markdown, ``<@userid>`` mentions), which this mode requires;
- a message whose later part failed (a throttled ping) is retried from that part: what WeCom
  already shows is not sent twice (within this process).

Task ids are ``cl<outbox id>x<key digest>p<n>``: unique per robot, the same on a retry, and
``…p0`` is the message id the core keeps, so a press on any of a message's cards finds it.
What the capabilities say: forms open as web pages (template cards hold no inputs), notices
to one person are said in the group addressed to them (the robot has no ephemeral messages),
cards cannot be replaced later (only within 5 s of a press), mentions are not the robot's.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.outbox import Delivered, DeliveryError, OutgoingMessage
from bot.platforms.contract import Renderer
from bot.platforms.gateway import Gateway, InboxUnavailable
from bot.platforms.wecom import cards
from bot.platforms.wecom.api import WeComApi, classify
from bot.platforms.wecom.crypto import WeComCipher
from bot.platforms.wecom.inbound import DIRECT, CallbackInbound, Malformed, Reading, to_event
from bot.platforms.wecom.longconn import (
    EVENT_CALLBACK,
    NOT_SUBSCRIBED,
    CommandFailed,
    LongConnection,
    NotConnected,
    new_req_id,
)
from bot.platforms.wecom.robot import WEBHOOK, PushRobot, Registration, RobotError, Sealer, mention_ping
from bot.platforms.wecom.settings import WeComSettings
from bot.platforms.wecom.signin import SignIn
from bot.settings import ConfigError
from cards import templates
from cards.markup import md, mention
from cards.model import Card, mentions_in_card
from handlers.capabilities import Capabilities, FormStyle, Limits, Private, RateLimit, Respond, Source
from handlers.dispatcher import DispatchResult
from handlers.events import ActionEvent, Event
from storage.i18n import Catalog
from storage.timekeeping import Clock, SystemClock

log = logging.getLogger(__name__)
CATALOG = Catalog.load(Path(__file__).with_name("messages.toml"))
STORE_ATTEMPTS = 4


class WeComRenderer:
    def render(self, card: Card, *, names: Any = None) -> list[dict[str, Any]]:
        return cards.render(card, names or {})

    def form_values(self, submitted: Any) -> dict[str, Any]:
        return cards.form_values(submitted)

    def escape(self, text: str) -> str:
        return cards.escape(text)


def first_page(task_id: str) -> str:
    return re.sub(r"p\d+b*$", "p0", task_id)


def page_of(task_id: str) -> int:
    found = re.search(r"p(\d+)b*$", task_id)
    return int(found.group(1)) if found else 0


class WeComPlatform:
    name = "wecom"

    def __init__(self, settings: WeComSettings, *, secret_key: str | None, public_url: str | None = None,
                 language: str = "zh-CN", clock: Clock | None = None, heartbeat: float = 30.0,
                 backoff: float = 1.0, retry_delay: float = 0.5) -> None:  # fmt: skip
        if not secret_key:
            raise ConfigError("CLOSELOOP_SECRET_KEY: is not set, but WeCom needs it (web forms, and the sealed "
                              "message-push addresses); set CLOSELOOP_PUBLIC_URL and CLOSELOOP_SECRET_KEY")  # fmt: skip
        self.settings, self.language, self.retry_delay = settings, language, retry_delay
        self.clock: Clock = clock or SystemClock()
        self.sealer = Sealer(secret_key)
        self.renderer: Renderer = WeComRenderer()
        self.reading = Reading(bot_name=settings.wecom_bot_name, seal=self.sealer.seal)
        self.api = WeComApi(base=settings.wecom_api_base, clock=self.clock, corp_id=settings.wecom_corp_id,
                            app_secret=settings.wecom_app_secret)  # fmt: skip
        self.robot = PushRobot(api_base=settings.wecom_api_base, clock=self.clock)
        self.registration = Registration(sealer=self.sealer, api_base=settings.wecom_api_base, catalog=CATALOG,
                                         callback_only=not settings.long_connection)  # fmt: skip
        self.capabilities = Capabilities(
            forms=FormStyle.WEB,  # template cards hold buttons and choices, never a text input
            respond={Source.BUTTON: Respond.TOAST | Respond.UPDATE},  # the pressed card, within 5 seconds
            message_update=False,
            private=Private.NONE,
            mentions=False,  # the robot cannot @; a message-push robot does it beside the card
            limits=Limits(message_bytes=cards.MAX_MESSAGE_BYTES, buttons=cards.BUTTONS),
            # WeCom documents no rate for the robot's own messages; a message per second per group, five in all,
            # is ours. The message-push robot's 20 a minute are kept in robot.py (45009 → retry after a minute).
            rate_limit=RateLimit(per_target=1, per_app=5),
            group_settings=(self.registration.setting(),),
        )
        self.connection = LongConnection(
            url=settings.wecom_ws_url, bot_id=settings.wecom_bot_id or "", secret=settings.wecom_bot_secret or "",
            on_callback=self._on_callback, heartbeat=heartbeat, backoff=backoff,
        ) if settings.long_connection else None  # fmt: skip
        self.inbound = CallbackInbound(
            token=settings.wecom_token or "", cipher=WeComCipher(settings.wecom_encoding_aes_key or ""),
            clock=lambda: self.clock.now(), reading=self.reading, api_base=settings.wecom_api_base,
            card_context=self._posted, build_update=self._answer_press,
        ) if settings.callback else None  # fmt: skip
        self.signin = SignIn(
            api=self.api, public_url=public_url or "", secret_key=secret_key, corp_id=settings.wecom_corp_id or "",
            agent_id=settings.wecom_app_agent_id or "", oauth_base=settings.wecom_oauth_base, clock=self.clock,
            catalog=CATALOG,
        ) if settings.companion and public_url else None  # fmt: skip
        self.gateway: Gateway | None = None
        self._answered: OrderedDict[str, None] = OrderedDict()  # reply handles used (a req_id, a response_url)
        self._sent_parts: OrderedDict[str, int] = OrderedDict()  # outbox key → parts WeCom already has
        self._background: set[asyncio.Task[Any]] = set()

    @property
    def rate_limit(self) -> RateLimit:
        return self.capabilities.rate_limit

    async def _push_key(self, chat_id: str) -> str | None:
        return self.registration.key(await self._gateway.group_setting(self.name, chat_id, WEBHOOK))

    # ---------------------------------------------------------------- in

    @property
    def _gateway(self) -> Gateway:
        assert self.gateway is not None, "mount() first"
        return self.gateway

    def mount(self, app: web.Application, gateway: Gateway) -> None:
        self.gateway = gateway
        self.clock = self.robot.clock = self.api.clock = gateway.clock
        if self.inbound is not None:
            inbound = self.inbound

            async def events(request: web.Request) -> web.Response:
                return await gateway.webhook(request, inbound, platform=self.name)

            app.router.add_get("/wecom/events", events)
            app.router.add_post("/wecom/events", events)
        if self.signin is not None:
            self.signin.use_clock(gateway.clock)
            self.signin.mount(app)
        if self.connection is not None:
            connection = self.connection

            async def connect(_app: web.Application) -> None:
                connection.start()

            app.on_startup.append(connect)

    def web_viewer(self, request: web.Request) -> str | None:
        """The member WeCom signed in (companion app only); otherwise the signed link is the identity."""
        return self.signin.viewer(request) if self.signin is not None else None

    async def _on_callback(self, cmd: str, req_id: str, body: dict[str, Any]) -> None:
        """A pushed callback: stored (a command) or handled and answered (a card press) — never answered first."""
        try:
            await self._callback(cmd, req_id, body)
        except Malformed as exc:
            log.warning("wecom: ignored a malformed callback: %s", exc)
        except Exception:  # its own task: nothing above it would say
            log.exception("wecom: a callback failed (%s)", cmd)

    async def _callback(self, cmd: str, req_id: str, body: dict[str, Any]) -> None:
        event = to_event(body, handle=f"req:{req_id}", reading=self.reading)
        if event is None:
            if cmd == EVENT_CALLBACK and (body.get("event") or {}).get("eventtype") == "enter_chat":
                await self._welcome(req_id)
            return
        if isinstance(event, ActionEvent):
            await self._pressed(event, req_id)
        else:
            await self._store(event)

    async def _store(self, event: Event) -> None:
        for attempt in range(STORE_ATTEMPTS):
            try:
                await self._gateway.receive(event)
                return
            except InboxUnavailable:
                await asyncio.sleep(self.retry_delay * 2**attempt)
        log.error("wecom: event %s could not be stored; reconnecting so that WeCom may push it again", event.event_id)
        if self.connection is not None:
            await self.connection.drop()

    async def _welcome(self, req_id: str) -> None:
        assert self.connection is not None
        body = {"msgtype": "text", "text": {"content": CATALOG.text("welcome", self.language)}}
        try:
            await self.connection.command("aibot_respond_welcome_msg", body, req_id=req_id)
        except (CommandFailed, NotConnected) as exc:
            log.info("wecom: no welcome sent: %s", exc)

    async def _pressed(self, event: ActionEvent, req_id: str) -> None:
        assert self.connection is not None
        try:
            result = await self._gateway.receive(event)
        except InboxUnavailable:
            return  # (the core answers its own errors; a press that cannot be stored is simply not answered)
        if result is None:
            return
        update = self._answer_press(event, result, await self._posted(event))
        if update is None:
            return
        try:
            await self.connection.command("aibot_respond_update_msg", update, req_id=req_id)
        except (CommandFailed, NotConnected) as exc:  # past WeCom's 5 seconds, or the socket went: post it
            log.info("wecom: card update for %s not sent (%s); posting it instead", event.event_id, exc)
            await self._post_instead(event, result)

    async def _posted(self, event: Event) -> Card | None:
        """The card a press was on (the first of the message's cards, as the outbox keeps it)."""
        return await self._gateway.posted_card(self.name, event.chat.chat_id, first_page(event.message_id or ""))

    def _answer_press(self, event: Event, result: DispatchResult, posted: Card | None) -> dict[str, Any] | None:
        """``update_template_card`` for a press: the core's updated card for everyone, or the notice for the presser
        on the card they pressed. ``None`` when there is nothing to show (then it is posted, if anything)."""
        outcome, task_id = result.outcome, event.message_id or ""
        if result.duplicate or not task_id:
            return None
        pressed_by = (CATALOG.text("pressed_by", result.lang), event.sender.user_id)
        if outcome.update is not None:
            card = cards.updated(outcome.update, result.names, task_id=task_id, page=page_of(task_id),
                                 note=outcome.toast, pressed_by=pressed_by)  # fmt: skip
            return {"response_type": "update_template_card", "template_card": card}
        if outcome.toast and posted is not None:
            card = cards.updated(posted, {}, task_id=task_id, page=page_of(task_id), note=outcome.toast,
                                 pressed_by=None)  # fmt: skip
            return {"response_type": "update_template_card", "userids": [event.sender.user_id], "template_card": card}
        if outcome.toast:
            self._later(self._post_instead(event, result))
        return None

    async def _post_instead(self, event: Event, result: DispatchResult) -> None:
        if result.outcome.update is not None:
            await self._gateway.post_instead(event, result.outcome.update, part="update")
        if result.outcome.toast:
            text = md("{} {}", mention(event.sender.user_id), result.outcome.toast)
            await self._gateway.post_instead(event, templates.notice(templates.t("notice.title", result.lang), text),
                                             part="toast")  # fmt: skip

    def _later(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---------------------------------------------------------------- out

    async def deliver(self, message: OutgoingMessage) -> Delivered:
        card = self.signin.wrap(message.card) if self.signin is not None else message.card
        stem = f"cl{message.id}x{hashlib.sha1(message.key.encode()).hexdigest()[:6]}"
        people = [u for u in mentions_in_card(card) if u != "all"]
        key = await self._push_key(message.target) if people or self.connection is None else None
        if self.connection is not None:
            await self._over_connection(message, card, stem, people, key)
        else:
            await self._over_callback(message, card, stem, key)
        self._sent_parts.pop(message.key, None)
        return Delivered(f"{stem}p0")

    def _handle(self, message: OutgoingMessage, prefix: tuple[str, ...]) -> str | None:
        handle = message.reply_to or ""
        return handle if handle.startswith(prefix) and handle not in self._answered else None

    def _used(self, handle: str) -> None:
        self._answered[handle] = None
        while len(self._answered) > 10_000:
            self._answered.popitem(last=False)

    def _progress(self, message: OutgoingMessage, parts: int) -> None:
        self._sent_parts[message.key] = parts
        while len(self._sent_parts) > 10_000:
            self._sent_parts.popitem(last=False)

    async def _over_connection(self, message: OutgoingMessage, card: Card, stem: str, people: list[str],
                               key: str | None) -> None:  # fmt: skip
        assert self.connection is not None
        parts = cards.render(card, message.names, task_id=stem)
        done = self._sent_parts.get(message.key, 0)
        if key and done == 0 and (wait := self.robot.wait(key)):  # the ping would be throttled: hold the whole message
            raise DeliveryError("wecom message-push robot: 20 messages a minute", retry_after=wait)
        handle = self._handle(message, ("req:",))
        for number in range(done, len(parts)):
            if not (number == 0 and handle and await self._respond(handle, parts[0], stem)):
                await self._send(message.target, parts[number], f"{stem}p{number}")
            self._progress(message, number + 1)
        if key and people:
            try:
                await self.robot.send(key, mention_ping(cards.ping_text(card, message.names), people))
            except RobotError as exc:
                if not exc.permanent:
                    raise  # retried from the ping: the cards are not sent again
                log.warning("wecom: message %s posted, but its @-mentions were refused: %s", message.id, exc)

    async def _respond(self, handle: str, part: dict[str, Any], stem: str) -> bool:
        """Answer the person's message with its ``req_id`` (once); ``False`` if WeCom will not take it any more."""
        assert self.connection is not None
        body = part if part["msgtype"] == "template_card" else {
            "msgtype": "stream", "stream": {"id": new_req_id(f"{stem}s"), "finish": True,
                                            "content": part["markdown"]["content"]}}  # fmt: skip
        try:
            await self.connection.command("aibot_respond_msg", body, req_id=handle.removeprefix("req:"))
        except CommandFailed as exc:
            if exc.errcode == NOT_SUBSCRIBED:
                raise DeliveryError(f"wecom: {exc}", retry_after=1.0) from None
            self._used(handle)  # 846605 (another connection's req_id), 846608 (over 6 minutes), …
            log.info("wecom: reply sent as a new message instead (%s)", exc)
            return False
        except NotConnected as exc:
            raise DeliveryError(f"wecom: {exc}", retry_after=5.0) from None
        self._used(handle)
        return True

    async def _send(self, target: str, part: dict[str, Any], stem: str) -> None:
        assert self.connection is not None
        direct = target.startswith(DIRECT)
        body = {"chatid": target.removeprefix(DIRECT), "chat_type": 1 if direct else 2, **part}
        try:
            await self.connection.command("aibot_send_msg", body, req_id=new_req_id(f"aibot_send_msg_{stem}"))
        except CommandFailed as exc:
            if exc.errcode == NOT_SUBSCRIBED:  # the connection subscribes again; then this is sent
                raise DeliveryError(f"wecom: {exc}", retry_after=1.0) from None
            error = classify("aibot_send_msg", exc.errcode) or DeliveryError(str(exc), permanent=True)
            raise error from None
        except NotConnected as exc:
            raise DeliveryError(f"wecom: {exc}", retry_after=60.0 if self.connection.displaced else 5.0) from None

    async def _over_callback(self, message: OutgoingMessage, card: Card, stem: str, key: str | None) -> None:
        """Callback URL only: the reply to a message through its ``response_url``, the rest through the push robot."""
        url = self._handle(message, ("http://", "https://"))
        if url is not None:
            parts = cards.render(card, message.names, task_id=stem)
            if len(parts) == 1 or key is None:  # without a push robot, the one message with the buttons
                self._used(url)
                cards_only = [p for p in parts if p["msgtype"] == "template_card"]
                try:
                    await self.api.respond(url, (cards_only or parts)[0])
                    return
                except DeliveryError as exc:
                    if exc.retry_after is not None and not exc.permanent:
                        raise
                    log.info("wecom: response_url refused (%s); trying the message-push robot", exc)
        if key is None:
            raise DeliveryError("wecom: callback mode cannot post by itself and this group has no message-push robot "
                                "(/settings wecom_webhook <address>)", permanent=True)  # fmt: skip
        parts = cards.render(card, message.names, task_id=stem, mention="inline", cards=False)
        done = self._sent_parts.get(message.key, 0)
        if done == 0 and (wait := self.robot.wait(key, len(parts))):
            raise DeliveryError("wecom message-push robot: 20 messages a minute", retry_after=wait)
        for number in range(done, len(parts)):
            await self.robot.send(key, parts[number])
            self._progress(message, number + 1)

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.stop()
        await self.robot.close()
        await self.api.close()
