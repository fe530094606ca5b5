"""Feishu / Lark: on when FEISHU_APP_ID, FEISHU_APP_SECRET and FEISHU_VERIFICATION_TOKEN are set."""

from __future__ import annotations

from typing import Any

from bot.platforms.contract import Platform, PlatformPackage
from bot.platforms.feishu.settings import FeishuSettings


def _create(own: FeishuSettings, core: Any) -> Platform:
    from bot.platforms.feishu.adapter import FeishuPlatform

    return FeishuPlatform(own)


PACKAGE = PlatformPackage(name="feishu", title="Feishu / Lark", settings=FeishuSettings, create=_create)
