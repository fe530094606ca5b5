"""Who opens a web form or the board, proven by the platform's OAuth2 (authorization-code) sign-in.

Where a platform can say who a browser belongs to, every link the bot posts to one of
its pages goes through ``/<platform>/signin?next=…`` first:

1. ``/<platform>/signin`` sets a one-use ``state`` cookie and redirects to the
   platform's authorize page (silent, or one consent, inside the platform's app);
2. the platform redirects back to ``/<platform>/oauth?code=…&state=…&next=…``
   (DingTalk names the code ``authCode``); the state must match the cookie, the
   code is exchanged for the member's user id (the subclass's ``userid_for``), and
   a signed cookie (8 hours, HttpOnly) remembers it before the browser goes on to
   the page;
3. ``viewer`` reads that cookie for ``bot.web``'s ``identify``: a link opened by anyone
   else — or without having signed in — is refused.

Only paths of our own pages are accepted as ``next`` (no open redirect). A platform
adds the two URLs of ``authorize_url`` and ``userid_for``; WeCom's companion app
(``bot.platforms.wecom.signin``) and DingTalk's app (``bot.platforms.dingtalk.signin``)
do. Without a sign-in, the signed link itself is the identity (``viewer`` is never asked).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from itsdangerous import BadData, URLSafeTimedSerializer

from cards.model import Actions, Card, LinkButton
from handlers.webforms import ClockSigner  # the web links' timestamps: the injected clock
from storage.i18n import Catalog
from storage.timekeeping import Clock

log = logging.getLogger(__name__)
VIEWER_HOURS = 8
PAGES = ("/f/", "/board/")  # the bot's own pages whose links are signed in first


class OAuthSignIn:
    """The two steps, the cookies and the links; a platform says where to authorize and how to read a code."""

    code_param = "code"  # the query parameter the authorize page sends the code back in

    def __init__(self, *, platform: str, public_url: str, secret_key: str, clock: Clock, catalog: Catalog) -> None:
        self.platform, self.public_url, self.catalog = platform, public_url.rstrip("/"), catalog
        self.viewer_cookie, self.state_cookie = f"closeloop_{platform}_viewer", f"closeloop_{platform}_state"
        self.cookies = URLSafeTimedSerializer(secret_key, salt=f"closeloop.{platform}.viewer", signer=ClockSigner,
                                              signer_kwargs={"clock": clock, "digest_method": hashlib.sha256})  # fmt: skip
        self.secure = self.public_url.startswith("https://")

    def use_clock(self, clock: Clock) -> None:
        """The gateway's clock, as the web links use (``mount`` hands it over)."""
        self.cookies.signer_kwargs["clock"] = clock

    def authorize_url(self, state: str, back: str) -> str:
        """The platform's authorize page, which sends the browser to ``back`` with a code and ``state``."""
        raise NotImplementedError

    async def userid_for(self, code: str) -> str | None:
        """The member's user id (as the platform's messages name them) for a one-use code; ``None`` if refused."""
        raise NotImplementedError

    def mount(self, app: web.Application) -> None:
        app.router.add_get(f"/{self.platform}/signin", self.start)
        app.router.add_get(f"/{self.platform}/oauth", self.finish)

    # ---------------------------------------------------------------- links in cards

    def wrap(self, card: Card) -> Card:
        """The card with each link to our pages going through the sign-in first."""
        if not any(isinstance(e, Actions) for e in card.elements):
            return card
        elements = []
        for element in card.elements:
            if isinstance(element, Actions):
                element = element.model_copy(update={"buttons": [
                    b.model_copy(update={"url": self.entry(b.url)}) if isinstance(b, LinkButton) else b
                    for b in element.buttons]})  # fmt: skip
            elements.append(element)
        return card.model_copy(update={"elements": elements})

    def entry(self, url: str) -> str:
        path = self._local(url)
        return f"{self.public_url}/{self.platform}/signin?{urlencode({'next': path})}" if path else url

    def _local(self, url: str) -> str | None:
        """The path of one of our pages at the public address, or ``None``."""
        if not url.startswith(self.public_url + "/"):
            return None
        path = url[len(self.public_url) :]
        return path if path.startswith(PAGES) and "//" not in path and "\\" not in path else None

    @staticmethod
    def _next(request: web.Request) -> str | None:
        path = request.query.get("next", "")
        ok = path.startswith(PAGES) and "//" not in path and "\\" not in path and not urlsplit(path).scheme
        return path if ok else None

    # ---------------------------------------------------------------- the two steps

    async def start(self, request: web.Request) -> web.Response:
        path = self._next(request)
        if path is None:
            raise web.HTTPBadRequest(text="next must be a form or board page")
        state = secrets.token_hex(16)
        back = f"{self.public_url}/{self.platform}/oauth?{urlencode({'next': path})}"
        response = web.HTTPFound(self.authorize_url(state, back))
        response.set_cookie(self.state_cookie, state, max_age=600, httponly=True, samesite="Lax", secure=self.secure,
                            path=f"/{self.platform}/")  # fmt: skip
        raise response

    async def finish(self, request: web.Request) -> web.Response:
        path, state, code = self._next(request), request.query.get("state", ""), request.query.get(self.code_param, "")
        expected = request.cookies.get(self.state_cookie, "")
        if path is None or not code or len(code) > 512 or not expected or not secrets.compare_digest(state, expected):
            return self._failed(request)
        userid = await self._userid(code)
        if not userid:
            return self._failed(request)
        response = web.HTTPFound(path)
        response.set_cookie(self.viewer_cookie, self.cookies.dumps(userid), max_age=VIEWER_HOURS * 3600,
                            httponly=True, samesite="Lax", secure=self.secure, path="/")  # fmt: skip
        response.del_cookie(self.state_cookie, path=f"/{self.platform}/")
        raise response

    async def _userid(self, code: str) -> str | None:
        try:
            return await self.userid_for(code)
        except Exception as exc:  # the platform refused or is unreachable: no identity, the page says so
            log.warning("%s: sign-in failed: %s", self.platform, type(exc).__name__)
            return None

    def _failed(self, request: web.Request) -> web.Response:
        lang = "en" if request.query.get("lang") == "en" else "zh-CN"
        return web.Response(status=403, text=self.catalog.text("signin.failed", lang), content_type="text/plain")

    def viewer(self, request: web.Request) -> str:
        """The signed-in member's user id; ``""`` (nobody, so every link is refused) without a valid cookie."""
        try:
            userid = self.cookies.loads(request.cookies.get(self.viewer_cookie, ""), max_age=VIEWER_HOURS * 3600)
        except BadData:
            return ""
        return userid if isinstance(userid, str) else ""
