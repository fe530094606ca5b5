"""Feishu / Lark's settings: the custom app's credentials and, for Lark or a test server, the API base."""

from __future__ import annotations

from pydantic import field_validator

from bot.platforms.contract import PlatformSettings, http_url
from bot.settings import setting


class FeishuSettings(PlatformSettings):
    CREDENTIALS = ("FEISHU_APP_ID", "FEISHU_APP_SECRET", "FEISHU_VERIFICATION_TOKEN")
    OPTIONAL = ("FEISHU_ENCRYPT_KEY",)
    SECRETS = ("FEISHU_APP_SECRET", "FEISHU_VERIFICATION_TOKEN", "FEISHU_ENCRYPT_KEY")

    feishu_app_id: str | None = setting("FEISHU_APP_ID")
    feishu_app_secret: str | None = setting("FEISHU_APP_SECRET")
    feishu_verification_token: str | None = setting("FEISHU_VERIFICATION_TOKEN")
    feishu_encrypt_key: str | None = setting("FEISHU_ENCRYPT_KEY")
    feishu_api_base: str = setting("FEISHU_API_BASE", "https://open.feishu.cn")

    _api_base = field_validator("feishu_api_base")(http_url)
