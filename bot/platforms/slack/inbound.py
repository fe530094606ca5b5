"""Slack payloads as neutral events: slash commands, ``app_mention``, button presses and modal submissions.

Mentions come as ``<@U123>`` or, in slash commands with escaping on, ``<@U123|name>``;
both become the neutral ``<@U123>`` with the name kept as a ``MentionedUser``.
The umbrella command ``/closeloop`` takes ``help``, ``settings`` and ``departments``
(``dept``) and hands the rest of its text to the same grammar as everywhere else.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from cards.model import CardPayload
from handlers.capabilities import Source
from handlers.events import ActionEvent, Chat, CommandEvent, MentionedUser, Sender

PLATFORM = "slack"
COMMANDS = ("/record", "/action", "/progress", "/escalate", "/report", "/approve", "/reject", "/snooze", "/board", "/export",
            "/dept", "/settings", "/help", "/closeloop")  # fmt: skip
TOKEN = re.compile(r"<([^<>]+)>")  # Slack's own tokens: what people type has < and > escaped
MENTION_BODY = re.compile(r"@([UW][A-Z0-9]{2,40})")
UMBRELLA = {"help": "/help", "帮助": "/help", "settings": "/settings", "设置": "/settings",
            "departments": "/dept", "department": "/dept", "dept": "/dept", "部门": "/dept"}  # fmt: skip


class Malformed(ValueError):
    """A payload that is signed but not shaped as Slack sends it: answered with 400."""


@dataclass(frozen=True)
class Metadata:
    """What a modal carries in ``private_metadata``: where it was opened and for which record."""

    channel: str
    team: str
    message_ts: str | None = None  # the message whose button opened it, updated after the submission
    payload: str = ""  # the CardPayload token of the form

    def dump(self) -> str:
        return json.dumps({"c": self.channel, "t": self.team, "m": self.message_ts, "p": self.payload})

    @classmethod
    def load(cls, text: str) -> Metadata:
        try:
            data = json.loads(text)
            return cls(str(data["c"]), str(data["t"]), data.get("m"), str(data.get("p") or ""))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise Malformed("private_metadata is not ours") from exc


def shape_problem(body: Any) -> str | None:
    """What is wrong with a payload's outline, before bolt reads it (bolt assumes Slack's shapes)."""
    if not isinstance(body, dict):
        return "the payload is not an object"
    kind = body.get("type")
    needs: dict[str, tuple[tuple[str, type], ...]] = {
        "view_submission": (("view", dict), ("user", dict)),
        "view_closed": (("view", dict), ("user", dict)),
        "block_actions": (("actions", list), ("user", dict)),
        "event_callback": (("event", dict),),
    }
    for key, expected in needs.get(str(kind), ()):
        if not isinstance(body.get(key), expected):
            return f"{kind} without {key}"
    view = body.get("view")
    if isinstance(view, dict) and not (isinstance(view.get("type"), str) and isinstance(view.get("state", {}), dict)):
        return "a view without its type or state"
    if kind == "block_actions" and not all(isinstance(a, dict) for a in body["actions"]):
        return "actions that are not objects"
    if kind == "event_callback" and not isinstance(body["event"].get("type"), str):
        return "an event without its type"
    if kind is None and "command" in body and not isinstance(body.get("command"), str):
        return "a command that is not text"
    return None


def unescape(text: str) -> str:
    """Slack escapes ``&``, ``<`` and ``>`` in what people type; the rest of its ``<…>`` are its own tokens."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def neutral_text(text: str, *, bot_user_id: str | None = None) -> tuple[str, tuple[MentionedUser, ...]]:
    """Slack's message text as the core reads it: people's mentions as ``<@U…>`` (the bot's own removed), every
    other token of Slack's as the text it stands for (``#channel``, ``@here``, a link's address), and what the
    person typed unescaped — so a ``<@…>`` they typed literally is their text, not a mention."""
    people: dict[str, MentionedUser] = {}
    out: list[str] = []
    position = 0
    for token in TOKEN.finditer(text):
        out.append(unescape(text[position : token.start()]))
        position = token.end()
        body, _, label = token.group(1).partition("|")
        label = unescape(label)
        if (mentioned := MENTION_BODY.fullmatch(body)) is not None:
            user_id = mentioned.group(1)
            if user_id == bot_user_id:
                out.append(" ")
                continue
            if user_id not in people or label:
                people[user_id] = MentionedUser(user_id, label or None)
            out.append(f"<@{user_id}>")
        elif body.startswith("#"):
            out.append(f"#{label or body[1:]}")
        elif body.startswith("!"):
            out.append(label or "@" + body[1:].split("^")[0])  # @here, @channel, a user group's @handle, a date
        else:
            out.append(label if label and label != body else unescape(body))  # a link: its label, or its address
    out.append(unescape(text[position:]))
    return " ".join("".join(out).split()), tuple(people.values())


def command_line(command: str, text: str) -> str:
    """``/record`` + ``new 订单延迟`` → ``/record new 订单延迟``; ``/closeloop settings`` → ``/settings``."""
    if command != "/closeloop":
        return f"{command} {text}".strip()
    first, _, rest = text.strip().partition(" ")
    mapped = UMBRELLA.get(first.lower())
    if mapped is None:
        return f"/help {text}".strip() if not first else f"/{text.strip()}"
    if mapped == "/dept" and not rest.strip():
        rest = "list"
    return f"{mapped} {rest}".strip()


def _require(body: dict[str, Any], *keys: str) -> list[str]:
    values = [body.get(key) for key in keys]
    if not all(isinstance(v, str) and v for v in values):
        raise Malformed(f"missing {', '.join(k for k, v in zip(keys, values, strict=True) if not v)}")
    return [str(v) for v in values]


def command_event(body: dict[str, Any]) -> CommandEvent:
    command, channel, user, team, trigger = _require(body, "command", "channel_id", "user_id", "team_id", "trigger_id")
    text, mentions = neutral_text(command_line(command, str(body.get("text") or "")))
    return CommandEvent(
        event_id=f"command:{trigger}",  # Slack does not retry slash commands; the trigger id is unique per use
        chat=Chat(PLATFORM, channel, team, body.get("channel_name"), channel.startswith("D")),
        sender=Sender(user, body.get("user_name")),
        text=text, mentions=mentions, source=Source.SLASH,
    )  # fmt: skip


def mention_event(body: dict[str, Any], *, bot_user_id: str | None) -> CommandEvent:
    event = body.get("event")
    if not isinstance(event, dict):
        raise Malformed("no event")
    (event_id,) = _require(body, "event_id")
    channel, user = _require(event, "channel", "user")
    team = str(body.get("team_id") or event.get("team") or "")
    text, mentions = neutral_text(str(event.get("text") or ""), bot_user_id=bot_user_id)
    return CommandEvent(
        event_id=event_id, chat=Chat(PLATFORM, channel, team, None, channel.startswith("D")), sender=Sender(user),
        text=text, mentions=mentions, source=Source.MESSAGE,
    )  # fmt: skip


def button_value(value: str) -> tuple[str, CardPayload]:
    """A button's value as we rendered it: ``{"a": action, "p": payload token}``."""
    try:
        data = json.loads(value)
        return str(data["a"]), CardPayload.from_token(str(data.get("p") or ""))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise Malformed("button value is not ours") from exc


def action_event(body: dict[str, Any]) -> ActionEvent:
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise Malformed("no actions")
    action, payload = button_value(str(actions[0].get("value") or ""))
    user = body.get("user") or {}
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    (trigger,) = _require(body, "trigger_id")
    if not isinstance(user, dict) or not user.get("id") or not channel:
        raise Malformed("no user or channel")
    team = (body.get("team") or {}).get("id") or user.get("team_id") or ""
    return ActionEvent(
        event_id=f"action:{trigger}", chat=Chat(PLATFORM, str(channel), str(team)),
        sender=Sender(str(user["id"]), user.get("username") or user.get("name")),
        message_id=container.get("message_ts"), action=action, payload=payload, source=Source.BUTTON,
    )  # fmt: skip


def submission_event(body: dict[str, Any], form: dict[str, Any]) -> tuple[ActionEvent, Metadata]:
    view = body.get("view")
    user = body.get("user") or {}
    if not isinstance(view, dict) or not isinstance(user, dict) or not user.get("id"):
        raise Malformed("no view or user")
    metadata = Metadata.load(str(view.get("private_metadata") or ""))
    try:
        payload = CardPayload.from_token(metadata.payload)
    except ValueError as exc:
        raise Malformed("form payload is not ours") from exc
    action, view_id, view_hash = _require(view, "callback_id", "id", "hash")
    event = ActionEvent(
        event_id=f"view:{view_id}:{view_hash}",  # a double submit of the same view state is one submission
        chat=Chat(PLATFORM, metadata.channel, metadata.team),
        sender=Sender(str(user["id"]), user.get("username") or user.get("name")),
        message_id=metadata.message_ts, action=action, payload=payload, form=form, source=Source.DIALOG,
    )  # fmt: skip
    return event, metadata
