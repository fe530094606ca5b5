"""Neutral events: what every platform adapter turns its payloads into.

Text arrives with people's @-mentions already written as ``<@USER_ID>`` tokens and
the bot's own mention removed; ``mentions`` carries the display names the
platform gave for those ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cards.model import CardPayload


@dataclass(frozen=True)
class Chat:
    platform: str
    chat_id: str
    workspace: str  # the platform tenant; departments are shared across its chats
    name: str | None = None
    is_direct: bool = False


@dataclass(frozen=True)
class Sender:
    user_id: str
    display_name: str | None = None
    is_chat_admin: bool = False  # the platform says this person administers the chat


@dataclass(frozen=True)
class MentionedUser:
    user_id: str
    display_name: str | None = None


@dataclass(frozen=True)
class Event:
    """Common to all events. ``event_id`` is the platform's id, used to drop redeliveries.

    ``inline_reply``: the platform can put the handler's reply in its HTTP response
    (card callbacks). When False the reply is posted through the outbox, in the
    same transaction as the change.
    ``inline_form``: the platform opens a form as a dialog of its own right away
    (a modal opened from the request's trigger), so a form comes back in the
    answer instead of being posted as a message; the reply is still posted.
    """

    event_id: str
    chat: Chat
    sender: Sender
    message_id: str | None = None
    inline_reply: bool = False
    inline_form: bool = False
    platform_context: dict[str, Any] = field(default_factory=dict)  # e.g. a modal's trigger; opaque to the core


@dataclass(frozen=True)
class CommandEvent(Event):
    """A slash command or an ``@bot`` text message."""

    text: str = ""
    mentions: tuple[MentionedUser, ...] = ()


@dataclass(frozen=True)
class ActionEvent(Event):
    """A button press or a form submission on a card the bot posted."""

    action: str = ""
    payload: CardPayload = field(default_factory=CardPayload)
    form: dict[str, Any] = field(default_factory=dict)


def event_to_json(event: Event) -> dict[str, Any]:
    """The event as plain JSON, for the durable inbox; ``event_from_json`` reverses it exactly."""
    data: dict[str, Any] = {
        "kind": type(event).__name__,
        "event_id": event.event_id,
        "chat": dict(vars(event.chat)),  # flat dataclasses: a shallow copy (asdict deep-copies, slowly)
        "sender": dict(vars(event.sender)),
        "message_id": event.message_id,
        "inline_reply": event.inline_reply,
        "inline_form": event.inline_form,
        "platform_context": event.platform_context,
    }
    if isinstance(event, CommandEvent):
        data.update(text=event.text, mentions=[dict(vars(m)) for m in event.mentions])
    elif isinstance(event, ActionEvent):
        data.update(action=event.action, payload=event.payload.model_dump(mode="json"), form=event.form)
    else:
        raise TypeError(f"not a neutral event: {type(event).__name__}")
    return data


def event_from_json(data: dict[str, Any]) -> Event:
    common: dict[str, Any] = {
        "event_id": data["event_id"],
        "chat": Chat(**data["chat"]),
        "sender": Sender(**data["sender"]),
        "message_id": data.get("message_id"),
        "inline_reply": bool(data.get("inline_reply")),
        "inline_form": bool(data.get("inline_form")),
        "platform_context": data.get("platform_context") or {},
    }
    if data["kind"] == "CommandEvent":
        mentions = tuple(MentionedUser(**m) for m in data.get("mentions") or ())
        return CommandEvent(**common, text=data.get("text", ""), mentions=mentions)
    if data["kind"] == "ActionEvent":
        payload = CardPayload.model_validate(data.get("payload") or {})
        return ActionEvent(**common, action=data.get("action", ""), payload=payload, form=data.get("form") or {})
    raise ValueError(f"unknown event kind {data['kind']!r}")
