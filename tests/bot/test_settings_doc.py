"""Every setting is documented in .env.example, and .env.example is a valid configuration."""

from __future__ import annotations

import re
from pathlib import Path

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented_in_env_example() -> None:
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text("utf-8"), re.M))
    known = {field.validation_alias.choices[0] for field in Settings.model_fields.values()}
    assert documented == known


def test_env_example_as_is_loads_with_no_platform(monkeypatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    settings = Settings(_env_file=ROOT / ".env.example")
    assert settings.enabled_platforms == () and settings.port == 8080
