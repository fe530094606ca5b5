"""The local sandbox chat (on when no platform is configured, or with CLOSELOOP_SANDBOX=1)."""

from __future__ import annotations

from typing import Any

from bot.platforms.contract import Platform, PlatformPackage
from bot.platforms.sandbox.settings import SandboxSettings, sandbox_enabled


def _create(own: SandboxSettings, core: Any) -> Platform:
    from bot.platforms.sandbox.adapter import SandboxPlatform

    return SandboxPlatform(core, allow_remote=own.closeloop_sandbox_allow_remote)


PACKAGE = PlatformPackage(
    name="sandbox", title="the local sandbox", settings=SandboxSettings, create=_create, enabled=sandbox_enabled
)
