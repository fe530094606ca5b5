"""Settings from the environment and ``.env`` (every variable is documented in .env.example).

A platform is enabled when its credentials are set. A bad or half-set
configuration raises ``ConfigError`` with one line that names the variable and
what is wrong; the CLI prints it and exits with status 2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.i18n import normalize_language
from storage.timekeeping import WorkdayCalendar, zone

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class ConfigError(Exception):
    """One line for the operator: ``VARIABLE: what is wrong``."""


@dataclass(frozen=True)
class PlatformSpec:
    name: str
    title: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    api_base: str


PLATFORMS = (
    PlatformSpec(
        "feishu", "Feishu / Lark",
        ("FEISHU_APP_ID", "FEISHU_APP_SECRET", "FEISHU_VERIFICATION_TOKEN"),
        ("FEISHU_ENCRYPT_KEY",), "FEISHU_API_BASE",
    ),
    PlatformSpec(
        "slack", "Slack",
        ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"),
        ("SLACK_APP_TOKEN",), "SLACK_API_BASE",
    ),
    PlatformSpec(
        "dingtalk", "DingTalk",
        ("DINGTALK_CLIENT_ID", "DINGTALK_CLIENT_SECRET", "DINGTALK_ROBOT_CODE"),
        (), "DINGTALK_API_BASE",
    ),
    PlatformSpec(
        "wecom", "WeCom",
        ("WECOM_CORP_ID", "WECOM_AGENT_ID", "WECOM_SECRET", "WECOM_TOKEN", "WECOM_ENCODING_AES_KEY"),
        (), "WECOM_API_BASE",
    ),
)  # fmt: skip


def _env(name: str, default: Any = None, **kwargs: Any) -> Any:
    return Field(default, validation_alias=AliasChoices(name), **kwargs)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", env_ignore_empty=True, extra="ignore", frozen=True
    )

    database_url: str = _env("CLOSELOOP_DATABASE_URL", "sqlite:///closeloop.db")
    host: str = _env("CLOSELOOP_HOST", "127.0.0.1")
    port: int = _env("CLOSELOOP_PORT", 8080, ge=1, le=65535)
    timezone: str = _env("CLOSELOOP_TIMEZONE", "Asia/Shanghai")
    language: str = _env("CLOSELOOP_LANGUAGE", "zh-CN")
    holiday_country: str = _env("CLOSELOOP_HOLIDAY_COUNTRY", "CN")
    log_level: str = _env("CLOSELOOP_LOG_LEVEL", "INFO")
    admins: str = _env("CLOSELOOP_ADMINS", "")
    scheduler: bool = _env("CLOSELOOP_SCHEDULER", True)
    tick_seconds: int = _env("CLOSELOOP_TICK_SECONDS", 60, ge=5, le=3600)
    sandbox: bool | None = _env("CLOSELOOP_SANDBOX")
    sandbox_allow_remote: bool = _env("CLOSELOOP_SANDBOX_ALLOW_REMOTE", False)

    feishu_app_id: str | None = _env("FEISHU_APP_ID")
    feishu_app_secret: str | None = _env("FEISHU_APP_SECRET")
    feishu_verification_token: str | None = _env("FEISHU_VERIFICATION_TOKEN")
    feishu_encrypt_key: str | None = _env("FEISHU_ENCRYPT_KEY")
    feishu_api_base: str = _env("FEISHU_API_BASE", "https://open.feishu.cn")

    slack_bot_token: str | None = _env("SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = _env("SLACK_SIGNING_SECRET")
    slack_app_token: str | None = _env("SLACK_APP_TOKEN")
    slack_api_base: str = _env("SLACK_API_BASE", "https://slack.com/api/")

    dingtalk_client_id: str | None = _env("DINGTALK_CLIENT_ID")
    dingtalk_client_secret: str | None = _env("DINGTALK_CLIENT_SECRET")
    dingtalk_robot_code: str | None = _env("DINGTALK_ROBOT_CODE")
    dingtalk_api_base: str = _env("DINGTALK_API_BASE", "https://api.dingtalk.com")

    wecom_corp_id: str | None = _env("WECOM_CORP_ID")
    wecom_agent_id: int | None = _env("WECOM_AGENT_ID")
    wecom_secret: str | None = _env("WECOM_SECRET")
    wecom_token: str | None = _env("WECOM_TOKEN")
    wecom_encoding_aes_key: str | None = _env("WECOM_ENCODING_AES_KEY")
    wecom_api_base: str = _env("WECOM_API_BASE", "https://qyapi.weixin.qq.com")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not re.match(r"^(sqlite|postgresql|postgres)(\+\w+)?://", value):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        zone(value)
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if not re.fullmatch(r"(?i)(zh([-_](cn|hans))?|en([-_]\w+)?)", value):
            raise ValueError("must be zh-CN or en")
        return normalize_language(value)

    @field_validator("holiday_country")
    @classmethod
    def _holiday_country(cls, value: str) -> str:
        WorkdayCalendar(value.upper())
        return value.upper()

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @field_validator("feishu_api_base", "slack_api_base", "dingtalk_api_base", "wecom_api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL such as https://open.feishu.cn")
        return value

    @field_validator("slack_bot_token")
    @classmethod
    def _slack_bot_token(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _slack_app_token(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp- (Socket Mode)")
        return value

    @field_validator("wecom_encoding_aes_key")
    @classmethod
    def _wecom_aes_key(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9+/]{43}", value):
            raise ValueError("must be the 43-character EncodingAESKey from the WeCom console")
        return value

    @field_validator("admins")
    @classmethod
    def _admins(cls, value: str) -> str:
        for entry in filter(None, (part.strip() for part in value.split(","))):
            if not re.fullmatch(r"(feishu|slack|dingtalk|wecom|sandbox):\S+", entry):
                raise ValueError(f"entries look like feishu:ou_xxx or slack:U123 (got {entry!r})")
        return value

    @model_validator(mode="after")
    def _sandbox_stays_local(self) -> Settings:
        if self.sandbox_enabled and not self.sandbox_allow_remote and self.host not in LOOPBACK_HOSTS:
            raise ValueError(
                f"CLOSELOOP_HOST: the sandbox chat lets anyone speak as anyone, so it only listens on loopback "
                f"(got {self.host!r}); set CLOSELOOP_SANDBOX=0, or CLOSELOOP_SANDBOX_ALLOW_REMOTE=1 to force it"
            )
        return self

    @model_validator(mode="after")
    def _platforms_whole(self) -> Settings:
        for spec in PLATFORMS:
            given = [name for name in spec.required if self.value_of(name) is not None]
            if given and len(given) < len(spec.required):
                missing = next(name for name in spec.required if name not in given)
                raise ValueError(
                    f"{missing}: is not set, but {given[0]} is; set all of "
                    f"{', '.join(spec.required)} to enable {spec.title}, or none of them"
                )
            for name in spec.optional:
                if not given and self.value_of(name) is not None:
                    raise ValueError(f"{name}: is set, but {spec.title} is not configured ({spec.required[0]} …)")
        return self

    def value_of(self, env_name: str) -> Any:
        return getattr(self, env_name.lower())

    @property
    def admin_ids(self) -> frozenset[str]:
        return frozenset(part.strip() for part in self.admins.split(",") if part.strip())

    @property
    def sandbox_enabled(self) -> bool:
        """On when asked for, or by default when no real platform is configured."""
        if self.sandbox is not None:
            return self.sandbox
        return not any(self.value_of(spec.required[0]) is not None for spec in PLATFORMS)

    @property
    def enabled_platforms(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in PLATFORMS if self.value_of(spec.required[0]) is not None)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings; any problem becomes a one-line ``ConfigError``."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None


def _one_line(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["loc"]:
            variable = str(error["loc"][0])
            got = error.get("input")
            problems.append(f"{variable}: {message}" + (f" (got {got!r})" if isinstance(got, str) else ""))
        else:
            problems.append(message)
    return "; ".join(problems)
