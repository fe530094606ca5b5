"""The group's message-push robot (消息推送 / 群机器人, doc 99110): real @-mentions, and posts in callback mode.

The intelligent robot cannot @ anyone. A group admin adds a message-push robot to the group and
gives its address once (``/settings wecom_webhook <url>`` · ``设置 企微推送 <地址>``); then every card
that names people is followed by a one-line ``text`` message from that robot whose
``mentioned_list`` holds their userids — WeCom notifies them. In callback URL mode, which has no
way to post by itself, the same robot posts what the bot says on its own (reminders), as markdown
with ``<@userid>`` mentions.

The address's ``key`` is the only credential of that robot ("key 是唯一的凭证，请勿泄露"): the adapter
seals it the moment it reads it in a message (Fernet, with a key derived from
``CLOSELOOP_SECRET_KEY``), so the inbox, the group's settings and every log hold only the sealed
form; it is opened only to send, and never logged or shown (``/settings`` shows its last four
characters).

WeCom allows 20 messages a minute per robot (as its doc is quoted; whether the minute is a calendar
minute or a sliding one is not said — we count a sliding one, the stricter reading) and answers
``45009`` beyond that: a send that would be the 21st within 60 seconds waits (``DeliveryError`` with ``retry_after``) before anything is
sent, and a ``45009`` that comes anyway (another process sharing the robot) is retried after a
minute. ``93000`` (the robot was removed) is permanent.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections import defaultdict, deque
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.outbox import DeliveryError
from bot.platforms.http import ApiClient
from handlers.capabilities import GroupSetting
from storage.i18n import Catalog
from storage.timekeeping import Clock

log = logging.getLogger(__name__)
PER_MINUTE = 20
WINDOW = timedelta(minutes=1)
KEY = re.compile(r"[A-Za-z0-9-]{8,64}")
RATE_LIMITED = {45009, 45033}
RETRY_SOON = {-1, 6000}  # system busy, data version conflict (global codes, doc 90455)
INVALID_KEY = 93000
TEXT_BYTES, MARKDOWN_BYTES = 2048, 4096
WEBHOOK = "wecom_webhook"  # the group setting's key (and its name in /settings)
OFF = {"off", "none", "关闭", "无", "删除"}


class Sealer:
    """Seals short secrets for storage: Fernet (AES-128-CBC + HMAC), keyed by HKDF from the signing key."""

    def __init__(self, secret_key: str) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"closeloop wecom webhook key")
        self._fernet = Fernet(base64.urlsafe_b64encode(derived.derive(secret_key.encode())))

    def seal(self, text: str) -> str:
        """Letters, digits, ``-`` and ``_`` only (no ``=``): it passes through the command grammar as one word."""
        return self._fernet.encrypt(text.encode()).decode().rstrip("=")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt((sealed + "=" * (-len(sealed) % 4)).encode()).decode()
        except (InvalidToken, ValueError, UnicodeDecodeError):
            raise ValueError("not sealed by this server") from None


def key_of(url: str, *, api_base: str) -> str:
    """The robot's key from its address (``…/cgi-bin/webhook/send?key=…`` on WeCom's API host), or ``ValueError``."""
    expected = f"{api_base.rstrip('/')}/cgi-bin/webhook/send?key=…"
    parts, base = urlsplit(url.strip()), urlsplit(api_base)
    keys = parse_qs(parts.query).get("key", [])
    if (parts.scheme, parts.netloc, parts.path) != (base.scheme, base.netloc, "/cgi-bin/webhook/send") or (
        len(keys) != 1 or not KEY.fullmatch(keys[0])):  # fmt: skip
        raise ValueError(f"the message-push robot's webhook address: {expected}")
    return keys[0]


class Registration:
    """The group setting that registers a group's message-push robot, and its key read back to send."""

    def __init__(self, *, sealer: Sealer, api_base: str, catalog: Catalog, callback_only: bool) -> None:
        self.sealer, self.api_base, self.catalog, self.callback_only = sealer, api_base, catalog, callback_only

    def setting(self) -> GroupSetting:
        missing = "setting.missing_callback" if self.callback_only else "setting.missing"
        return GroupSetting(key=WEBHOOK, names=(WEBHOOK, "企微推送"), label=self.catalog.localized("setting.label"),
                            missing=self.catalog.localized(missing), parse=self.parse, describe=self.describe)  # fmt: skip

    def parse(self, value: str) -> str:
        """The address as typed (sealed by the adapter on the way in) → its key, sealed; ``off`` clears it."""
        if value.strip().lower() in OFF:
            return ""
        try:
            url = value if value.startswith(("http://", "https://")) else self.sealer.open(value)
        except ValueError:
            url = ""
        return self.sealer.seal(key_of(url, api_base=self.api_base))

    def describe(self, stored: str, lang: str) -> str:
        try:
            return self.catalog.text("setting.set", lang, tail=self.sealer.open(stored)[-4:])
        except ValueError:
            return self.catalog.text("setting.unreadable", lang)

    def key(self, stored: str | None) -> str | None:
        if not stored:
            return None
        try:
            return self.sealer.open(stored)
        except ValueError:
            log.warning("wecom: a group's message-push address cannot be read (CLOSELOOP_SECRET_KEY changed?)")
            return None


class PushRobot(ApiClient):
    """Sends through a group's message-push robot, within its 20 messages a minute (its key is in the URL: no token)."""

    def __init__(self, *, api_base: str, clock: Clock, timeout: float = 10.0) -> None:
        super().__init__(clock=clock, timeout=timeout)
        self.api_base = api_base.rstrip("/")
        self._sent: defaultdict[str, deque[datetime]] = defaultdict(deque)

    def wait(self, key: str, count: int = 1) -> float:
        """Seconds until ``count`` more messages fit in the robot's minute (0: now)."""
        now, sent = self.clock.now(), self._sent[key]
        while sent and now - sent[0] >= WINDOW:
            sent.popleft()
        over = len(sent) + count - PER_MINUTE
        if over <= 0:
            return 0.0
        return max(1.0, (sent[min(over, len(sent)) - 1] + WINDOW - now).total_seconds())

    async def send(self, key: str, message: dict[str, Any]) -> None:
        """One message (``text`` or ``markdown``); ``DeliveryError`` as the outbox understands it. The key is never
        in an error."""
        self._sent[key].append(self.clock.now())
        try:
            async with self.session.post(f"{self.api_base}/cgi-bin/webhook/send", params={"key": key},
                                         json=message) as response:  # fmt: skip
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except (json.JSONDecodeError, aiohttp.ContentTypeError):
                    body = {}
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"wecom message-push robot: {type(exc).__name__}") from None
        code = body.get("errcode", -1) if isinstance(body, dict) else -1
        code = code if isinstance(code, int) else -1
        if code in RATE_LIMITED:
            raise RobotError(code, "over 20 messages a minute", retry_after=60.0)
        if code in RETRY_SOON or status >= 500:
            raise RobotError(code, f"busy (HTTP {status})", retry_after=2.0)
        if code != 0:
            raise RobotError(code, "refused" if code != INVALID_KEY else "the robot's address is no longer valid",
                             permanent=True)  # fmt: skip


class RobotError(DeliveryError):
    def __init__(self, code: int, what: str, *, retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(f"wecom message-push robot: errcode {code}: {what}", retry_after=retry_after,
                         permanent=permanent)  # fmt: skip
        self.code = code


def mention_ping(text: str, userids: list[str]) -> dict[str, Any]:
    """A ``text`` message whose ``mentioned_list`` @-mentions ``userids`` (WeCom appends the names)."""
    content = text.encode()[: TEXT_BYTES - 64].decode(errors="ignore")
    return {"msgtype": "text", "text": {"content": content, "mentioned_list": userids}}
