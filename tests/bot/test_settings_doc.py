"""Every setting is documented in .env.example, and .env.example is a valid configuration."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.platforms import enabled_packages, packages
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def names(model: type) -> set[str]:
    return {field.validation_alias.choices[0] for field in model.model_fields.values()}


def test_every_setting_is_documented_in_env_example() -> None:
    """The core's settings and every platform package's own."""
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text("utf-8"), re.M))
    known = names(Settings).union(*(names(package.settings) for package in packages()))
    assert documented == known


def test_env_example_as_is_loads_with_no_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith(("CLOSELOOP_", "FEISHU_", "SLACK_", "DINGTALK_", "WECOM_")):
            monkeypatch.delenv(name)
    settings = Settings(_env_file=ROOT / ".env.example")
    enabled = enabled_packages(settings, env_file=ROOT / ".env.example")
    assert [package.name for package, _ in enabled] == ["sandbox"] and settings.port == 8080
