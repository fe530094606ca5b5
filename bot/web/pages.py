"""The shell every web page shares: security headers, the static assets, a refusal page, the people list.

Pages open in a chat app's in-app browser on a phone from a link that carries
the person's access, so each response forbids framing, sniffing, inline script
and sending the link on as a Referer, and is never cached.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from pathlib import Path

from aiohttp import web

from cards.html import page_css, page_script
from cards.templates import t
from handlers.webforms import LinkRefused, Refusal, WebLinks
from storage.models import Department, Person

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # the link's token never leaves for another site; our own posts keep their Origin
    "Cross-Origin-Opener-Policy": "same-origin",
}
REFUSAL_STATUS = {Refusal.INVALID: 403, Refusal.WRONG_PERSON: 403, Refusal.EXPIRED: 410, Refusal.USED: 410}


@dataclass(frozen=True)
class Asset:
    name: str  # with a hash of the content, so it can be cached for good
    body: bytes
    content_type: str

    @property
    def integrity(self) -> str:
        return "sha384-" + base64.b64encode(hashlib.sha384(self.body).digest()).decode()

    @property
    def url(self) -> str:
        return f"/web/static/{self.name}"


def _asset(stem: str, suffix: str, text: str, content_type: str) -> Asset:
    body = text.encode()
    return Asset(f"{stem}.{hashlib.sha256(body).hexdigest()[:12]}{suffix}", body, content_type)


SCRIPT = _asset("cards", ".js", page_script(), "text/javascript")
STYLE = _asset("pages", ".css", page_css() + (Path(__file__).with_name("pages.css")).read_text("utf-8"), "text/css")
ASSETS = {asset.name: asset for asset in (SCRIPT, STYLE)}


async def static(request: web.Request) -> web.Response:
    asset = ASSETS.get(request.match_info["name"])
    if asset is None:
        raise web.HTTPNotFound()
    headers = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=31536000, immutable"}
    return web.Response(body=asset.body, content_type=asset.content_type, charset="utf-8", headers=headers)


async def favicon(_request: web.Request) -> web.Response:
    """Browsers ask for it on their own; an empty answer keeps their consoles free of 404s."""
    return web.Response(status=204, headers={"Cache-Control": "public, max-age=86400"})


def mount_assets(app: web.Application) -> None:
    app.router.add_get("/web/static/{name}", static)
    app.router.add_get("/favicon.ico", favicon)


def html_response(body: str, *, status: int = 200) -> web.Response:
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8", headers=headers)


def page(*, title: str, body: str, lang: str, switch_to: str | None = None) -> str:
    """A whole page; ``switch_to``: the same page in the other language (a relative URL)."""
    footer = (
        f'<footer><a href="{escape(switch_to)}">{escape(t("web.other_language", lang))}</a></footer>'
        if switch_to
        else ""
    )
    return (
        f'<!doctype html><html lang="{escape(lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="same-origin"><link rel="icon" href="data:,">'
        f"<title>{escape(title)} · Closeloop</title>"
        f'<link rel="stylesheet" href="{STYLE.url}" integrity="{STYLE.integrity}">'
        f'<script src="{SCRIPT.url}" integrity="{SCRIPT.integrity}" defer></script>'
        f'</head><body class="web"><main>{body}</main>{footer}</body></html>'
    )


def refused_page(refused: LinkRefused, *, lang: str, links: WebLinks, extra: str = "") -> web.Response:
    """A clear page for a link that cannot be used, with the status that says why."""
    params = {"minutes": links.form_minutes, "hours": links.board_hours}
    if refused.owner is not None:
        params["name"] = refused.owner.display_name or refused.owner.user_id
    text = t(f"web.refused.{refused.reason.value}", lang, **params)
    body = (
        f'<section class="refused" data-refusal="{refused.reason.value}"><h1>{escape(t("web.refused.title", lang))}</h1>'
        f"<p>{escape(text)}</p>{extra}</section>"
    )
    return html_response(
        page(title=t("web.refused.title", lang), body=body, lang=lang), status=REFUSAL_STATUS[refused.reason]
    )


def message_page(*, title: str, text: str, lang: str, status: int) -> web.Response:
    body = f'<section class="refused"><h1>{escape(title)}</h1><p>{escape(text)}</p></section>'
    return html_response(page(title=title, body=body, lang=lang), status=status)


def people_choices(people: Iterable[Person], departments: dict[int, Department]) -> list[tuple[str, str, str]]:
    """(user id, "name（department）", search words): the id, the name's pinyin, and its initials (张伟 → zw)."""
    from pypinyin import Style, lazy_pinyin  # its dictionaries take a third of a second to load: only when asked

    choices = []
    for person in people:
        name = person.display_name or person.user_id
        department = departments.get(person.department_id or 0)
        syllables = lazy_pinyin(name, errors="ignore")
        initials = "".join(lazy_pinyin(name, style=Style.FIRST_LETTER, errors="ignore"))
        words = " ".join(dict.fromkeys(w for w in (person.user_id, "".join(syllables), initials) if w))
        choices.append((person.user_id, f"{name}（{department.name}）" if department else name, words.lower()))
    return choices
