"""Feishu / Lark inbound: verify, decrypt and turn event subscription 2.0 payloads into neutral events.

Order of checks on ``POST /feishu/events`` (every failure is a 4xx and changes nothing):
1. with an Encrypt Key, the signature headers must be present, fresh (``REPLAY_WINDOW``)
   and match the raw body — before anything is parsed (only the URL-verification
   challenge comes unsigned, and it must carry the verification token);
2. the body must be JSON; an ``encrypt`` field must decrypt with our key;
3. the verification token must match (``header.token`` in schema 2.0);
4. redeliveries (``header.event_id``) are dropped by the core's dedupe.

The replay window is 5 minutes: wide enough for clock skew between Feishu and
us, narrow enough that a captured request cannot be replayed later; Feishu signs
each delivery (retries included) when it sends it, and a retry inside the window
is a duplicate the event id catches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.platforms.contract import Rejected
from bot.platforms.feishu.cards import form_values
from bot.platforms.feishu.crypto import DecryptError, decrypt, signature_matches
from cards.model import CardPayload
from handlers.capabilities import Source
from handlers.events import ActionEvent, Chat, CommandEvent, Event, MentionedUser, Sender

REPLAY_WINDOW = timedelta(minutes=5)
PLATFORM = "feishu"


@dataclass(frozen=True)
class Opened:
    """A verified request: a challenge to answer, or an event body (schema 2.0)."""

    challenge: str | None
    body: dict[str, Any]


def open_request(
    *, raw: bytes, headers: Any, verification_token: str, encrypt_key: str | None, now: datetime
) -> Opened:
    signed = "X-Lark-Signature" in headers
    if encrypt_key and signed:
        _check_signature(raw, headers, encrypt_key, now)
    try:
        outer = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Rejected(400, "body is not JSON") from None
    if not isinstance(outer, dict):
        raise Rejected(400, "body is not a JSON object")
    body = outer
    if "encrypt" in outer:
        if not encrypt_key:
            raise Rejected(400, "encrypted body but no FEISHU_ENCRYPT_KEY configured")
        try:
            body = json.loads(decrypt(encrypt_key, str(outer["encrypt"])))
        except (DecryptError, json.JSONDecodeError, UnicodeDecodeError):
            raise Rejected(400, "body does not decrypt with our Encrypt Key") from None
        if not isinstance(body, dict):
            raise Rejected(400, "decrypted body is not a JSON object")
    if body.get("type") == "url_verification":
        if body.get("token") != verification_token:
            raise Rejected(401, "verification token mismatch")
        return Opened(challenge=str(body.get("challenge", "")), body=body)
    if encrypt_key and not signed:
        raise Rejected(401, "missing X-Lark-Signature")
    header = body.get("header")
    if body.get("schema") != "2.0" or not isinstance(header, dict):
        raise Rejected(400, "not an event subscription 2.0 payload")
    if header.get("token") != verification_token:
        raise Rejected(401, "verification token mismatch")
    return Opened(challenge=None, body=body)


def _check_signature(raw: bytes, headers: Any, encrypt_key: str, now: datetime) -> None:
    timestamp, nonce = headers.get("X-Lark-Request-Timestamp", ""), headers.get("X-Lark-Request-Nonce", "")
    if not timestamp or not nonce:
        raise Rejected(401, "missing signature headers")
    try:
        sent = datetime.fromtimestamp(int(timestamp), tz=now.tzinfo)
    except (ValueError, OverflowError, OSError):
        raise Rejected(401, "bad X-Lark-Request-Timestamp") from None
    if abs(now - sent) > REPLAY_WINDOW:
        raise Rejected(401, "stale or future timestamp (replay window is 5 minutes)")
    given = headers.get("X-Lark-Signature", "")
    if not signature_matches(timestamp=timestamp, nonce=nonce, encrypt_key=encrypt_key, body=raw, given=given):
        raise Rejected(401, "signature mismatch")


def to_event(body: dict[str, Any], *, bot_open_id: str | None) -> Event | None:
    """The neutral event for a verified body; None for what the bot ignores (other types, not addressed to it).

    Every field is read with its type checked (``_obj``, ``_str``): a signed body
    of the wrong shape is refused with 400, never half-understood.
    """
    header = _obj(body, "header")
    kind = header.get("event_type")
    event = _obj(body, "event")
    if kind == "im.message.receive_v1":
        return _message(header, event, bot_open_id)
    if kind == "card.action.trigger":
        return _card_action(header, event)
    return None


def _obj(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Rejected(400, f"{key} is not an object")
    return value


def _str(parent: dict[str, Any], key: str, *, required: bool = False) -> str:
    value = parent.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value) or len(value) > 4096:
        raise Rejected(400, f"{key} is not a string")
    return value


def _message(header: dict[str, Any], event: dict[str, Any], bot_open_id: str | None) -> CommandEvent | None:
    message = _obj(event, "message")
    if message.get("message_type") != "text":
        return None
    try:
        content = json.loads(_str(message, "content") or "{}")
    except json.JSONDecodeError:
        raise Rejected(400, "message content is not JSON") from None
    if not isinstance(content, dict):
        raise Rejected(400, "message content is not an object")
    text = _str(content, "text")
    direct = message.get("chat_type") == "p2p"
    addressed = direct
    mentioned: list[MentionedUser] = []
    mentions = message.get("mentions") or []
    if not isinstance(mentions, list):
        raise Rejected(400, "mentions is not a list")
    for item in mentions:
        if not isinstance(item, dict):
            raise Rejected(400, "a mention is not an object")
        open_id, key = _str(_obj(item, "id"), "open_id"), _str(item, "key")
        if bot_open_id and open_id == bot_open_id:
            addressed = True
            text = text.replace(key, " ")
        elif key and open_id:
            mentioned.append(MentionedUser(open_id, _str(item, "name") or None))
            text = text.replace(key, f"<@{open_id}>")
    if not addressed:
        return None
    sender = _obj(_obj(event, "sender"), "sender_id")
    return CommandEvent(
        event_id=_str(header, "event_id", required=True),
        chat=Chat(PLATFORM, _str(message, "chat_id", required=True), _str(header, "tenant_key"), None, direct),
        sender=Sender(_str(sender, "open_id", required=True)),
        message_id=_str(message, "message_id") or None,
        text=" ".join(text.split()),
        mentions=tuple(mentioned),
        source=Source.MESSAGE,
    )


def _card_action(header: dict[str, Any], event: dict[str, Any]) -> ActionEvent | None:
    action = _obj(event, "action")
    value = action.get("value") or {}
    if not isinstance(value, dict) or "a" not in value:
        return None
    try:
        payload = CardPayload.from_token(_str(value, "p"))
    except ValueError:
        raise Rejected(400, "card payload is not ours") from None
    context = _obj(event, "context")
    form = _obj(action, "form_value")
    return ActionEvent(
        event_id=_str(header, "event_id", required=True),
        chat=Chat(PLATFORM, _str(context, "open_chat_id", required=True), _str(header, "tenant_key")),
        sender=Sender(_str(_obj(event, "operator"), "open_id", required=True)),
        message_id=_str(context, "open_message_id") or None,
        action=_str(value, "a", required=True),
        payload=payload,
        form=form_values(form),
        source=Source.BUTTON,
    )
