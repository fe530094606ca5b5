"""Slack: on when SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are set (Socket Mode too with SLACK_APP_TOKEN)."""

from __future__ import annotations

from bot.settings import Settings


def create(settings: Settings):  # type: ignore[no-untyped-def]
    if not settings.slack_bot_token:
        return None
    from bot.platforms.slack.adapter import SlackPlatform

    return SlackPlatform(settings)
