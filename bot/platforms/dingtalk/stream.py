"""DingTalk's Stream mode: a WebSocket the bot opens, over which DingTalk pushes robot messages and card callbacks.

Our own small client on aiohttp rather than the official ``dingtalk-stream`` SDK.
The stable SDK (0.24.3) swallows ``CancelledError`` (a task cancelled at shutdown
keeps reconnecting), makes blocking ``requests`` calls on the event loop (opening a
connection stalled the loop for as long as the gateway took to answer), retries on
a fixed 10 s / 3 s timer, acks on whatever socket is current rather than the one a
frame came from, and reads ``DINGTALK_OPENAPI_ENDPOINT`` when it is imported (a
test server must be set before the first import). The release that fixes the
lifecycle (0.24.4b1) is a pre-release. The protocol itself is small:

1. ``POST {base}/v1.0/gateway/connections/open`` with ``clientId``, ``clientSecret``
   and the ``subscriptions`` (``CALLBACK`` topics) → ``{endpoint, ticket}``; the
   ticket is valid 90 s for one connection, so every connection asks for a new one.
2. WebSocket to ``endpoint?ticket=…``. Frames are JSON text ``{specVersion, type,
   headers{messageId, topic, …}, data}``, ``data`` a JSON *string*.
3. Every frame is acknowledged on the socket it came from: ``{code, headers{contentType,
   messageId}, message, data}``, ``data`` again a JSON string (``{"response": …}``
   for a callback — a card callback's answer updates the card). SYSTEM ``ping``
   echoes its ``opaque``; SYSTEM ``disconnect`` (sent periodically, the server closes
   10 s later) means: finish what is in flight, then connect anew.

A callback is handed to ``handle`` and acknowledged with what it returns, after it
returned: the adapter stores a robot message in the durable inbox (or handles a
card callback) first, so an acknowledged event survives a dropped connection.
Robot messages are fire-and-forget on DingTalk's side (not redelivered when lost
unacknowledged), so a frame is never acknowledged before it is stored.

Connections that fail are retried with exponential backoff and full jitter (1 s,
2 s … up to 60 s, times a random factor of 0.5–1.5); the count resets once a
connection delivers a frame. Cancelling ``run`` ends it: cancellation is never
swallowed.

Several connections with one client id share the pushes at random: a second
process (a laptop with production credentials) silently takes events away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import aiohttp

log = logging.getLogger(__name__)
MESSAGES = "/v1.0/im/bot/messages/get"
CARD_CALLBACKS = "/v1.0/card/instances/callback"
USER_AGENT = "closeloop-stream-python/1.0"


@dataclass(frozen=True)
class Frame:
    type: str
    topic: str
    message_id: str
    data: str
    headers: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Frame], Awaitable[tuple[int, str]]]  # → (ack code, ack data: a JSON string)


def parse_frame(text: str) -> Frame:
    """A pushed frame; ``ValueError`` for anything not shaped as DingTalk sends it."""
    value = json.loads(text)
    if not isinstance(value, dict) or not isinstance(value.get("headers"), dict):
        raise ValueError("a frame is an object with headers")
    headers = value["headers"]
    kind, topic, message_id, data = (
        value.get("type"),
        headers.get("topic"),
        headers.get("messageId", ""),
        value.get("data"),
    )
    if kind not in ("SYSTEM", "EVENT", "CALLBACK") or not isinstance(topic, str):
        raise ValueError("a frame has a type and a topic")
    if not isinstance(message_id, str) or not isinstance(data, str):
        raise ValueError("a frame's messageId and data are strings")
    return Frame(kind, topic, message_id, data, headers)


def ack(frame: Frame, code: int, data: str) -> str:
    return json.dumps({"code": code, "headers": {"contentType": "application/json", "messageId": frame.message_id},
                       "message": "OK" if code == 200 else "error", "data": data})  # fmt: skip


class StreamClient:
    def __init__(
        self,
        *,
        base: str,
        client_id: str,
        client_secret: str,
        handle: Handler,
        topics: tuple[str, ...] = (MESSAGES, CARD_CALLBACKS),
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        heartbeat: float = 30.0,
        grace: float = 5.0,
    ) -> None:
        self.base = base.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.handle = handle
        self.topics = topics
        self.rng = rng or random.Random()
        self.sleep = sleep
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.heartbeat = heartbeat
        self.grace = grace  # how long in-flight frames may take after a disconnect before the socket closes
        self.connections = 0  # opened so far (tests read it)
        self.connected = asyncio.Event()
        self.local_ip = "127.0.0.1"

    def backoff(self, attempt: int) -> float:
        delay = min(self.backoff_max, self.backoff_base * 2 ** min(attempt, 16))
        return delay * self.rng.uniform(0.5, 1.5)

    async def run(self) -> None:
        """Stay connected until cancelled."""
        attempt = 0
        self.local_ip = await asyncio.to_thread(_local_ip)  # a resolver call: not on the event loop
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=10)) as session:
            while True:
                try:
                    received = await self._connection(session)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a network failure, a refused ticket, a broken frame loop
                    log.warning("dingtalk stream: connection failed: %s: %s", type(exc).__name__, exc)
                    received = False
                else:
                    if received is None:  # DingTalk asked us to reconnect (``disconnect``): at once
                        attempt = 0
                        continue
                attempt = 0 if received else attempt + 1
                delay = self.backoff(attempt)
                log.info("dingtalk stream: reconnecting in %.1fs", delay)
                await self.sleep(delay)

    async def open_ticket(self, session: aiohttp.ClientSession) -> str:
        """The WebSocket URL for one new connection (``connections/open``)."""
        body = {
            "clientId": self.client_id, "clientSecret": self.client_secret,
            "subscriptions": [{"type": "CALLBACK", "topic": topic} for topic in self.topics],
            "ua": USER_AGENT, "localIp": self.local_ip,
        }  # fmt: skip
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        async with session.post(f"{self.base}/v1.0/gateway/connections/open", json=body, headers=headers,
                                timeout=aiohttp.ClientTimeout(total=10)) as response:  # fmt: skip
            answer = await response.json(content_type=None)
            if response.status >= 400 or not isinstance(answer, dict):
                raise ConnectionError(f"connections/open: HTTP {response.status} {str(answer)[:200]}")
        endpoint, ticket = answer.get("endpoint"), answer.get("ticket")
        if not isinstance(endpoint, str) or not isinstance(ticket, str) or not endpoint.startswith(("ws", "http")):
            raise ConnectionError("connections/open: no endpoint or ticket")
        return f"{endpoint}?ticket={quote_plus(ticket)}"

    async def _connection(self, session: aiohttp.ClientSession) -> bool | None:
        """One connection until it ends: None when DingTalk asked for a new one, else whether frames came."""
        url = await self.open_ticket(session)
        received = False
        async with session.ws_connect(url, heartbeat=self.heartbeat, autoping=True) as ws:
            self.connections += 1
            self.connected.set()
            log.info("dingtalk stream: connected (%d)", self.connections)
            in_flight: set[asyncio.Task[None]] = set()
            try:
                async for message in ws:
                    if message.type != aiohttp.WSMsgType.TEXT:
                        if message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                            break
                        continue
                    received = True
                    try:
                        frame = parse_frame(message.data)
                    except (ValueError, RecursionError) as exc:
                        log.warning("dingtalk stream: a frame we cannot read: %s", exc)
                        continue
                    if frame.type == "SYSTEM":
                        if frame.topic == "disconnect":
                            await _finish(in_flight, self.grace)
                            return None
                        if frame.topic == "ping":
                            await ws.send_str(ack(frame, 200, frame.data))
                        continue
                    task = asyncio.create_task(self._answer(ws, frame))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
            finally:
                self.connected.clear()
                await _finish(in_flight, self.grace)
        return received

    async def _answer(self, ws: aiohttp.ClientWebSocketResponse, frame: Frame) -> None:
        """Handle one callback and acknowledge it on the socket it came from."""
        try:
            code, data = await self.handle(frame)
        except Exception:
            log.exception("dingtalk stream: handling %s %s failed", frame.topic, frame.message_id)
            code, data = 500, json.dumps({"response": None})
        if frame.type == "EVENT":
            data = json.dumps({"status": "SUCCESS" if code == 200 else "LATER", "message": ""})
        if not ws.closed:
            await ws.send_str(ack(frame, code, data))


async def _finish(tasks: set[asyncio.Task[None]], grace: float) -> None:
    if tasks:
        _, late = await asyncio.wait(set(tasks), timeout=grace)
        for task in late:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*late, return_exceptions=True)


def _local_ip() -> str:
    """Reported as ``localIp`` (optional): the host's address as the resolver knows it, no packet sent."""
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"
