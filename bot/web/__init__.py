"""Web pages behind signed links: hosted forms (``/f/…``), the group's board (``/board/…``) and downloads (``/d/…``).

On when a public address and a signing key are configured (``CLOSELOOP_PUBLIC_URL``,
``CLOSELOOP_SECRET_KEY``), and in the local sandbox, which defaults to this server
and a key made at start-up. The pages' script and stylesheet are served from here
whether or not links are on, since the sandbox chat uses them too.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from bot.platforms.gateway import Gateway
from bot.settings import ConfigError, Settings
from bot.web.board import BoardPages
from bot.web.files import FilePages
from bot.web.forms import FormPages
from bot.web.pages import SCRIPT, STYLE, mount_assets
from handlers.capabilities import ALL_INPUTS, FormStyle
from handlers.webforms import WebLinks
from storage.timekeeping import Clock

__all__ = ["SCRIPT", "STYLE", "links_base", "links_for", "mount"]


def links_base(settings: Settings, platforms: Sequence[str], needing: Sequence[str] = ()) -> str | None:
    """Where links point: CLOSELOOP_PUBLIC_URL, or this server when only the local sandbox runs.

    ``needing``: the platforms whose forms open only as web pages; without an address that is an error.
    """
    if settings.public_url:
        return settings.public_url
    if needing:
        raise ConfigError(
            f"CLOSELOOP_PUBLIC_URL: is not set, but {needing[0]} needs web forms (its cards cannot hold the record "
            "form); set CLOSELOOP_PUBLIC_URL and CLOSELOOP_SECRET_KEY"
        )
    if list(platforms) != ["sandbox"]:
        if settings.secret_key:
            raise ConfigError("CLOSELOOP_PUBLIC_URL: is not set, but CLOSELOOP_SECRET_KEY is; web forms need both")
        return None
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}"


def needing_web_forms(platforms: Sequence[Any]) -> list[str]:
    """The platforms whose cards cannot hold every form: they need the hosted web forms (and a public address)."""
    return [p.name for p in platforms if p.capabilities.form_style(set(ALL_INPUTS)) is FormStyle.WEB]


def links_for(settings: Settings, clock: Clock, platforms: Sequence[Any]) -> WebLinks | None:
    base = links_base(settings, [p.name for p in platforms], needing_web_forms(platforms))
    if base is None:
        return None
    key = settings.secret_key or secrets.token_urlsafe(32)  # only the lone sandbox gets here without one
    return WebLinks.create(base_url=base, secret_key=key, clock=clock, form_minutes=settings.form_link_minutes)


def mount(app: web.Application, gateway: Gateway, links: WebLinks | None, platforms: Sequence[Any]) -> None:
    mount_assets(app)
    if links is None:
        return
    by_name = {p.name: p for p in platforms}

    def identify(request: web.Request, platform: str) -> str | None:
        """Who the group's platform proves is opening the page, where it can (e.g. an in-app sign-in)."""
        prove = getattr(by_name.get(platform), "web_viewer", None)
        return prove(request) if prove is not None else None

    FormPages(gateway, links, identify).mount(app)
    BoardPages(gateway, links, identify).mount(app)
    FilePages(gateway, links).mount(app)
