"""A fake Feishu open platform on 127.0.0.1: tenant token, bot info, send, reply, patch, ephemeral, uploads — with its limits.

It checks what a real server would (the bearer token, the body shape, card JSON
2.0 as a string, the 30 KB card limit, ``uuid`` length and deduplication),
enforces 5 messages per second per chat (code 230020) and 50 per second per app
(HTTP 429 with ``x-ogw-ratelimit-reset``), and can fail or throttle on demand.
Uploads are multipart as the open platform takes them (``im/v1/images``:
``image_type`` and ``image``, at most 10 MB, a known image format; ``im/v1/files``:
``file_type`` of its list, ``file_name`` and ``file``, at most 30 MB; neither
empty), answered with keys that cards (``img``) and ``file`` messages must use.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from storage.timekeeping import ManualClock

APP_ID, APP_SECRET, BOT_OPEN_ID = "cli_test", "secret", "ou_bot"
CARD_LIMIT = 30 * 1024
IMAGE_LIMIT, FILE_LIMIT = 10 * 1024 * 1024, 30 * 1024 * 1024
FILE_TYPES = {"opus", "mp4", "pdf", "doc", "xls", "ppt", "stream"}
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
               b"\x00\x00\x01\x00")  # fmt: skip


@dataclass
class Fault:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    path: str | None = None  # only calls to this path
    skip: int = 0  # let this many of them through first


@dataclass
class Upload:
    """What the bot uploaded: an image (``image_type``) or a file (``file_type``, ``file_name``), and its key."""

    kind: str  # "image" or "file"
    key: str
    content: bytes
    file_type: str | None = None
    file_name: str | None = None
    image_type: str | None = None


@dataclass
class Sent:
    chat_id: str
    card: dict[str, Any]
    message_id: str
    uuid: str | None
    reply_to: str | None = None
    visible_to: str | None = None  # an ephemeral card ("仅对你可见") for this open_id

    @property
    def text(self) -> str:
        return json.dumps(self.card, ensure_ascii=False)


@dataclass
class FakeFeishu:
    clock: ManualClock
    sent: list[Sent] = field(default_factory=list)
    patched: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    tokens_issued: int = 0
    valid_tokens: set[str] = field(default_factory=set)
    faults: list[Fault] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    per_chat: Counter[tuple[str, int]] = field(default_factory=Counter)
    per_app: Counter[int] = field(default_factory=Counter)
    chats_of_messages: dict[str, str] = field(default_factory=dict)  # messages people sent, by id → chat
    delays: list[float] = field(default_factory=list)
    refuse_cards: bool = False  # answer every card with 230099, as Feishu does for content it cannot build
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    server: TestServer | None = None

    # ---- on demand
    def fail_next(self, status: int = 500, code: int = 0, headers: dict[str, str] | None = None,
                  path: str | None = None, skip: int = 0) -> None:  # fmt: skip
        """The next API call (to ``path`` only, if given; after ``skip`` such calls) fails with ``status``, ``code``."""
        self.faults.append(Fault(status, {"code": code, "msg": "injected"}, headers or {}, path, skip))

    @property
    def messages(self) -> list[Sent]:
        """What the group sees, in order: cards, text, files (ephemeral cards left out)."""
        return [s for s in self.sent if s.visible_to is None]

    def slow_next(self, seconds: float) -> None:
        """The next API call answers only after ``seconds`` (to exercise the client's timeout)."""
        self.delays.append(seconds)

    def revoke_tokens(self) -> None:
        self.valid_tokens.clear()

    @property
    def base(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/open-apis/auth/v3/tenant_access_token/internal", self.token)
        app.router.add_get("/open-apis/bot/v3/info", self.bot_info)
        app.router.add_post("/open-apis/im/v1/messages", self.send)
        app.router.add_post("/open-apis/im/v1/messages/{message_id}/reply", self.reply)
        app.router.add_patch("/open-apis/im/v1/messages/{message_id}", self.patch)
        app.router.add_post("/open-apis/ephemeral/v1/send", self.ephemeral)
        app.router.add_post("/open-apis/im/v1/images", self.upload_image)
        app.router.add_post("/open-apis/im/v1/files", self.upload_file)
        return app

    # ---- endpoints
    async def token(self, request: web.Request) -> web.Response:
        body = await request.json()
        if (body.get("app_id"), body.get("app_secret")) != (APP_ID, APP_SECRET):
            return web.json_response({"code": 10014, "msg": "app secret invalid"})
        self.tokens_issued += 1
        token = f"t-{self.tokens_issued}"
        self.valid_tokens.add(token)
        return web.json_response({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": 7200})

    def _guard(self, request: web.Request) -> web.Response | None:
        fault = next((f for f in self.faults if f.path in (None, request.path)), None)
        if fault is not None and fault.skip:
            fault.skip -= 1
        elif fault is not None:
            self.faults.remove(fault)
            return web.json_response(fault.body, status=fault.status, headers=fault.headers)
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.valid_tokens:
            return web.json_response({"code": 99991663, "msg": "Invalid access token for authorization."}, status=400)
        second = int(self.clock.now().timestamp())
        self.per_app[second] += 1
        if self.per_app[second] > 50:
            return web.json_response({"code": 99991400, "msg": "request trigger frequency limit"}, status=429,
                                     headers={"x-ogw-ratelimit-reset": "1"})  # fmt: skip
        return None

    async def bot_info(self, request: web.Request) -> web.Response:
        return self._guard(request) or web.json_response(
            {"code": 0, "bot": {"open_id": BOT_OPEN_ID, "app_name": "Closeloop"}}
        )

    def _card(self, body: dict[str, Any]) -> dict[str, Any] | web.Response:
        """The card (or ``{"text": …}``, ``{"file_key": …}``) the body carries, or Feishu's refusal."""
        if body.get("msg_type") not in ("interactive", "text", "file") or not isinstance(body.get("content"), str):
            return web.json_response({"code": 230001, "msg": "invalid msg_type or content"}, status=400)
        if len(body["content"].encode()) > CARD_LIMIT:
            return web.json_response({"code": 230025, "msg": "message content too long"}, status=400)
        card = json.loads(body["content"])
        if body["msg_type"] == "file":
            known = {u.key for u in self.uploads if u.kind == "file"}
            if not isinstance(card, dict) or set(card) != {"file_key"} or card["file_key"] not in known:
                return web.json_response({"code": 230001, "msg": "invalid file_key"}, status=400)
        elif body["msg_type"] == "text":
            if not isinstance(card, dict) or not isinstance(card.get("text"), str) or not card["text"].strip():
                return web.json_response({"code": 230001, "msg": "invalid text content"}, status=400)
        elif card.get("schema") != "2.0" or "elements" not in card.get("body", {}):
            return web.json_response({"code": 230099, "msg": "Failed to create card content, ext=ErrCode: 200800"},
                                     status=400)  # fmt: skip
        elif self._unknown_images(card):
            return web.json_response({"code": 230099, "msg": "Failed to create card content: img_key not found"},
                                     status=400)  # fmt: skip
        elif self.refuse_cards:
            return web.json_response({"code": 230099, "msg": "Failed to create card content, ext=ErrCode: 11310; "
                                      "ErrMsg: card table number over limit"}, status=400)  # fmt: skip
        if body.get("uuid") is not None and len(body["uuid"]) > 50:
            return web.json_response({"code": 230001, "msg": "uuid too long"}, status=400)
        return card

    def _record(self, chat_id: str, card: dict[str, Any], uuid: str | None, reply_to: str | None) -> web.Response:
        known = next((s for s in self.sent if uuid and s.uuid == uuid), None)
        if known is not None:  # Feishu deduplicates by uuid
            return web.json_response({"code": 0, "data": {"message_id": known.message_id, "chat_id": chat_id}})
        second = int(self.clock.now().timestamp())
        self.per_chat[(chat_id, second)] += 1
        if self.per_chat[(chat_id, second)] > 5:
            return web.json_response({"code": 230020, "msg": "the message sending frequency is limited"}, status=400)
        sent = Sent(chat_id, card, f"om_{next(self._ids)}", uuid, reply_to)
        self.sent.append(sent)
        return web.json_response({"code": 0, "data": {"message_id": sent.message_id, "chat_id": chat_id}})

    async def send(self, request: web.Request) -> web.Response:
        if self.delays:
            await asyncio.sleep(self.delays.pop(0))
        if (refused := self._guard(request)) is not None:
            return refused
        if request.query.get("receive_id_type") != "chat_id":
            return web.json_response({"code": 230001, "msg": "receive_id_type"}, status=400)
        body = await request.json()
        card = self._card(body)
        if isinstance(card, web.Response):
            return card
        return self._record(str(body["receive_id"]), card, body.get("uuid"), None)

    async def reply(self, request: web.Request) -> web.Response:
        if self.delays:
            await asyncio.sleep(self.delays.pop(0))
        if (refused := self._guard(request)) is not None:
            return refused
        message_id = request.match_info["message_id"]
        original = next((s.chat_id for s in self.sent if s.message_id == message_id), None)
        chat_id = original or self.chats_of_messages.get(message_id)
        if chat_id is None:
            return web.json_response({"code": 230011, "msg": "the message to reply to was not found"}, status=400)
        body = await request.json()
        card = self._card(body)
        if isinstance(card, web.Response):
            return card
        return self._record(chat_id, card, body.get("uuid"), message_id)

    async def patch(self, request: web.Request) -> web.Response:
        if (refused := self._guard(request)) is not None:
            return refused
        body = await request.json()
        self.patched.append((request.match_info["message_id"], json.loads(body["content"])))
        return web.json_response({"code": 0, "data": {}})

    async def ephemeral(self, request: web.Request) -> web.Response:
        """A card only ``open_id`` sees: the card as an object (not a string), interactive only, in a group."""
        if (refused := self._guard(request)) is not None:
            return refused
        body = await request.json()
        card = body.get("card")
        if body.get("msg_type") != "interactive" or not isinstance(card, dict):
            return web.json_response({"code": 10002, "msg": "msg_type must be interactive with a card object"},
                                     status=400)  # fmt: skip
        if not isinstance(body.get("chat_id"), str) or not isinstance(body.get("open_id"), str):
            return web.json_response({"code": 10002, "msg": "chat_id and open_id are required"}, status=400)
        if card.get("schema") != "2.0" or len(json.dumps(card).encode()) > CARD_LIMIT:
            return web.json_response({"code": 230099, "msg": "Failed to create card content"}, status=400)
        sent = Sent(body["chat_id"], card, f"om_e{next(self._ids)}", None, None, visible_to=body["open_id"])
        self.sent.append(sent)
        return web.json_response({"code": 0, "msg": "ok", "data": {"message_id": sent.message_id}})

    # ---- uploads

    def _unknown_images(self, card: Any) -> bool:
        """An ``img`` whose key this app did not upload as an image (for messages), or without its ``alt``."""
        known = {u.key for u in self.uploads if u.kind == "image" and u.image_type == "message"}
        if isinstance(card, dict):
            if card.get("tag") == "img" and (card.get("img_key") not in known or "alt" not in card):
                return True
            return any(self._unknown_images(value) for value in card.values())
        if isinstance(card, list):
            return any(self._unknown_images(value) for value in card)
        return False

    async def _form(self, request: web.Request) -> dict[str, Any] | web.Response:
        if request.content_type != "multipart/form-data":
            return web.json_response({"code": 234001, "msg": "Invalid request param."}, status=400)
        fields: dict[str, Any] = {}
        async for part in await request.multipart():
            if part.filename is not None:
                fields[part.name] = bytes(await part.read())
            else:
                fields[part.name] = await part.text()
        return fields

    def _refused_content(self, content: Any, limit: int) -> web.Response | None:
        if not isinstance(content, bytes):
            return web.json_response({"code": 234001, "msg": "Invalid request param."}, status=400)
        if not content:
            return web.json_response({"code": 234010, "msg": "File's size can't be 0."}, status=400)
        if len(content) > limit:
            return web.json_response({"code": 234006, "msg": "The file size exceed the max value."}, status=400)
        return None

    async def upload_image(self, request: web.Request) -> web.Response:
        if (refused := self._guard(request)) is not None:
            return refused
        form = await self._form(request)
        if isinstance(form, web.Response):
            return form
        content = form.get("image")
        if form.get("image_type") not in ("message", "avatar"):
            return web.json_response({"code": 234001, "msg": "Invalid request param."}, status=400)
        if (refused := self._refused_content(content, IMAGE_LIMIT)) is not None:
            return refused
        if not content.startswith(IMAGE_MAGIC) and not (content[:4] == b"RIFF" and content[8:12] == b"WEBP"):
            return web.json_response({"code": 234011, "msg": "Can't regonnize the image format."}, status=400)
        upload = Upload("image", f"img_v3_{next(self._ids):04d}", content, image_type=form["image_type"])
        self.uploads.append(upload)
        return web.json_response({"code": 0, "msg": "success", "data": {"image_key": upload.key}})

    async def upload_file(self, request: web.Request) -> web.Response:
        if (refused := self._guard(request)) is not None:
            return refused
        form = await self._form(request)
        if isinstance(form, web.Response):
            return form
        if form.get("file_type") not in FILE_TYPES or not form.get("file_name"):
            return web.json_response({"code": 234001, "msg": "Invalid request param."}, status=400)
        content = form.get("file")
        if (refused := self._refused_content(content, FILE_LIMIT)) is not None:
            return refused
        upload = Upload("file", f"file_v3_{next(self._ids):04d}", content, file_type=form["file_type"],
                        file_name=form["file_name"])  # fmt: skip
        self.uploads.append(upload)
        return web.json_response({"code": 0, "msg": "success", "data": {"file_key": upload.key}})
