"""The intelligent robot's callbacks as neutral events, and the callback URL's door (``GET|POST /wecom/events``).

A callback body is the same JSON on both channels (doc 100719): pushed in a long-connection
frame, or posted encrypted to the callback URL. ``to_event`` reads one with every field's
type checked (a signed body of the wrong shape is refused, never half-understood):

- ``msgtype: text`` (and ``voice`` with its transcript, ``mixed`` with its text parts) →
  ``CommandEvent``: the leading ``@robot`` removed (the robot is ``@<its name>`` in the
  text; WeCom gives no mention list, so people's ``@name`` stay text), ``msgid`` as the
  event id (WeCom's own dedupe key), the reply handle (``req:<req_id>`` or the
  ``response_url``) as the message id;
- ``template_card_event`` → ``ActionEvent`` from the button's key (``cards.read_key``)
  and the choices (``selected_items``), the card's ``task_id`` as the message id;
- anything else (``enter_chat``, feedback, stream refreshes) → ``None``.

What a person types stays text: WeCom produces no mention list, so the event names nobody and
the core takes any ``<@…>`` in it as the text it is. A message-push webhook address anywhere in
a message is sealed before the core sees it (it is a credential: the inbox, logs and replies
only ever hold the sealed form).

The callback URL (doc 101033): ``msg_signature`` over token, timestamp, nonce and the
encrypted field; ``timestamp`` within ``REPLAY_WINDOW`` of our clock (WeCom defines no window;
this is ours, as for Feishu); AES as in ``crypto.py`` with receiveid ``""``. URL verification
answers the decrypted ``echostr`` as plain text. A message is answered with an empty body (its
reply goes through the outbox and ``response_url``); a card press with the encrypted
``update_template_card`` the core's result calls for (``WeComPlatform.card_update``).
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from bot.platforms.contract import Challenge, RawRequest, Rejected
from bot.platforms.wecom import cards
from bot.platforms.wecom.crypto import CryptoError, WeComCipher, signature, signature_matches
from cards.model import CardPayload
from handlers.capabilities import Source
from handlers.dispatcher import DispatchResult
from handlers.events import ActionEvent, Chat, CommandEvent, Event, Sender

PLATFORM = "wecom"
DIRECT = "single:"  # a 1:1 chat's id is the person's userid; prefixed, so a send knows it is not a group
REPLAY_WINDOW = timedelta(minutes=5)
MAX_ID = 128  # what the database keeps of a chat or user id
WEBHOOK_URL = re.compile(r"(?:https?://)?[^\s/]+/cgi-bin/webhook/send\?\S+")  # with or without its scheme


class Malformed(ValueError):
    """A verified body that is not shaped as WeCom sends it."""


def _obj(parent: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Malformed(f"{key} is not an object")
    return value


def _str(parent: Mapping[str, Any], key: str, *, required: bool = False, limit: int = 8192) -> str:
    value = parent.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value) or len(value) > limit:
        raise Malformed(f"{key} is not a string")
    return value


def _list(parent: Mapping[str, Any], key: str) -> list[Any]:
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed(f"{key} is not a list")
    return value


# ---------------------------------------------------------------- callbacks as events


@dataclass(frozen=True)
class Reading:
    """What ``to_event`` needs besides the body."""

    bot_name: str | None = None  # the robot's display name, when it holds a space
    seal: Callable[[str], str] | None = None  # seals a webhook address found in a message


def command_text(content: str, reading: Reading) -> str:
    """The command a person typed: the robot's ``@name`` (and any ``@`` before it) removed, addresses sealed."""
    text = content
    if reading.bot_name:
        text = text.replace(f"@{reading.bot_name}", " ")
    words = text.split()
    while words and words[0].startswith("@"):
        words.pop(0)
    text, seal = " ".join(words), reading.seal
    return WEBHOOK_URL.sub(lambda m: seal(m.group(0)), text) if seal is not None else text


def _chat(body: Mapping[str, Any], sender: str) -> Chat:
    kind = _str(body, "chattype")
    workspace = _str(body, "aibotid", limit=MAX_ID)
    if kind == "group":
        return Chat(PLATFORM, _str(body, "chatid", required=True, limit=MAX_ID), workspace)
    if kind == "single":
        return Chat(PLATFORM, DIRECT + sender, workspace, None, True)
    raise Malformed("chattype is neither group nor single")


def _content(body: Mapping[str, Any]) -> str | None:
    kind = _str(body, "msgtype")
    if kind == "text":
        return _str(_obj(body, "text"), "content")
    if kind == "voice":  # 1:1 only: WeCom sends the transcript
        return _str(_obj(body, "voice"), "content")
    if kind == "mixed":
        items = _list(_obj(body, "mixed"), "msg_item")
        texts = []
        for item in items:
            if not isinstance(item, dict):
                raise Malformed("a mixed item is not an object")
            if _str(item, "msgtype") == "text":
                texts.append(_str(_obj(item, "text"), "content"))
        return " ".join(texts)
    return None


def to_event(body: Mapping[str, Any], *, handle: str | None, reading: Reading) -> Event | None:
    """The neutral event of a callback body; ``handle``: how to answer it (``req:…`` or a ``response_url``)."""
    msgid = _str(body, "msgid", required=True, limit=200)
    sender = _str(_obj(body, "from"), "userid", required=True, limit=MAX_ID - len(DIRECT))
    if _str(body, "msgtype") == "event":
        event = _obj(body, "event")
        if _str(event, "eventtype") != "template_card_event":
            return None
        return _card_event(msgid, _chat(body, sender), sender, _obj(event, "template_card_event"))
    content = _content(body)
    if content is None:
        return None
    return CommandEvent(
        event_id=msgid, chat=_chat(body, sender), sender=Sender(sender), message_id=handle,
        text=command_text(content, reading), source=Source.MESSAGE,
    )  # fmt: skip


def _card_event(msgid: str, chat: Chat, sender: str, pressed: dict[str, Any]) -> ActionEvent | None:
    key = _str(pressed, "event_key", required=True, limit=1024)
    if key == cards.NOOP:
        return None
    try:
        action, token = cards.read_key(key)
        payload = CardPayload.from_token(token)
    except ValueError:
        raise Malformed("event_key is not a key we rendered") from None
    selected: dict[str, list[str]] = {}
    for item in _list(_obj(pressed, "selected_items"), "selected_item"):
        if not isinstance(item, dict):
            raise Malformed("a selected item is not an object")
        options = _list(_obj(item, "option_ids"), "option_id")
        if not all(isinstance(o, str) and len(o) <= 128 for o in options):
            raise Malformed("option ids are not strings")
        selected[_str(item, "question_key", required=True, limit=200)] = options
    return ActionEvent(
        event_id=msgid, chat=chat, sender=Sender(sender),
        message_id=_str(pressed, "task_id", required=True, limit=128), action=action, payload=payload,
        form=cards.form_values(selected), source=Source.BUTTON,
    )  # fmt: skip


# ---------------------------------------------------------------- the callback URL


@dataclass(frozen=True)
class Opened:
    """A verified, decrypted callback and the request's timestamp and nonce (the encrypted answer reuses them)."""

    body: dict[str, Any]
    timestamp: str
    nonce: str


Answer = Callable[[Event, DispatchResult], Awaitable[dict[str, Any] | None]]


class CallbackInbound:
    """``Inbound`` for the callback URL mode (``gateway.webhook`` runs the rest of the pipeline)."""

    def __init__(self, *, token: str, cipher: WeComCipher, clock: Callable[[], datetime], reading: Reading,
                 api_base: str, card_context: Callable[[Event], Awaitable[Any]],
                 build_update: Callable[[Event, DispatchResult, Any], dict[str, Any] | None]) -> None:  # fmt: skip
        self.token, self.cipher, self.now, self.reading, self.api_base = token, cipher, clock, reading, api_base
        self.card_context, self.build_update = card_context, build_update
        self._pending: OrderedDict[str, tuple[Opened, Any]] = OrderedDict()  # card events awaiting their answer

    def _verified(self, query: Mapping[str, str], encrypted: str) -> tuple[str, str]:
        timestamp, nonce, given = query.get("timestamp", ""), query.get("nonce", ""), query.get("msg_signature", "")
        if not timestamp or not nonce or not given:
            raise Rejected(401, "missing msg_signature, timestamp or nonce")
        try:
            sent = datetime.fromtimestamp(int(timestamp), tz=self.now().tzinfo)
        except (ValueError, OverflowError, OSError):
            raise Rejected(401, "bad timestamp") from None
        if abs(self.now() - sent) > REPLAY_WINDOW:
            raise Rejected(401, "stale or future timestamp (the window is 5 minutes)")
        if not signature_matches(self.token, timestamp, nonce, encrypted, given):
            raise Rejected(401, "msg_signature mismatch")
        return timestamp, nonce

    def _decrypt(self, encrypted: str) -> str:
        try:
            return self.cipher.decrypt(encrypted)
        except CryptoError as exc:
            raise Rejected(400, f"does not decrypt with our EncodingAESKey: {exc}") from None

    async def open(self, request: RawRequest) -> Event | Challenge | None:
        if "echostr" in request.query:  # URL verification (GET)
            echo = request.query["echostr"]
            self._verified(request.query, echo)
            return Challenge(self._decrypt(echo))
        try:
            outer = json.loads(request.body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise Rejected(400, "body is not JSON") from None
        encrypted = outer.get("encrypt", outer.get("Encrypt")) if isinstance(outer, dict) else None
        if not isinstance(encrypted, str):
            raise Rejected(400, "no encrypt field")
        timestamp, nonce = self._verified(request.query, encrypted)
        try:
            body = json.loads(self._decrypt(encrypted))
        except json.JSONDecodeError:
            raise Rejected(400, "the decrypted body is not JSON") from None
        if not isinstance(body, dict):
            raise Rejected(400, "the decrypted body is not an object")
        try:
            event = to_event(body, handle=self._response_url(body), reading=self.reading)
        except Malformed as exc:
            raise Rejected(400, str(exc)) from None
        if isinstance(event, ActionEvent):
            self._pending[event.event_id] = (Opened(body, timestamp, nonce), await self.card_context(event))
            while len(self._pending) > 1000:
                self._pending.popitem(last=False)
        return event

    def _response_url(self, body: Mapping[str, Any]) -> str | None:
        """The message's one-use reply URL, if it points at WeCom's API (nothing else is ever posted to)."""
        url = _str(body, "response_url", limit=1024)
        return url if url.startswith(self.api_base.rstrip("/") + "/") else None

    def acknowledge(self, event: Event | None) -> web.Response:
        if event is not None:
            self._pending.pop(event.event_id, None)
        return web.Response(text="", content_type="text/plain")

    def answer(self, event: Event, result: DispatchResult) -> web.Response:
        """A card press: the updated card, encrypted, in the answer (WeCom's 5 seconds); anything else: empty."""
        pending = self._pending.pop(event.event_id, None)
        if pending is None:
            return self.acknowledge(None)
        opened, context = pending
        update = self.build_update(event, result, context)
        if update is None:
            return self.acknowledge(None)
        return self.encrypted(update, timestamp=opened.timestamp, nonce=opened.nonce)

    def encrypted(self, reply: dict[str, Any], *, timestamp: str, nonce: str) -> web.Response:
        """``{encrypt, msgsignature, timestamp, nonce}`` as text/plain, as WeCom's reference implementation sends it."""
        encrypt = self.cipher.encrypt(json.dumps(reply, ensure_ascii=False))
        body = {"encrypt": encrypt, "msgsignature": signature(self.token, timestamp, nonce, encrypt),
                "timestamp": timestamp, "nonce": nonce}  # fmt: skip
        return web.Response(text=json.dumps(body), content_type="text/plain")

    def challenge(self, challenge: Challenge) -> web.Response:
        return web.Response(text=challenge.value, content_type="text/plain")
