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

from bot.platforms.feishu.cards import form_values
from bot.platforms.feishu.crypto import DecryptError, decrypt, signature_matches
from cards.model import CardPayload
from handlers.events import ActionEvent, Chat, CommandEvent, Event, MentionedUser, Sender

REPLAY_WINDOW = timedelta(minutes=5)
PLATFORM = "feishu"


class Rejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


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
    """The neutral event for a verified body; None for what the bot ignores (other types, not addressed to it)."""
    header = body["header"]
    kind = header.get("event_type")
    event = body.get("event") or {}
    if kind == "im.message.receive_v1":
        return _message(header, event, bot_open_id)
    if kind == "card.action.trigger":
        return _card_action(header, event)
    return None


def _message(header: dict[str, Any], event: dict[str, Any], bot_open_id: str | None) -> CommandEvent | None:
    message = event.get("message") or {}
    if message.get("message_type") != "text":
        return None
    try:
        text = str(json.loads(message.get("content") or "{}").get("text", ""))
    except (json.JSONDecodeError, AttributeError):
        return None
    direct = message.get("chat_type") == "p2p"
    addressed = direct
    mentioned: list[MentionedUser] = []
    for mention in message.get("mentions") or []:
        open_id = (mention.get("id") or {}).get("open_id") or ""
        key = mention.get("key") or ""
        if bot_open_id and open_id == bot_open_id:
            addressed = True
            text = text.replace(key, " ")
        elif key and open_id:
            mentioned.append(MentionedUser(open_id, mention.get("name")))
            text = text.replace(key, f"<@{open_id}>")
    if not addressed:
        return None
    sender = (event.get("sender") or {}).get("sender_id") or {}
    return CommandEvent(
        event_id=str(header.get("event_id", "")),
        chat=Chat(PLATFORM, str(message.get("chat_id", "")), str(header.get("tenant_key", "")), None, direct),
        sender=Sender(str(sender.get("open_id", ""))),
        message_id=message.get("message_id"),
        text=" ".join(text.split()),
        mentions=tuple(mentioned),
    )


def _card_action(header: dict[str, Any], event: dict[str, Any]) -> ActionEvent | None:
    action = event.get("action") or {}
    value = action.get("value") or {}
    if not isinstance(value, dict) or "a" not in value:
        return None
    try:
        payload = CardPayload.from_token(str(value.get("p", "")))
    except ValueError:
        raise Rejected(400, "card payload is not ours") from None
    context = event.get("context") or {}
    operator = event.get("operator") or {}
    form = action.get("form_value") or {}
    return ActionEvent(  # replies and forms become new messages (outbox); the pressed card is updated inline
        event_id=str(header.get("event_id", "")),
        chat=Chat(PLATFORM, str(context.get("open_chat_id", "")), str(header.get("tenant_key", ""))),
        sender=Sender(str(operator.get("open_id", ""))),
        message_id=context.get("open_message_id"),
        action=str(value["a"]),
        payload=payload,
        form=form_values(form) if isinstance(form, dict) else {},
    )
