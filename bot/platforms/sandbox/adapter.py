"""The local sandbox: a group chat in the browser, and a small JSON API, with no platform account.

It is a platform like the others: it turns what you type into neutral events,
goes through the same gateway, and "delivers" the bot's outbox messages by
marking them sent — the chat's history is the outbox itself. Anyone can speak
as anyone here, so the settings keep it on loopback unless explicitly forced,
and it guards itself like a local web app should: its clock acts on sandbox
groups only, its form posts need the page's token and a same-origin request,
its pages send security headers, and whatever the body, a bad request is a 400.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import quote, urlsplit

import sqlalchemy as sa
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from sqlmodel import Session, col, select
from yarl import URL

from bot.outbox import Delivered, OutgoingMessage
from bot.platforms.gateway import Gateway
from bot.platforms.sandbox import page
from bot.platforms.sandbox.personas import BY_ID, PERSONAS, WORKSPACE, seed
from bot.platforms.sandbox.settings import LOOPBACK_HOSTS
from bot.settings import Settings
from cards.html import render_card_html
from cards.model import Card, CardPayload, collect_form_values
from handlers.capabilities import Capabilities, FormStyle, Private, RateLimit, Respond, Source
from handlers.dispatcher import DispatchResult
from handlers.events import ActionEvent, Chat, CommandEvent, Event, MentionedUser, Sender
from scheduler.jobs import run_jobs
from storage.db import in_db, unit_of_work
from storage.files import file_for
from storage.models import Group, OutboxMessage
from storage.timekeeping import zone
from storage.types import OutboxStatus

NAME = "sandbox"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
dumps = partial(json.dumps, ensure_ascii=False)  # Chinese stays readable in the API's answers
MENTION = re.compile(r"@(\w+)")
BOT_MENTION = re.compile(r"^\s*@(bot|closeloop|机器人)\b\s*", re.I)  # the bot's own mention, as platforms strip it
AS_COOKIE = "closeloop_sandbox_as"  # who you are on the sandbox page; web forms refuse another person's link
FLASH_LIMIT = 256  # answers kept for the page's next load, oldest dropped first
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # with no-referrer a browser's own post says Origin: null, which is refused
}
CAPABILITIES = Capabilities(  # like a chat app: a typed command is answered with messages, a button with its card
    forms=FormStyle.CARD,
    respond={Source.BUTTON: Respond.TOAST | Respond.UPDATE},
    message_update=False,
    private=Private.EPHEMERAL,  # shown only to that persona
    files=True,  # served at /sandbox/files/<id>, linked from the card
    images=True,  # shown inline
    rate_limit=RateLimit(per_target=50, per_app=500),
    inbox=False,  # the API answers with what the bot said, so it handles every event at once
)


class BadRequest(web.HTTPBadRequest):
    def __init__(self, message: str) -> None:
        super().__init__(text=json.dumps({"error": message}, ensure_ascii=False), content_type="application/json")


@dataclass
class Said:
    group: str
    user: str
    text: str
    after: int = 0  # the last message the bot had posted when this was typed: where the bubble goes


class SandboxRenderer:
    def render(self, card: Card, *, names: Any = None) -> list[dict[str, Any]]:
        return [{"html": render_card_html(card, names=names or {})}]

    def form_values(self, submitted: Any) -> dict[str, Any]:
        return collect_form_values(submitted)

    def escape(self, text: str) -> str:
        return html.escape(text)


class SandboxPlatform:
    name = NAME
    capabilities = CAPABILITIES

    def __init__(self, settings: Settings | None = None, *, allow_remote: bool = False) -> None:
        self.settings = settings
        self.allow_remote = allow_remote
        self.renderer = SandboxRenderer()
        self.gateway: Gateway | None = None
        self.said: deque[Said] = deque(maxlen=500)  # what people typed, for the page; the bot's side is the outbox
        self.flash: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self.csrf = secrets.token_urlsafe(24)  # the page's forms carry it; a post without it is refused

    @property
    def rate_limit(self) -> RateLimit:
        return self.capabilities.rate_limit

    # ------------------------------------------------------------ platform verbs

    def mount(self, app: web.Application, gateway: Gateway) -> None:
        self.gateway = gateway
        with unit_of_work(gateway.engine) as session:
            seed(session)
        local = self._local
        app.router.add_get("/", local(self.page))
        app.router.add_post("/sandbox/say", local(self.page_say))
        app.router.add_post("/sandbox/act", local(self.page_act))
        app.router.add_post("/sandbox/clock", local(self.page_clock))
        app.router.add_post("/sandbox/api/messages", local(self.api_message))
        app.router.add_post("/sandbox/api/actions", local(self.api_action))
        app.router.add_get("/sandbox/api/groups/{group}/messages", local(self.api_history))
        app.router.add_post("/sandbox/api/clock", local(self.api_clock))
        app.router.add_get("/sandbox/files/{file_id}", local(self.file))

    def _local(self, handler: Handler) -> Handler:
        """Answer only requests addressed to this machine by name: another Host is a page of another site
        reaching the sandbox through DNS rebinding (unless the sandbox is forced onto the network)."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            host = URL(f"http://{request.host}").host if request.host else None
            if not self.allow_remote and host not in LOOPBACK_HOSTS:
                raise web.HTTPMisdirectedRequest(text="the sandbox answers on 127.0.0.1 / localhost only")
            return await handler(request)

        return guarded

    async def deliver(self, message: OutgoingMessage) -> Delivered:
        return Delivered(platform_message_id=f"sandbox-{message.id}")

    async def close(self) -> None:
        return None

    @property
    def _gateway(self) -> Gateway:
        assert self.gateway is not None, "mount() first"
        return self.gateway

    # ------------------------------------------------------------ events

    def _chat(self, group: str) -> Chat:
        return Chat(platform=NAME, chat_id=group, workspace=WORKSPACE, name=group)

    def _sender(self, user: str) -> Sender:
        persona = BY_ID.get(user)
        if persona is None:
            raise BadRequest(f"unknown user {user!r}; one of: {', '.join(BY_ID)}")
        return Sender(user_id=persona.user_id, display_name=persona.name)

    def command_event(self, group: str, user: str, text: str) -> CommandEvent:
        """``@李娜`` or ``@lina`` becomes the neutral mention token, as platforms do with their mentions."""
        sender = self._sender(user)
        mentions: list[MentionedUser] = []

        def replace(match: re.Match[str]) -> str:
            word = match.group(1)
            persona = BY_ID.get(word) or next((p for p in PERSONAS if word.startswith(p.name)), None)
            if persona is None:
                return match.group(0)
            mentions.append(MentionedUser(persona.user_id, persona.name))
            rest = word[len(persona.name) :] if word.startswith(persona.name) else ""
            return f"<@{persona.user_id}>{rest}"

        neutral = MENTION.sub(replace, BOT_MENTION.sub("", text))
        return CommandEvent(event_id=f"sandbox-{uuid.uuid4()}", chat=self._chat(group), sender=sender,
                            text=neutral, mentions=tuple(mentions), source=Source.MESSAGE)  # fmt: skip

    def action_event(
        self, group: str, user: str, action: str, payload: Any, form: dict[str, Any], message: Any = None
    ) -> ActionEvent:
        """``message``: the posted message whose button was pressed (its ``id`` in the history), if known."""
        sender = self._sender(user)
        message_id = _message_id(message)
        try:
            parsed = (
                CardPayload.from_token(payload)
                if isinstance(payload, str)
                else CardPayload.model_validate(payload or {})
            )
        except ValueError as exc:
            raise BadRequest(f"payload: {str(exc).splitlines()[0]}") from None
        return ActionEvent(event_id=f"sandbox-{uuid.uuid4()}", chat=self._chat(group), sender=sender,
                           message_id=message_id, action=action, payload=parsed, form=form,
                           source=Source.BUTTON)  # fmt: skip

    async def run(self, event: Event) -> dict[str, Any]:
        """Dispatch, deliver what the bot queued, and answer with what it said (neutral card JSON).

        ``posted`` is every message this event queued for the group, whether the
        background worker or this request marked it sent: the answer never
        misses one because the two raced.
        """
        before = await self._last_id()
        result = await self._gateway.receive(event)
        assert isinstance(result, DispatchResult)  # the sandbox's answers show everything: nothing waits
        kept = result.outcome.update is not None and event.message_id is not None
        if kept:  # the pressed card's new state, kept: the history shows it in the card's place
            await self._gateway.post_instead(event, result.outcome.update, part="card", update_of=event.message_id)
        await self._gateway.sender.run_once(platform=NAME)
        posted = await self._history(event.chat.chat_id, after=before, any_status=True)
        outcome = result.outcome
        return {
            "posted": posted,
            "update": _card_json(outcome.update),
            "reply": _card_json(outcome.reply),
            "form": _card_json(outcome.form),
            "toast": outcome.toast,
            "names": result.names,
            "duplicate": result.duplicate,
            "update_kept": kept,
        }

    async def _last_id(self) -> int:
        return await in_db(self._gateway.engine, self._last_id_now)

    def _last_id_now(self) -> int:
        with Session(self._gateway.engine) as session:
            return session.exec(select(sa.func.coalesce(sa.func.max(OutboxMessage.id), 0))).one()

    async def _history(
        self, group: str, *, after: int = 0, limit: int = 200, any_status: bool = False
    ) -> list[dict[str, Any]]:
        return await in_db(self._gateway.engine, self._history_now, group, after, limit, any_status)

    def _history_now(self, group: str, after: int, limit: int, any_status: bool) -> list[dict[str, Any]]:
        """Messages in order, each showing its latest state: a card replaced later is shown as replaced, once."""
        query = select(OutboxMessage).where(
            OutboxMessage.platform == NAME, OutboxMessage.target == group, col(OutboxMessage.id) > after
        )
        if not any_status:
            query = query.where(OutboxMessage.status == OutboxStatus.SENT)
        with Session(self._gateway.engine) as session:
            rows = list(reversed(session.exec(query.order_by(col(OutboxMessage.id).desc()).limit(limit)).all()))
        replaced = {row.payload["update_of"]: row for row in rows if row.payload.get("update_of")}
        history = []
        for row in (row for row in rows if not row.payload.get("update_of")):  # a new state is not a new message
            latest = replaced.get(f"sandbox-{row.id}", row)
            history.append({
                "id": row.id, "message": f"sandbox-{row.id}", "sent_at": row.sent_at.isoformat() if row.sent_at else None,
                "card": latest.payload["card"], "names": latest.payload.get("names", {}),
                "visible_to": row.payload.get("visible_to"), "replaced": latest is not row,
            })  # fmt: skip
        return history

    async def _groups(self) -> list[str]:
        def read() -> list[str]:
            with Session(self._gateway.engine) as session:
                return list(session.exec(select(Group.chat_id).where(Group.platform == NAME).order_by(Group.chat_id)))

        return await in_db(self._gateway.engine, read)

    # ------------------------------------------------------------ JSON API

    async def api_message(self, request: web.Request) -> web.Response:
        body = await _json(request)
        group, user, text = _field(body, "group"), _field(body, "user"), _field(body, "text")
        event = self.command_event(group, user, text)  # checks the user before anything is kept
        self.said.append(Said(group, user, text, await self._last_id()))
        return _api(await self.run(event))

    async def api_action(self, request: web.Request) -> web.Response:
        body = await _json(request)
        form = body.get("form") or {}
        if not isinstance(form, dict):
            raise BadRequest("form must be an object")
        event = self.action_event(_field(body, "group"), _field(body, "user"), _field(body, "action"),
                                  body.get("payload"), form, body.get("message"))  # fmt: skip
        return _api(await self.run(event))

    async def jump(self, group: str, at: str) -> dict[str, Any]:
        """The sandbox's clock control: run every scheduler job as of ``at`` — for sandbox groups only."""
        try:
            instant = datetime.fromisoformat(at)
            if instant.tzinfo is None:
                instant = instant.replace(tzinfo=zone(self.settings.timezone if self.settings else "Asia/Shanghai"))
            instant = instant.astimezone(UTC)
        except (ValueError, OverflowError):
            raise BadRequest(f"at: not an ISO-8601 instant: {at[:40]!r}") from None
        if not EARLIEST <= instant < LATEST:
            raise BadRequest("at: must lie between 2000 and 2100")
        before = await self._last_id()
        engine = self._gateway.engine
        counts = await in_db(engine, run_jobs, engine, as_of=instant, now=self._gateway.clock.now(), platforms=[NAME])
        await self._gateway.sender.run_once(platform=NAME)
        return {"jobs": counts, "posted": await self._history(group, after=before, any_status=True)}

    async def api_clock(self, request: web.Request) -> web.Response:
        body = await _json(request)
        return _api(await self.jump(_field(body, "group"), _field(body, "at")))

    async def api_history(self, request: web.Request) -> web.Response:
        return _api({"messages": await self._history(request.match_info["group"])})

    async def file(self, request: web.Request) -> web.Response:
        """The files the bot made (exports, review charts): only those of sandbox groups, until they expire."""
        raw = request.match_info["file_id"]
        found = await in_db(self._gateway.engine, self._file_now, int(raw)) if raw.isdigit() and len(raw) < 12 else None
        if found is None:
            raise web.HTTPNotFound(text="no such file")
        content, filename, mime = found
        disposition = "inline" if mime.startswith("image/") else "attachment"
        return web.Response(body=content, headers={
            "Content-Type": mime, "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(filename)}",
            "X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=300",
        })  # fmt: skip

    def _file_now(self, file_id: int) -> tuple[bytes, str, str] | None:
        with Session(self._gateway.engine) as session:
            found = file_for(session, file_id=file_id, platform=NAME, now=self._gateway.clock.now())
            return (found[0].content, found[0].filename, found[0].mime) if found else None

    # ------------------------------------------------------------ the page

    async def page(self, request: web.Request) -> web.Response:
        group = request.query.get("group", "demo")[:100]
        user = request.query.get("as", PERSONAS[0].user_id)
        if user not in BY_ID:
            user = PERSONAS[0].user_id
        said = [s for s in self.said if s.group == group]
        history = [m for m in await self._history(group) if m["visible_to"] in (None, user)]
        body = page.render(group=group, user=user, history=history, said=said, groups=await self._groups(),
                           flash=self.flash.pop((group, user), None), csrf=self.csrf)  # fmt: skip
        response = web.Response(text=body, content_type="text/html", headers=SECURITY_HEADERS)
        response.set_cookie(AS_COOKIE, user, httponly=True, samesite="Strict", path="/")
        return response

    def web_viewer(self, request: web.Request) -> str | None:
        """Who opens a web form or the board: the person picked on this page (the sandbox's own "sign-in")."""
        user = request.cookies.get(AS_COOKIE)
        return user if user in BY_ID else None

    async def _posted_form(self, request: web.Request) -> dict[str, Any]:
        """A form post from our own page: same origin, carrying the page's token, well formed."""
        if not _same_origin(request):
            raise web.HTTPForbidden(text="cross-site request refused")
        try:
            data = await request.post()
            flat: dict[str, Any] = {}
            for key in data:
                values = [v for v in data.getall(key) if isinstance(v, str)]
                flat[key] = values if len(values) > 1 else (values[0] if values else "")
        except (ValueError, UnicodeDecodeError, AssertionError, HttpProcessingError) as exc:
            raise BadRequest(f"malformed form body: {type(exc).__name__}") from None
        if not secrets.compare_digest(str(flat.pop("csrf", "")), self.csrf):
            raise web.HTTPForbidden(text="the page's token is missing or stale: reload the page")
        return flat

    def _remember(self, group: str, user: str, answer: dict[str, Any]) -> None:
        self.flash[(group, user)] = answer
        self.flash.move_to_end((group, user))
        while len(self.flash) > FLASH_LIMIT:
            self.flash.popitem(last=False)

    async def page_say(self, request: web.Request) -> web.Response:
        data = await self._posted_form(request)
        group, user, text = _text(data, "group", "demo"), _text(data, "as"), _text(data, "text").strip()
        if text:
            event = self.command_event(group, user, text)
            self.said.append(Said(group, user, text, await self._last_id()))
            self._remember(group, user, await self.run(event))
        raise web.HTTPSeeOther(f"/?group={group}&as={user}")

    async def page_act(self, request: web.Request) -> web.Response:
        flat = await self._posted_form(request)
        group, user = _text(flat, "group", "demo"), _text(flat, "as")
        flat.pop("group", None), flat.pop("as", None)
        action, payload, message = _text(flat, "action"), _text(flat, "payload"), _text(flat, "message")
        flat.pop("action", None), flat.pop("payload", None), flat.pop("message", None)
        answer = await self.run(self.action_event(group, user, action, payload, collect_form_values(flat), message))
        self._remember(group, user, answer)
        raise web.HTTPSeeOther(f"/?group={group}&as={user}")

    async def page_clock(self, request: web.Request) -> web.Response:
        data = await self._posted_form(request)
        group, user = _text(data, "group", "demo"), _text(data, "as")
        at = _text(data, "at").strip()
        answer = await self.jump(group, at)
        titles = [m["card"].get("header", {}).get("title", "") for m in answer["posted"]]
        self._remember(group, user, {"clock": {"at": at, "posted": titles, "jobs": answer["jobs"]}})
        raise web.HTTPSeeOther(f"/?group={group}&as={user}")


def _message_id(message: Any) -> str | None:
    """The platform id of a posted message: ``sandbox-<id>``, from that or the history's ``id``."""
    if isinstance(message, int) and not isinstance(message, bool) and 0 < message < 2**31:
        return f"sandbox-{message}"
    if isinstance(message, str) and re.fullmatch(r"sandbox-\d{1,9}", message):
        return message
    if message in (None, ""):
        return None
    raise BadRequest("message: the id of a posted message (from the history)")


def _same_origin(request: web.Request) -> bool:
    """A browser's cross-site post carries another Origin (or Referer); ours, or none (a script), is allowed."""
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.host


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise BadRequest("the body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > 20000:
        raise BadRequest(f"{name} is required (a non-empty string)")
    return value.strip()


def _text(data: dict[str, Any], name: str, default: str = "") -> str:
    value = data.get(name, default)
    return value if isinstance(value, str) else default


def _api(answer: dict[str, Any]) -> web.Response:
    return web.json_response(answer, dumps=dumps)


def _card_json(card: Card | None) -> dict[str, Any] | None:
    return card.model_dump(mode="json", exclude_none=True) if card is not None else None
