"""Bad input is a 4xx and changes nothing, on every endpoint: a bounded fuzz of what the platforms could send.

Each body is a real payload with one part replaced by something of another
shape (a list where an object was, a number where a string was, an int past
64 bits, JSON nested a thousand deep …), then signed and encrypted the way
the platform does it, so it passes the door and reaches the parsers. Whatever
comes: no 5xx, no traceback in the log, and when refused, no row written. The
generator is seeded: a failure names the seed and the case to replay.
"""

from __future__ import annotations

import copy
import json
import logging
import random
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from storage.models import Group, InboundEvent, OutboxMessage, Person, ProcessedEvent, Record
from storage.timekeeping import ManualClock
from tests.platforms.dingtalk.peer import card_callback, robot_message, signed
from tests.platforms.drivers import DingTalkDriver, FeishuDriver, SandboxDriver, SlackDriver, WeComDriver
from tests.platforms.feishu.peer import BOT, feishu_encrypt
from tests.platforms.slack.fake import BOT_USER, block_actions, slash_command
from tests.platforms.wecom.peer import card_event as wecom_card_event
from tests.platforms.wecom.peer import message as wecom_message

CASES = 120
DEEP = "[" * 1000 + "]" * 1000
ODD_VALUES: list[Any] = [None, True, 0, -1, 2**63, 10**40, 1.5, "", "x" * 5000, "\x00\ud800"[:1], [], [1, "a"], {},
                         {"a": {"b": []}}, json.loads("[" * 50 + "]" * 50)]  # fmt: skip


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from paths(value, (*prefix, index))


def mutate(payload: Any, rng: random.Random) -> Any:
    """The payload with one node (not the root) replaced by a value of another shape."""
    body = copy.deepcopy(payload)
    path = rng.choice([p for p in paths(body) if p])
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))
    return body


def rows(engine: sa.Engine) -> tuple[int, ...]:
    with Session(engine) as session:
        return tuple(
            session.exec(select(sa.func.count()).select_from(model)).one()
            for model in (InboundEvent, OutboxMessage, ProcessedEvent, Record, Group, Person)
        )


async def fuzz(
    engine: sa.Engine, send: Callable[[Any], Any], payloads: list[Any], caplog: pytest.LogCaptureFixture, seed: int
) -> dict[int, int]:
    rng, statuses = random.Random(seed), {}
    for case in range(CASES):
        body = mutate(rng.choice(payloads), rng)
        before = rows(engine)
        caplog.clear()
        status = await send(body)
        statuses[status] = statuses.get(status, 0) + 1
        assert status < 500, f"seed {seed} case {case}: HTTP {status} for {body!r:.300}"
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors == [], f"seed {seed} case {case}: {errors[0].getMessage()!r:.300}"
        if status >= 400:
            assert rows(engine) == before, f"seed {seed} case {case}: refused but written: {body!r:.300}"
    return statuses


async def test_feishu_takes_no_malformed_event_or_callback(
    sqlite_engine: sa.Engine, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    driver = await FeishuDriver.start(sqlite_engine, clock)
    peer = driver.peer
    try:
        message = peer.message("@_user_1 /record list", mentions=[("@_user_1", BOT, "Closeloop")])
        action = peer.card_action({"behaviors": [{"value": {"a": "record.show", "p": '{"record_id":1}'}}]},
                                  operator="ou_zhang", form={"topic": "x"})  # fmt: skip

        async def send(body: Any) -> int:
            if isinstance(body, dict) and isinstance(body.get("header"), dict):
                body["header"]["event_id"] = f"ev-{random.random()}"  # each one new, past the dedupe
            status, _ = await peer.push(body)
            await driver.gateway.inbox.run_once()  # what was acknowledged is handled without a traceback
            return status

        statuses = await fuzz(sqlite_engine, send, [message, action], caplog, seed=1)
        assert set(statuses) - {200} and 200 in statuses, statuses
        for raw in (DEEP.encode(), b'{"encrypt": ' + DEEP.encode() + b"}", b"\xff\xfe", b""):
            status, _ = await peer.push(raw)
            assert 400 <= status < 500
        deep = json.dumps({"encrypt": feishu_encrypt(peer.encrypt_key, DEEP.encode())}).encode()
        status, _ = await peer.push(deep)  # signed and encrypted as Feishu does: refused after decryption
        assert 400 <= status < 500
    finally:
        await driver.client.close()
        await driver.stop()


async def test_slack_takes_no_malformed_command_event_or_interaction(
    sqlite_engine: sa.Engine, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    driver = await SlackDriver.start(sqlite_engine, clock)
    peer = driver.peer
    try:
        command = dict(item.split("=", 1) for item in slash_command("list", trigger_id="1.2").decode().split("&"))
        mention = {"type": "event_callback", "team_id": "T0ACME", "event_id": "Ev1",
                   "event": {"type": "app_mention", "user": "U0ZHANG", "text": f"<@{BOT_USER}> /record list",
                             "channel": "C0GROUP", "ts": "1.2"}}  # fmt: skip
        press = json.loads(__import__("urllib.parse").parse.parse_qs(block_actions(
            {"action_id": "record.show:0", "value": '{"a":"record.show","p":"{\\"record_id\\":1}"}'},
            user="U0ZHANG", message_ts="1.2", trigger_id="1.3").decode())["payload"][0])  # fmt: skip

        async def send(body: Any) -> int:
            if "command" in body and all(isinstance(v, str) for v in body.values()):
                raw, kind = urlencode(body).encode(), "application/x-www-form-urlencoded"
            elif body.get("type") == "event_callback" or "event" in body:
                body["event_id"] = f"Ev{random.random()}"
                raw, kind = json.dumps(body).encode(), "application/json"
            else:
                raw, kind = urlencode({"payload": json.dumps(body)}).encode(), "application/x-www-form-urlencoded"
            status, _ = await peer.send(raw, content_type=kind)
            await driver.gateway.inbox.run_once()
            return status

        statuses = await fuzz(sqlite_engine, send, [mention, press, {**command, "text": {"x": 1}}], caplog, seed=2)
        assert set(statuses) - {200}, statuses
        for raw in (DEEP.encode(), urlencode({"payload": DEEP}).encode(), b"\xff\xfe"):
            status, _ = await peer.send(raw, content_type="application/json")
            assert 400 <= status < 500
    finally:
        await driver.client.close()
        await driver.stop()


async def test_dingtalk_takes_no_malformed_message_or_card_callback(
    sqlite_engine: sa.Engine, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """``POST /dingtalk/events``, signed as DingTalk signs (the timestamp only): the body is all the fuzz has."""
    driver = await DingTalkDriver.start(sqlite_engine, clock)
    try:
        message = robot_message(driver.fake, "/record list", sender=driver.ids["zhang"])
        press = card_callback("cl-1", user=driver.ids["zhang"], action_ids=["button"],
                              params={"action": "record.show", "payload": '{"record_id":1}', "form": {"note": "x"}})  # fmt: skip

        async def send(body: Any) -> int:
            if isinstance(body, dict) and "msgId" in body:
                body["msgId"] = f"msg{random.random()}"  # each one new, past the dedupe
            response = await driver.client.post("/dingtalk/events", data=json.dumps(body).encode(),
                                                headers=signed(clock))  # fmt: skip
            await driver.gateway.inbox.run_once()
            return response.status

        statuses = await fuzz(sqlite_engine, send, [message, press], caplog, seed=3)
        assert set(statuses) - {200} and 200 in statuses, statuses
        content = json.loads(press["content"])
        for inner in (
            DEEP,
            "[]",
            json.dumps({"cardPrivateData": {"params": {**content["cardPrivateData"]["params"], "form": DEEP}}}),
        ):
            status = await send({**press, "content": inner})
            assert 400 <= status < 500, (inner[:40], status)
        for raw in (DEEP.encode(), b"\xff\xfe", b"", b"[]"):
            response = await driver.client.post("/dingtalk/events", data=raw, headers=signed(clock))
            assert 400 <= response.status < 500
    finally:
        await driver.client.close()
        await driver.stop()


async def test_the_sandbox_takes_no_malformed_request(
    sqlite_engine: sa.Engine, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    driver = await SandboxDriver.start(sqlite_engine, clock)
    client = driver.client
    try:
        bodies = {
            "/sandbox/api/messages": {"group": "g", "user": "zhangwei", "text": "/record list"},
            "/sandbox/api/actions": {"group": "g", "user": "zhangwei", "action": "record.show",
                                     "payload": {"record_id": 1}, "form": {"topic": "x"}},
            "/sandbox/api/clock": {"group": "g", "at": "2026-11-24T17:30+08:00"},
        }  # fmt: skip
        for number, (path, valid) in enumerate(bodies.items()):

            async def send(body: Any, path: str = path) -> int:
                response = await client.post(path, json=body)
                return response.status

            await fuzz(sqlite_engine, send, [valid], caplog, seed=10 + number)
            for raw in (DEEP.encode(), b"\xff\xfe", b'{"group": "g", "user": "zhangwei", "text": ' + DEEP.encode()):
                response = await client.post(path, data=raw, headers={"Content-Type": "application/json"})
                assert response.status == 400
        clock_at = await client.post("/sandbox/api/clock", json={"group": "g", "at": "9999-12-31T23:59:59+14:00"})
        assert clock_at.status == 400
        for path in ("/sandbox/say", "/sandbox/act", "/sandbox/clock"):
            for raw, kind in ((b"\xff\xfe=\xff", "application/x-www-form-urlencoded"),
                              (b"--x\r\nbroken", "multipart/form-data; boundary=x")):  # fmt: skip
                response = await client.post(path, data=raw, headers={"Content-Type": kind}, allow_redirects=False)
                assert 400 <= response.status < 500, (path, response.status)
    finally:
        await client.close()


async def test_wecom_takes_no_malformed_callback(
    sqlite_engine: sa.Engine, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The callback URL: bodies encrypted and signed by wechatpy (WeCom's side), mutated inside the encryption."""
    driver = await WeComDriver.start(sqlite_engine, clock)
    peer = driver.peer
    try:
        text = wecom_message("@Closeloop /record list", sender="ZhangWei", chat="wrkGroupOrders",
                             response_url=driver.fake.response_url("wrkGroupOrders"))  # fmt: skip
        press = wecom_card_event('0|record.show|{"record_id":1}', "cl1x0p0", sender="ZhangWei", chat="wrkGroupOrders")

        async def send(body: Any) -> int:
            if isinstance(body, dict) and isinstance(body.get("msgid"), str):
                body["msgid"] = f"m-{random.random()}"  # each one new, past the dedupe
            status, _ = await peer.send(body)
            await driver.gateway.inbox.run_once()
            return status

        statuses = await fuzz(sqlite_engine, send, [text, press], caplog, seed=3)
        assert set(statuses) - {200} and 200 in statuses, statuses
        for plain in (DEEP, '{"msgid": ' + DEEP + "}", "[]", "not json"):
            status, _ = await peer.post(peer.sealed(plain))  # signed and encrypted, refused after decryption
            assert 400 <= status < 500
        for raw in (DEEP.encode(), b'{"encrypt": ' + DEEP.encode() + b"}", b"\xff\xfe", b"", b'{"encrypt": 5}'):
            status = (await driver.client.post("/wecom/events", data=raw, params=peer.sealed({}).query)).status
            assert 400 <= status < 500
        bad_query = {"msg_signature": "x" * 5000, "timestamp": "9" * 40, "nonce": "\x00", "echostr": "%%%"}
        assert 400 <= (await driver.client.get("/wecom/events", params=bad_query)).status < 500
    finally:
        await driver.client.close()
        await driver.stop()
