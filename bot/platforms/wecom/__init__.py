"""WeCom (企业微信): the intelligent robot, on when WECOM_BOT_ID and WECOM_BOT_SECRET (long connection) or
WECOM_TOKEN and WECOM_ENCODING_AES_KEY (callback URL) are set."""

from __future__ import annotations

from bot.platforms.contract import Platform, PlatformPackage
from bot.platforms.wecom.settings import WeComSettings
from bot.settings import Settings


def _create(own: WeComSettings, core: Settings) -> Platform:
    from bot.platforms.wecom.adapter import WeComPlatform

    return WeComPlatform(own, secret_key=core.secret_key, public_url=core.public_url, language=core.language)


PACKAGE = PlatformPackage(name="wecom", title="WeCom", settings=WeComSettings, create=_create)
