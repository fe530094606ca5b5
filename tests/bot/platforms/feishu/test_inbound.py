"""Feishu pushes, checked byte for byte: signature, replay window, encryption, token, duplicates."""

from __future__ import annotations

import json
from datetime import timedelta

import lark_oapi as lark
import pytest
from lark_oapi.core.model import RawRequest
from lark_oapi.core.utils import AESCipher
from sqlmodel import Session, select

from bot.platforms.feishu.crypto import DecryptError, decrypt, signature
from storage.models import Group, InboundEvent, OutboxMessage, Person, ProcessedEvent
from tests.faults import inbox_refuses

from .conftest import APP, BOT, Feishu, feishu_encrypt


def test_the_official_test_vector_decrypts() -> None:
    assert decrypt("test key", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=") == b"hello world"


def test_our_crypto_agrees_with_lark_oapi() -> None:
    plaintext = json.dumps({"challenge": "c", "token": "t", "type": "url_verification"}).encode()
    encrypted = feishu_encrypt("enc-key-123", plaintext)
    assert AESCipher("enc-key-123").decrypt_str(encrypted) == plaintext.decode()
    assert decrypt("enc-key-123", encrypted) == plaintext
    with pytest.raises(DecryptError):
        decrypt("another key", encrypted)
    for junk in ("", "not base64!", "QUJD", encrypted[:-8]):
        with pytest.raises(DecryptError):
            decrypt("enc-key-123", junk)


def lark_peer_accepts(raw: bytes, headers: dict[str, str]) -> bool:
    """lark-oapi's own EventDispatcherHandler, as an independent judge of a push."""
    handler = (
        lark.EventDispatcherHandler.builder(APP["FEISHU_ENCRYPT_KEY"], APP["FEISHU_VERIFICATION_TOKEN"])
        .register_p2_im_message_receive_v1(lambda data: None)
        .build()
    )
    request = RawRequest()
    request.uri, request.body, request.headers = "/feishu/events", raw, dict(headers)
    return handler.do(request).status_code == 200


async def test_a_push_lark_oapi_accepts_we_accept_and_a_tampered_one_neither(feishu: Feishu) -> None:
    raw = feishu.encrypted(feishu.message("@_user_1 /help", mentions=[("@_user_1", BOT, "Closeloop")]))
    headers = feishu.signed(raw)
    assert lark_peer_accepts(raw, headers)
    assert signature(timestamp=headers["X-Lark-Request-Timestamp"], nonce=headers["X-Lark-Request-Nonce"],
                     encrypt_key=APP["FEISHU_ENCRYPT_KEY"], body=raw) == headers["X-Lark-Signature"]  # fmt: skip
    status, _ = await feishu.push(raw, headers=headers)
    assert status == 200
    tampered = raw.replace(b'"encrypt": "', b'"encrypt": "A', 1)
    assert not lark_peer_accepts(tampered, headers)
    status, answer = await feishu.push(tampered, headers=headers)
    assert status == 401 and answer == {"error": "signature mismatch"}


@pytest.mark.parametrize("encrypted", [False, True])
async def test_url_verification_plain_and_encrypted(feishu: Feishu, encrypted: bool) -> None:
    body = {"challenge": "ajls384kdjx98XX", "token": feishu.token, "type": "url_verification"}
    raw = feishu.encrypted(body) if encrypted else json.dumps(body).encode()
    status, answer = await feishu.push(raw, headers={"Content-Type": "application/json"})
    assert (status, answer) == (200, {"challenge": "ajls384kdjx98XX"})
    body["token"] = "wrong"
    raw = feishu.encrypted(body) if encrypted else json.dumps(body).encode()
    status, _ = await feishu.push(raw, headers={"Content-Type": "application/json"})
    assert status == 401


def counts(feishu: Feishu) -> tuple[int, int, int, int]:
    """Events waiting in the inbox, events handled, messages queued, groups."""
    with Session(feishu.engine) as session:
        return (len(session.exec(select(InboundEvent)).all()), len(session.exec(select(ProcessedEvent)).all()),
                len(session.exec(select(OutboxMessage)).all()), len(session.exec(select(Group)).all()))  # fmt: skip


async def test_bad_pushes_get_a_4xx_and_change_nothing(feishu: Feishu) -> None:
    good = feishu.message("@_user_1 /record new 订单延迟", mentions=[("@_user_1", BOT, "Closeloop")])
    raw = feishu.encrypted(good)
    cases = {
        "forged signature": (raw, {**feishu.signed(raw), "X-Lark-Signature": "0" * 64}, 401),
        "signed with another key": (raw, feishu.signed(raw, key="guessed"), 401),
        "stale timestamp": (raw, feishu.signed(raw, timestamp=int((feishu.clock.now() - timedelta(minutes=6)).timestamp())), 401),
        "future timestamp": (raw, feishu.signed(raw, timestamp=int((feishu.clock.now() + timedelta(minutes=6)).timestamp())), 401),
        "no signature": (raw, {"Content-Type": "application/json"}, 401),
        "wrong token": (feishu.encrypted(feishu.message("x", token="wrong")), None, 401),
        "undecryptable": (b'{"encrypt": "bm90IHJlYWxseSBlbmNyeXB0ZWQgYXQgYWxsIQ=="}', None, 400),
        "malformed JSON": (b'{"encrypt": ', None, 400),
        "not an object": (b"[1, 2]", None, 400),
    }  # fmt: skip
    for name, (body, headers, expected) in cases.items():
        status, answer = await feishu.push(body, headers=headers or feishu.signed(body))
        assert status == expected, (name, answer)
        assert counts(feishu) == (0, 0, 0, 0), name


async def test_a_command_addressed_to_the_bot_is_handled_once(feishu: Feishu) -> None:
    body = feishu.message("@_user_1 /record new 订单系统数据延迟 @_user_2",
                          mentions=[("@_user_1", BOT, "Closeloop"), ("@_user_2", "ou_li", "李娜")])  # fmt: skip
    for _ in range(2):  # Feishu delivers at least once: again while the first copy waits in the inbox …
        status, _ = await feishu.push(body)
        assert status == 200
    assert counts(feishu) == (1, 0, 0, 0), "acknowledged once stored, handled later"
    assert await feishu.inbox.run_once() == 1
    assert counts(feishu) == (0, 1, 1, 1)
    status, _ = await feishu.push(body)  # … and again after it was handled
    assert status == 200 and await feishu.inbox.run_once() == 1
    assert counts(feishu) == (0, 1, 1, 1), "the redelivery changed nothing"
    with Session(feishu.engine) as session:
        (group,) = session.exec(select(Group)).all()
        assert (group.platform, group.chat_id, group.workspace) == ("feishu", "oc_group", "tenant-acme")
        (queued,) = session.exec(select(OutboxMessage)).all()
        assert queued.target == "oc_group" and queued.platform == "feishu"
        form = queued.payload["card"]
        assert form["header"]["title"] == "新建跨部门沟通记录"
        topic = next(i for s in form["elements"][0]["sections"] for i in s["inputs"] if i["name"] == "topic")
        assert topic["value"] == "订单系统数据延迟 @李娜", "a person mentioned in free text is written by name"
        assert {p.user_id for p in session.exec(select(Person))} == {"ou_zhang", "ou_li"}


async def test_group_messages_not_addressed_to_the_bot_are_ignored_but_direct_chats_are_not(feishu: Feishu) -> None:
    status, _ = await feishu.push(feishu.message("/record list"))
    assert status == 200 and counts(feishu) == (0, 0, 0, 0)
    status, _ = await feishu.push(feishu.message("/record list", chat_type="p2p"))
    assert status == 200 and counts(feishu)[0] == 1
    await feishu.inbox.run_once()
    assert counts(feishu)[1:3] == (1, 1)


async def test_a_card_action_answers_with_a_toast(feishu: Feishu) -> None:
    body = feishu.envelope("card.action.trigger", {
        "operator": {"open_id": "ou_li", "tenant_key": "tenant-acme"}, "token": "c-token",
        "action": {"tag": "button", "value": {"a": "record.show", "p": '{"record_id":42}'}},
        "context": {"open_message_id": "om_1", "open_chat_id": "oc_group"}})  # fmt: skip
    status, answer = await feishu.push(body)
    assert status == 200 and answer == {"toast": {"type": "info", "content": "找不到记录 R42。"}}


async def test_when_the_event_cannot_be_stored_feishu_gets_a_5xx_and_delivers_again(feishu: Feishu) -> None:
    body = feishu.message("@_user_1 /help", mentions=[("@_user_1", BOT, "Closeloop")])
    with inbox_refuses(feishu.engine, "database or disk is full"):
        status, _ = await feishu.push(body)
    assert status == 503 and counts(feishu) == (0, 0, 0, 0)
    status, _ = await feishu.push(body)  # Feishu's redelivery
    assert status == 200 and counts(feishu)[0] == 1
