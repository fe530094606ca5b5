"""Settings from the environment and ``.env`` (every variable is documented in .env.example).

These are the core's settings (``CLOSELOOP_*``). Each platform package declares
its own (``bot.platforms.<name>.settings``) and is switched on by its
credentials. A bad or half-set configuration raises ``ConfigError`` with one
line that names the variable and what is wrong — never a secret's value — and
the CLI prints it and exits with status 2.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.i18n import normalize_language
from storage.timekeeping import WorkdayCalendar, zone

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class ConfigError(Exception):
    """One line for the operator: ``VARIABLE: what is wrong``."""


def setting(name: str, default: Any = None, **kwargs: Any) -> Any:
    """A field read from the variable ``name`` (and only from it)."""
    return Field(default, validation_alias=AliasChoices(name), **kwargs)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", env_ignore_empty=True, extra="ignore", frozen=True
    )
    SECRETS: ClassVar[tuple[str, ...]] = ("CLOSELOOP_DATABASE_URL", "CLOSELOOP_SECRET_KEY")

    database_url: str = setting("CLOSELOOP_DATABASE_URL", "sqlite:///closeloop.db")
    host: str = setting("CLOSELOOP_HOST", "127.0.0.1")
    port: int = setting("CLOSELOOP_PORT", 8080, ge=1, le=65535)
    timezone: str = setting("CLOSELOOP_TIMEZONE", "Asia/Shanghai")
    language: str = setting("CLOSELOOP_LANGUAGE", "zh-CN")
    holiday_country: str = setting("CLOSELOOP_HOLIDAY_COUNTRY", "CN")
    log_level: str = setting("CLOSELOOP_LOG_LEVEL", "INFO")
    admins: str = setting("CLOSELOOP_ADMINS", "")
    scheduler: bool = setting("CLOSELOOP_SCHEDULER", True)
    tick_seconds: int = setting("CLOSELOOP_TICK_SECONDS", 60, ge=5, le=3600)
    public_url: str | None = setting("CLOSELOOP_PUBLIC_URL")
    secret_key: str | None = setting("CLOSELOOP_SECRET_KEY")
    form_link_minutes: int = setting("CLOSELOOP_FORM_LINK_MINUTES", 30, ge=5, le=1440)

    # ---- operations: logs, health, acknowledgements (bot/health.py, bot/inbox.py)
    log_format: Literal["text", "json"] = setting("CLOSELOOP_LOG_FORMAT", "text")
    uvloop: bool = setting("CLOSELOOP_UVLOOP", True)
    ack_budget_seconds: float = setting("CLOSELOOP_ACK_BUDGET_SECONDS", 1.5, gt=0, le=30)
    ready_write_budget_seconds: float = setting("CLOSELOOP_READY_WRITE_BUDGET_SECONDS", 1.0, gt=0, le=30)
    ready_max_inbox: int = setting("CLOSELOOP_READY_MAX_INBOX", 5000, ge=1)
    ready_max_outbox: int = setting("CLOSELOOP_READY_MAX_OUTBOX", 20000, ge=1)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        match = re.fullmatch(r"(https?)://([^/\s:?#]+|\[[0-9a-fA-F:]+\])(:[0-9]{1,5})?(/[^\s?#]*)?", value or "")
        if value is not None and not match:
            raise ValueError("must be the https:// address people's phones reach, e.g. https://closeloop.example.com")
        if match and match.group(1) == "http" and match.group(2).strip("[]") not in LOOPBACK_HOSTS:
            raise ValueError("must be https:// (links carry a person's access); plain http only for 127.0.0.1")
        return value.rstrip("/") if value else value

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 32:
            raise ValueError(
                "must be at least 32 characters (python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return value

    @model_validator(mode="after")
    def _links_whole(self) -> Settings:
        if self.public_url is not None and self.secret_key is None:
            raise ValueError("CLOSELOOP_SECRET_KEY: is not set, but CLOSELOOP_PUBLIC_URL is; web forms need both")
        return self

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

    @field_validator("admins")
    @classmethod
    def _admins(cls, value: str) -> str:
        for entry in filter(None, (part.strip() for part in value.split(","))):
            if not re.fullmatch(r"[a-z]+:\S+", entry):
                raise ValueError(f"entries look like feishu:ou_xxx or slack:U123 (got {entry!r})")
        return value

    @property
    def admin_ids(self) -> frozenset[str]:
        return frozenset(part.strip() for part in self.admins.split(",") if part.strip())


def load_settings(**overrides: Any) -> Settings:
    """Read the core settings; any problem becomes a one-line ``ConfigError``."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_error(exc, secrets=Settings.SECRETS)) from None


def describe_error(exc: ValidationError, *, secrets: tuple[str, ...] = ()) -> str:
    """``VARIABLE: what is wrong (got 'value')`` — the value only when it is no secret."""
    problems = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["loc"]:
            variable = str(error["loc"][0])
            got = error.get("input")
            shown = isinstance(got, str) and variable not in secrets and not _looks_secret(variable)
            problems.append(f"{variable}: {message}" + (f" (got {got!r})" if shown else ""))
        else:
            problems.append(message)
    return "; ".join(problems)


def _looks_secret(variable: str) -> bool:
    return bool(re.search(r"SECRET|TOKEN|PASSWORD|_KEY$|DATABASE_URL", variable))
