"""Slack: on when SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are set (Socket Mode too with SLACK_APP_TOKEN)."""

from __future__ import annotations

from typing import Any

from bot.platforms.contract import Platform, PlatformPackage
from bot.platforms.slack.settings import SlackSettings


def _create(own: SlackSettings, core: Any) -> Platform:
    from bot.platforms.slack.adapter import SlackPlatform

    return SlackPlatform(own)


PACKAGE = PlatformPackage(name="slack", title="Slack", settings=SlackSettings, create=_create)
