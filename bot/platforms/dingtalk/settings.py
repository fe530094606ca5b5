"""DingTalk's settings: the internal app's credentials, its card template, how events arrive, and the hosts.

``DINGTALK_API_BASE`` (https://api.dingtalk.com) serves the v1.0 OpenAPI (token,
robot sends, cards); ``DINGTALK_STREAM_BASE`` is where ``connections/open`` is asked
for a Stream ticket (the same host in production; tests point both at the fake);
``DINGTALK_OAPI_BASE`` (https://oapi.dingtalk.com) is the legacy host of the
sessionWebhook replies — a reply goes only to a session on that host, never to a
URL taken from a payload — and of ``topapi/user/getbyunionid``.

``DINGTALK_WEB_SIGNIN=1`` makes DingTalk prove who opens a web form or the board
(OAuth2 at ``DINGTALK_LOGIN_BASE``, https://login.dingtalk.com); it needs the app's
重定向URL set to ``<CLOSELOOP_PUBLIC_URL>/dingtalk/oauth`` and the permissions named
in the README.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import field_validator

from bot.platforms.contract import PlatformSettings, http_url
from bot.settings import setting


class Mode(StrEnum):
    STREAM = "stream"  # a WebSocket the bot opens (no public URL needed): DingTalk's recommendation
    HTTP = "http"  # DingTalk posts to https://<host>/dingtalk/events


class DingTalkSettings(PlatformSettings):
    CREDENTIALS = ("DINGTALK_CLIENT_ID", "DINGTALK_CLIENT_SECRET", "DINGTALK_CARD_TEMPLATE_ID")
    OPTIONAL = ("DINGTALK_ROBOT_CODE",)
    SECRETS = ("DINGTALK_CLIENT_SECRET",)

    dingtalk_client_id: str | None = setting("DINGTALK_CLIENT_ID")
    dingtalk_client_secret: str | None = setting("DINGTALK_CLIENT_SECRET")
    dingtalk_card_template_id: str | None = setting("DINGTALK_CARD_TEMPLATE_ID")
    dingtalk_robot_code: str | None = setting("DINGTALK_ROBOT_CODE")
    dingtalk_mode: Mode = setting("DINGTALK_MODE", Mode.STREAM)
    dingtalk_api_base: str = setting("DINGTALK_API_BASE", "https://api.dingtalk.com")
    dingtalk_stream_base: str = setting("DINGTALK_STREAM_BASE", "https://api.dingtalk.com")
    dingtalk_oapi_base: str = setting("DINGTALK_OAPI_BASE", "https://oapi.dingtalk.com")
    dingtalk_login_base: str = setting("DINGTALK_LOGIN_BASE", "https://login.dingtalk.com")
    dingtalk_web_signin: bool = setting("DINGTALK_WEB_SIGNIN", False)

    _bases = field_validator("dingtalk_api_base", "dingtalk_stream_base", "dingtalk_oapi_base",
                             "dingtalk_login_base")(http_url)  # fmt: skip

    @field_validator("dingtalk_card_template_id")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None and not value.endswith(".schema"):
            raise ValueError("must be the card template's id from the 卡片平台, ending in .schema")
        return value

    @property
    def robot_code(self) -> str:
        """An internal app's robot code is its client id (AppKey) unless the console shows another."""
        return self.dingtalk_robot_code or self.dingtalk_client_id or ""
