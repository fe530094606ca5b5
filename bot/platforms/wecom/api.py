"""WeCom's HTTP API, as much as the adapter uses: ``response_url`` replies and the companion app's sign-in.

Every answer is HTTP 200 with an ``errcode`` (doc 90455), classified once here for the outbox:
throttling (``45009``, ``45033``) is retried after a minute, ``-1`` (busy) and ``6000`` (a version
conflict) after two seconds, an invalid or expired app token (``40014``, ``42001``) is fetched
again once, anything else is the request's own fault and is not retried.

- ``response_url`` (doc 101138): the callback's one-use address for a reply (valid an hour); a plain
  JSON ``markdown`` or ``template_card`` message. Only addresses on ``WECOM_API_BASE`` are posted to.
- The companion self-built app: ``gettoken`` (cached for its ``expires_in``, 7200 s, less a margin)
  and ``auth/getuserinfo`` for OAuth2 ``snsapi_base`` (doc 91022/98176): a code → the member's userid.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from bot.outbox import DeliveryError
from bot.platforms.http import ApiClient
from storage.timekeeping import Clock

RATE_LIMITED = {45009, 45033}
RETRY_SOON = {-1, 6000}
TOKEN_INVALID = {40014, 42001}


class WeComError(DeliveryError):
    def __init__(self, what: str, code: int, *, retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(f"wecom {what}: errcode {code}", retry_after=retry_after, permanent=permanent)
        self.code = code


def classify(what: str, code: int, status: int = 200) -> WeComError | None:
    """The outbox's view of an answer: ``None`` for success, else a retryable or permanent error."""
    if code == 0 and status < 400:
        return None
    if code in RATE_LIMITED:
        return WeComError(what, code, retry_after=60.0)
    if code in RETRY_SOON or status >= 500:
        return WeComError(what, code, retry_after=2.0)
    return WeComError(what, code, permanent=True)


class WeComApi(ApiClient):
    def __init__(self, *, base: str, clock: Clock, corp_id: str | None = None, app_secret: str | None = None,
                 timeout: float = 10.0) -> None:  # fmt: skip
        super().__init__(clock=clock, timeout=timeout)
        self.base = base.rstrip("/")
        self.corp_id, self._app_secret = corp_id, app_secret

    async def _json(self, method: str, url: str, what: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        try:
            async with self.session.request(method, url, **kwargs) as response:
                try:
                    body = await response.json(content_type=None)
                except (json.JSONDecodeError, aiohttp.ContentTypeError):
                    body = {}
                return response.status, body if isinstance(body, dict) else {}
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"wecom {what}: {type(exc).__name__}") from None

    async def respond(self, response_url: str, message: dict[str, Any]) -> None:
        """Post the one reply a ``response_url`` takes; ``WeComError`` when WeCom refuses it (used, expired)."""
        if not response_url.startswith(self.base + "/"):
            raise WeComError("response_url (not on WECOM_API_BASE)", -1, permanent=True)
        status, body = await self._json("POST", response_url, "response_url", json=message)
        if (error := classify("response_url", _code(body), status)) is not None:
            raise error

    async def app_token(self, *, refresh: bool = False) -> str:
        return await self.cached_token(self._fetch_token, refresh=refresh)

    async def _fetch_token(self) -> tuple[str, int]:
        status, body = await self._json("GET", f"{self.base}/cgi-bin/gettoken", "gettoken",
                                        params={"corpid": self.corp_id or "", "corpsecret": self._app_secret or ""})  # fmt: skip
        if (error := classify("gettoken", _code(body), status)) is not None:
            raise error
        seconds = body.get("expires_in")
        return str(body.get("access_token") or ""), seconds if isinstance(seconds, int) else 7200

    async def userid_for(self, code: str) -> str | None:
        """The member who signed in with this OAuth code; ``None`` for a non-member or a used or wrong code."""
        for refresh in (False, True):
            token = await self.app_token(refresh=refresh)
            status, body = await self._json("GET", f"{self.base}/cgi-bin/auth/getuserinfo", "getuserinfo",
                                            params={"access_token": token, "code": code})  # fmt: skip
            code_ = _code(body)
            if code_ in TOKEN_INVALID and not refresh:
                continue
            if classify("getuserinfo", code_, status) is not None:
                return None
            userid = body.get("userid")
            return userid if isinstance(userid, str) and userid else None
        return None


def _code(body: dict[str, Any]) -> int:
    code = body.get("errcode", 0)
    return code if isinstance(code, int) else -1
