"""DingTalk as it calls us: robot messages and card callbacks, pushed over the fake's Stream or posted signed over HTTP.

Shared by the DingTalk tests and the conformance kit (``tests/platforms``).
The HTTP signature is made here independently of the bot's code, from the
documented recipe, and checked against the documented test vector.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

from storage.timekeeping import ManualClock
from tests.platforms.dingtalk.fake import (
    CARD_CALLBACKS,
    CLIENT_ID,
    CLIENT_SECRET,
    CONVERSATION,
    CORP,
    MESSAGES,
    ROBOT_CODE,
    TEMPLATE,
    FakeDingTalk,
)

ROBOT_ID = "$:LWCP_v1:$robotKit=="
SETTINGS = {"DINGTALK_CLIENT_ID": CLIENT_ID, "DINGTALK_CLIENT_SECRET": CLIENT_SECRET,
            "DINGTALK_CARD_TEMPLATE_ID": TEMPLATE}  # fmt: skip


def dingtalk_sign(timestamp: str, secret: str) -> str:
    """base64(HMAC-SHA256(key=appSecret, timestamp + "\\n" + appSecret)), as DingTalk signs an HTTP callback."""
    digest = hmac.new(secret.encode("utf-8"), (timestamp + "\n" + secret).encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


assert dingtalk_sign("1700000000000", "appsecret123") == "EfCsChi3p2iWDpzFbhcR2EIxTmy+OfqRU9FvQY47AMs="


def signed(clock: ManualClock, *, secret: str = CLIENT_SECRET, offset_ms: int = 0) -> dict[str, str]:
    timestamp = str(int(clock.now().timestamp() * 1000) + offset_ms)
    return {"timestamp": timestamp, "sign": dingtalk_sign(timestamp, secret), "Content-Type": "application/json"}


def robot_message(fake: FakeDingTalk, text: str, *, sender: str, nick: str = "", at: list[tuple[str, str]] = (),
                  conversation: str = CONVERSATION, group: bool = True, msg_id: str | None = None,
                  session: bool = True) -> dict[str, Any]:  # fmt: skip
    """A text message to the robot, as DingTalk sends it (its own @ already removed; ``at``: (nick, staffId))."""
    now = int(fake.clock.now().timestamp() * 1000)
    content = " " + text  # other people's @ stay in the text as @Nick
    data: dict[str, Any] = {
        "conversationId": conversation, "conversationType": "2" if group else "1", "msgId": msg_id or f"msg{uuid.uuid4().hex}",
        "msgtype": "text", "text": {"content": content}, "senderStaffId": sender, "senderNick": nick or sender,
        "senderId": f"$:LWCP_v1:${sender}==", "senderCorpId": CORP, "isAdmin": False, "isInAtList": True,
        "atUsers": [{"dingtalkId": ROBOT_ID}, *({"dingtalkId": f"$:LWCP_v1:${s}==", "staffId": s} for _, s in at)],
        "chatbotUserId": ROBOT_ID, "chatbotCorpId": CORP, "robotCode": ROBOT_CODE, "createAt": now,
    }  # fmt: skip
    if group:
        data["conversationTitle"] = "跨部门沟通群"
    if session:
        url, expires = fake.session_for(conversation)
        data.update(sessionWebhook=url, sessionWebhookExpiredTime=expires)
    return data


def card_callback(track: str, *, user: str, params: dict[str, Any], action_ids: list[str],
                  space: str = CONVERSATION, space_type: str = "IM_GROUP") -> dict[str, Any]:  # fmt: skip
    """What DingTalk sends when a card component calls back: ``content`` is a JSON string."""
    content = {"cardPrivateData": {"actionIds": action_ids, "params": params}}
    return {"type": "actionCallback", "outTrackId": track, "corpId": CORP, "userId": user, "userIdType": 1,
            "spaceType": space_type, "spaceId": space, "extension": "{}", "value": "",
            "content": json.dumps(content, ensure_ascii=False)}  # fmt: skip


__all__ = ["CARD_CALLBACKS", "MESSAGES", "SETTINGS", "card_callback", "dingtalk_sign", "robot_message", "signed"]
