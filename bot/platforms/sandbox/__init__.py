"""The local sandbox chat (on when no platform is configured, or with CLOSELOOP_SANDBOX=1)."""

from __future__ import annotations

from bot.settings import Settings


def create(settings: Settings):  # type: ignore[no-untyped-def]
    if not settings.sandbox_enabled:
        return None
    from bot.platforms.sandbox.files import SandboxWithFiles

    return SandboxWithFiles()
