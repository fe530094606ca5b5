"""The intelligent robot's long connection (doc 101463): one WebSocket to WeCom, our own small client.

Every frame is JSON ``{cmd, headers: {req_id}, body}``. We send ``aibot_subscribe`` (bot id and
secret) first, then a ``ping`` every ``heartbeat`` seconds, and commands (``aibot_respond_msg``,
``aibot_respond_update_msg``, ``aibot_respond_welcome_msg``, ``aibot_send_msg``); WeCom acks each
with the same ``req_id`` and an ``errcode``. Acks are matched by ``req_id`` only (some carry a
``cmd``, some do not). WeCom pushes ``aibot_msg_callback`` and ``aibot_event_callback`` frames;
each is handed to ``on_callback`` in its own task, so a slow one never holds up the acks.

Failures, as the official SDKs handle them:
- two pings in a row without an ack: the socket is dead; close it and reconnect;
- any close or network error: reconnect after ``base · 2^(n−1)`` seconds, at most ``cap``, for as
  long as it takes (a server should not give up); the count restarts once subscribed again;
- ``aibot_subscribe`` refused: the same backoff (the secret may be fixed meanwhile), logged as an error;
- ``846609`` (not subscribed) on a command: the subscription was lost while TCP stayed up;
  reconnect, and the caller retries;
- ``disconnected_event``: another connection for the same robot took over ("有新连接建立时，服务端向
  旧连接发送此事件并主动断开"); reconnecting would only displace it in turn (two instances flapping),
  so this one stops, with a warning. Only one instance holds a robot's long connection.

The secret is never logged. The official Python SDK (``wecom-aibot-python-sdk`` 1.0.2) is not used:
it cannot connect to a ``ws://`` test server, and it reconnects after a displacement.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

SUBSCRIBE, PING = "aibot_subscribe", "ping"
MSG_CALLBACK, EVENT_CALLBACK = "aibot_msg_callback", "aibot_event_callback"
NOT_SUBSCRIBED = 846609


class NotConnected(Exception):
    """No subscribed connection to send on (retry later)."""


class CommandFailed(Exception):
    """WeCom acked a command with a non-zero errcode."""

    def __init__(self, cmd: str, errcode: int, errmsg: str) -> None:
        super().__init__(f"{cmd}: errcode {errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


Callback = Callable[[str, str, dict[str, Any]], Coroutine[Any, Any, None]]  # (cmd, req_id, body)


def new_req_id(stem: str) -> str:
    """``<stem>_<8 hex>``: the SDKs use ``<cmd>_<ms>_<8 hex>``; any unique string will do."""
    return f"{stem}_{secrets.token_hex(4)}"


class LongConnection:
    def __init__(self, *, url: str, bot_id: str, secret: str, on_callback: Callback, heartbeat: float = 30.0,
                 ack_timeout: float = 5.0, backoff: float = 1.0, backoff_cap: float = 30.0) -> None:  # fmt: skip
        self.url, self.bot_id, self._secret = url, bot_id, secret
        self.on_callback = on_callback
        self.heartbeat, self.ack_timeout, self.backoff, self.backoff_cap = heartbeat, ack_timeout, backoff, backoff_cap
        self.subscribed = asyncio.Event()
        self.displaced = False
        self.connections = 0  # subscribed connections made so far
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._session: aiohttp.ClientSession | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._send_lock = asyncio.Lock()
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._missed = 0

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name="wecom-long-connection")

    async def stop(self) -> None:
        self._stopping = True
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        for task in list(self._tasks):
            task.cancel()
        if self._session is not None:
            await self._session.close()

    async def drop(self) -> None:
        """Close the socket (it reconnects): after a lost subscription, or to have WeCom push again."""
        if self._ws is not None:
            await self._ws.close()

    async def _run(self) -> None:
        failures = 0
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        while not self._stopping and not self.displaced:
            before = self.connections
            try:
                await self._connect_once()
            except (aiohttp.ClientError, OSError, TimeoutError, CommandFailed) as exc:
                level = logging.ERROR if isinstance(exc, CommandFailed) else logging.WARNING
                log.log(level, "wecom: long connection failed: %s", _reason(exc))
            finally:
                self.subscribed.clear()
                self._ws = None
                for future in self._pending.values():
                    if not future.done():
                        future.set_exception(NotConnected("the long connection closed"))
                self._pending.clear()
            if self._stopping or self.displaced:
                break
            failures = 1 if self.connections > before else failures + 1  # the count restarts once subscribed
            delay = min(self.backoff_cap, self.backoff * 2 ** (failures - 1))
            log.info("wecom: reconnecting in %.1fs (attempt %d)", delay, failures)
            await asyncio.sleep(delay)

    async def _connect_once(self) -> None:
        assert self._session is not None
        async with self._session.ws_connect(self.url, heartbeat=None, autoping=True, max_msg_size=8 * 2**20) as ws:
            self._ws = ws
            reader = asyncio.create_task(self._read(ws))
            try:
                await self._call(SUBSCRIBE, {"bot_id": self.bot_id, "secret": self._secret}, subscribing=True)
                self.connections += 1
                self._missed = 0
                self.subscribed.set()
                log.info("wecom: long connection subscribed (bot %s)", self.bot_id)
                beat = asyncio.create_task(self._beat(ws))
                try:
                    await reader
                finally:
                    beat.cancel()
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader

    async def _beat(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while not ws.closed:
            await asyncio.sleep(self.heartbeat)
            if self._missed >= 2:
                log.warning("wecom: two pings without an ack; the connection is dead, reconnecting")
                await ws.close()
                return
            self._missed += 1
            req_id = new_req_id(PING)
            self._pending[req_id] = asyncio.get_running_loop().create_future()
            self._pending[req_id].add_done_callback(self._ponged)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._send(ws, {"cmd": PING, "headers": {"req_id": req_id}})

    def _ponged(self, future: asyncio.Future[dict[str, Any]]) -> None:
        if not future.cancelled() and future.exception() is None:
            self._missed = 0

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            try:
                frame = json.loads(message.data)
                req_id = frame["headers"]["req_id"]
                if not isinstance(frame, dict) or not isinstance(req_id, str):
                    raise TypeError("not a frame")
            except (json.JSONDecodeError, KeyError, TypeError):
                log.warning("wecom: ignored a frame that is not {cmd, headers{req_id}, body}")
                continue
            cmd = frame.get("cmd")
            if cmd in (MSG_CALLBACK, EVENT_CALLBACK):
                body = frame.get("body")
                if not isinstance(body, dict):
                    log.warning("wecom: ignored a callback without a body")
                    continue
                if cmd == EVENT_CALLBACK and (body.get("event") or {}).get("eventtype") == "disconnected_event":
                    self.displaced = True
                    log.warning("wecom: another connection took over this robot's long connection; this instance "
                                "stops receiving (only one instance may hold it)")  # fmt: skip
                    continue
                task: asyncio.Task[None] = asyncio.create_task(self.on_callback(cmd, req_id, body))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            elif (future := self._pending.pop(req_id, None)) is not None and not future.done():
                future.set_result(frame)

    async def _send(self, ws: aiohttp.ClientWebSocketResponse, frame: dict[str, Any]) -> None:
        async with self._send_lock:
            await ws.send_str(json.dumps(frame, ensure_ascii=False))

    async def _call(self, cmd: str, body: dict[str, Any], *, req_id: str | None = None,
                    subscribing: bool = False) -> dict[str, Any]:  # fmt: skip
        ws = self._ws
        if ws is None or ws.closed:
            raise NotConnected("no long connection")
        req_id = req_id or new_req_id(cmd)
        future = asyncio.get_running_loop().create_future()
        self._pending[req_id] = future
        try:
            await self._send(ws, {"cmd": cmd, "headers": {"req_id": req_id}, "body": body})
            ack = await asyncio.wait_for(future, self.ack_timeout)
        except TimeoutError:
            raise NotConnected(f"{cmd}: no ack within {self.ack_timeout:.0f}s") from None
        except (ConnectionError, RuntimeError) as exc:
            raise NotConnected(f"{cmd}: {type(exc).__name__}") from None
        finally:
            self._pending.pop(req_id, None)
        errcode = ack.get("errcode", 0)
        if errcode != 0:
            errcode = errcode if isinstance(errcode, int) else -1
            if errcode == NOT_SUBSCRIBED and not subscribing:
                await self.drop()  # subscription lost while TCP stayed up: subscribe again on a new socket
            raise CommandFailed(cmd, errcode, str(ack.get("errmsg", "")))
        return ack

    async def command(self, cmd: str, body: dict[str, Any], *, req_id: str | None = None) -> dict[str, Any]:
        """Send a command once subscribed (waiting ``ack_timeout`` for that); its ack, or the error."""
        try:
            await asyncio.wait_for(self.subscribed.wait(), self.ack_timeout)
        except TimeoutError:
            raise NotConnected("the long connection is not subscribed" +
                               (" (another instance holds it)" if self.displaced else "")) from None  # fmt: skip
        return await self._call(cmd, body, req_id=req_id)


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, CommandFailed) else f"{type(exc).__name__}: {exc}"
