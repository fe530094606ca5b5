"""Who opens a web form or the board, proven by WeCom, where a companion self-built app is configured.

The intelligent robot has no OAuth of its own (no corpsecret, no agentid). With a companion app
(``WECOM_CORP_ID``, ``WECOM_APP_AGENT_ID``, ``WECOM_APP_SECRET``; its trusted domain set to
``CLOSELOOP_PUBLIC_URL``'s host), every link the bot posts to a form or the board goes through
``/wecom/signin?next=…`` first (the steps are ``bot.platforms.signin``'s): WeCom's authorize
page with ``snsapi_base`` (silent inside the WeCom app), and the code exchanged for the
member's userid with ``auth/getuserinfo``.

Without a companion app, the signed link itself is the identity (``viewer`` is never asked).
"""

from __future__ import annotations

from urllib.parse import quote

from bot.platforms.signin import OAuthSignIn
from bot.platforms.wecom.api import WeComApi
from storage.i18n import Catalog
from storage.timekeeping import Clock


class SignIn(OAuthSignIn):
    def __init__(self, *, api: WeComApi, public_url: str, secret_key: str, corp_id: str, agent_id: str,
                 oauth_base: str, clock: Clock, catalog: Catalog) -> None:  # fmt: skip
        super().__init__(platform="wecom", public_url=public_url, secret_key=secret_key, clock=clock, catalog=catalog)
        self.api, self.corp_id, self.agent_id, self.oauth_base = api, corp_id, agent_id, oauth_base.rstrip("/")

    def authorize_url(self, state: str, back: str) -> str:
        return (f"{self.oauth_base}/connect/oauth2/authorize?appid={quote(self.corp_id)}"
                f"&redirect_uri={quote(back, safe='')}&response_type=code&scope=snsapi_base&state={state}"
                f"&agentid={quote(self.agent_id)}#wechat_redirect")  # fmt: skip

    async def userid_for(self, code: str) -> str | None:
        return await self.api.userid_for(code)
