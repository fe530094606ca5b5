"""What a chat platform can do, declared once by its package, so the core decides how to answer.

The core never asks which platform an event came from. It asks what the
platform can do: whether the answer to a button press can carry the updated
card and a toast, or only open a dialog; whether a form fits in a card, opens
as a dialog, or must open as a web page because cards hold no inputs; whether
a notice can reach one person only (an ephemeral message); whether the files the
bot makes (exports, charts) can be sent into the chat; and how fast it may send.
``Answering`` turns those declarations into one decision per event and per part
of a handler's outcome.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Flag, StrEnum, auto

from storage.i18n import Localized


class Source(StrEnum):
    """How an event reached us (a neutral fact of the event, not a delivery policy)."""

    SLASH = "slash"  # a platform's own slash command (registered with the platform, answered at once)
    MESSAGE = "message"  # "@bot …" text in a group, or a direct message
    BUTTON = "button"  # a button pressed on a card we posted (with the card form's values, if any)
    DIALOG = "dialog"  # a form submitted from a dialog (a modal) the platform opened
    WEB = "web"  # a hosted web form submitted from the chat app's browser


class Respond(Flag):
    """What the platform shows from its answer to an event (the HTTP response or the acknowledgement)."""

    NOTHING = 0
    TOAST = auto()  # a short notice for the person who acted
    UPDATE = auto()  # the card they acted on, replaced
    FORM = auto()  # a form, opened as a dialog (needs the event's trigger, which the platform keeps)


class FormStyle(StrEnum):
    CARD = "card"  # inputs inside a card message
    MODAL = "modal"  # a dialog opened from an event's trigger; elsewhere a message with a button that opens it
    WEB = "web"  # no inputs in cards: the form opens as a hosted web page behind a signed link


class Private(StrEnum):
    """How a notice reaches only the person it is for, when the answer cannot carry it."""

    EPHEMERAL = "ephemeral"  # a message in the group that only they see
    DIRECT = "direct"  # a direct message
    NONE = "none"  # neither: it is said in the group, addressed to them


@dataclass(frozen=True)
class RateLimit:
    """What a platform allows: messages per second to one chat, and for the whole app."""

    per_target: float
    per_app: float


@dataclass(frozen=True)
class Limits:
    """The platform's size limits for one message (``None``: no such limit). Renderers page within them."""

    message_bytes: int | None = None  # of the rendered message JSON
    blocks: int | None = None  # top-level elements per message
    text_chars: int | None = None  # of one text element
    buttons: int | None = None  # per row of buttons


@dataclass(frozen=True)
class GroupSetting:
    """A setting a platform needs per group, which the group's admins give with ``/settings <name> <value>``
    (e.g. a webhook that can @-mention people where the platform's bot cannot).

    ``parse`` turns what was typed into what is stored (a platform seals a secret in it; ``""`` clears it)
    or raises ``ValueError`` with the expected form; ``/settings`` shows ``describe(stored, lang)`` — never
    a secret — or, while it is not set, what the group goes without (``missing``).
    """

    key: str  # how it is stored (``Group.platform_settings``)
    names: tuple[str, ...]  # what an admin types, in every language
    label: Localized
    missing: Localized
    parse: Callable[[str], str]
    describe: Callable[[str, str], str]


ALL_INPUTS = frozenset({"text", "number", "date", "select", "multi_select", "person", "repeat"})


@dataclass(frozen=True)
class Capabilities:
    forms: FormStyle
    respond: Mapping[Source, Respond] = field(default_factory=dict)
    # the kinds of input (``cards.model``'s ``kind``) a card form can hold; a form with others opens as a web page
    card_inputs: frozenset[str] = ALL_INPUTS
    message_update: bool = False  # a posted card can be replaced later (through the outbox)
    private: Private = Private.NONE
    mentions: bool = True  # its cards @-mention people for real
    # A file the bot made (an export) arrives in the chat as a file; an image (the review's chart) is shown in it.
    # Where not, the card carries a button to a signed download link (``handlers.downloads``), or names the file.
    files: bool = False
    images: bool = False
    limits: Limits = Limits()
    rate_limit: RateLimit = RateLimit(per_target=1, per_app=5)
    group_settings: tuple[GroupSetting, ...] = ()  # what the group's admins set for this platform
    # Events whose answer shows nothing are acknowledged once stored in the inbox and handled after (the
    # platform redelivers what it thinks lost). A caller that waits for the result (the sandbox's API) says no.
    inbox: bool = True
    # Commands the platform keeps for itself (its own built-ins), and how they are typed there instead
    taken_commands: Mapping[str, str] = field(default_factory=dict)

    def as_typed(self, text: str) -> str:
        """``text`` with each command the platform keeps for itself written as it is typed there instead."""
        for word, instead in self.taken_commands.items():
            text = re.sub(rf"{re.escape(word)}\b", instead, text)
        return text

    def answers(self, source: Source) -> Respond:
        """A hosted web form's page is its own answer, on any platform."""
        if source is Source.WEB:
            return Respond.TOAST | Respond.UPDATE
        return self.respond.get(source, Respond.NOTHING)

    def form_style(self, input_kinds: set[str]) -> FormStyle:
        """Where a form with these kinds of input goes: a card that cannot hold them all sends it to the web."""
        if self.forms is FormStyle.CARD and not input_kinds <= self.card_inputs:
            return FormStyle.WEB
        return self.forms

    def group_setting(self, name: str) -> GroupSetting | None:
        """The platform's setting an admin named (``/settings <name> …``), if it declares one by that name."""
        return next((s for s in self.group_settings if name.lower() in (n.lower() for n in s.names)), None)

    def handled_later(self, source: Source) -> bool:
        """Nothing of the answer is shown: acknowledge once stored in the inbox and handle it after."""
        return self.inbox and self.answers(source) == Respond.NOTHING


# What the core assumes of a platform it was not told about: the least (everything through the outbox).
MINIMAL = Capabilities(forms=FormStyle.CARD)
