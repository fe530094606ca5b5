"""The sandbox serves the files the bot made (exports, review charts) at ``GET /sandbox/files/<id>``.

Only files of sandbox groups, only until they expire; anything else is a 404.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web
from sqlmodel import Session

from bot.platforms import Services
from bot.platforms.sandbox.adapter import NAME, SandboxPlatform
from storage.db import in_db
from storage.files import file_for

FILE_URL = "/sandbox/files/{file_id}"


class SandboxWithFiles(SandboxPlatform):
    """The sandbox platform plus its file route."""

    def mount(self, app: web.Application, services: Services) -> None:
        super().mount(app, services)
        app.router.add_get("/sandbox/files/{file_id}", self.file)

    async def file(self, request: web.Request) -> web.Response:
        assert self.services is not None
        raw = request.match_info["file_id"]
        if not raw.isdigit() or len(raw) > 12:
            raise web.HTTPNotFound(text="no such file")
        found = await in_db(self.services.engine, self._file_now, int(raw))
        if found is None:
            raise web.HTTPNotFound(text="no such file")
        content, filename, mime = found
        disposition = "inline" if mime.startswith("image/") else "attachment"
        return web.Response(body=content, headers={
            "Content-Type": mime, "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(filename)}",
            "X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=300",
        })  # fmt: skip

    def _file_now(self, file_id: int) -> tuple[bytes, str, str] | None:
        assert self.services is not None
        with Session(self.services.engine) as session:
            found = file_for(session, file_id=file_id, platform=NAME, now=self.services.clock.now())
            return (found[0].content, found[0].filename, found[0].mime) if found else None
