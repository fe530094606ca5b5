"""DingTalk payloads as neutral events: robot messages and card callbacks, from Stream frames or HTTP posts.

Both channels carry the same JSON (a Stream frame's ``data`` string, or an HTTP
body). What differs is how it is authenticated: a Stream connection was opened
with the app's client secret, so its frames are DingTalk's; an HTTP post must
carry ``timestamp`` (ms) and ``sign`` = base64(HMAC-SHA256(appSecret, timestamp +
"\\n" + appSecret)), within an hour of our clock. Only the timestamp is signed,
not the body, so a captured request could be replayed for an hour: robot messages
are deduplicated by ``msgId`` (the same id over either channel), and the Stream
mode is the one to prefer.

Robot messages reach us in groups only when they @ the robot (its own @ is
already removed from ``text.content``); 1:1 chats always. Other people @-ed in the
text appear as ``@Nick`` and in ``atUsers`` with their ``staffId``; DingTalk does
not say which name is which id, so the n-th ``@word`` of the text is taken as the
n-th ``atUsers`` entry with a ``staffId`` when the counts agree (UNCONFIRMED that
the order is kept; when the counts differ, the names stay text).

A group's chat id is its ``conversationId`` (the ``openConversationId`` the send
APIs take); a 1:1 chat with the robot is ``u:<staffId>``, since DingTalk sends
those to the person, not to a conversation.

A robot message's ``message_id`` carries its session webhook, so that the reply
can go there while it is valid: ``<msgId>#<expires ms>#<session>``. Only the
``session`` parameter is kept, and only from a webhook on DingTalk's oapi host;
the reply is posted to that host, never to a URL from a payload.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.platforms.contract import Rejected
from bot.platforms.dingtalk.cards import form_values
from cards.model import CardPayload
from handlers.capabilities import Source
from handlers.events import ActionEvent, Chat, CommandEvent, MentionedUser, Sender

PLATFORM = "dingtalk"
REPLAY_WINDOW = timedelta(hours=1)  # DingTalk: "相差1小时以上，则认为是非法的请求"
WORD_MENTION = re.compile(r"@(\S+)")
GROUP, DIRECT = "2", "1"


def sign(timestamp: str, secret: str) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def check_signature(headers: Any, secret: str, now: datetime) -> None:
    """An HTTP callback's ``timestamp`` and ``sign`` headers: fresh, and made with our app secret."""
    timestamp, given = headers.get("timestamp", ""), headers.get("sign", "")
    if not timestamp or not given:
        raise Rejected(401, "missing timestamp or sign")
    try:
        sent = datetime.fromtimestamp(int(timestamp) / 1000, tz=now.tzinfo)
    except (ValueError, OverflowError, OSError):
        raise Rejected(401, "bad timestamp") from None
    if abs(now - sent) > REPLAY_WINDOW:
        raise Rejected(401, "stale or future timestamp (the window is one hour)")
    if not hmac.compare_digest(sign(timestamp, secret).encode(), given.encode()):
        raise Rejected(401, "signature mismatch")


def _str(parent: dict[str, Any], key: str, *, required: bool = False, limit: int = 4096) -> str:
    value = parent.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value) or len(value) > limit:
        raise Rejected(400, f"{key} is not a string")
    return value


def _obj(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Rejected(400, f"{key} is not an object")
    return value


def json_object(text: str | bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise Rejected(400, f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise Rejected(400, f"{what} is not a JSON object")
    return value


def is_card_callback(body: dict[str, Any]) -> bool:
    return "outTrackId" in body and "msgId" not in body


@dataclass(frozen=True)
class Session:
    """The reply channel a robot message carried: its session webhook's ``session`` and when it expires."""

    message: str
    expires_ms: int = 0
    session: str = ""

    def encode(self) -> str:
        return f"{self.message}#{self.expires_ms}#{self.session}" if self.session else self.message

    @classmethod
    def decode(cls, message_id: str) -> Session:
        parts = message_id.split("#", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            return cls(message_id)
        return cls(parts[0], int(parts[1]), parts[2])

    def valid_at(self, now: datetime) -> bool:
        return bool(self.session) and now.timestamp() * 1000 < self.expires_ms - 60_000  # a minute to spare


def _session(data: dict[str, Any], msg_id: str, oapi_host: str) -> Session:
    url, expires = _str(data, "sessionWebhook"), data.get("sessionWebhookExpiredTime")
    parts = urlsplit(url)
    if not url or parts.hostname != oapi_host or not isinstance(expires, int) or isinstance(expires, bool):
        return Session(msg_id)
    token = (parse_qs(parts.query).get("session") or [""])[0]
    if not re.fullmatch(r"[A-Za-z0-9_\-=.]{1,256}", token):
        return Session(msg_id)
    return Session(msg_id, expires, token)


def neutral_text(text: str, at_users: list[Any], robot: str = "") -> tuple[str, tuple[MentionedUser, ...]]:
    """``@Nick`` → ``<@staffId>`` in order, when the text names as many people as ``atUsers`` has staff ids."""
    staff = []
    for entry in at_users:
        if not isinstance(entry, dict):
            raise Rejected(400, "an atUsers entry is not an object")
        if robot and _str(entry, "dingtalkId") == robot:
            continue  # the robot itself
        if staff_id := _str(entry, "staffId", limit=128):
            staff.append(staff_id)
    words = WORD_MENTION.findall(text)
    if not staff or len(words) != len(staff):
        return " ".join(text.split()), ()
    people = iter(zip(words, staff, strict=True))
    mentions: list[MentionedUser] = []

    def replace(match: re.Match[str]) -> str:
        name, staff_id = next(people)
        mentions.append(MentionedUser(staff_id, name))
        return f"<@{staff_id}>"

    return " ".join(WORD_MENTION.sub(replace, text).split()), tuple(dict.fromkeys(mentions))


def robot_message(data: dict[str, Any], *, robot_code: str, oapi_host: str) -> CommandEvent | None:
    """A robot message (topic ``/v1.0/im/bot/messages/get``) as a command; None for what the bot ignores."""
    if data.get("robotCode") not in (None, robot_code):
        raise Rejected(403, "the message is for another robot")
    kind = _str(data, "conversationType", required=True)
    if _str(data, "msgtype") != "text" or kind not in (GROUP, DIRECT):
        return None
    msg_id = _str(data, "msgId", required=True, limit=200)
    staff_id = _str(data, "senderStaffId", required=True, limit=128)
    at_users = data.get("atUsers") or []
    if not isinstance(at_users, list):
        raise Rejected(400, "atUsers is not a list")
    text, mentions = neutral_text(_str(_obj(data, "text"), "content"), at_users, _str(data, "chatbotUserId"))
    if kind == GROUP and data.get("isInAtList") is False:
        return None  # DingTalk sends group messages only when they @ the robot; one that says otherwise is ignored
    direct = kind == DIRECT
    chat_id = f"u:{staff_id}" if direct else _str(data, "conversationId", required=True, limit=200)
    return CommandEvent(
        event_id=f"msg:{msg_id}",
        chat=Chat(PLATFORM, chat_id, _str(data, "chatbotCorpId") or _str(data, "senderCorpId"),
                  _str(data, "conversationTitle") or None, direct),
        sender=Sender(staff_id, _str(data, "senderNick") or None, data.get("isAdmin") is True),
        message_id=_session(data, msg_id, oapi_host).encode(),
        text=text, mentions=mentions, source=Source.MESSAGE,
    )  # fmt: skip


def card_callback(data: dict[str, Any], *, event_id: str) -> ActionEvent | None:
    """A card callback (``/v1.0/card/instances/callback``) as an action; None for a press that is not ours.

    ``content`` is a JSON string: ``{"cardPrivateData": {"actionIds": [...], "params": {...}}}``;
    the template puts ``action`` and ``payload`` into every button's and the form's
    params, and the form's values under ``form``.
    """
    track = _str(data, "outTrackId", required=True, limit=200)
    user = _str(data, "userId", required=True, limit=128)
    content = json_object(_str(data, "content", required=True, limit=65536), "content")
    private = _obj(content, "cardPrivateData")
    params = _obj(private, "params")
    action = _str(params, "action", limit=100)
    if not action:
        return None
    try:
        payload = CardPayload.from_token(_str(params, "payload"))
    except ValueError:
        raise Rejected(400, "card payload is not ours") from None
    form = params.get("form")
    if form is not None and not isinstance(form, dict):
        raise Rejected(400, "form is not an object")
    space_type, space = _str(data, "spaceType"), _str(data, "spaceId", limit=200)
    chat_id = f"u:{user}" if space_type == "IM_ROBOT" else space
    if not chat_id:
        raise Rejected(400, "no spaceId")
    return ActionEvent(
        event_id=event_id, chat=Chat(PLATFORM, chat_id, _str(data, "corpId"), None, space_type == "IM_ROBOT"),
        sender=Sender(user), message_id=track, action=action, payload=payload,
        form=form_values(form) if form else {}, source=Source.BUTTON,
    )  # fmt: skip


def body_id(raw: bytes) -> str:
    """An HTTP card callback has no id of its own: the digest of its body (a redelivery is the same body)."""
    return "cb:" + hashlib.sha256(raw).hexdigest()[:40]
