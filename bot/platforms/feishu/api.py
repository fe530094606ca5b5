"""The Feishu / Lark open API, as much as Closeloop uses: tenant token, bot info, send, reply, patch, uploads.

Messages are cards (``interactive``) or, when Feishu refuses a card's content
(code 230099), text (``text``, with mentions as ``<at user_id="ou_…">name</at>``);
files the bot made are uploaded (``POST /open-apis/im/v1/images``: an ``image_key``
for a card's ``img``; ``POST /open-apis/im/v1/files``: a ``file_key`` for a ``file``
message), multipart as the open platform asks, through the same token, error
handling and (longer) timeout.

``FEISHU_API_BASE`` picks Feishu (https://open.feishu.cn), Lark
(https://open.larksuite.com) or a test server. Errors become ``DeliveryError``s
the outbox understands: throttling (HTTP 429, codes 99991400 and 230020) is
retried after ``x-ogw-ratelimit-reset``; an invalid tenant token is refreshed
once; server errors, network failures and code 232096 ("try again later") are
retried with backoff; any other code means the request itself is wrong and is
not retried.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import aiohttp

from bot.outbox import DeliveryError
from bot.platforms.http import ApiClient
from storage.timekeeping import Clock

RATE_LIMITED = {99991400, 230020}
TRY_LATER = {232096}  # "Meta writing has stopped, please try again later" (uploads)
CARD_REFUSED = {230099}  # "Failed to create card content" (sub-errors such as 11310 and 200800 in msg)
INVALID_TOKEN = {99991661, 99991663, 99991664, 99991665, 99991668, 99991671}
MAX_IMAGE_BYTES = 10 * 1024 * 1024  # POST /im/v1/images (code 234006 above it); a larger image goes as a file
MAX_FILE_BYTES = 30 * 1024 * 1024  # POST /im/v1/files; neither takes an empty file (code 234010)


def message_uuid(key: str) -> str:
    """Feishu deduplicates sends by ``uuid`` (at most 50 characters) for an hour: a digest of the outbox key."""
    return hashlib.sha256(key.encode()).hexdigest()[:50]


class FeishuClient(ApiClient):
    def __init__(self, *, base: str, app_id: str, app_secret: str, clock: Clock, timeout: float = 10.0,
                 upload_timeout: float = 60.0) -> None:  # fmt: skip
        super().__init__(clock=clock, timeout=timeout)
        self.base = base.rstrip("/")
        self.app_id = app_id
        self.app_secret = app_secret
        self.upload_timeout = aiohttp.ClientTimeout(total=upload_timeout)  # up to 30 MB over a slow link

    async def token(self, *, refresh: bool = False) -> str:
        return await self.cached_token(self._fetch_token, refresh=refresh)

    async def _fetch_token(self) -> tuple[str, int]:
        body = await self._request(
            "POST", "/open-apis/auth/v3/tenant_access_token/internal",
            json_body={"app_id": self.app_id, "app_secret": self.app_secret}, token=None,
        )  # fmt: skip
        return str(body["tenant_access_token"]), int(body.get("expire", 7200))

    async def call(self, method: str, path: str, *, params: dict[str, str] | None = None,
                   json_body: dict[str, Any] | None = None,
                   form: Callable[[], aiohttp.FormData] | None = None) -> dict[str, Any]:  # fmt: skip
        """An API call with the tenant token (refreshed once if Feishu rejects it); ``form`` builds a multipart body."""
        token = await self.token()
        try:
            return await self._request(method, path, params=params, json_body=json_body, form=form, token=token)
        except _InvalidToken:
            return await self._request(method, path, params=params, json_body=json_body, form=form,
                                       token=await self.token(refresh=True))  # fmt: skip

    async def _request(self, method: str, path: str, *, token: str | None, params: dict[str, str] | None = None,
                       json_body: dict[str, Any] | None = None,
                       form: Callable[[], aiohttp.FormData] | None = None) -> dict[str, Any]:  # fmt: skip
        headers = {} if form is not None else {"Content-Type": "application/json; charset=utf-8"}  # multipart: its own
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data, timeout = (form(), self.upload_timeout) if form is not None else (None, self.timeout)
        try:
            async with self.session.request(method, self.base + path, params=params, json=json_body, data=data,
                                            timeout=timeout, headers=headers) as response:  # fmt: skip
                try:
                    body = await response.json(content_type=None)
                except (json.JSONDecodeError, aiohttp.ContentTypeError):
                    body = {}
                status, reset = response.status, response.headers.get("x-ogw-ratelimit-reset")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"feishu {method} {path}: {type(exc).__name__}: {exc}") from exc
        code = int(body.get("code", 0) or 0) if isinstance(body, dict) else -1
        if status == 429 or code in RATE_LIMITED:
            raise DeliveryError(f"feishu throttled ({status}, code {code})", retry_after=_seconds(reset))
        if code in INVALID_TOKEN or (status == 401 and token):
            raise _InvalidToken(f"feishu token rejected (code {code})")
        if status >= 500 or code in TRY_LATER:
            raise DeliveryError(f"feishu {method} {path}: HTTP {status} code {code}")
        if code != 0 or status >= 400:
            raise FeishuError(f"feishu {method} {path}: HTTP {status} code {code} {body.get('msg', '')}", code=code)
        return body

    async def bot_open_id(self) -> str:
        body = await self.call("GET", "/open-apis/bot/v3/info")
        return str(body["bot"]["open_id"])

    async def send(self, chat_id: str, msg_type: str, content: dict[str, Any], *, key: str) -> str:
        """``msg_type`` "interactive" (content: the card), "text" (``{"text": …}``) or "file" (``{"file_key": …}``)."""
        body = await self.call("POST", "/open-apis/im/v1/messages", params={"receive_id_type": "chat_id"}, json_body={
            "receive_id": chat_id, "msg_type": msg_type, "content": json.dumps(content, ensure_ascii=False),
            "uuid": message_uuid(key)})  # fmt: skip
        return str(body["data"]["message_id"])

    async def reply(self, message_id: str, msg_type: str, content: dict[str, Any], *, key: str) -> str:
        body = await self.call("POST", f"/open-apis/im/v1/messages/{message_id}/reply", json_body={
            "msg_type": msg_type, "content": json.dumps(content, ensure_ascii=False), "uuid": message_uuid(key)})  # fmt: skip
        return str(body["data"]["message_id"])

    async def send_card(self, chat_id: str, card: dict[str, Any], *, key: str) -> str:
        return await self.send(chat_id, "interactive", card, key=key)

    async def reply_card(self, message_id: str, card: dict[str, Any], *, key: str) -> str:
        return await self.reply(message_id, "interactive", card, key=key)

    async def send_ephemeral(self, chat_id: str, open_id: str, card: dict[str, Any]) -> str:
        """A card only ``open_id`` sees in the group ("仅对你可见"); Feishu sends no notification for it."""
        body = await self.call("POST", "/open-apis/ephemeral/v1/send", json_body={
            "chat_id": chat_id, "open_id": open_id, "msg_type": "interactive", "card": card})  # fmt: skip
        return str(body["data"]["message_id"])

    async def patch_card(self, message_id: str, card: dict[str, Any]) -> None:
        await self.call("PATCH", f"/open-apis/im/v1/messages/{message_id}",
                        json_body={"content": json.dumps(card, ensure_ascii=False)})  # fmt: skip

    async def upload_image(self, content: bytes, *, filename: str, mime: str) -> str:
        """An image for messages (``image_type=message``, at most 10 MB): its ``image_key``."""

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field("image_type", "message")
            data.add_field("image", content, filename=filename, content_type=mime)
            return data

        body = await self.call("POST", "/open-apis/im/v1/images", form=form)
        return str(body["data"]["image_key"])

    async def upload_file(self, content: bytes, *, filename: str, file_type: str, mime: str) -> str:
        """A file for a ``file`` message (at most 30 MB; ``file_type``: pdf, doc, xls, ppt, mp4, opus or stream)."""

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field("file_type", file_type)
            data.add_field("file_name", filename)
            data.add_field("file", content, filename=filename, content_type=mime)
            return data

        body = await self.call("POST", "/open-apis/im/v1/files", form=form)
        return str(body["data"]["file_key"])


class FeishuError(DeliveryError):
    """Feishu refused the request itself (a code other than throttling or a bad token): not retried."""

    def __init__(self, message: str, *, code: int) -> None:
        super().__init__(message, permanent=True)
        self.code = code


class _InvalidToken(DeliveryError):
    pass


def _seconds(value: str | None) -> float:
    try:
        return max(1.0, float(value)) if value else 1.0
    except ValueError:
        return 1.0
