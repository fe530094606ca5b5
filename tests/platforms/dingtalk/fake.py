"""A fake DingTalk on 127.0.0.1: the OpenAPI the bot calls and the Stream gateway that pushes to it.

It checks what the real servers would (from the official SDK sources and docs,
see the adapter's docstrings): the access token header on every v1.0 call; the
``connections/open`` credentials and a ticket that opens one WebSocket within 90
seconds; every pushed CALLBACK frame (``data`` as a JSON string) acknowledged on
its socket with its ``messageId``, an integer ``code`` and a JSON-string ``data``;
SYSTEM ``ping`` answered with its ``opaque``; ``disconnect`` followed by closing the
socket; ``createAndDeliver`` with our template, a unique ``outTrackId``, a
``cardParamMap`` of strings only, an ``openSpaceId`` of the form
``dtv1.card//IM_GROUP.<openConversationId>`` (or ``IM_ROBOT.<userId>``) and the robot
code; card updates of instances that exist; ``groupMessages/send`` and
``oToMessages/batchSend`` with a ``msgParam`` JSON string; session webhooks only while
valid. On demand it throttles (HTTP 403 ``Forbidden.AccessDenied.QpsLimitForApi``),
fails with ``{code, message, requestid}``, revokes tokens, drops connections.

What the template does when pressed (``press``/``submit``) mirrors the committed
template (``bot/platforms/dingtalk/templates``): a button sends its loop item's
``action`` and ``payload``; the form sends its values under ``form`` with the card's
``form_action`` and ``form_payload``. The answer to a callback is applied to the
card as DingTalk does (``cardData`` for everyone, ``userPrivateData`` for the presser).

The web sign-in (``oauth_code`` plays the authorize page): ``oauth2/userAccessToken``
takes the app's client id and secret, ``grantType: authorization_code`` and a code
that works once; ``contact/users/me`` wants that user token (not the app's); the
legacy host's ``topapi/user/getbyunionid`` wants the app's token as ``access_token``
(40014 otherwise) and knows the organisation's members only (60121 for others).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from storage.timekeeping import ManualClock

CLIENT_ID, CLIENT_SECRET, TEMPLATE = "dingclosetest", "dt-secret-0123456789", "9a1f7c2e-closeloop.schema"
ROBOT_CODE, CORP = CLIENT_ID, "dingcorp0001"
CONVERSATION = "cidKitGroup0001=="
MESSAGES, CARD_CALLBACKS = "/v1.0/im/bot/messages/get", "/v1.0/card/instances/callback"
SPACE = re.compile(r"dtv1\.card//(IM_GROUP|IM_ROBOT)\.([A-Za-z0-9_=+/\-]{1,128})")
WAIT = 5.0  # seconds of real time an ack or a connection may take on loopback before the test fails
MSG_KEYS = {"sampleText": ("content",), "sampleMarkdown": ("title", "text"),
            "sampleActionCard": ("title", "text", "singleTitle", "singleURL")}  # fmt: skip


@dataclass
class CardInstance:
    track: str
    space_type: str
    space: str
    params: dict[str, str]
    at: dict[str, str]
    callback: str
    private: dict[str, dict[str, str]] = field(default_factory=dict)
    versions: list[dict[str, str]] = field(default_factory=list)  # every state it was shown in, oldest first


@dataclass
class Sent:
    """One message as DingTalk shows it: a card (its instance), or markdown in a group, a 1:1 chat or a reply."""

    kind: str  # "card", "group", "direct", "session"
    target: str
    title: str = ""
    text: str = ""
    at: list[str] = field(default_factory=list)
    card: CardInstance | None = None
    button: tuple[str, str] | None = None  # an action card's one link button: (title, url)


@dataclass
class Connection:
    ws: web.WebSocketResponse
    topics: set[str]
    number: int


@dataclass
class FakeDingTalk:
    clock: ManualClock
    server: TestServer | None = None
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    sent: list[Sent] = field(default_factory=list)
    cards: dict[str, CardInstance] = field(default_factory=dict)
    valid_tokens: set[str] = field(default_factory=set)
    tokens_issued: int = 0
    tickets: dict[str, Any] = field(default_factory=dict)  # ticket → when issued (None once used)
    connections: list[Connection] = field(default_factory=list)
    opened: int = 0
    acks: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # protocol mistakes the bot made
    faults: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    sessions: dict[str, tuple[str, int]] = field(default_factory=dict)  # session → (conversation, expires ms)
    sessions_expire_early: bool = False  # answer every session reply as expired
    disconnect_grace: float = 0.2  # the real gateway closes 10 s after ``disconnect``
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # a socket opened or closed
    codes: dict[str, str] = field(default_factory=dict)  # OAuth code → the unionId it signs in (once)
    browser_user: str | None = None  # who the authorize page finds signed in to DingTalk (a staff id)
    redirect_base: str = "http://127.0.0.1:"  # the app's registered 重定向URL (the bot, on loopback)
    user_tokens: dict[str, str] = field(default_factory=dict)  # a user's token → their unionId
    members: dict[str, str] = field(default_factory=dict)  # unionId → staff id, in this organisation
    _waiting: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    @property
    def base(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1.0/oauth2/accessToken", self.token)
        app.router.add_post("/v1.0/gateway/connections/open", self.open_connection)
        app.router.add_get("/connect", self.gateway)
        app.router.add_post("/v1.0/robot/groupMessages/send", self.group_send)
        app.router.add_post("/v1.0/robot/oToMessages/batchSend", self.direct_send)
        app.router.add_post("/v1.0/card/instances/createAndDeliver", self.create_and_deliver)
        app.router.add_put("/v1.0/card/instances", self.update_card)
        app.router.add_post("/robot/sendBySession", self.session_reply)
        app.router.add_get("/oauth2/auth", self.authorize)
        app.router.add_post("/v1.0/oauth2/userAccessToken", self.user_token)
        app.router.add_get("/v1.0/contact/users/me", self.users_me)
        app.router.add_post("/topapi/user/getbyunionid", self.by_union_id)
        return app

    # ---- the web sign-in
    def oauth_code(self, staff_id: str, *, member: bool = True) -> str:
        """What DingTalk's authorize page hands the browser for this person (outside the organisation: not a member)."""
        union = f"union-{staff_id}"
        if member:
            self.members[union] = staff_id
        code = uuid.uuid4().hex
        self.codes[code] = union
        return code

    async def authorize(self, request: web.Request) -> web.Response:
        """``login.dingtalk.com/oauth2/auth``: the member signed in to DingTalk consents; back with ``authCode``."""
        query = request.query
        wanted = {"client_id": CLIENT_ID, "response_type": "code", "prompt": "consent"}
        if any(query.get(k) != v for k, v in wanted.items()) or "openid" not in query.get("scope", "").split():
            return web.Response(status=400, text="bad authorize request")
        back = query.get("redirect_uri", "")
        if not back.startswith(self.redirect_base) or self.browser_user is None:
            return web.Response(status=400 if self.browser_user else 401, text="redirect_uri not registered")
        joiner = "&" if "?" in back else "?"
        code = self.oauth_code(self.browser_user)
        raise web.HTTPFound(f"{back}{joiner}{urlencode({'authCode': code, 'state': query.get('state', '')})}")

    async def user_token(self, request: web.Request) -> web.Response:
        body = await request.json()
        if (body.get("clientId"), body.get("clientSecret")) != (CLIENT_ID, CLIENT_SECRET):
            return self._error(400, "invalidClientIdOrSecret", "无效的clientId或clientSecret")
        union = self.codes.pop(str(body.get("code")), None) if body.get("grantType") == "authorization_code" else None
        if union is None:
            return self._error(400, "invalidAuthCode", "不合法的临时授权码")
        token = f"ut-{uuid.uuid4().hex}"
        self.user_tokens[token] = union
        return web.json_response({"accessToken": token, "refreshToken": uuid.uuid4().hex, "expireIn": 7200,
                                  "corpId": CORP})  # fmt: skip

    async def users_me(self, request: web.Request) -> web.Response:
        union = self.user_tokens.get(request.headers.get("x-acs-dingtalk-access-token", ""))
        if union is None:
            return self._error(401, "InvalidAuthentication", "不合法的access_token")
        return web.json_response({"nick": union, "unionId": union, "openId": f"open-{union}", "stateCode": "86"})

    async def by_union_id(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") not in self.valid_tokens:
            return web.json_response({"errcode": 40014, "errmsg": "不合法的access_token"})
        staff = self.members.get(str((await request.json()).get("unionid")))
        if staff is None:
            return web.json_response({"errcode": 60121, "errmsg": "找不到该用户"})
        return web.json_response({"errcode": 0, "errmsg": "ok", "result": {"contact_type": 0, "userid": staff}})

    # ---- on demand
    def throttle_next(self, times: int = 1) -> None:
        for _ in range(times):
            self.faults.append((403, {"code": "Forbidden.AccessDenied.QpsLimitForApi", "message": "qps limit"}))

    def fail_next(self, status: int = 500, code: str = "ServiceUnavailable", message: str = "injected") -> None:
        self.faults.append((status, {"code": code, "message": message}))

    def revoke_tokens(self) -> None:
        self.valid_tokens.clear()

    def session_for(self, conversation: str, *, minutes: int = 90) -> tuple[str, int]:
        """A session webhook DingTalk would put into a robot message: (its URL, when it expires in ms)."""
        session = uuid.uuid4().hex
        expires = int((self.clock.now() + timedelta(minutes=minutes)).timestamp() * 1000)
        self.sessions[session] = (conversation, expires)
        return f"{self.base}/robot/sendBySession?session={session}", expires

    # ---- the OpenAPI
    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        return web.json_response({"code": code, "message": message, "requestid": uuid.uuid4().hex}, status=status)

    async def token(self, request: web.Request) -> web.Response:
        body = await request.json()
        if (body.get("appKey"), body.get("appSecret")) != (CLIENT_ID, CLIENT_SECRET):
            return self._error(400, "invalidClientIdOrSecret", "无效的clientId或clientSecret")
        self.tokens_issued += 1
        token = f"at-{self.tokens_issued}"
        self.valid_tokens.add(token)
        return web.json_response({"accessToken": token, "expireIn": 7200})

    async def _guard(self, request: web.Request) -> tuple[dict[str, Any] | None, web.Response | None]:
        if self.faults:
            status, body = self.faults.pop(0)
            return None, web.json_response({**body, "requestid": uuid.uuid4().hex}, status=status)
        if request.headers.get("x-acs-dingtalk-access-token") not in self.valid_tokens:
            return None, self._error(401, "InvalidAuthentication", "不合法的access_token")
        try:
            body = await request.json()
        except ValueError:
            return None, self._error(400, "InvalidParameter", "body is not JSON")
        return (body, None) if isinstance(body, dict) else (None, self._error(400, "InvalidParameter", "not an object"))

    def _msg_param(self, body: dict[str, Any]) -> dict[str, Any] | web.Response:
        if body.get("robotCode") != ROBOT_CODE:
            return self._error(400, "invalidRobotCode", "robotCode 不存在")
        keys, raw = MSG_KEYS.get(str(body.get("msgKey"))), body.get("msgParam")
        if keys is None or not isinstance(raw, str):
            return self._error(400, "InvalidParameter", "msgKey or msgParam")
        param = json.loads(raw)
        if not isinstance(param, dict) or not all(isinstance(param.get(k), str) for k in keys):
            return self._error(400, "InvalidParameter", f"msgParam of {body['msgKey']} needs {keys}")
        return param

    async def group_send(self, request: web.Request) -> web.Response:
        body, refused = await self._guard(request)
        if refused:
            return refused
        param = self._msg_param(body)
        if isinstance(param, web.Response):
            return param
        if not isinstance(body.get("openConversationId"), str) or not body["openConversationId"]:
            return self._error(400, "InvalidParameter", "openConversationId")
        self.sent.append(Sent("group", body["openConversationId"], param.get("title", ""), param.get("text", "")))
        return web.json_response({"processQueryKey": f"pq-{next(self._ids)}"})

    async def direct_send(self, request: web.Request) -> web.Response:
        body, refused = await self._guard(request)
        if refused:
            return refused
        param = self._msg_param(body)
        if isinstance(param, web.Response):
            return param
        users = body.get("userIds")
        if not isinstance(users, list) or not users or not all(isinstance(u, str) for u in users):
            return self._error(400, "InvalidParameter", "userIds")
        button = (param["singleTitle"], param["singleURL"]) if "singleURL" in param else None
        for user in users:
            self.sent.append(Sent("direct", user, param.get("title", ""), param.get("text", ""), button=button))
        return web.json_response({"processQueryKey": f"pq-{next(self._ids)}", "invalidStaffIdList": [],
                                  "flowControlledStaffIdList": []})  # fmt: skip

    @staticmethod
    def _strings(value: Any) -> bool:
        return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())

    async def create_and_deliver(self, request: web.Request) -> web.Response:
        body, refused = await self._guard(request)
        if refused:
            return refused
        track, space = body.get("outTrackId"), SPACE.fullmatch(str(body.get("openSpaceId") or ""))
        params = (body.get("cardData") or {}).get("cardParamMap")
        if body.get("cardTemplateId") != TEMPLATE:
            return self._error(400, "InvalidParameter.CardTemplateId", "卡片模板不存在")
        if not isinstance(track, str) or not track or len(track) > 200:
            return self._error(400, "InvalidParameter", "outTrackId")
        if track in self.cards:
            return self._error(400, "InvalidParameter.OutTrackId", "outTrackId 已存在")
        if not self._strings(params):
            return self._error(400, "InvalidParameter.CardParamMap", "cardParamMap 的值必须是字符串")
        if space is None:
            return self._error(400, "InvalidParameter.OpenSpaceId", "openSpaceId 格式错误")
        if body.get("callbackType") not in ("STREAM", "HTTP"):
            return self._error(400, "InvalidParameter", "callbackType")
        kind = space.group(1)
        deliver = body.get("imGroupOpenDeliverModel" if kind == "IM_GROUP" else "imRobotOpenDeliverModel") or {}
        if deliver.get("robotCode") != ROBOT_CODE:
            return self._error(400, "invalidRobotCode", "robotCode")
        at = deliver.get("atUserIds") or {}
        if not self._strings(at):
            return self._error(400, "InvalidParameter", "atUserIds is a map of userId to name")
        card = CardInstance(track, kind, space.group(2), dict(params), dict(at), body["callbackType"])
        card.versions.append(dict(params))
        self.cards[track] = card
        self.sent.append(Sent("card", space.group(2), params.get("title", ""), params.get("markdown", ""),
                              at=list(at), card=card))  # fmt: skip
        return web.json_response({"success": True, "result": {"outTrackId": track, "deliverResults": [
            {"spaceType": kind, "spaceId": space.group(2), "success": True, "errorMsg": "", "carrierId": uuid.uuid4().hex}]}})  # fmt: skip

    async def update_card(self, request: web.Request) -> web.Response:
        body, refused = await self._guard(request)
        if refused:
            return refused
        card = self.cards.get(str(body.get("outTrackId")))
        params = (body.get("cardData") or {}).get("cardParamMap")
        if card is None:
            return self._error(400, "InvalidParameter.OutTrackId", "卡片实例不存在")
        if not self._strings(params):
            return self._error(400, "InvalidParameter.CardParamMap", "cardParamMap 的值必须是字符串")
        self.apply(card, {"cardData": {"cardParamMap": params}, **body})
        return web.json_response({"success": True, "result": True})

    def apply(self, card: CardInstance, update: dict[str, Any], user: str | None = None) -> None:
        by_key = (update.get("cardUpdateOptions") or {}).get("updateCardDataByKey", False)
        params = (update.get("cardData") or {}).get("cardParamMap")
        if params is not None:
            card.params = {**card.params, **params} if by_key else dict(params)
            card.versions.append(dict(card.params))
        private = (update.get("userPrivateData") or {}).get("cardParamMap")
        if private is not None and user is not None:
            card.private[user] = {**card.private.get(user, {}), **private}

    async def session_reply(self, request: web.Request) -> web.Response:
        conversation, expires = self.sessions.get(request.query.get("session", ""), ("", 0))
        if not conversation or self.clock.now().timestamp() * 1000 >= expires or self.sessions_expire_early:
            return web.json_response({"errcode": 300001, "errmsg": "session 已过期"})
        body = await request.json()
        markdown, at = body.get("markdown") or {}, (body.get("at") or {}).get("atUserIds") or []
        if body.get("msgtype") != "markdown" or not isinstance(markdown.get("text"), str):
            return web.json_response({"errcode": 40035, "errmsg": "缺少参数 markdown"})
        self.sent.append(Sent("session", conversation, markdown.get("title", ""), markdown["text"], at=list(at)))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    # ---- the Stream gateway
    async def open_connection(self, request: web.Request) -> web.Response:
        body = await request.json()
        if (body.get("clientId"), body.get("clientSecret")) != (CLIENT_ID, CLIENT_SECRET):
            return self._error(401, "invalidClientIdOrSecret", "无效的clientId或clientSecret")
        subscriptions = body.get("subscriptions")
        if not isinstance(subscriptions, list) or not subscriptions:
            return self._error(400, "InvalidParameter", "subscriptions")
        ticket = str(uuid.uuid4())
        topics = {s.get("topic") for s in subscriptions if isinstance(s, dict) and s.get("type") == "CALLBACK"}
        self.tickets[ticket] = (self.clock.now(), topics)
        return web.json_response({"endpoint": self.base.replace("http://", "ws://") + "/connect", "ticket": ticket})

    async def gateway(self, request: web.Request) -> web.StreamResponse:
        issued = self.tickets.get(request.query.get("ticket", ""))
        if issued is None:
            return self._error(401, "InvalidTicket", "ticket 无效或已使用")
        self.tickets[request.query["ticket"]] = None  # one connection per ticket
        when, topics = issued
        if self.clock.now() - when > timedelta(seconds=90):
            return self._error(401, "InvalidTicket", "ticket 已过期")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.opened += 1
        connection = Connection(ws, topics, self.opened)
        self.connections.append(connection)
        self.changed.set()
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._acked(message.data)
        finally:
            if connection in self.connections:
                self.connections.remove(connection)
            self.changed.set()
        return ws

    def _acked(self, text: str) -> None:
        try:
            ack = json.loads(text)
            message_id = ack["headers"]["messageId"]
            if not isinstance(ack["code"], int) or not isinstance(ack["data"], str):
                raise TypeError("code is an int and data a string")
            json.loads(ack["data"])
        except (ValueError, KeyError, TypeError) as exc:
            self.problems.append(f"a bad ack: {exc}: {text[:200]}")
            return
        self.acks.append(ack)
        waiting = self._waiting.pop(message_id, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(ack)
        elif waiting is None:
            self.problems.append(f"an ack for nothing pushed: {message_id}")

    async def connected(self, count: int = 1) -> None:
        """Wait (at most ``WAIT`` seconds: the bot connects in the background) until ``count`` sockets are open."""
        async with asyncio.timeout(WAIT):
            while len(self.connections) < count:
                self.changed.clear()
                await self.changed.wait()

    async def send_frame(self, frame: dict[str, Any], *, connection: int | None = None) -> dict[str, Any] | None:
        """Push a frame to one live socket (chosen at random, as DingTalk does) and wait for its ack."""
        await self.connected()
        live = self.connections[connection] if connection is not None else self.rng.choice(self.connections)
        topic, message_id = frame["headers"]["topic"], frame["headers"].get("messageId")
        if frame["type"] == "CALLBACK" and topic not in live.topics:
            self.problems.append(f"{topic} pushed to a connection that did not subscribe to it")
        if message_id is None:  # ``disconnect`` carries none and needs no answer
            await live.ws.send_str(json.dumps(frame))
            return None
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[message_id] = future
        await live.ws.send_str(json.dumps(frame))
        try:
            async with asyncio.timeout(WAIT):
                ack = await future
        except TimeoutError:
            self.problems.append(f"no ack for {message_id}")
            raise
        if ack["headers"]["messageId"] != message_id:
            self.problems.append("an ack with another messageId")
        return ack

    async def push(self, topic: str, data: dict[str, Any], *, message_id: str | None = None,
                   connection: int | None = None) -> dict[str, Any]:  # fmt: skip
        frame = {"specVersion": "1.0", "type": "CALLBACK", "headers": {
            "appId": "app-1", "contentType": "application/json", "messageId": message_id or uuid.uuid4().hex,
            "time": str(int(self.clock.now().timestamp() * 1000)), "topic": topic}, "data": json.dumps(data)}  # fmt: skip
        ack = await self.send_frame(frame, connection=connection)
        assert ack is not None
        return ack

    async def ping(self, opaque: str) -> dict[str, Any]:
        frame = {"type": "SYSTEM", "headers": {"topic": "ping", "messageId": uuid.uuid4().hex,
                                               "contentType": "application/json"}, "data": json.dumps({"opaque": opaque})}  # fmt: skip
        ack = await self.send_frame(frame)
        assert ack is not None
        if json.loads(ack["data"]).get("opaque") != opaque:
            self.problems.append("ping answered without its opaque")
        return ack

    async def disconnect(self, connection: int = 0) -> None:
        """``disconnect``, then the socket closed a little later, as the gateway does."""
        live = self.connections[connection]
        await self.send_frame({"type": "SYSTEM", "headers": {"topic": "disconnect", "contentType": "application/json"},
                               "data": json.dumps({"reason": "connection is expired"})}, connection=connection)  # fmt: skip
        await asyncio.sleep(self.disconnect_grace)
        await live.ws.close()

    async def drop(self) -> None:
        """Every socket gone at once, without a word (a network failure)."""
        for connection in list(self.connections):
            await connection.ws.close(code=1006)
        self.connections.clear()
