"""A fake WeCom on 127.0.0.1: the intelligent robot's long connection, ``response_url``, the message-push robot, OAuth.

- WebSocket (``ws://…/``, doc 101463): ``aibot_subscribe`` must come first with the robot's id and
  secret (else ``846609`` for any other command); every command is acked with its own ``req_id``
  and an ``errcode``; ``ping`` is acked (or not, on demand); callbacks are pushed with fresh
  ``req_id``s; ``aibot_respond_msg`` takes only a message callback's ``req_id`` from the same
  connection (``846605`` otherwise); ``aibot_respond_update_msg`` only a card event's, within 5
  seconds by the shared clock and with its ``task_id``; a second connection for the robot gets
  the first one a ``disconnected_event`` and closes it. Callbacks pushed while no connection is up
  wait for the next; those a dropped connection never answered are pushed again once (WeCom's
  behaviour here is not documented: this is the strictest reading for the bot). Template cards
  are checked against doc 101032's rules (types, 1–6 buttons, unique keys ≤ 1024 bytes,
  ``task_id`` charset, length and uniqueness, ``card_action`` for notices).
- ``response_url`` (doc 101138): one use each, markdown or a template card.
- The message-push robot (doc 99110): ``key`` required (``93000`` for an unknown one), ``text``
  ≤ 2048 bytes and ``markdown`` ≤ 4096, 20 messages a minute per key (``45009`` for the 21st);
  people are @-mentioned by ``mentioned_list`` or ``<@userid>`` in the content, as WeCom does.
- ``gettoken`` and ``auth/getuserinfo`` for the companion app's sign-in; codes work once.
Errcodes can be injected per command (``fail_next``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from storage.timekeeping import ManualClock

BOT_ID, BOT_SECRET, AIBOTID = "aib-closeloop", "bot-secret-123", "aib-closeloop"
CORP_ID, AGENT_ID, APP_SECRET = "ww-acme", "1000002", "app-secret-456"
INVALID_REQ_ID, NOT_SUBSCRIBED, BAD_SECRET = 846605, 846609, 40001
# not documented: what WeCom answers for an update after its 5 seconds, and for a response_url used twice
WINDOW_PASSED, RESPONSE_USED = 846699, 846698
UPDATE_WINDOW = timedelta(seconds=5)
TASK_ID = re.compile(r"[0-9a-zA-Z_\-@]{1,128}")


@dataclass
class Got:
    """Something the bot sent to WeCom, in the order it arrived."""

    channel: str  # send, respond, update, welcome, response_url, robot
    chat: str | None
    body: dict[str, Any]
    req_id: str | None = None
    mentions: set[str] = field(default_factory=set)  # who WeCom @-mentions for it (the message-push robot only)
    userids: list[str] | None = None  # an update for these people only


@dataclass
class Pushed:
    cmd: str
    req_id: str
    body: dict[str, Any]
    at: datetime
    connection: int | None = None
    answered: bool = False
    redelivered: bool = False


@dataclass
class _Connection:
    number: int
    ws: web.WebSocketResponse
    subscribed: bool = False


@dataclass
class FakeWeCom:
    clock: ManualClock
    got: list[Got] = field(default_factory=list)
    pushed: list[Pushed] = field(default_factory=list)
    robots: dict[str, str] = field(default_factory=dict)  # message-push key → chat
    subscribes: int = 0
    refused_frames: list[tuple[str, int]] = field(default_factory=list)  # (cmd, errcode) we answered with an error
    ack_pings: bool = True
    redeliver_unanswered: bool = True
    faults: dict[str, list[int]] = field(default_factory=dict)
    server: TestServer | None = None
    _connections: list[_Connection] = field(default_factory=list)
    _current: _Connection | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _robot_sent: Counter[tuple[str, int]] = field(default_factory=Counter)
    _robot_times: dict[str, list[datetime]] = field(default_factory=dict)
    _response_urls: dict[str, str | None] = field(default_factory=dict)  # code → chat (None once used)
    _codes: dict[str, str] = field(default_factory=dict)  # OAuth code → userid
    _tokens: set[str] = field(default_factory=set)
    _task_ids: set[str] = field(default_factory=set)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    # ---------------------------------------------------------------- set-up and on demand

    @property
    def base(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    @property
    def ws_url(self) -> str:
        return "ws" + self.base.removeprefix("http") + "/"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.socket)
        app.router.add_post("/cgi-bin/webhook/send", self.robot)
        app.router.add_post("/cgi-bin/aibot/response", self.response)
        app.router.add_get("/cgi-bin/gettoken", self.gettoken)
        app.router.add_get("/cgi-bin/auth/getuserinfo", self.getuserinfo)
        return app

    def add_robot(self, chat: str) -> str:
        """A message-push robot added to ``chat``: its webhook address (the admin copies it)."""
        key = str(uuid.uuid4())
        self.robots[key] = chat
        return f"{self.base}/cgi-bin/webhook/send?key={key}"

    def fail_next(self, cmd: str, errcode: int) -> None:
        self.faults.setdefault(cmd, []).append(errcode)

    def response_url(self, chat: str) -> str:
        code = uuid.uuid4().hex
        self._response_urls[code] = chat
        return f"{self.base}/cgi-bin/aibot/response?response_code={code}"

    def oauth_code(self, userid: str) -> str:
        code = uuid.uuid4().hex
        self._codes[code] = userid
        return code

    async def _note(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, condition: Any, within: float = 5.0) -> None:
        """Until ``condition()`` holds (re-checked whenever the fake's state changes)."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(condition), within)

    @property
    def connected(self) -> bool:
        return self._current is not None and self._current.subscribed and not self._current.ws.closed

    async def drop(self) -> None:
        """The connection breaks (no close handshake from WeCom's side in real life; here a plain close)."""
        if self._current is not None:
            await self._current.ws.close()

    # ---------------------------------------------------------------- callbacks WeCom pushes

    def _callback_body(self, sender: str, chat: str | None, **rest: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"msgid": f"msg{next(self._ids)}-{uuid.uuid4().hex[:8]}", "aibotid": AIBOTID,
                                "chattype": "group" if chat else "single", "from": {"userid": sender},
                                "create_time": int(self.clock.now().timestamp())}  # fmt: skip
        if chat:
            body["chatid"] = chat
        return {**body, **rest}

    async def push_message(self, text: str, *, sender: str, chat: str | None, msgid: str | None = None) -> Pushed:
        body = self._callback_body(sender, chat, msgtype="text", text={"content": text})
        if msgid:
            body["msgid"] = msgid
        return await self.push("aibot_msg_callback", body)

    async def push_card_event(self, key: str, task_id: str, *, sender: str, chat: str | None,
                              selected: dict[str, list[str]] | None = None) -> Pushed:  # fmt: skip
        event: dict[str, Any] = {"card_type": "button_interaction", "event_key": key, "task_id": task_id}
        if selected:
            event["selected_items"] = {"selected_item": [{"question_key": q, "option_ids": {"option_id": o}}
                                                         for q, o in selected.items()]}  # fmt: skip
        body = self._callback_body(sender, chat, msgtype="event",
                                   event={"eventtype": "template_card_event", "template_card_event": event})  # fmt: skip
        return await self.push("aibot_event_callback", body)

    async def push(self, cmd: str, body: dict[str, Any]) -> Pushed:
        pushed = Pushed(cmd, f"{cmd}_{uuid.uuid4().hex}", body, self.clock.now())
        self.pushed.append(pushed)
        if self.connected:
            await self._deliver(pushed)
        return pushed

    async def _deliver(self, pushed: Pushed) -> None:
        assert self._current is not None
        pushed.connection, pushed.at = self._current.number, self.clock.now()
        await self._current.ws.send_json({"cmd": pushed.cmd, "headers": {"req_id": pushed.req_id}, "body": pushed.body})

    # ---------------------------------------------------------------- the socket

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        connection = _Connection(len(self._connections) + 1, ws)
        self._connections.append(connection)
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    await self._frame(connection, json.loads(message.data))
        finally:
            if self._current is connection:
                self._current = None
            await self._note()
        return ws

    async def _ack(self, connection: _Connection, req_id: str, errcode: int = 0, cmd: str = "") -> None:
        if errcode:
            self.refused_frames.append((cmd, errcode))
        if not connection.ws.closed:
            await connection.ws.send_json({"headers": {"req_id": req_id}, "errcode": errcode,
                                           "errmsg": "ok" if not errcode else "refused"})  # fmt: skip

    async def _frame(self, connection: _Connection, frame: dict[str, Any]) -> None:
        cmd, req_id, body = frame.get("cmd", ""), frame["headers"]["req_id"], frame.get("body") or {}
        if cmd == "aibot_subscribe":
            await self._subscribe(connection, req_id, body)
        elif not connection.subscribed:
            await self._ack(connection, req_id, NOT_SUBSCRIBED, cmd)
        elif cmd == "ping":
            if self.ack_pings:
                await self._ack(connection, req_id)
        elif self.faults.get(cmd):
            await self._ack(connection, req_id, self.faults[cmd].pop(0), cmd)
        else:
            await self._ack(connection, req_id, self._command(connection, cmd, req_id, body), cmd)
        await self._note()

    async def _subscribe(self, connection: _Connection, req_id: str, body: dict[str, Any]) -> None:
        if (body.get("bot_id"), body.get("secret")) != (BOT_ID, BOT_SECRET) or self.faults.get("aibot_subscribe"):
            code = self.faults["aibot_subscribe"].pop(0) if self.faults.get("aibot_subscribe") else BAD_SECRET
            await self._ack(connection, req_id, code, "aibot_subscribe")
            await connection.ws.close()
            return
        previous = self._current
        connection.subscribed, self._current = True, connection
        self.subscribes += 1
        await self._ack(connection, req_id)
        if previous is not None and not previous.ws.closed:  # one connection per robot: the old one is told, then cut
            await previous.ws.send_json(
                {
                    "cmd": "aibot_event_callback",
                    "headers": {"req_id": uuid.uuid4().hex},
                    "body": {"msgtype": "event", "event": {"eventtype": "disconnected_event"}},
                }
            )
            await previous.ws.close()
        for pushed in self.pushed:
            lost = pushed.connection is not None and pushed.connection != connection.number and not pushed.answered
            if pushed.connection is None or (lost and self.redeliver_unanswered and not pushed.redelivered):
                pushed.redelivered = pushed.connection is not None
                pushed.req_id = f"{pushed.cmd}_{uuid.uuid4().hex}"
                await self._deliver(pushed)

    def _callback(self, connection: _Connection, req_id: str, cmd: str) -> Pushed | None:
        found = next((p for p in self.pushed if p.req_id == req_id and p.cmd == cmd), None)
        return found if found is not None and found.connection == connection.number else None

    def _command(self, connection: _Connection, cmd: str, req_id: str, body: dict[str, Any]) -> int:
        """The errcode for a command, recording what it delivered."""
        if cmd == "aibot_respond_msg":
            pushed = self._callback(connection, req_id, "aibot_msg_callback")
            if pushed is None or body.get("msgtype") not in ("stream", "template_card", "stream_with_template_card"):
                return INVALID_REQ_ID
            if problem := self._message_problem(body):
                return problem
            pushed.answered = True
            self.got.append(Got("respond", pushed.body.get("chatid"), body, req_id))
            return 0
        if cmd in ("aibot_respond_update_msg", "aibot_respond_welcome_msg"):
            pushed = self._callback(connection, req_id, "aibot_event_callback")
            if pushed is None:
                return INVALID_REQ_ID
            if self.clock.now() - pushed.at > UPDATE_WINDOW:
                return WINDOW_PASSED
            pushed.answered = True
            if cmd == "aibot_respond_welcome_msg":
                self.got.append(Got("welcome", None, body, req_id))
                return 0
            task_id = pushed.body["event"]["template_card_event"]["task_id"]
            card = body.get("template_card") or {}
            if body.get("response_type") != "update_template_card" or card.get("task_id") != task_id:
                return 40058
            if problem := self._card_problem(card, update=True):
                return problem
            self.got.append(Got("update", pushed.body.get("chatid"), body, req_id, userids=body.get("userids")))
            return 0
        if cmd == "aibot_send_msg":
            if not isinstance(body.get("chatid"), str) or body.get("chat_type") not in (1, 2):
                return 40058
            if problem := self._message_problem(body):
                return problem
            self.got.append(Got("send", body["chatid"], body, req_id))
            return 0
        return 40008

    # ---------------------------------------------------------------- what a message must look like

    def _message_problem(self, body: dict[str, Any]) -> int:
        kind = body.get("msgtype")
        if kind == "markdown":
            content = (body.get("markdown") or {}).get("content")
            return 0 if isinstance(content, str) and content and len(content.encode()) <= 4096 else 40058
        if kind == "stream":
            stream = body.get("stream") or {}
            ok = isinstance(stream.get("id"), str) and len(str(stream.get("content", "")).encode()) <= 20480
            return 0 if ok else 40058
        if kind == "template_card":
            return self._card_problem(body.get("template_card") or {})
        return 40008

    def _card_problem(self, card: dict[str, Any], *, update: bool = False) -> int:
        kind, task_id = card.get("card_type"), card.get("task_id")
        if not isinstance(task_id, str) or not TASK_ID.fullmatch(task_id) or (not update and task_id in self._task_ids):
            return 40058
        if kind in ("text_notice", "news_notice"):
            action = card.get("card_action") or {}
            if action.get("type") not in (1, 2) or (action.get("type") == 1 and not action.get("url")):
                return 42045  # "Template_Card card_action Missing or Invalid"
        elif kind == "button_interaction":
            buttons = card.get("button_list") or []
            keys = [b.get("key") for b in buttons]
            if not 1 <= len(buttons) <= 6 or len(set(keys)) != len(keys) or not all(
                    isinstance(k, str) and len(k.encode()) <= 1024 for k in keys):  # fmt: skip
                return 40058
        elif kind in ("vote_interaction", "multiple_interaction"):
            if not isinstance((card.get("submit_button") or {}).get("key"), str):
                return 40058
        else:
            return 40058
        if len(card.get("jump_list") or []) > 3 or len(card.get("horizontal_content_list") or []) > 6:
            return 40058
        if not update:
            self._task_ids.add(task_id)
        return 0

    # ---------------------------------------------------------------- HTTP: response_url, message-push robot, OAuth

    async def response(self, request: web.Request) -> web.Response:
        code = request.query.get("response_code", "")
        if code not in self._response_urls:
            return web.json_response({"errcode": 40058, "errmsg": "invalid response_code"})
        chat = self._response_urls[code]
        if chat is None:
            return web.json_response({"errcode": RESPONSE_USED, "errmsg": "response_url used"})
        body = await request.json()
        if problem := (self._message_problem(body) if body.get("msgtype") in ("markdown", "template_card") else 40008):
            return web.json_response({"errcode": problem, "errmsg": "invalid message"})
        self._response_urls[code] = None
        self.got.append(Got("response_url", chat, body))
        await self._note()
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def robot(self, request: web.Request) -> web.Response:
        key = request.query.get("key", "")
        if key not in self.robots:
            return web.json_response({"errcode": 93000, "errmsg": "invalid webhook url, hint: [fake]"})
        now = self.clock.now()
        recent = [t for t in self._robot_times.get(key, []) if now - t < timedelta(minutes=1)]
        if len(recent) >= 20:
            self.refused_frames.append(("webhook/send", 45009))
            return web.json_response({"errcode": 45009, "errmsg": "api freq out of limit"})
        body = await request.json()
        kind = body.get("msgtype")
        part = body.get(kind) if kind in ("text", "markdown") else None
        content = part.get("content") if isinstance(part, dict) else None
        limit = 2048 if kind == "text" else 4096
        listed = part.get("mentioned_list", []) if isinstance(part, dict) and kind == "text" else []
        if not isinstance(content, str) or len(content.encode()) > limit or not isinstance(listed, list):
            return web.json_response({"errcode": 40058, "errmsg": "invalid content"})
        self._robot_times[key] = [*recent, now]
        mentions = set(listed) | set(re.findall(r"<@([^<>\s]+)>", content))
        self.got.append(Got("robot", self.robots[key], body, mentions=mentions))
        await self._note()
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def gettoken(self, request: web.Request) -> web.Response:
        if (request.query.get("corpid"), request.query.get("corpsecret")) != (CORP_ID, APP_SECRET):
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        token = uuid.uuid4().hex
        self._tokens.add(token)
        return web.json_response({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200})

    async def getuserinfo(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") not in self._tokens:
            return web.json_response({"errcode": 40014, "errmsg": "invalid access_token"})
        userid = self._codes.pop(request.query.get("code", ""), None)
        if userid is None:
            return web.json_response({"errcode": 40029, "errmsg": "invalid code"})
        return web.json_response({"errcode": 0, "errmsg": "ok", "userid": userid})

    def revoke_tokens(self) -> None:
        self._tokens.clear()
