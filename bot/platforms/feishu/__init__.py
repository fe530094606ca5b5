"""Feishu / Lark: on when FEISHU_APP_ID, FEISHU_APP_SECRET and FEISHU_VERIFICATION_TOKEN are set."""

from __future__ import annotations

from bot.settings import Settings


def create(settings: Settings):  # type: ignore[no-untyped-def]
    if not settings.feishu_app_id:
        return None
    from bot.platforms.feishu.adapter import FeishuPlatform

    return FeishuPlatform(settings)
