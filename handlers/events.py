"""Neutral events: what every platform adapter turns its payloads into.

Text arrives with people's @-mentions already written as ``<@USER_ID>`` tokens and
the bot's own mention removed; ``mentions`` carries the display names the
platform gave for those ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cards.model import CardPayload
from handlers.capabilities import Source


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

    ``source`` says how the event came (a slash command, ``@bot`` text, a button,
    a dialog, a web form); what the platform can answer to each is declared in its
    capabilities (``handlers.capabilities``), and the core decides from those.
    ``message_id`` is the platform's handle of the message the event is about: the
    command to reply to in thread, or the card whose button was pressed.
    """

    event_id: str
    chat: Chat
    sender: Sender
    message_id: str | None = None
    source: Source = Source.MESSAGE


@dataclass(frozen=True)
class CommandEvent(Event):
    """A slash command or an ``@bot`` text message."""

    text: str = ""
    mentions: tuple[MentionedUser, ...] = ()


@dataclass(frozen=True)
class ActionEvent(Event):
    """A button press or a form submission on a card the bot posted (or on a hosted web form)."""

    source: Source = Source.BUTTON
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
        "source": event.source.value,
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
    }
    if data.get("source"):  # rows stored before sources were recorded take each kind's default
        common["source"] = Source(data["source"])
    if data["kind"] == "CommandEvent":
        mentions = tuple(MentionedUser(**m) for m in data.get("mentions") or ())
        return CommandEvent(**common, text=data.get("text", ""), mentions=mentions)
    if data["kind"] == "ActionEvent":
        payload = CardPayload.model_validate(data.get("payload") or {})
        return ActionEvent(**common, action=data.get("action", ""), payload=payload, form=data.get("form") or {})
    raise ValueError(f"unknown event kind {data['kind']!r}")
