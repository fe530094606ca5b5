"""WeCom's settings: the intelligent robot (智能机器人) in one of its two API modes, and an optional companion app.

- Long connection (长连接, recommended: no public URL needed for events):
  ``WECOM_BOT_ID`` and ``WECOM_BOT_SECRET`` from the robot's API settings.
- Callback URL (URL 回调): ``WECOM_TOKEN`` and ``WECOM_ENCODING_AES_KEY``; WeCom
  posts to ``https://<CLOSELOOP_PUBLIC_URL>/wecom/events``.
  Each mode is a pair (both or neither); setting both pairs runs both (while a
  robot is moved from one mode to the other). One pair switches WeCom on.
- ``WECOM_WS_URL`` and ``WECOM_API_BASE`` point at WeCom (or a test server);
  ``WECOM_API_BASE`` is also the only host the bot posts ``response_url`` and
  message-push (群机器人) requests to.
- ``WECOM_BOT_NAME``: the robot's display name, only needed when it holds a
  space (a message's leading ``@name`` is removed otherwise by itself).
- A companion self-built app (``WECOM_CORP_ID``, ``WECOM_APP_AGENT_ID``,
  ``WECOM_APP_SECRET``, all three or none) proves who opens a web form
  (OAuth2 ``snsapi_base``); the robot alone cannot.

The message-push robot that makes real @-mentions is registered per group in
the chat (``/settings wecom_webhook <url>``), not here.
"""

from __future__ import annotations

import base64
import binascii
import re

from pydantic import field_validator, model_validator

from bot.platforms.contract import PlatformSettings, http_url
from bot.settings import setting

LONG_CONNECTION = ("WECOM_BOT_ID", "WECOM_BOT_SECRET")
CALLBACK = ("WECOM_TOKEN", "WECOM_ENCODING_AES_KEY")
COMPANION = ("WECOM_CORP_ID", "WECOM_APP_AGENT_ID", "WECOM_APP_SECRET")


class WeComSettings(PlatformSettings):
    SECRETS = ("WECOM_BOT_SECRET", "WECOM_TOKEN", "WECOM_ENCODING_AES_KEY", "WECOM_APP_SECRET")

    wecom_bot_id: str | None = setting("WECOM_BOT_ID")
    wecom_bot_secret: str | None = setting("WECOM_BOT_SECRET")
    wecom_token: str | None = setting("WECOM_TOKEN")
    wecom_encoding_aes_key: str | None = setting("WECOM_ENCODING_AES_KEY")
    wecom_bot_name: str | None = setting("WECOM_BOT_NAME")
    wecom_ws_url: str = setting("WECOM_WS_URL", "wss://openws.work.weixin.qq.com")
    wecom_api_base: str = setting("WECOM_API_BASE", "https://qyapi.weixin.qq.com")
    wecom_corp_id: str | None = setting("WECOM_CORP_ID")
    wecom_app_agent_id: str | None = setting("WECOM_APP_AGENT_ID")
    wecom_app_secret: str | None = setting("WECOM_APP_SECRET")
    wecom_oauth_base: str = setting("WECOM_OAUTH_BASE", "https://open.weixin.qq.com")

    _bases = field_validator("wecom_api_base", "wecom_oauth_base")(http_url)

    @field_validator("wecom_ws_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if not re.match(r"^wss?://[^/\s]+", value):
            raise ValueError("must be a WebSocket URL such as wss://openws.work.weixin.qq.com")
        return value

    @field_validator("wecom_encoding_aes_key")
    @classmethod
    def _aes_key(cls, value: str | None) -> str | None:
        """43 characters of Base64 that decode (with one ``=``) to a 32-byte AES key; the value is never echoed."""
        if value is None:
            return None
        try:
            key = base64.b64decode(value + "=", validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(value) != 43 or len(key) != 32:
            raise ValueError("must be the 43-character EncodingAESKey shown beside the robot's Token")
        return value

    @model_validator(mode="after")
    def _pairs(self) -> WeComSettings:
        if (
            not self.wecom_bot_id
            and not self.wecom_bot_secret
            and not self.wecom_token
            and not self.wecom_encoding_aes_key
        ):
            for name in (*COMPANION, "WECOM_BOT_NAME"):
                if self.value_of(name) is not None:
                    raise ValueError(f"{name}: is set, but WeCom is not configured (WECOM_BOT_ID … or WECOM_TOKEN …)")
        for names, what in ((LONG_CONNECTION, "the long connection"), (CALLBACK, "the callback URL mode"),
                            (COMPANION, "the companion app's sign-in")):  # fmt: skip
            given = [name for name in names if self.value_of(name) is not None]
            if given and len(given) < len(names):
                missing = next(name for name in names if name not in given)
                raise ValueError(f"{missing}: is not set, but {given[0]} is; set all of {', '.join(names)} "
                                 f"for {what}, or none of them")  # fmt: skip
        return self

    def is_configured(self) -> bool:
        return self.long_connection or self.callback

    @property
    def long_connection(self) -> bool:
        return self.wecom_bot_id is not None

    @property
    def callback(self) -> bool:
        return self.wecom_token is not None

    @property
    def companion(self) -> bool:
        return self.wecom_corp_id is not None
