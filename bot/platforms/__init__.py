"""Chat platforms: one folder each, exporting ``PACKAGE`` (see ``bot.platforms.contract``).

``load_platforms`` finds every package here, reads each one's own settings and
creates those that are switched on. A half-set configuration, a package that
fails to start, or credentials of a platform this build has no adapter for stop
the process with one line (``ConfigError``) instead of starting without it.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import ValidationError

from bot.platforms.contract import Platform, PlatformPackage, PlatformSettings
from bot.settings import ConfigError, Settings, describe_error

# Platforms on the way, whose variables an operator may already set: refused clearly rather than ignored.
PLANNED: dict[str, str] = {}


def packages() -> list[PlatformPackage]:
    found = []
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.ispkg:
            found.append(importlib.import_module(f"{__name__}.{module.name}").PACKAGE)
    return found


def platform_settings(package: PlatformPackage, *, env_file: str | Path | None = ".env", **overrides: Any) -> Any:
    """The package's settings from the environment and ``env_file``; a problem is one ``ConfigError`` line."""
    try:
        settings = package.settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigError(describe_error(exc, secrets=package.settings.SECRETS)) from None
    given = [name for name in package.settings.CREDENTIALS if settings.value_of(name) is not None]
    for name in package.settings.OPTIONAL:
        if not given and settings.value_of(name) is not None:
            raise ConfigError(
                f"{name}: is set, but {package.title} is not configured ({package.settings.CREDENTIALS[0]} …)"
            )
    if given and len(given) < len(package.settings.CREDENTIALS):
        missing = next(name for name in package.settings.CREDENTIALS if name not in given)
        raise ConfigError(
            f"{missing}: is not set, but {given[0]} is; set all of {', '.join(package.settings.CREDENTIALS)} "
            f"to enable {package.title}, or none of them"
        )
    return settings


def enabled_packages(
    settings: Settings, *, env_file: str | Path | None = ".env", **overrides: Any
) -> list[tuple[PlatformPackage, PlatformSettings]]:
    """Every package's settings checked, and the packages this configuration switches on."""
    _refuse_planned(env_file, overrides)
    loaded = [(package, platform_settings(package, env_file=env_file, **overrides)) for package in packages()]
    configured = any(own.is_configured() for package, own in loaded if package.enabled is None)
    return [
        (package, own)
        for package, own in loaded
        if (own.is_configured() if package.enabled is None else package.enabled(own, settings, configured))
    ]


def load_platforms(settings: Settings, *, env_file: str | Path | None = ".env", **overrides: Any) -> list[Platform]:
    """The platforms this configuration switches on, created; ``ConfigError`` when one cannot be."""
    platforms: list[Platform] = []
    for package, own in enabled_packages(settings, env_file=env_file, **overrides):
        try:
            platforms.append(package.create(own, settings))
        except ConfigError:
            raise
        except Exception as exc:  # a package that cannot start must not be skipped silently
            raise ConfigError(f"{package.title}: cannot start: {type(exc).__name__}: {exc}") from exc
    return platforms


def _refuse_planned(env_file: str | Path | None, overrides: dict[str, Any]) -> None:
    found = {**(dotenv_values(env_file) if env_file and Path(env_file).is_file() else {}), **os.environ, **overrides}
    for name in sorted(n for n, value in found.items() if value):
        prefix = name.split("_", 1)[0].lower()
        if prefix in PLANNED:
            raise ConfigError(
                f"{name}: {PLANNED[prefix]} is not supported by this version of Closeloop yet; "
                f"unset the {prefix.upper()}_* variables (the bot would otherwise start without {PLANNED[prefix]})"
            )
