"""A fake Slack Web API on 127.0.0.1, and Slack's side of our endpoint: signed commands, events, interactions.

The Web API part answers what ``slack_sdk``'s ``AsyncWebClient`` sends (``POST /api/<method>``,
JSON or form bodies, ``Authorization: Bearer xoxb-…``) the way Slack does: ``ok`` /
``error`` bodies, the bot token checked, blocks and views validated with
``slack_sdk.models`` and Slack's limits (50 blocks a message, 100 a view, a
24-character modal title, 3000 characters of ``private_metadata``), trigger ids
that work once and only for 3 seconds (by the injected clock), and about one
message a second per channel (a burst of 2, then HTTP 429 with ``Retry-After``).
Files arrive as Slack's upload flow has them: ``files.getUploadURLExternal``
(form arguments only, a filename and a positive length) → the bytes POSTed to the
returned ``upload_url`` (raw or multipart, exactly ``length`` of them) →
``files.completeUploadExternal`` (the ids of uploaded files, a channel), which
shares them; the fake keeps what was shared with its bytes. It can fail a method
(or ``"upload"``, the upload URL) or stall on demand.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import mimetypes
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.test_utils import TestServer
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from storage.timekeeping import ManualClock

BOT_TOKEN, SIGNING_SECRET, BOT_USER, TEAM = "xoxb-test-token", "signing-secret-123", "UBOT", "T0ACME"
APP_TOKEN = "xapp-1-A0CLOSELOOP-1-test"
TRIGGER_LIFETIME = timedelta(seconds=3)


@dataclass
class Posted:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    visible_to: str | None = None  # an ephemeral message: only this user sees it

    @property
    def everything(self) -> str:
        return self.text + "\n" + json.dumps(self.blocks, ensure_ascii=False)


@dataclass
class Shared:
    """A file shared into a channel: what ``files.getUploadURLExternal`` announced and the bytes that arrived."""

    id: str
    filename: str
    length: int
    alt_txt: str | None = None
    content: bytes | None = None  # None until the bytes are POSTed to the upload URL
    title: str | None = None
    channel: str | None = None  # None until files.completeUploadExternal shares it
    thread_ts: str | None = None

    @property
    def mimetype(self) -> str:
        """As Slack tells the type: from the file's name."""
        return mimetypes.guess_type(self.filename)[0] or "application/octet-stream"


@dataclass
class FakeSlack:
    clock: ManualClock
    posted: list[Posted] = field(default_factory=list)
    updated: list[Posted] = field(default_factory=list)
    ephemeral: list[tuple[str, str, str]] = field(default_factory=list)  # channel, user, text
    ephemeral_posts: list[Posted] = field(default_factory=list)  # the same, whole
    opened: list[dict[str, Any]] = field(default_factory=list)  # views opened
    calls: list[str] = field(default_factory=list)
    uploads: dict[str, Shared] = field(default_factory=dict)  # by file id, in the order announced
    shared: list[Shared] = field(default_factory=list)  # into a channel, in the order shared
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    triggers: dict[str, datetime] = field(default_factory=dict)
    faults: dict[str, list[tuple[int, str, dict[str, str]]]] = field(default_factory=dict)
    stalls: list[float] = field(default_factory=list)
    burst: float = 2.0  # messages a channel may send at once; then one a second
    server: TestServer | None = None
    socket: web.WebSocketResponse | None = None  # Socket Mode: our app's connection
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    _acks: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _buckets: dict[str, tuple[float, datetime]] = field(default_factory=dict)
    _ts: Any = field(default_factory=lambda: itertools.count(100))

    # ---- on demand

    def new_trigger(self) -> str:
        trigger = f"{next(self._ts)}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:32]}"
        self.triggers[trigger] = self.clock.now()
        return trigger

    def fail_next(self, method: str, *, error: str = "internal_error", status: int = 200,
                  headers: dict[str, str] | None = None) -> None:  # fmt: skip
        self.faults.setdefault(method, []).append((status, error, headers or {}))

    def stall_next(self, seconds: float) -> None:
        self.stalls.append(seconds)

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}/api/"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/link", self.socket_mode)
        app.router.add_post("/api/{method}", self.dispatch)
        app.router.add_get("/api/{method}", self.dispatch)
        app.router.add_post("/upload/v1/{file_id}", self.upload)
        return app

    # ---- the Web API

    async def dispatch(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.calls.append(method)
        if self.stalls:
            await asyncio.sleep(self.stalls.pop(0))  # a slow Slack, on demand: real time for the client's timeout
        token = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN  # Socket Mode uses the app-level token
        if request.headers.get("Authorization") != f"Bearer {token}":
            return _error("invalid_auth")
        if self.faults.get(method):
            status, error, headers = self.faults[method].pop(0)
            return web.json_response({"ok": False, "error": error}, status=status, headers=headers)
        args = await _arguments(request)
        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        if handler is None:
            return _error("unknown_method")
        return await handler(args)

    async def m_auth_test(self, args: dict[str, Any]) -> web.Response:
        return _ok(
            user_id=BOT_USER, bot_id="BBOT", team_id=TEAM, team="Acme", user="closeloop", url="https://acme.slack.com/"
        )

    async def m_apps_connections_open(self, args: dict[str, Any]) -> web.Response:
        assert self.server is not None
        return _ok(url=f"ws://127.0.0.1:{self.server.port}/link?ticket={uuid.uuid4()}&app_id=A0CLOSELOOP")

    async def socket_mode(self, request: web.Request) -> web.WebSocketResponse:
        """Slack's Socket Mode server: ``hello``, then envelopes that the app acknowledges by ``envelope_id``."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.socket = ws
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0CLOSELOOP"},
                            "debug_info": {"host": "applink-fake", "approximate_connection_time": 18060}})  # fmt: skip
        self.connected.set()
        async for message in ws:
            ack = json.loads(message.data)
            waiting = self._acks.pop(ack.get("envelope_id"), None)
            if waiting is not None and not waiting.done():
                waiting.set_result(ack)
        return ws

    async def push(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send an envelope (``slash_commands``, ``events_api``, ``interactive``) and return the app's ack."""
        assert self.socket is not None, "the app has not connected"
        envelope_id = str(uuid.uuid4())
        self._acks[envelope_id] = asyncio.get_running_loop().create_future()
        await self.socket.send_json({"envelope_id": envelope_id, "type": kind, "payload": payload,
                                     "accepts_response_payload": kind != "events_api", "retry_attempt": 0,
                                     "retry_reason": ""})  # fmt: skip
        async with asyncio.timeout(5):  # a network round trip, not a pause
            return await self._acks[envelope_id]

    async def m_users_info(self, args: dict[str, Any]) -> web.Response:
        user = self.users.get(str(args.get("user")))
        return _ok(user=user) if user else _error("user_not_found")

    def _message_error(self, args: dict[str, Any]) -> str | None:
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not args.get("text") and not blocks:
            return "no_text"
        if blocks is not None:
            if not isinstance(blocks, list) or len(blocks) > 50:
                return "invalid_blocks"
            try:
                for block in Block.parse_all(blocks):
                    block.validate_json()
            except (SlackObjectFormationError, KeyError, TypeError, ValueError):
                return "invalid_blocks"
            args["blocks"] = blocks
        if len(str(args.get("text") or "")) > 40000:
            return "msg_too_long"
        return None

    def _throttled(self, channel: str) -> float | None:
        """A token bucket per channel by the injected clock: seconds to wait, or None."""
        now = self.clock.now()
        tokens, then = self._buckets.get(channel, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then).total_seconds())
        if tokens < 1:
            self._buckets[channel] = (tokens, now)
            return 1 - tokens
        self._buckets[channel] = (tokens - 1, now)
        return None

    async def m_chat_postMessage(self, args: dict[str, Any]) -> web.Response:
        channel = str(args.get("channel") or "")
        if not channel:
            return _error("channel_not_found")
        if (problem := self._message_error(args)) is not None:
            return _error(problem)
        if (wait := self._throttled(channel)) is not None:
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(max(1, round(wait + 0.49)))})  # fmt: skip
        ts = f"{int(self.clock.now().timestamp())}.{next(self._ts):06d}"
        post = Posted(channel, ts, str(args.get("text") or ""), args.get("blocks") or [], args.get("thread_ts"))
        self.posted.append(post)
        return _ok(channel=channel, ts=ts, message={"text": post.text, "blocks": post.blocks, "ts": ts})

    async def m_chat_update(self, args: dict[str, Any]) -> web.Response:
        if (problem := self._message_error(args)) is not None:
            return _error(problem)
        known = next((p for p in self.posted if p.channel == args.get("channel") and p.ts == args.get("ts")), None)
        if known is None:
            return _error("message_not_found")
        update = Posted(known.channel, known.ts, str(args.get("text") or ""), args.get("blocks") or [])
        self.updated.append(update)
        return _ok(channel=known.channel, ts=known.ts, text=update.text)

    async def m_chat_postEphemeral(self, args: dict[str, Any]) -> web.Response:
        if (problem := self._message_error(args)) is not None:
            return _error(problem)
        if not args.get("user") or not args.get("channel"):
            return _error("user_not_in_channel")
        self.ephemeral.append((str(args.get("channel")), str(args.get("user")), str(args.get("text") or "")))
        ts = f"{int(self.clock.now().timestamp())}.{next(self._ts):06d}"
        self.ephemeral_posts.append(Posted(str(args["channel"]), ts, str(args.get("text") or ""),
                                           args.get("blocks") or [], visible_to=str(args["user"])))  # fmt: skip
        return _ok(message_ts=ts)

    async def m_views_open(self, args: dict[str, Any]) -> web.Response:
        trigger = str(args.get("trigger_id") or "")
        issued = self.triggers.pop(trigger, None)
        if issued is None:
            return _error("invalid_trigger_id")
        if self.clock.now() - issued > TRIGGER_LIFETIME:
            return _error("expired_trigger_id")
        view = args.get("view")
        view = json.loads(view) if isinstance(view, str) else view
        if not isinstance(view, dict) or len(view.get("blocks") or []) > 100:
            return _error("invalid_arguments")
        if len(view.get("title", {}).get("text", "")) > 24 or len(view.get("private_metadata") or "") > 3000:
            return _error("invalid_arguments")
        try:
            View(**view).validate_json()
            for block in Block.parse_all(view.get("blocks") or []):
                block.validate_json()
        except (SlackObjectFormationError, KeyError, TypeError, ValueError):
            return _error("invalid_arguments")
        view_id = f"V{next(self._ts):08d}"
        opened = {**view, "id": view_id, "hash": uuid.uuid4().hex[:20], "state": {"values": {}}}
        self.opened.append(opened)
        return _ok(view=opened)

    # ---- files

    async def m_files_getUploadURLExternal(self, args: dict[str, Any]) -> web.Response:
        if args.get("__json__"):
            return _error("invalid_arguments")  # this method takes form arguments only
        length = str(args.get("length") or "")
        if not args.get("filename"):
            return _error("invalid_arguments")
        if not length.isdigit() or int(length) == 0:
            return _error("missing_argument")
        assert self.server is not None
        file_id = f"F{next(self._ts):08d}"
        self.uploads[file_id] = Shared(file_id, str(args["filename"]), int(length), args.get("alt_txt"))
        upload_url = f"http://127.0.0.1:{self.server.port}/upload/v1/{file_id}"
        return _ok(upload_url=upload_url, file_id=file_id)

    async def upload(self, request: web.Request) -> web.Response:
        """Slack's upload URL: no token (the URL is the permission), the announced number of bytes, raw or multipart."""
        self.calls.append("upload")
        if self.faults.get("upload"):
            status, error, headers = self.faults["upload"].pop(0)
            return web.Response(status=status, text=error, headers=headers)
        pending = self.uploads.get(request.match_info["file_id"])
        if pending is None or pending.content is not None:
            return web.Response(status=404, text="not found")
        if request.content_type == "multipart/form-data":
            form = await request.post()
            part = next((v for v in form.values() if hasattr(v, "file")), None)
            body = part.file.read() if part is not None else b""
        else:
            body = await request.read()
        if len(body) != pending.length:
            return web.Response(status=400, text="length mismatch")
        pending.content = body
        return web.Response(text=f"OK - {len(body)}", content_type="text/plain")

    async def m_files_completeUploadExternal(self, args: dict[str, Any]) -> web.Response:
        try:
            files = json.loads(args.get("files") or "")
            ids = [str(f["id"]) for f in files]
        except (ValueError, TypeError, KeyError):
            return _error("invalid_arguments")
        if not ids or any(self.uploads.get(i) is None or self.uploads[i].content is None for i in ids):
            return _error("file_not_found")  # announced but never uploaded (or never announced)
        channel = str(args.get("channel_id") or "") or None
        done = []
        for entry in files:
            shared = self.uploads[str(entry["id"])]
            shared.title, shared.channel, shared.thread_ts = entry.get("title"), channel, args.get("thread_ts")
            if channel:
                self.shared.append(shared)
            done.append({"id": shared.id, "name": shared.filename, "title": shared.title or shared.filename,
                         "mimetype": shared.mimetype, "size": len(shared.content or b""), "channels": [channel] if channel else [],
                         "permalink": f"https://acme.slack.com/files/{BOT_USER}/{shared.id}/x"})  # fmt: skip
        return _ok(files=done)


async def _arguments(request: web.Request) -> dict[str, Any]:
    """A method's arguments: a JSON body, or a form body and the query string (Slack reads both)."""
    if request.content_type == "application/json":
        body = await request.json()
        return {**body, "__json__": True} if isinstance(body, dict) else {}
    if request.method == "GET":
        return dict(request.query)
    return {**request.query, **(await request.post())}


def _ok(**fields: Any) -> web.Response:
    return web.json_response({"ok": True, **fields})


def _error(error: str) -> web.Response:
    return web.json_response({"ok": False, "error": error})


# ---------------------------------------------------------------- Slack's side of our endpoint


@dataclass
class SlackSigner:
    """Signs requests to our app as Slack does: ``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}``."""

    secret: str = SIGNING_SECRET

    def headers(self, body: bytes, *, timestamp: int | None = None, content_type: str = "application/x-www-form-urlencoded",
                retry: int | None = None) -> dict[str, str]:  # fmt: skip
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        digest = hmac.new(self.secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        headers = {
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": f"v0={digest}",
            "Content-Type": content_type,
        }
        if retry is not None:
            headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
        return headers


def slash_command(text: str, *, command: str = "/record", user: str = "U0ZHANG", user_name: str = "zhangwei",
                  channel: str = "C0GROUP", trigger_id: str) -> bytes:  # fmt: skip
    return urlencode({
        "token": "deprecated-verification-token", "team_id": TEAM, "team_domain": "acme", "channel_id": channel,
        "channel_name": "ops-sync", "user_id": user, "user_name": user_name, "command": command, "text": text,
        "api_app_id": "A0CLOSELOOP", "is_enterprise_install": "false",
        "response_url": "https://hooks.slack.com/commands/T0ACME/1/abc", "trigger_id": trigger_id,
    }).encode()  # fmt: skip


def interaction(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload, ensure_ascii=False)}).encode()


def block_actions(button: dict[str, Any], *, user: str, message_ts: str, trigger_id: str,
                  channel: str = "C0GROUP") -> bytes:  # fmt: skip
    """What Slack posts when ``button`` (as we rendered it) is pressed on the message ``message_ts``."""
    return interaction({
        "type": "block_actions", "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "api_app_id": "A0CLOSELOOP", "token": "deprecated", "trigger_id": trigger_id, "team": {"id": TEAM, "domain": "acme"},
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
        "channel": {"id": channel, "name": "ops-sync"}, "message": {"type": "message", "ts": message_ts, "text": ""},
        "response_url": "https://hooks.slack.com/actions/T0ACME/1/abc",
        "actions": [{"action_id": button["action_id"], "block_id": "b1", "value": button.get("value", ""),
                     "type": "button", "action_ts": f"{int(time.time())}.000100", "text": button.get("text")}],
    })  # fmt: skip


def view_submission(view: dict[str, Any], values: dict[str, dict[str, Any]], *, user: str,
                    trigger_id: str = "1.2.3") -> bytes:  # fmt: skip
    """What Slack posts when ``view`` (as opened) is submitted with ``values`` as its ``state.values``."""
    submitted = {**view, "state": {"values": values}, "team_id": TEAM, "app_id": "A0CLOSELOOP", "bot_id": "BBOT"}
    return interaction({
        "type": "view_submission", "team": {"id": TEAM, "domain": "acme"},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM}, "api_app_id": "A0CLOSELOOP",
        "token": "deprecated", "trigger_id": trigger_id, "view": submitted, "response_urls": [],
    })  # fmt: skip


def app_mention(text: str, *, user: str = "U0ZHANG", channel: str = "C0GROUP", event_id: str | None = None) -> bytes:
    ts = f"{int(time.time())}.000200"
    return json.dumps({
        "token": "deprecated", "team_id": TEAM, "api_app_id": "A0CLOSELOOP", "type": "event_callback",
        "event": {"type": "app_mention", "user": user, "text": text, "ts": ts, "channel": channel, "event_ts": ts,
                  "team": TEAM},
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}", "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
    }, ensure_ascii=False).encode()  # fmt: skip
