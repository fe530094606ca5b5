"""Feishu as it pushes to us: events and callbacks encrypted and signed the way the open platform does it.

Shared by the Feishu tests and the conformance kit (``tests/platforms``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.app import GATEWAY
from storage.timekeeping import ManualClock
from tests.platforms.feishu.fake import FakeFeishu

APP = {"FEISHU_APP_ID": "cli_test", "FEISHU_APP_SECRET": "secret", "FEISHU_VERIFICATION_TOKEN": "v-token",
       "FEISHU_ENCRYPT_KEY": "enc-key-123"}  # fmt: skip
BOT = "ou_bot"


def feishu_encrypt(encrypt_key: str, plaintext: bytes) -> str:
    """base64(iv ‖ AES-256-CBC(sha256(key), iv, PKCS#7(plaintext))), as the open platform encrypts."""
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(hashlib.sha256(encrypt_key.encode()).digest()), modes.CBC(iv)).encryptor()
    return base64.b64encode(
        iv + encryptor.update(padder.update(plaintext) + padder.finalize()) + encryptor.finalize()
    ).decode()


@dataclass
class Feishu:
    client: TestClient
    engine: sa.Engine
    clock: ManualClock
    fake: FakeFeishu | None = None
    encrypt_key: str = APP["FEISHU_ENCRYPT_KEY"]
    token: str = APP["FEISHU_VERIFICATION_TOKEN"]

    @property
    def sender(self):  # the app's outbox worker, driven by hand
        return self.client.server.app[GATEWAY].sender

    @property
    def inbox(self):  # the app's inbox worker, driven by hand
        return self.client.server.app[GATEWAY].inbox

    async def work(self) -> None:
        """What the app's workers do in the background: handle stored events, then send what they said."""
        await self.inbox.run_once()
        await self.sender.run_once()

    def card_action(self, button: dict[str, Any], *, operator: str, form: dict[str, Any] | None = None,
                    message_id: str = "om_1") -> dict[str, Any]:  # fmt: skip
        """What Feishu sends when ``button`` (as we rendered it) is pressed, with the form's values."""
        action: dict[str, Any] = {"tag": "button", "value": button["behaviors"][0]["value"]}
        if form is not None:
            action["form_value"] = form
            action["name"] = button.get("name")
        return self.envelope("card.action.trigger", {
            "operator": {"open_id": operator, "tenant_key": "tenant-acme"}, "token": "c-token", "action": action,
            "context": {"open_message_id": message_id, "open_chat_id": "oc_group"}})  # fmt: skip

    def signed(self, body: bytes, *, timestamp: int | None = None, key: str | None = None) -> dict[str, str]:
        stamp = str(timestamp if timestamp is not None else int(self.clock.now().timestamp()))
        nonce = uuid.uuid4().hex
        signature = hashlib.sha256((stamp + nonce + (key or self.encrypt_key)).encode() + body).hexdigest()
        return {"X-Lark-Request-Timestamp": stamp, "X-Lark-Request-Nonce": nonce, "X-Lark-Signature": signature,
                "Content-Type": "application/json"}  # fmt: skip

    def envelope(self, event_type: str, event: dict[str, Any], *, event_id: str | None = None,
                 token: str | None = None) -> dict[str, Any]:  # fmt: skip
        return {"schema": "2.0", "header": {
            "event_id": event_id or uuid.uuid4().hex, "token": token or self.token,
            "create_time": str(int(self.clock.now().timestamp() * 1000)), "event_type": event_type,
            "tenant_key": "tenant-acme", "app_id": APP["FEISHU_APP_ID"]}, "event": event}  # fmt: skip

    def message(self, text: str, *, mentions: list[tuple[str, str, str]] = (), chat_type: str = "group",
                sender: str = "ou_zhang", **kwargs: Any) -> dict[str, Any]:  # fmt: skip
        """A text message; ``mentions``: (key, open_id, name), e.g. ("@_user_1", "ou_bot", "Closeloop")."""
        message_id = f"om_{uuid.uuid4().hex[:8]}"
        if self.fake is not None:
            self.fake.chats_of_messages[message_id] = "oc_group"
        return self.envelope("im.message.receive_v1", {
            "sender": {"sender_id": {"open_id": sender, "union_id": "on_x", "user_id": None}, "sender_type": "user",
                       "tenant_key": "tenant-acme"},
            "message": {"message_id": message_id, "create_time": "1700000000000", "chat_id": "oc_group",
                        "chat_type": chat_type, "message_type": "text", "content": json.dumps({"text": text}),
                        "mentions": [{"key": k, "id": {"open_id": o, "union_id": "on", "user_id": None}, "name": n,
                                      "tenant_key": "tenant-acme"} for k, o, n in mentions]},
        }, **kwargs)  # fmt: skip

    def encrypted(self, body: dict[str, Any]) -> bytes:
        return json.dumps({"encrypt": feishu_encrypt(self.encrypt_key, json.dumps(body).encode())}).encode()

    async def push(self, body: dict[str, Any] | bytes, *, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        raw = body if isinstance(body, bytes) else self.encrypted(body)
        response = await self.client.post("/feishu/events", data=raw, headers=headers or self.signed(raw))
        return response.status, await response.json()
