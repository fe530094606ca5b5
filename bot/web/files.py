"""``GET /d/<token>``: a file the bot made, for a platform that cannot take it (``handlers.downloads``).

The link's signature says which file; the file must not have expired. An image
(the review's chart) opens in the in-app browser, anything else downloads under
its own name. Every answer carries the pages' security headers and is not cached
on the way, since the link is the permission.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web
from sqlmodel import Session

from bot.platforms.gateway import Gateway
from bot.web.pages import REFUSAL_STATUS, SECURITY_HEADERS, message_page
from cards.templates import t
from handlers.downloads import open_download
from handlers.webforms import LinkRefused, WebLinks
from storage.db import in_db
from storage.files import FileContent, file_for
from storage.i18n import normalize_language

INLINE = {"image/png", "image/jpeg", "image/gif", "image/webp"}  # shown; never an SVG, which could run script


class FilePages:
    def __init__(self, services: Gateway, links: WebLinks) -> None:
        self.services = services
        self.links = links

    def mount(self, app: web.Application) -> None:
        app.router.add_get("/d/{token}", self.download)

    def _read(self, file_id: int) -> FileContent | None:
        with Session(self.services.engine) as session:
            found = file_for(session, file_id=file_id, platform=None, now=self.services.clock.now())
            return FileContent(found[0].id or 0, found[0].filename, found[0].mime, found[0].content) if found else None

    async def download(self, request: web.Request) -> web.Response:
        lang = normalize_language(request.query.get("lang")) if request.query.get("lang") else "zh-CN"
        try:
            file_id = open_download(request.match_info["token"], links=self.links)
        except LinkRefused as refused:
            text = t(f"download.{refused.reason.value}", lang)
            return message_page(title=t("web.refused.title", lang), text=text, lang=lang,
                                status=REFUSAL_STATUS[refused.reason])  # fmt: skip
        stored = await in_db(self.services.engine, self._read, file_id)
        if stored is None:  # expired (and purged)
            return message_page(title=t("web.refused.title", lang), text=t("download.expired", lang), lang=lang,
                                status=410)  # fmt: skip
        disposition = "inline" if stored.mime in INLINE else "attachment"
        return web.Response(body=stored.content, headers={
            **SECURITY_HEADERS, "Content-Type": stored.mime, "Cache-Control": "private, no-store",
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(stored.filename)}",
        })  # fmt: skip
