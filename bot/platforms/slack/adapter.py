"""The Slack platform: a slack-bolt ``AsyncApp`` behind ``POST /slack/events``, Web API messages out.

One URL takes slash commands, Events API callbacks and interactivity (configure
all three to it, see ``slack_manifest.yml``); with ``SLACK_APP_TOKEN`` set the
same app runs over Socket Mode instead. Every HTTP request's v0 signature is
checked against the injected clock (5-minute window) before bolt parses it.

- ``/record``, ``/action``, ``/progress``, ``/escalate``, ``/report`` and ``/closeloop``
  are handled before the acknowledgement (milliseconds of database work): a form
  opens as a modal from the command's ``trigger_id`` (which Slack honours for 3
  seconds), a reply is posted through the outbox, a short notice comes back as
  the command's ephemeral answer.
- ``@bot`` text (``app_mention``) is acknowledged once stored in the durable
  inbox and handled after, like Feishu's messages; a form it answers with is
  posted as a message with a button that opens the modal.
- A button press is handled before the acknowledgement: a form opens as a modal,
  the pressed message is updated through the outbox (``chat.update``), a notice
  comes as an ephemeral message.
- A modal submission with field errors is answered with
  ``response_action: "errors"``; accepted, the modal closes and the result
  replaces the message the modal came from, or is posted to the channel.
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
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import Clock as SlackClock
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session, select

from bot.outbox import Delivered, DeliveryError, OutgoingMessage, RateLimit
from bot.platforms import Services
from bot.platforms.slack import blocks
from bot.platforms.slack.inbound import (
    Malformed,
    Metadata,
    action_event,
    command_event,
    mention_event,
    shape_problem,
    submission_event,
)
from bot.settings import Settings
from cards.model import Card, Form, Repeat, iter_inputs
from handlers.dispatcher import DispatchResult
from handlers.events import ActionEvent, Event
from storage.db import in_db, unit_of_work
from storage.models import Group, OutboxMessage
from storage.outbox import enqueue
from storage.timekeeping import Clock, SystemClock, zone

log = logging.getLogger(__name__)
COMMAND = re.compile(r"^/(record|action|progress|escalate|report|closeloop)$")
PERMANENT = {"channel_not_found", "not_in_channel", "is_archived", "invalid_blocks", "msg_too_long", "no_text",
             "invalid_auth", "account_inactive", "token_revoked", "missing_scope", "message_not_found",
             "cant_update_message", "invalid_arguments"}  # fmt: skip


class _EpochClock(SlackClock):
    """slack_sdk's verifier asks its clock for epoch seconds: ours, so tests move it."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def now(self) -> float:
        return self.clock.now().timestamp()


class SlackPlatform:
    name = "slack"
    # chat.postMessage: about one message per second per channel (short bursts allowed), and "several
    # hundred per minute" per workspace — 5 a second keeps well inside it
    rate_limit = RateLimit(per_target=1, per_app=5)

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.web = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_base, timeout=10)
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
        self.services: Services | None = None
        self._socket: Any = None
        self._connecting: asyncio.Task[None] | None = None

    # ---------------------------------------------------------------- inbound

    def mount(self, app: web.Application, services: Services) -> None:
        self.services = services
        self.verifier.clock = _EpochClock(services.clock)
        app.router.add_post("/slack/events", self.events)
        if self.settings.slack_app_token:
            app.on_startup.append(self._connect_socket_mode)

    async def _connect_socket_mode(self, _app: web.Application) -> None:
        """Connect in the background: slack_sdk retries until Slack answers, and the server must not wait for it."""
        from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

        self._socket = AsyncSocketModeHandler(self.bolt, self.settings.slack_app_token, web_client=self.web)
        self._connecting = asyncio.create_task(self._socket.connect_async())

    async def events(self, request: web.Request) -> web.Response:
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
        except (UnicodeDecodeError, ValueError, AttributeError, KeyError, TypeError) as exc:
            log.warning("slack: refused a malformed request: %s: %s", type(exc).__name__, exc)
            return web.json_response({"error": "malformed payload"}, status=400)
        return await to_aiohttp_response(response)

    async def _on_command(self, ack: Any, body: dict[str, Any]) -> BoltResponse | None:
        try:
            event = command_event(body)
        except Malformed as exc:
            return BoltResponse(status=400, body=json.dumps({"error": str(exc)}))
        result = await self._services.dispatcher.feed(event)
        if result.outcome.form is not None:
            await self._open_form(event, result, Metadata(event.chat.chat_id, event.chat.workspace))
        await (ack(text=result.outcome.toast) if result.outcome.toast else ack())
        return None

    async def _on_mention(self, ack: Any, body: dict[str, Any], context: Any) -> BoltResponse | None:
        try:
            event = mention_event(body, bot_user_id=context.get("bot_user_id"))
        except Malformed as exc:
            return BoltResponse(status=400, body=json.dumps({"error": str(exc)}))
        try:
            await self._services.inbox.accept(event)
        except Exception:
            log.exception("slack: could not store event %s", event.event_id)
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
            return BoltResponse(status=400, body=json.dumps({"error": str(exc)}))
        result = await self._services.dispatcher.feed(event)
        if result.outcome.form is not None:
            await self._open_form(event, result, Metadata(event.chat.chat_id, event.chat.workspace, event.message_id))
        if result.outcome.update is not None and event.message_id:
            await self._post(event, result.outcome.update, result.names, key="update", update_of=event.message_id)
        if result.outcome.toast:
            await self._notice(event, result.outcome.toast)
        await ack()
        return None

    async def _on_submission(self, ack: Any, body: dict[str, Any]) -> BoltResponse | None:
        view = body.get("view") or {}
        try:
            metadata = Metadata.load(str(view.get("private_metadata") or ""))
            state = (view.get("state") or {}).get("values") or {}
            if not isinstance(state, dict):
                raise Malformed("view.state.values is not an object")
            values = blocks.form_values(state, tz=await self._zone(metadata.channel))
            event, metadata = submission_event(body, values)
        except (Malformed, ValueError, TypeError) as exc:
            return BoltResponse(status=400, body=json.dumps({"error": str(exc)}))
        result = await self._services.dispatcher.feed(event)
        outcome = result.outcome
        again = _form_of(outcome.update) if outcome.update is not None else None
        if again is not None:  # the same form back: what was wrong with the submission
            errors = _errors(again, positions=_rows_as_submitted(state))
            if errors and set(errors) <= {b.get("block_id") for b in view.get("blocks") or []}:
                await ack(response_action="errors", errors=errors)
            else:  # nothing to pin on an input (say, someone changed the record meanwhile): show the form anew
                await ack(response_action="update", view=await self._modal(outcome.update, metadata))
            if outcome.toast and not errors:
                await self._notice(event, outcome.toast)
            return None
        if outcome.form is not None:
            await ack(response_action="update", view=await self._modal(outcome.form, metadata))
            return None
        await ack()  # closes the modal
        if outcome.update is not None:
            await self._post(event, outcome.update, result.names, key="result", update_of=metadata.message_ts)
        if outcome.toast:
            await self._notice(event, outcome.toast)
        return None

    # ---------------------------------------------------------------- helpers

    @property
    def _services(self) -> Services:
        assert self.services is not None, "mount() first"
        return self.services

    async def _db(self, work: Any, *args: Any) -> Any:
        """Database work off the event loop, on the threads every writer shares (one for SQLite)."""
        return await in_db(self._services.engine, work, *args)

    async def _zone(self, channel: str) -> Any:
        return await self._db(self._zone_now, channel)

    def _zone_now(self, channel: str) -> Any:
        with Session(self._services.engine) as session:
            name = session.exec(
                select(Group.timezone).where(Group.platform == self.name, Group.chat_id == channel)
            ).first()
        return zone(name or self.settings.timezone)

    async def _modal(self, card: Card, metadata: Metadata) -> dict[str, Any]:
        form = _form_of(card)
        assert form is not None
        title = card.header.title if card.header else form.submit.label
        metadata = Metadata(metadata.channel, metadata.team, metadata.message_ts, form.submit.payload.to_token())
        zone_ = await self._zone(metadata.channel)
        return blocks.render_modal(form, title=title, private_metadata=metadata.dump(), tz=zone_)

    async def _open_form(self, event: Event, result: DispatchResult, metadata: Metadata) -> None:
        """The form as a modal from the request's trigger; if Slack refuses, posted with an open button."""
        assert result.outcome.form is not None
        try:
            await self.web.views_open(
                trigger_id=event.platform_context["trigger_id"], view=await self._modal(result.outcome.form, metadata)
            )
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("slack: views.open failed (%s); posting the form instead", _reason(exc))
            await self._post(event, result.outcome.form, result.names, key="form")

    async def _open_posted_form(self, body: dict[str, Any]) -> None:
        """The form button of a posted form card: the form from the outbox row of that message, as a modal."""
        container = body.get("container") or {}
        channel, ts = container.get("channel_id"), container.get("message_ts")

        def posted() -> dict[str, Any] | None:
            with Session(self._services.engine) as session:
                row = session.exec(
                    select(OutboxMessage).where(
                        OutboxMessage.platform == self.name,
                        OutboxMessage.target == channel,
                        OutboxMessage.platform_message_id == ts,
                    )
                ).first()
                return row.payload["card"] if row is not None else None

        found = await self._db(posted)
        card = Card.load(found) if found is not None else None
        if card is None or _form_of(card) is None or not body.get("trigger_id"):
            raise Malformed("no form behind this button")
        team = (body.get("team") or {}).get("id") or ""
        try:
            await self.web.views_open(
                trigger_id=body["trigger_id"], view=await self._modal(card, Metadata(channel, team, ts))
            )
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("slack: views.open failed (%s)", _reason(exc))

    async def _post(self, event: ActionEvent | Event, card: Card, names: Mapping[str, str], *, key: str,
                    update_of: str | None = None) -> None:  # fmt: skip
        """A card for the event's channel through the outbox (durable, rate limited, retried)."""

        def write() -> None:
            with unit_of_work(self._services.engine) as session:
                enqueue(
                    session, platform=self.name, target=event.chat.chat_id, card=card, names=names, update_of=update_of,
                    key=f"{self.name}:{event.chat.chat_id}:event:{event.event_id}:{key}", now=self._services.clock.now(),
                )  # fmt: skip

        await self._db(write)
        self._services.sender.wake.set()

    async def _notice(self, event: Event, text: str) -> None:
        """A short notice only the person who acted sees (Slack has no toasts)."""
        try:
            await self.web.chat_postEphemeral(channel=event.chat.chat_id, user=event.sender.user_id, text=text)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("slack: could not show a notice to %s: %s", event.sender.user_id, _reason(exc))

    # ---------------------------------------------------------------- outbound

    async def deliver(self, message: OutgoingMessage) -> Delivered:
        pages = blocks.render_messages(message.card)
        try:
            if message.update_of:
                await self.web.chat_update(channel=message.target, ts=message.update_of, **pages[0])
                return Delivered(message.update_of)
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
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"slack: {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
        if self._socket is not None:
            await self._socket.close_async()
        if self.web.session is not None and not self.web.session.closed:
            await self.web.session.close()


def _form_of(card: Card | None) -> Form | None:
    if card is None:
        return None
    return next((e for e in card.elements if isinstance(e, Form)), None)


def _rows_as_submitted(state: Mapping[str, Any]) -> dict[str, list[int]]:
    """For each repeated group, the modal rows that were not blank, in order.

    The core drops blank rows before it validates, so its errors count rows among
    the filled ones (``items.0`` is the first filled row); Slack needs the block
    the person typed into (``items.2``).
    """
    filled: dict[str, set[int]] = {}
    for block_id, actions in state.items():
        parts = str(block_id).split(".")
        if len(parts) == 3 and parts[1].isdigit():
            rows = filled.setdefault(parts[0], set())
            if any(_filled(a) for a in (actions or {}).values() if isinstance(a, dict)):
                rows.add(int(parts[1]))
    return {group: sorted(rows) for group, rows in filled.items()}


def _filled(action: Mapping[str, Any]) -> bool:
    keys = ("value", "selected_date", "selected_date_time", "selected_time", "selected_user", "selected_users",
            "selected_option", "selected_options")  # fmt: skip
    return any(action.get(key) not in (None, "", [], {}) for key in keys)


def _errors(form: Form, *, positions: Mapping[str, list[int]]) -> dict[str, str]:
    """The form's errors by the block id of the input they concern (the dotted input name, rows as shown)."""
    errors: dict[str, str] = {}
    for item in iter_inputs(form):
        if isinstance(item, Repeat):
            rows = positions.get(item.name, [])
            if item.error:  # the group's own error ("at least one action item") goes to its first input
                errors[f"{item.name}.{rows[0] if rows else 0}.{item.template[0].name}"] = item.error
            for key, message in item.row_errors.items():
                index, _, field = key.partition(".")
                row = rows[int(index)] if index.isdigit() and int(index) < len(rows) else int(index or 0)
                errors[f"{item.name}.{row}.{field}"] = message
        elif item.error:
            errors[item.name] = item.error
    return blocks.field_errors(errors)["errors"] if errors else {}


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
