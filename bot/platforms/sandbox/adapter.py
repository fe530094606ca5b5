"""The local sandbox: a group chat in the browser, and a small JSON API, with no platform account.

It is a platform like the others: it turns what you type into neutral events,
and "delivers" the bot's outbox messages by marking them sent — the chat's
history is the outbox itself. Anyone can speak as anyone here, so the settings
keep it on loopback unless explicitly forced.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlmodel import Session, col, select

from bot.outbox import Delivered, OutgoingMessage, RateLimit
from bot.platforms import Services
from bot.platforms.sandbox import page
from bot.platforms.sandbox.personas import BY_ID, PERSONAS, WORKSPACE, seed
from cards.model import Card, CardPayload, collect_form_values
from handlers.events import ActionEvent, Chat, CommandEvent, MentionedUser, Sender
from scheduler.jobs import run_jobs
from storage.db import in_db, unit_of_work
from storage.models import OutboxMessage
from storage.timekeeping import zone
from storage.types import OutboxStatus

NAME = "sandbox"
dumps = partial(json.dumps, ensure_ascii=False)  # Chinese stays readable in the API's answers
MENTION = re.compile(r"@(\w+)")
BOT_MENTION = re.compile(r"^\s*@(bot|closeloop|机器人)\b\s*", re.I)  # the bot's own mention, as platforms strip it


class BadRequest(web.HTTPBadRequest):
    def __init__(self, message: str) -> None:
        super().__init__(text=json.dumps({"error": message}, ensure_ascii=False), content_type="application/json")


@dataclass
class Said:
    group: str
    user: str
    text: str


class SandboxPlatform:
    name = NAME
    rate_limit = RateLimit(per_target=50, per_app=500)

    def __init__(self) -> None:
        self.services: Services | None = None
        self.said: deque[Said] = deque(maxlen=500)  # what people typed, for the page; the bot's side is the outbox
        self.flash: dict[tuple[str, str], dict[str, Any]] = {}

    # ------------------------------------------------------------ platform verbs

    def mount(self, app: web.Application, services: Services) -> None:
        self.services = services
        with unit_of_work(services.engine) as session:
            seed(session)
        app.router.add_get("/", self.page)
        app.router.add_post("/sandbox/say", self.page_say)
        app.router.add_post("/sandbox/act", self.page_act)
        app.router.add_post("/sandbox/api/messages", self.api_message)
        app.router.add_post("/sandbox/api/actions", self.api_action)
        app.router.add_get("/sandbox/api/groups/{group}/messages", self.api_history)
        app.router.add_post("/sandbox/api/clock", self.api_clock)
        app.router.add_post("/sandbox/clock", self.page_clock)

    async def deliver(self, message: OutgoingMessage) -> Delivered:
        return Delivered(platform_message_id=f"sandbox-{message.id}")

    async def close(self) -> None:
        return None

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
        mentions: list[MentionedUser] = []

        def replace(match: re.Match[str]) -> str:
            word = match.group(1)
            persona = BY_ID.get(word) or next((p for p in PERSONAS if word.startswith(p.name)), None)
            if persona is None:
                return match.group(0)
            mentions.append(MentionedUser(persona.user_id, persona.name))
            return (
                f"<@{persona.user_id}>" + word[len(persona.name) :]
                if word.startswith(persona.name)
                else f"<@{persona.user_id}>"
            )

        neutral = MENTION.sub(replace, BOT_MENTION.sub("", text))
        return CommandEvent(event_id=f"sandbox-{uuid.uuid4()}", chat=self._chat(group), sender=self._sender(user),
                            text=neutral, mentions=tuple(mentions))  # fmt: skip

    def action_event(self, group: str, user: str, action: str, payload: Any, form: dict[str, Any]) -> ActionEvent:
        try:
            parsed = (
                CardPayload.from_token(payload)
                if isinstance(payload, str)
                else CardPayload.model_validate(payload or {})
            )
        except ValueError as exc:
            raise BadRequest(f"payload: {exc}") from None
        return ActionEvent(event_id=f"sandbox-{uuid.uuid4()}", chat=self._chat(group), sender=self._sender(user),
                           action=action, payload=parsed, form=form)  # fmt: skip

    async def run(self, event: Any) -> dict[str, Any]:
        """Dispatch, deliver what the bot queued, and answer with it (neutral card JSON)."""
        assert self.services is not None
        before = await self._last_id()
        result = await self.services.dispatcher.feed(event)
        await self.services.sender.run_once(platform=NAME)
        posted = await self._history(event.chat.chat_id, after=before)
        outcome = result.outcome
        return {
            "posted": posted,
            "update": _card_json(outcome.update),
            "reply": _card_json(outcome.reply),
            "form": _card_json(outcome.form),
            "toast": outcome.toast,
            "names": result.names,
            "duplicate": result.duplicate,
        }

    async def _last_id(self) -> int:
        assert self.services is not None
        return await in_db(self.services.engine, self._last_id_now)

    def _last_id_now(self) -> int:
        assert self.services is not None
        with Session(self.services.engine) as session:
            return session.exec(select(sa.func.coalesce(sa.func.max(OutboxMessage.id), 0))).one()

    async def _history(self, group: str, *, after: int = 0, limit: int = 200) -> list[dict[str, Any]]:
        assert self.services is not None
        return await in_db(self.services.engine, self._history_now, group, after, limit)

    def _history_now(self, group: str, after: int, limit: int) -> list[dict[str, Any]]:
        assert self.services is not None
        with Session(self.services.engine) as session:
            rows = session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.platform == NAME, OutboxMessage.target == group, col(OutboxMessage.id) > after,
                       OutboxMessage.status == OutboxStatus.SENT)
                .order_by(col(OutboxMessage.id).desc())
                .limit(limit)
            ).all()  # fmt: skip
        return [
            {"id": row.id, "sent_at": row.sent_at.isoformat() if row.sent_at else None,
             "card": row.payload["card"], "names": row.payload.get("names", {})}
            for row in reversed(rows)
        ]  # fmt: skip

    # ------------------------------------------------------------ JSON API

    async def api_message(self, request: web.Request) -> web.Response:
        body = await _json(request)
        group, user, text = _field(body, "group"), _field(body, "user"), _field(body, "text")
        self.said.append(Said(group, user, text))
        return web.json_response(await self.run(self.command_event(group, user, text)), dumps=dumps)

    async def api_action(self, request: web.Request) -> web.Response:
        body = await _json(request)
        form = body.get("form") or {}
        if not isinstance(form, dict):
            raise BadRequest("form must be an object")
        event = self.action_event(_field(body, "group"), _field(body, "user"), _field(body, "action"),
                                  body.get("payload"), form)  # fmt: skip
        return web.json_response(await self.run(event), dumps=dumps)

    async def jump(self, group: str, at: str) -> dict[str, Any]:
        """The sandbox's clock control: run every scheduler job as of ``at`` and show what arrives."""
        assert self.services is not None
        try:
            instant = datetime.fromisoformat(at)
        except ValueError:
            raise BadRequest(f"at: not an ISO-8601 instant: {at!r}") from None
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=zone(self.services.settings.timezone))
        before = await self._last_id()
        counts = await in_db(
            self.services.engine, run_jobs, self.services.engine, as_of=instant, now=self.services.clock.now()
        )
        await self.services.sender.run_once(platform=NAME)
        return {"jobs": counts, "posted": await self._history(group, after=before)}

    async def api_clock(self, request: web.Request) -> web.Response:
        body = await _json(request)
        return web.json_response(await self.jump(_field(body, "group"), _field(body, "at")), dumps=dumps)

    async def page_clock(self, request: web.Request) -> web.Response:
        data = await request.post()
        group, user = str(data.get("group", "demo")), str(data.get("as", ""))
        answer = await self.jump(group, str(data.get("at", "")).strip())
        self.flash[(group, user)] = {"toast": " · ".join(f"{k}: {v}" for k, v in answer["jobs"].items())}
        raise web.HTTPSeeOther(f"/?group={group}&as={user}")

    async def api_history(self, request: web.Request) -> web.Response:
        return web.json_response({"messages": await self._history(request.match_info["group"])}, dumps=dumps)

    # ------------------------------------------------------------ the page

    async def page(self, request: web.Request) -> web.Response:
        group = request.query.get("group", "demo")
        user = request.query.get("as", PERSONAS[0].user_id)
        if user not in BY_ID:
            user = PERSONAS[0].user_id
        said = [s for s in self.said if s.group == group]
        html = page.render(group=group, user=user, history=await self._history(group), said=said,
                           flash=self.flash.pop((group, user), None))  # fmt: skip
        return web.Response(text=html, content_type="text/html")

    async def page_say(self, request: web.Request) -> web.Response:
        data = await request.post()
        group, user, text = str(data.get("group", "demo")), str(data.get("as", "")), str(data.get("text", "")).strip()
        if text:
            self.said.append(Said(group, user, text))
            answer = await self.run(self.command_event(group, user, text))
            self.flash[(group, user)] = answer
        raise web.HTTPSeeOther(f"/?group={group}&as={user}")

    async def page_act(self, request: web.Request) -> web.Response:
        data = await request.post()
        flat: dict[str, Any] = {}
        for key in data:
            values = data.getall(key)
            flat[key] = [str(v) for v in values] if len(values) > 1 else str(values[0])
        group, user = str(flat.pop("group", "demo")), str(flat.pop("as", ""))
        action, payload = str(flat.pop("action", "")), str(flat.pop("payload", ""))
        answer = await self.run(self.action_event(group, user, action, payload, collect_form_values(flat)))
        self.flash[(group, user)] = answer
        raise web.HTTPSeeOther(f"/?group={group}&as={user}")


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("the body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{name} is required (a non-empty string)")
    return value.strip()


def _card_json(card: Card | None) -> dict[str, Any] | None:
    return card.model_dump(mode="json", exclude_none=True) if card is not None else None
