"""The neutral markup of card text, and the one escaping rule for what people type.

Card text (``Markdown``, ``Note``, a ``Field``'s value) is written in a small
markup that every renderer understands and nothing else:

- ``<@USER_ID>`` — a mention (the only way a mention is made);
- ``**bold**``;
- ``[label](https://url)`` — a link (http and https only);
- a line starting with ``- `` — a bullet;
- ``\\`` before one of ``\\ * [ ] < -`` — that character as text.

Whatever a person typed (a topic, a progress note, a display name) enters card
text only escaped, so it can never become a mention, a link or formatting: a
renderer parses the markup (``parse``) and writes each piece in its platform's
own syntax, escaping text spans for that syntax. ``Markup`` marks text that is
markup already (built by us); formatting or joining with it escapes every
plain string that joins it, as ``markupsafe`` does for HTML. The catalog
function ``cards.templates.t`` returns ``Markup`` with its parameters escaped,
so a sentence with a person's text in it is safe by construction.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MENTION_ID = r"[A-Za-z0-9_.:@\-]{1,128}"
ESCAPABLE = "\\*[]<-"
_NEEDS_ESCAPE = re.compile(r"[\\*\[\]<]|^-", re.M)
_TOKEN = re.compile(
    rf"\\(?P<escaped>[{re.escape(ESCAPABLE)}])"
    rf"|<@(?P<mention>{MENTION_ID})>"
    r"|\*\*(?P<bold>(?:\\.|[^*\\])+?)\*\*"
    r"|\[(?P<label>(?:\\.|[^\]\\])+)\]\((?P<url>https?://[^()\s<>\\]+)\)"
)


class Markup(str):
    """Text that is neutral markup already; ``format``, ``join`` and ``+`` escape plain strings that join it."""

    __slots__ = ()

    def format(self, *args: Any, **kwargs: Any) -> Markup:
        return Markup(_Formatter().vformat(self, args, kwargs))

    def join(self, parts: Iterable[str]) -> Markup:  # type: ignore[override]
        return Markup(str.join(self, (escape(part) for part in parts)))

    def __add__(self, other: str) -> Markup:  # type: ignore[override]
        return Markup(str.__add__(self, escape(other)))

    def __radd__(self, other: str) -> Markup:
        return Markup(str.__add__(escape(other), self))


class _Formatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Markup):
            return value
        return escape(super().format_field(value, format_spec))


def literal(text: str) -> Markup:
    """A person's text as markup that shows exactly that text."""
    return Markup(_NEEDS_ESCAPE.sub(lambda m: "\\" + m.group(0), text))


def escape(value: Any) -> Markup:
    """``value`` unchanged if it is markup, else its text escaped (numbers and the like as their ``str``)."""
    if isinstance(value, Markup):
        return value
    return literal(value if isinstance(value, str) else str(value))


def md(template: str, /, *args: Any, **kwargs: Any) -> Markup:
    """``md("**{}**\\n{}", title, text)``: a trusted template, its parameters escaped unless they are markup."""
    return Markup(template).format(*args, **kwargs)


def mention(user_id: str) -> Markup:
    """The neutral mention token for a user id: ``<@ou_123>``."""
    if not re.fullmatch(MENTION_ID, user_id):
        raise ValueError(f"not a user id a mention can carry: {user_id!r}")
    return Markup(f"<@{user_id}>")


# ---------------------------------------------------------------- parsing


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Mention:
    user_id: str


@dataclass(frozen=True, slots=True)
class Bold:
    parts: tuple[Text | Mention, ...]


@dataclass(frozen=True, slots=True)
class Link:
    label: tuple[Text | Mention, ...]
    url: str


Span = Text | Mention | Bold | Link


@dataclass(frozen=True, slots=True)
class Line:
    spans: tuple[Span, ...]
    bullet: bool = False


def parse_inline(markup: str) -> tuple[Span, ...]:
    """One line of markup as spans; adjacent text is merged, escapes resolved."""
    spans: list[Span] = []

    def add_text(text: str) -> None:
        if not text:
            return
        if spans and isinstance(spans[-1], Text):
            spans[-1] = Text(spans[-1].text + text)
        else:
            spans.append(Text(text))

    position = 0
    for match in _TOKEN.finditer(markup):
        add_text(markup[position : match.start()])
        if match.group("escaped") is not None:
            add_text(match.group("escaped"))
        elif match.group("mention") is not None:
            spans.append(Mention(match.group("mention")))
        elif match.group("bold") is not None:
            spans.append(Bold(_flat(parse_inline(match.group("bold")))))
        else:
            spans.append(Link(_flat(parse_inline(match.group("label"))), match.group("url")))
        position = match.end()
    add_text(markup[position:])
    return tuple(spans)


def _flat(spans: tuple[Span, ...]) -> tuple[Text | Mention, ...]:
    """Bold and links hold text and mentions only (no bold in bold, no link in a label)."""
    flat: list[Text | Mention] = []
    for span in spans:
        if isinstance(span, Text | Mention):
            flat.append(span)
        elif isinstance(span, Bold):
            flat.extend(span.parts)
        else:
            flat.extend(span.label)
    return tuple(flat)


def parse(markup: str) -> list[Line]:
    """Markup as lines of spans; a line starting with ``- `` is a bullet (its marker removed)."""
    lines = []
    for raw in markup.split("\n"):
        bullet = raw.startswith("- ")
        lines.append(Line(parse_inline(raw[2:] if bullet else raw), bullet))
    return lines


def mentions_in(markup: str) -> list[str]:
    """The user ids mentioned, in order, once each (escaped ``\\<@x>`` is text, not a mention)."""
    found: list[str] = []
    for line in parse(markup):
        for span in line.spans:
            parts = span.parts if isinstance(span, Bold) else span.label if isinstance(span, Link) else (span,)
            found.extend(p.user_id for p in parts if isinstance(p, Mention))
    return list(dict.fromkeys(found))


def to_plain(
    markup: str, names: Mapping[str, str] | None = None, *, mention: Callable[[str], str] | None = None
) -> str:
    """Readable text: bold as its text, links as ``label (url)``, mentions as ``@name`` (or ``mention(id)``)."""
    names = names or {}
    shown = mention or (lambda user_id: "@" + names.get(user_id, user_id))

    def inline(parts: Iterable[Span]) -> str:
        out = []
        for part in parts:
            if isinstance(part, Text):
                out.append(part.text)
            elif isinstance(part, Mention):
                out.append(shown(part.user_id))
            elif isinstance(part, Bold):
                out.append(inline(part.parts))
            else:
                label = inline(part.label)
                out.append(label if label == part.url else f"{label} ({part.url})")
        return "".join(out)

    return "\n".join(("- " if line.bullet else "") + inline(line.spans) for line in parse(markup))
