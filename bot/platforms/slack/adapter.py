"""The Slack platform: a slack-bolt ``AsyncApp`` behind ``POST /slack/events``, Web API messages out.

One URL takes slash commands, Events API callbacks and interactivity (configure
all three to it, see ``manifest.yml``); with ``SLACK_APP_TOKEN`` set the
same app runs over Socket Mode instead. Every HTTP request's v0 signature is
checked against the injected clock (5-minute window) before bolt parses it.

What the core answers with is declared in ``CAPABILITIES``; this module only
does what Slack asks of each kind of request:

- the slash commands of ``manifest.yml`` (``/record`` … ``/export``, ``/closeloop``)
  are handled before the acknowledgement (milliseconds of database work): a form
  opens as a modal from the command's ``trigger_id`` (which Slack honours for 3
  seconds; if it fails, the core posts the form instead), a short notice comes
  back as the command's ephemeral answer.
- ``@bot`` text (``app_mention``) is acknowledged once stored in the durable
  inbox and handled after, like Feishu's messages; a form it answers with is
  posted as a message with a button that opens the modal.
- A button press is handled before the acknowledgement: a form opens as a modal;
  the core updates the pressed message through the outbox (``chat.update``) and
  sends a notice as an ephemeral message (``chat.postEphemeral``).
- A modal submission with field errors is answered with
  ``response_action: "errors"`` (or, when warnings come beside the errors,
  which ``errors`` cannot show, with the modal drawn again); accepted, the modal closes and the core's
  result replaces the message the modal came from, or is posted to the channel.
- Files the bot made (an export, the review's chart) are shared into the channel
  as Slack files just before the card that names them (``files.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.signature import Clock as SlackClock
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.outbox import Delivered, DeliveryError, OutgoingMessage
from bot.platforms.gateway import Gateway, InboxUnavailable
from bot.platforms.slack import blocks
from bot.platforms.slack.files import Sharer
from bot.platforms.slack.inbound import (
    Malformed,
    Metadata,
    action_event,
    command_event,
    mention_event,
    shape_problem,
    submission_event,
)
from bot.platforms.slack.settings import SlackSettings
from cards.model import Card, Form
from handlers.capabilities import Capabilities, FormStyle, Limits, Private, RateLimit, Respond, Source
from handlers.events import Event
from storage.timekeeping import Clock, SystemClock, zone

log = logging.getLogger(__name__)
COMMAND = re.compile(
    r"^/(record|action|progress|escalate|report|approve|reject|snooze|board|export|dept|settings|help|closeloop)$"
)
PERMANENT = {"channel_not_found", "not_in_channel", "is_archived", "invalid_blocks", "msg_too_long", "no_text",
             "invalid_auth", "account_inactive", "token_revoked", "missing_scope", "message_not_found",
             "cant_update_message", "invalid_arguments", "user_not_in_channel"}  # fmt: skip

CAPABILITIES = Capabilities(
    forms=FormStyle.MODAL,
    respond={
        Source.SLASH: Respond.TOAST | Respond.FORM,  # the acknowledgement's text is an ephemeral answer
        Source.BUTTON: Respond.FORM,  # a modal from the press's trigger; notices are ephemeral messages
        Source.DIALOG: Respond.FORM,  # the submitted modal shows its form again, with field errors
    },
    message_update=True,
    private=Private.EPHEMERAL,
    taken_commands={"/remind": "/closeloop remind"},  # Slack's own reminder command: an app cannot have it
    limits=Limits(blocks=blocks.MESSAGE_BLOCKS, text_chars=blocks.SECTION_TEXT, buttons=25),
    # chat.postMessage: about one message per second per channel (short bursts allowed), and "several
    # hundred per minute" per workspace — 5 a second keeps well inside it
    rate_limit=RateLimit(per_target=1, per_app=5),
    files=True,  # shared into the channel (files.getUploadURLExternal → upload → files.completeUploadExternal)
    images=True,  # the same way: a Block Kit image needs a public URL, a shared image file is shown inline
)


class _EpochClock(SlackClock):
    """slack_sdk's verifier asks its clock for epoch seconds: ours, so tests move it."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def now(self) -> float:
        return self.clock.now().timestamp()


class SlackRenderer:
    def render(self, card: Card, *, names: Any = None) -> list[dict[str, Any]]:
        return blocks.render_messages(card)

    def form_values(self, submitted: Any) -> dict[str, Any]:
        return blocks.form_values(submitted)

    def escape(self, text: str) -> str:
        return blocks.escape(text)


class SlackPlatform:
    name = "slack"
    capabilities = CAPABILITIES

    def __init__(self, settings: SlackSettings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.renderer = SlackRenderer()
        self.web = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_base, timeout=10)
        # uploads carry up to 20 MB: the same API, a longer timeout
        uploads = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_base, timeout=60)
        self.sharer = Sharer(uploads, images=self.capabilities.images, files=self.capabilities.files)
        self.verifier = SignatureVerifier(settings.slack_signing_secret or "-", clock=_EpochClock(self.clock))
        self.bolt = AsyncApp(
            client=self.web, signing_secret=settings.slack_signing_secret,  # the client carries the bot token
            request_verification_enabled=False,  # done in ``events`` with our clock, before parsing
            process_before_response=True,  # the acknowledgement waits for the (fast) handling: durable first
        )  # fmt: skip
        self.bolt.command(COMMAND)(self._on_command)
        self.bolt.event("app_mention")(self._on_mention)
        self.bolt.action(re.compile(".+"))(self._on_action)
        self.bolt.view(re.compile(".+"))(self._on_submission)
        self.bolt.error(self._on_error)
        self.gateway: Gateway | None = None
        self._socket: Any = None
        self._connecting: asyncio.Task[None] | None = None

    @property
    def rate_limit(self) -> RateLimit:
        return self.capabilities.rate_limit

    # ---------------------------------------------------------------- inbound

    def mount(self, app: web.Application, gateway: Gateway) -> None:
        self.gateway = gateway
        self.verifier.clock = _EpochClock(gateway.clock)
        app.router.add_post("/slack/events", self.events)
        if self.settings.slack_app_token:
            app.on_startup.append(self._connect_socket_mode)

    async def _connect_socket_mode(self, _app: web.Application) -> None:
        """Connect in the background: slack_sdk retries until Slack answers, and the server must not wait for it."""
        from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

        self._socket = AsyncSocketModeHandler(self.bolt, self.settings.slack_app_token, web_client=self.web)
        self._connecting = asyncio.create_task(self._socket.connect_async())

    async def events(self, request: web.Request) -> web.Response:
        """Slack's requests go through bolt (its listener API and acknowledgements), checked and shaped first."""
        raw = await request.read()
        try:
            signed = self.verifier.is_valid_request(raw, dict(request.headers))
        except ValueError:  # a timestamp that is not a number
            signed = False
        if not signed:
            log.warning("slack: refused a request with a bad or stale signature")
            return web.json_response({"error": "invalid signature"}, status=401)
        if retry := request.headers.get("X-Slack-Retry-Num"):
            log.info("slack: redelivery %s (%s)", retry, request.headers.get("X-Slack-Retry-Reason", ""))
        try:
            bolt_request = AsyncBoltRequest(
                body=raw.decode("utf-8"), query=request.query_string, headers=dict(request.headers)
            )
            if (problem := shape_problem(bolt_request.body)) is not None:
                raise ValueError(problem)
            # bolt reads the payload's shape before any listener runs; what Slack would never send stops here
            response = await self.bolt.async_dispatch(bolt_request)
        except (UnicodeDecodeError, ValueError, AttributeError, KeyError, TypeError, RecursionError) as exc:
            log.warning("slack: refused a malformed request: %s: %s", type(exc).__name__, exc)
            return web.json_response({"error": "malformed payload"}, status=400)
        return await to_aiohttp_response(response)

    async def _on_error(self, error: Exception) -> BoltResponse:
        """What reaches bolt's error handler is a payload our checks did not foresee: a bad request, not a crash.

        The core answers its own errors, and a database that cannot store an event
        is a 503 from the listener; what is left is bolt or a listener tripping over
        a shape Slack would never send.
        """
        log.warning("slack: refused a malformed request: %s: %s", type(error).__name__, str(error)[:200])
        return BoltResponse(status=400, body=json.dumps({"error": "malformed payload"}))

    async def _on_command(self, ack: Any, body: dict[str, Any]) -> BoltResponse | None:
        try:
            event = command_event(body)
        except Malformed as exc:
            return _bad(exc)
        result = await self._gateway.receive(event)
        if result is not None and result.outcome.form is not None:
            await self._open_form(event, body["trigger_id"], result.outcome.form, result.zone, Metadata(
                event.chat.chat_id, event.chat.workspace))  # fmt: skip
        await (ack(text=result.outcome.toast) if result is not None and result.outcome.toast else ack())
        return None

    async def _on_mention(self, ack: Any, body: dict[str, Any], context: Any) -> BoltResponse | None:
        try:
            event = mention_event(body, bot_user_id=context.get("bot_user_id"))
        except Malformed as exc:
            return _bad(exc)
        try:
            await self._gateway.receive(event)
        except InboxUnavailable:
            return BoltResponse(status=503, body=json.dumps({"error": "try again"}))  # Slack delivers again
        await ack()
        return None

    async def _on_action(self, ack: Any, body: dict[str, Any]) -> BoltResponse | None:
        try:
            action = (body.get("actions") or [{}])[0]
            if str(action.get("action_id") or "").startswith(blocks.LINK + ":"):  # the browser opened the page
                await ack()
                return None
            if action.get("action_id") == blocks.OPEN_FORM:
                await self._open_posted_form(body)
                await ack()
                return None
            event = action_event(body)
        except Malformed as exc:
            return _bad(exc)
        result = await self._gateway.receive(event)
        if result is not None and result.outcome.form is not None:
            metadata = Metadata(event.chat.chat_id, event.chat.workspace, event.message_id)
            await self._open_form(event, body["trigger_id"], result.outcome.form, result.zone, metadata)
        await ack()
        return None

    async def _on_submission(self, ack: Any, body: dict[str, Any]) -> BoltResponse | None:
        view = body.get("view") or {}
        try:
            metadata = Metadata.load(str(view.get("private_metadata") or ""))
            state = (view.get("state") or {}).get("values") or {}
            if not isinstance(state, dict):
                raise Malformed("view.state.values is not an object")
            tz = zone(await self._gateway.zone_of(self.name, metadata.channel))
            event, metadata = submission_event(body, blocks.form_values(state, tz=tz))
        except (Malformed, ValueError, TypeError) as exc:
            return _bad(exc)
        result = await self._gateway.receive(event)
        again = None if result is None else _form_of(result.outcome.update) or _form_of(result.outcome.form)
        if result is None or again is None:
            await ack()  # closes the modal; the core posts the result and the notice
            return None
        card = result.outcome.update or result.outcome.form
        assert card is not None
        errors = blocks.modal_errors(again, positions=blocks.rows_as_submitted(state))
        pinned = errors and set(errors) <= {b.get("block_id") for b in view.get("blocks") or []}
        if pinned and not blocks.has_warnings(again):
            await ack(response_action="errors", errors=errors)
        else:  # warnings beside the errors (``errors`` cannot show them), nothing to pin on an input, or a new form
            await ack(response_action="update", view=self._modal(card, metadata, result.zone))
        return None

    # ---------------------------------------------------------------- modals

    @property
    def _gateway(self) -> Gateway:
        assert self.gateway is not None, "mount() first"
        return self.gateway

    def _modal(self, card: Card, metadata: Metadata, zone_name: str) -> dict[str, Any]:
        form = _form_of(card)
        assert form is not None
        title = card.header.title if card.header else form.submit.label
        metadata = Metadata(metadata.channel, metadata.team, metadata.message_ts, form.submit.payload.to_token())
        return blocks.render_modal(form, title=title, private_metadata=metadata.dump(), tz=zone(zone_name))

    async def _open_form(self, event: Event, trigger: str, card: Card, zone_name: str, metadata: Metadata) -> None:
        """The form as a modal from the request's trigger; if Slack refuses, the core posts it instead."""
        try:
            await self.web.views_open(trigger_id=trigger, view=self._modal(card, metadata, zone_name))
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("slack: views.open failed (%s); posting the form instead", _reason(exc))
            await self._gateway.post_instead(event, card, part="form")

    async def _open_posted_form(self, body: dict[str, Any]) -> None:
        """The open button of a form posted as a message: that message's form, as a modal."""
        container = body.get("container") or {}
        channel, ts = container.get("channel_id"), container.get("message_ts")
        if not isinstance(channel, str) or not isinstance(ts, str) or not body.get("trigger_id"):
            raise Malformed("no form behind this button")
        card = await self._gateway.posted_card(self.name, channel, ts)
        if card is None or _form_of(card) is None:
            raise Malformed("no form behind this button")
        team = (body.get("team") or {}).get("id") or ""
        zone_name = await self._gateway.zone_of(self.name, channel)
        try:
            await self.web.views_open(
                trigger_id=body["trigger_id"], view=self._modal(card, Metadata(channel, team, ts), zone_name)
            )
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("slack: views.open failed (%s)", _reason(exc))

    # ---------------------------------------------------------------- outbound

    async def deliver(self, message: OutgoingMessage) -> Delivered:
        pages = blocks.render_messages(message.card)
        try:
            if message.visible_to:  # only they see it: a notice, a refusal
                sent = await self.web.chat_postEphemeral(channel=message.target, user=message.visible_to, **pages[0])
                return Delivered(str(sent.get("message_ts") or "") or None)
            if message.update_of:
                await self.web.chat_update(channel=message.target, ts=message.update_of, **pages[0])
                return Delivered(message.update_of)
            await self.sharer.share(message.card, self.gateway, channel=message.target, thread_ts=message.reply_to)
            first: str | None = None
            for page in pages:
                sent = await self.web.chat_postMessage(channel=message.target, thread_ts=message.reply_to, **page)
                first = first or str(sent["ts"])
            return Delivered(first)
        except SlackApiError as exc:
            status, error = exc.response.status_code, exc.response.get("error")
            if status == 429 or error == "ratelimited":
                raise DeliveryError("slack throttled", retry_after=_retry_after(exc.response.headers)) from exc
            raise DeliveryError(f"slack: {error} (HTTP {status})", permanent=error in PERMANENT) from exc
        except (aiohttp.ClientError, TimeoutError, SlackRequestError) as exc:  # the last: an upload URL's failure
            raise DeliveryError(f"slack: {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
        if self._socket is not None:
            await self._socket.close_async()
        if self.web.session is not None and not self.web.session.closed:
            await self.web.session.close()


def _bad(exc: Exception) -> BoltResponse:
    return BoltResponse(status=400, body=json.dumps({"error": str(exc)}))


def _form_of(card: Card | None) -> Form | None:
    if card is None:
        return None
    return next((e for e in card.elements if isinstance(e, Form)), None)


def _retry_after(headers: Mapping[str, Any]) -> float:
    value = headers.get("Retry-After") or headers.get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(1.0, float(value)) if value else 1.0
    except ValueError:
        return 1.0


def _reason(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error"))
    return f"{type(exc).__name__}: {exc}"
