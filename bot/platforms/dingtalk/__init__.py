"""DingTalk (钉钉): on when DINGTALK_CLIENT_ID, DINGTALK_CLIENT_SECRET and DINGTALK_CARD_TEMPLATE_ID are set."""

from __future__ import annotations

from typing import Any

from bot.platforms.contract import Platform, PlatformPackage
from bot.platforms.dingtalk.settings import DingTalkSettings


def _create(own: DingTalkSettings, core: Any) -> Platform:
    from bot.platforms.dingtalk.adapter import DingTalkPlatform

    return DingTalkPlatform(own, public_url=core.public_url, secret_key=core.secret_key)


PACKAGE = PlatformPackage(name="dingtalk", title="DingTalk", settings=DingTalkSettings, create=_create)
