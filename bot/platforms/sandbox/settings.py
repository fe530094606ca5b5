"""The sandbox's settings: on by default when no platform is configured; loopback only unless forced."""

from __future__ import annotations

from bot.platforms.contract import PlatformSettings
from bot.settings import ConfigError, Settings, setting

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class SandboxSettings(PlatformSettings):
    closeloop_sandbox: bool | None = setting("CLOSELOOP_SANDBOX")
    closeloop_sandbox_allow_remote: bool = setting("CLOSELOOP_SANDBOX_ALLOW_REMOTE", False)


def sandbox_enabled(own: SandboxSettings, core: Settings, platforms_configured: bool) -> bool:
    """On when asked for, or by default when no real platform is configured; never beyond loopback unless forced."""
    on = own.closeloop_sandbox if own.closeloop_sandbox is not None else not platforms_configured
    if on and not own.closeloop_sandbox_allow_remote and core.host not in LOOPBACK_HOSTS:
        raise ConfigError(
            f"CLOSELOOP_HOST: the sandbox chat lets anyone speak as anyone, so it only listens on loopback "
            f"(got {core.host!r}); set CLOSELOOP_SANDBOX=0, or CLOSELOOP_SANDBOX_ALLOW_REMOTE=1 to force it"
        )
    return on
