"""The DingTalk OpenAPI, as much as Closeloop uses: access token, robot sends, template cards, session replies.

- ``POST /v1.0/oauth2/accessToken`` ``{appKey, appSecret}`` → ``{accessToken, expireIn}``;
  cached and renewed five minutes before it expires, refreshed once when a call
  answers 401. Every v1.0 call carries it as ``x-acs-dingtalk-access-token``.
- ``POST /v1.0/robot/groupMessages/send`` (a group) and ``/v1.0/robot/oToMessages/batchSend``
  (one person, the robot's 1:1 chat): ``msgKey`` + ``msgParam`` (a JSON string).
  Neither can @ anyone.
- ``POST /v1.0/card/instances/createAndDeliver``: a template card into a group
  (``dtv1.card//IM_GROUP.<openConversationId>``, with ``imGroupOpenDeliverModel.atUserIds``
  — the real @) or a 1:1 robot chat (``IM_ROBOT.<userId>``); ``PUT /v1.0/card/instances``
  updates one. A 200 can still say ``deliverResults[].success: false``: checked.
- A session webhook (``<oapi>/robot/sendBySession?session=…``), valid ~90 minutes
  after the message that carried it: a reply with ``at.atUserIds`` (oapi style errors,
  ``{"errcode", "errmsg"}``).

Errors become ``DeliveryError``s the outbox understands. v1.0 errors are
``{code, message, requestid}`` with an HTTP status: 403 with a ``QpsLimit`` code
is throttling (DingTalk asks to wait about a second and retry); 429 and 5xx and
network failures are retried with backoff; any other 4xx means the request itself
is wrong and is not retried.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from bot.outbox import DeliveryError
from bot.platforms.http import ApiClient
from storage.timekeeping import Clock

THROTTLED = ("QpsLimit", "ApiCountLimit", "FlowControl")  # parts of the v1.0 throttling codes
OAPI_TOKEN_INVALID = (40014, 42001)  # the legacy host's "invalid" and "expired" access_token


class DingTalkError(DeliveryError):
    """DingTalk refused the request itself: not retried."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message, permanent=True)
        self.code = code


class _InvalidToken(DeliveryError):
    pass


def space_id(target: str) -> str:
    """``openSpaceId`` for a chat: a group's open conversation id, or ``u:<userId>`` for a 1:1 robot chat."""
    if target.startswith("u:"):
        return f"dtv1.card//IM_ROBOT.{target[2:]}"
    return f"dtv1.card//IM_GROUP.{target}"


class DingTalkClient(ApiClient):
    def __init__(self, *, base: str, oapi_base: str, client_id: str, client_secret: str, robot_code: str,
                 clock: Clock, timeout: float = 10.0) -> None:  # fmt: skip
        super().__init__(clock=clock, timeout=timeout)
        self.base = base.rstrip("/")
        self.oapi_base = oapi_base.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.robot_code = robot_code

    # ------------------------------------------------------------ the token and the call

    async def token(self, *, refresh: bool = False) -> str:
        return await self.cached_token(self._fetch_token, refresh=refresh)

    async def _fetch_token(self) -> tuple[str, int]:
        body = await self._request("POST", "/v1.0/oauth2/accessToken", token=None,
                                   json_body={"appKey": self.client_id, "appSecret": self.client_secret})  # fmt: skip
        token, expires = body.get("accessToken"), body.get("expireIn", 7200)
        if not isinstance(token, str) or not token or not isinstance(expires, int):
            raise DeliveryError("dingtalk: the token answer has no accessToken")
        return token, expires

    async def call(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self._request(method, path, json_body=body, token=await self.token())
        except _InvalidToken:
            return await self._request(method, path, json_body=body, token=await self.token(refresh=True))

    async def _request(self, method: str, path: str, *, token: str | None,
                       json_body: dict[str, Any] | None) -> dict[str, Any]:  # fmt: skip
        headers = {"Content-Type": "application/json"}
        if token:
            headers["x-acs-dingtalk-access-token"] = token
        try:
            async with self.session.request(method, self.base + path, json=json_body, headers=headers) as response:
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except (json.JSONDecodeError, aiohttp.ContentTypeError, UnicodeDecodeError):
                    body = {}
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"dingtalk {method} {path}: {type(exc).__name__}: {exc}") from exc
        body = body if isinstance(body, dict) else {}
        if status < 400:
            return body
        code, message = str(body.get("code") or ""), str(body.get("message") or "")
        detail = f"dingtalk {method} {path}: HTTP {status} {code} {message} (requestid {body.get('requestid', '-')})"
        if status == 429 or (status == 403 and any(part in code for part in THROTTLED)):
            raise DeliveryError(detail, retry_after=1.0)  # "wait about a second and retry"
        if status == 401 and token:
            raise _InvalidToken(detail)
        if status >= 500:
            raise DeliveryError(detail)
        raise DingTalkError(detail, code=code)

    # ------------------------------------------------------------ who opens a web page

    async def userid_for(self, code: str) -> str | None:
        """The member who signed in with this OAuth2 code (their staff id, as robot messages name them).

        Three calls: the code for the user's own token (``oauth2/userAccessToken``),
        that token for their ``unionId`` (``contact/users/me``), and the app's token for
        the member with that unionId in this organisation (``topapi/user/getbyunionid``).
        ``None`` for a used or wrong code, or someone outside the organisation.
        """
        try:
            grant = await self._request("POST", "/v1.0/oauth2/userAccessToken", token=None, json_body={
                "clientId": self.client_id, "clientSecret": self.client_secret, "code": code,
                "grantType": "authorization_code"})  # fmt: skip
            user_token = grant.get("accessToken")
            if not isinstance(user_token, str) or not user_token:
                return None
            me = await self._request("GET", "/v1.0/contact/users/me", token=user_token, json_body=None)
        except (DingTalkError, _InvalidToken):
            return None
        union = me.get("unionId")
        if not isinstance(union, str) or not union:
            return None
        for refresh in (False, True):
            params = {"access_token": await self.token(refresh=refresh)}
            _, answer = await self._oapi("/topapi/user/getbyunionid", params, {"unionid": union}, "getbyunionid")
            if answer.get("errcode") in OAPI_TOKEN_INVALID and not refresh:
                continue  # the app's token was revoked early: fetched again, once
            result = answer.get("result") if answer.get("errcode") == 0 else None
            userid = result.get("userid") if isinstance(result, dict) else None
            return userid if isinstance(userid, str) and userid else None
        return None

    # ------------------------------------------------------------ sending

    async def send_markdown(self, target: str, title: str, text: str) -> str:
        """A markdown message into a group, or into a person's 1:1 robot chat (``u:<userId>``)."""
        param = json.dumps({"title": title, "text": text}, ensure_ascii=False)
        if target.startswith("u:"):
            body = await self.call("POST", "/v1.0/robot/oToMessages/batchSend", {
                "robotCode": self.robot_code, "userIds": [target[2:]], "msgKey": "sampleMarkdown", "msgParam": param})  # fmt: skip
            if target[2:] in (body.get("flowControlledStaffIdList") or []):
                raise DeliveryError("dingtalk: the person's 1:1 chat is flow controlled", retry_after=1.0)
            if target[2:] in (body.get("invalidStaffIdList") or []):
                raise DingTalkError(f"dingtalk: {target[2:]} is not a user of this organisation", code="invalidStaffId")
        else:
            body = await self.call("POST", "/v1.0/robot/groupMessages/send", {
                "robotCode": self.robot_code, "openConversationId": target, "msgKey": "sampleMarkdown",
                "msgParam": param})  # fmt: skip
        return str(body.get("processQueryKey") or "")

    async def send_action_card(self, user_id: str, title: str, text: str, button: str, url: str) -> str:
        """A message with one link button into a person's 1:1 robot chat (``sampleActionCard``)."""
        param = json.dumps({"title": title, "text": text, "singleTitle": button, "singleURL": url}, ensure_ascii=False)
        body = await self.call("POST", "/v1.0/robot/oToMessages/batchSend", {
            "robotCode": self.robot_code, "userIds": [user_id], "msgKey": "sampleActionCard", "msgParam": param})  # fmt: skip
        return str(body.get("processQueryKey") or "")

    async def create_card(self, *, template_id: str, track_id: str, target: str, params: dict[str, str],
                          at: dict[str, str], callback: str) -> None:  # fmt: skip
        body: dict[str, Any] = {
            "cardTemplateId": template_id, "outTrackId": track_id, "callbackType": callback,
            "cardData": {"cardParamMap": params}, "userIdType": 1, "openSpaceId": space_id(target),
        }  # fmt: skip
        if target.startswith("u:"):
            body["imRobotOpenSpaceModel"] = {"supportForward": False}
            body["imRobotOpenDeliverModel"] = {"spaceType": "IM_ROBOT", "robotCode": self.robot_code}
        else:
            body["imGroupOpenSpaceModel"] = {"supportForward": True}
            deliver: dict[str, Any] = {"robotCode": self.robot_code}
            if at:
                deliver["atUserIds"] = at
            body["imGroupOpenDeliverModel"] = deliver
        answer = await self.call("POST", "/v1.0/card/instances/createAndDeliver", body)
        result = answer.get("result") if isinstance(answer.get("result"), dict) else {}
        failed = [r for r in result.get("deliverResults") or [] if isinstance(r, dict) and not r.get("success")]
        if answer.get("success") is False or failed:
            reason = failed[0].get("errorMsg") if failed else answer.get("message")
            raise DingTalkError(f"dingtalk: card {track_id} not delivered: {reason}", code="deliverFailed")

    async def update_card(self, track_id: str, params: dict[str, str]) -> None:
        answer = await self.call("PUT", "/v1.0/card/instances", {
            "outTrackId": track_id, "cardData": {"cardParamMap": params}, "userIdType": 1,
            "cardUpdateOptions": {"updateCardDataByKey": True, "updatePrivateDataByKey": True}})  # fmt: skip
        if answer.get("success") is False:
            raise DingTalkError(f"dingtalk: card {track_id} not updated", code="updateFailed")

    async def _oapi(self, path: str, params: dict[str, str], body: dict[str, Any],
                    what: str) -> tuple[int, dict[str, Any]]:  # fmt: skip
        """A POST to the legacy host (``errcode`` answers): its status and JSON object."""
        try:
            async with self.session.post(self.oapi_base + path, params=params, json=body) as response:
                status, answer = response.status, await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DeliveryError(f"dingtalk {what}: {type(exc).__name__}: {exc}") from exc
        return status, answer if isinstance(answer, dict) else {}

    async def reply_in_session(self, session: str, title: str, text: str, at: list[str]) -> None:
        """A markdown reply through a message's session webhook, with real @-mentions of ``at``."""
        body = {"msgtype": "markdown", "markdown": {"title": title, "text": text},
                "at": {"atUserIds": at, "isAtAll": False}}  # fmt: skip
        status, answer = await self._oapi("/robot/sendBySession", {"session": session}, body, "session reply")
        errcode = answer.get("errcode")
        if status >= 500:
            raise DeliveryError(f"dingtalk session reply: HTTP {status}")
        if status >= 400 or errcode not in (0, None):
            raise DingTalkError(f"dingtalk session reply: HTTP {status} errcode {errcode}", code=str(errcode))
