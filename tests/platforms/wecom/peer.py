"""WeCom as it calls our callback URL, encrypted and signed by wechatpy's ``WeChatCrypto`` (an independent peer).

The intelligent robot's receiveid is ``""``; wechatpy returns XML from ``encrypt_message``, which is
re-wrapped as the JSON body WeCom posts (``{"encrypt": …}`` with the signature in the query).
Our encrypted answers are opened by the same peer, so a byte of difference in either
direction fails.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import xmltodict
from aiohttp.test_utils import TestClient
from wechatpy.enterprise.crypto import WeChatCrypto

from storage.timekeeping import ManualClock

TOKEN = "wecom-token-123"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"  # 43 characters, as the robot's settings show it
PATH = "/wecom/events"


@dataclass
class Callback:
    """A request as WeCom sends it: the query (signature, timestamp, nonce) and the JSON body."""

    query: dict[str, str]
    body: bytes


@dataclass
class WeComPeer:
    client: TestClient
    clock: ManualClock
    token: str = TOKEN
    aes_key: str = AES_KEY

    @property
    def crypto(self) -> WeChatCrypto:
        return WeChatCrypto(self.token, self.aes_key, "")

    def sealed(self, body: dict[str, Any] | str, *, timestamp: int | None = None, token: str | None = None,
               aes_key: str | None = None) -> Callback:  # fmt: skip
        stamp = str(timestamp if timestamp is not None else int(self.clock.now().timestamp()))
        nonce = uuid.uuid4().hex[:10]
        crypto = WeChatCrypto(token or self.token, aes_key or self.aes_key, "")
        plain = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        xml = xmltodict.parse(crypto.encrypt_message(plain, nonce, stamp))["xml"]
        query = {"msg_signature": xml["MsgSignature"], "timestamp": stamp, "nonce": nonce}
        return Callback(query, json.dumps({"encrypt": xml["Encrypt"]}).encode())

    async def post(self, callback: Callback) -> tuple[int, str]:
        response = await self.client.post(PATH, params=callback.query, data=callback.body,
                                          headers={"Content-Type": "application/json"})  # fmt: skip
        return response.status, await response.text()

    async def send(self, body: dict[str, Any], **kwargs: Any) -> tuple[int, str]:
        return await self.post(self.sealed(body, **kwargs))

    def opened(self, answer: str) -> dict[str, Any]:
        """Our encrypted answer, checked and decrypted as WeCom would."""
        reply = json.loads(answer)
        plain = self.crypto.decrypt_message({"Encrypt": reply["encrypt"]}, reply["msgsignature"], reply["timestamp"],
                                            reply["nonce"])  # fmt: skip
        return json.loads(plain)

    async def verify_url(self, echo: str = "1616140317555161061", *, timestamp: int | None = None,
                         token: str | None = None) -> tuple[int, str]:  # fmt: skip
        """The URL verification WeCom sends when an admin saves the callback URL."""
        stamp = str(timestamp if timestamp is not None else int(self.clock.now().timestamp()))
        xml = xmltodict.parse(WeChatCrypto(token or self.token, self.aes_key, "").encrypt_message(echo, "n1", stamp))
        query = {"msg_signature": xml["xml"]["MsgSignature"], "timestamp": stamp, "nonce": "n1",
                 "echostr": xml["xml"]["Encrypt"]}  # fmt: skip
        response = await self.client.get(PATH, params=query)
        return response.status, await response.text()


def message(text: str, *, sender: str, chat: str | None, response_url: str | None = None,
            msgid: str | None = None) -> dict[str, Any]:  # fmt: skip
    """A text message that @-mentions the robot, as the callback's plaintext."""
    body: dict[str, Any] = {"msgid": msgid or uuid.uuid4().hex, "aibotid": "aib-closeloop",
                            "chattype": "group" if chat else "single", "from": {"userid": sender},
                            "msgtype": "text", "text": {"content": text}}  # fmt: skip
    if chat:
        body["chatid"] = chat
    if response_url:
        body["response_url"] = response_url
    return body


def card_event(key: str, task_id: str, *, sender: str, chat: str, msgid: str | None = None) -> dict[str, Any]:
    return {"msgid": msgid or uuid.uuid4().hex, "aibotid": "aib-closeloop", "chattype": "group", "chatid": chat,
            "from": {"userid": sender}, "msgtype": "event",
            "event": {"eventtype": "template_card_event",
                      "template_card_event": {"card_type": "button_interaction", "event_key": key,
                                              "task_id": task_id}}}  # fmt: skip
