"""Who opens a web form or the board, proven by DingTalk (``DINGTALK_WEB_SIGNIN=1``).

DingTalk's OAuth2 for web pages (the steps are ``bot.platforms.signin``'s): the
authorize page at ``login.dingtalk.com/oauth2/auth`` (``scope=openid``, inside the
DingTalk app the member is already signed in: one consent the first time), and the
code read back as the member's staff id by ``DingTalkClient.userid_for``. This is a
redirect, not the in-page JSAPI (``requestAuthCode``), so the pages keep their strict
Content-Security-Policy (no DingTalk script on them).

Without it, the signed link itself is the identity (``viewer`` is never asked).
"""

from __future__ import annotations

from urllib.parse import urlencode

from bot.platforms.dingtalk.api import DingTalkClient
from bot.platforms.signin import OAuthSignIn
from storage.i18n import Catalog
from storage.timekeeping import Clock


class SignIn(OAuthSignIn):
    code_param = "authCode"  # DingTalk's name for it (``…?authCode=…&state=…``)

    def __init__(self, *, client: DingTalkClient, public_url: str, secret_key: str, login_base: str, clock: Clock,
                 catalog: Catalog) -> None:  # fmt: skip
        super().__init__(platform="dingtalk", public_url=public_url, secret_key=secret_key, clock=clock,
                         catalog=catalog)  # fmt: skip
        self.client, self.login_base = client, login_base.rstrip("/")

    def authorize_url(self, state: str, back: str) -> str:
        query = {"client_id": self.client.client_id, "redirect_uri": back, "response_type": "code", "scope": "openid",
                 "state": state, "prompt": "consent"}  # fmt: skip
        return f"{self.login_base}/oauth2/auth?{urlencode(query)}"

    async def userid_for(self, code: str) -> str | None:
        return await self.client.userid_for(code)
