"""Slack's settings: the bot token and signing secret, an app token for Socket Mode, the API base for tests."""

from __future__ import annotations

from pydantic import field_validator

from bot.platforms.contract import PlatformSettings, http_url
from bot.settings import setting


class SlackSettings(PlatformSettings):
    CREDENTIALS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
    OPTIONAL = ("SLACK_APP_TOKEN",)
    SECRETS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN")

    slack_bot_token: str | None = setting("SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = setting("SLACK_SIGNING_SECRET")
    slack_app_token: str | None = setting("SLACK_APP_TOKEN")
    slack_api_base: str = setting("SLACK_API_BASE", "https://slack.com/api/")

    _api_base = field_validator("slack_api_base")(http_url)

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp- (Socket Mode)")
        return value
