"""Who opens a web form or the board, proven by WeCom, where a companion self-built app is configured.

The intelligent robot has no OAuth of its own (no corpsecret, no agentid). With a companion app
(``WECOM_CORP_ID``, ``WECOM_APP_AGENT_ID``, ``WECOM_APP_SECRET``; its trusted domain set to
``CLOSELOOP_PUBLIC_URL``'s host), every link the bot posts to a form or the board goes through
``/wecom/signin?next=…`` first:

1. ``/wecom/signin`` sets a one-use ``state`` cookie and redirects to WeCom's authorize page
   (``snsapi_base``: silent inside the WeCom app);
2. WeCom redirects back to ``/wecom/oauth?code=…&state=…&next=…``; the state must match the
   cookie, the code is exchanged for the member's userid (``auth/getuserinfo``), and a signed
   cookie (8 hours, HttpOnly) remembers it before the browser goes on to the page;
3. ``viewer`` reads that cookie for ``bot.web``'s ``identify``: a link opened by anyone else —
   or without having signed in — is refused.

Without a companion app, the signed link itself is the identity (``viewer`` is never asked).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from aiohttp import web
from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

from bot.platforms.wecom.api import WeComApi
from cards.model import Actions, Card, LinkButton
from storage.i18n import Catalog
from storage.timekeeping import Clock

log = logging.getLogger(__name__)
VIEWER_COOKIE, STATE_COOKIE = "closeloop_wecom_viewer", "closeloop_wecom_state"
VIEWER_HOURS = 8
PAGES = ("/f/", "/board/")  # the bot's own pages whose links are signed in first


class _ClockSigner(TimestampSigner):
    """Timestamps from the injected clock (as the web links do), so tests decide what "now" is."""

    def __init__(self, *args: Any, clock: Clock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock

    def get_timestamp(self) -> int:
        return int(self.clock.now().timestamp())


class SignIn:
    def __init__(self, *, api: WeComApi, public_url: str, secret_key: str, corp_id: str, agent_id: str,
                 oauth_base: str, clock: Clock, catalog: Catalog) -> None:  # fmt: skip
        self.api, self.public_url, self.corp_id, self.agent_id = api, public_url.rstrip("/"), corp_id, agent_id
        self.oauth_base, self.catalog = oauth_base.rstrip("/"), catalog
        self.cookies = URLSafeTimedSerializer(secret_key, salt="closeloop.wecom.viewer", signer=_ClockSigner,
                                              signer_kwargs={"clock": clock, "digest_method": hashlib.sha256})  # fmt: skip
        self.secure = self.public_url.startswith("https://")

    def mount(self, app: web.Application) -> None:
        app.router.add_get("/wecom/signin", self.start)
        app.router.add_get("/wecom/oauth", self.finish)

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
        return f"{self.public_url}/wecom/signin?{urlencode({'next': path})}" if path else url

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
        back = f"{self.public_url}/wecom/oauth?{urlencode({'next': path})}"
        authorize = (f"{self.oauth_base}/connect/oauth2/authorize?appid={quote(self.corp_id)}"
                     f"&redirect_uri={quote(back, safe='')}&response_type=code&scope=snsapi_base&state={state}"
                     f"&agentid={quote(self.agent_id)}#wechat_redirect")  # fmt: skip
        response = web.HTTPFound(authorize)
        response.set_cookie(STATE_COOKIE, state, max_age=600, httponly=True, samesite="Lax", secure=self.secure,
                            path="/wecom/")  # fmt: skip
        raise response

    async def finish(self, request: web.Request) -> web.Response:
        path, state, code = self._next(request), request.query.get("state", ""), request.query.get("code", "")
        expected = request.cookies.get(STATE_COOKIE, "")
        if path is None or not code or len(code) > 512 or not expected or not secrets.compare_digest(state, expected):
            return self._failed(request)
        userid = await self._userid(code)
        if userid is None:
            return self._failed(request)
        response = web.HTTPFound(path)
        response.set_cookie(VIEWER_COOKIE, self.cookies.dumps(userid), max_age=VIEWER_HOURS * 3600, httponly=True,
                            samesite="Lax", secure=self.secure, path="/")  # fmt: skip
        response.del_cookie(STATE_COOKIE, path="/wecom/")
        raise response

    async def _userid(self, code: str) -> str | None:
        try:
            return await self.api.userid_for(code)
        except Exception as exc:  # WeCom unreachable: no identity, the page says so
            log.warning("wecom: sign-in failed: %s", type(exc).__name__)
            return None

    def _failed(self, request: web.Request) -> web.Response:
        lang = "en" if request.query.get("lang") == "en" else "zh-CN"
        return web.Response(status=403, text=self.catalog.text("signin.failed", lang), content_type="text/plain")

    def viewer(self, request: web.Request) -> str:
        """The signed-in member's userid; ``""`` (nobody, so every link is refused) without a valid cookie."""
        try:
            userid = self.cookies.loads(request.cookies.get(VIEWER_COOKIE, ""), max_age=VIEWER_HOURS * 3600)
        except BadData:
            return ""
        return userid if isinstance(userid, str) else ""
