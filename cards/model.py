"""The neutral card model: what the core says, before any platform renders it.

Cards are frozen pydantic models with a ``kind`` discriminator, so a card round
trips through JSON exactly (the outbox stores it, the sandbox API returns it).
Text may carry ``<@USER_ID>`` mention tokens; each renderer writes them its own
way. ``Markdown`` text uses a small subset every platform can show: ``**bold**``,
line breaks, ``- `` bullets and ``[text](url)`` links; renderers escape the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic import Field as PydanticField

MENTION_RE = re.compile(r"<@([A-Za-z0-9_.:\-]{1,128})>")
MAX_TOKEN_LENGTH = 1024


def mention(user_id: str) -> str:
    return f"<@{user_id}>"


class MentionSpan(BaseModel):
    model_config = ConfigDict(frozen=True)
    user_id: str


def split_mentions(text: str) -> list[str | MentionSpan]:
    """``"请 <@u1> 确认"`` → ``["请 ", MentionSpan("u1"), " 确认"]``."""
    parts: list[str | MentionSpan] = []
    position = 0
    for match in MENTION_RE.finditer(text):
        if match.start() > position:
            parts.append(text[position : match.start()])
        parts.append(MentionSpan(user_id=match.group(1)))
        position = match.end()
    if position < len(text):
        parts.append(text[position:])
    return parts


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Tone(StrEnum):
    NEUTRAL = "neutral"
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    DANGER = "danger"


class ButtonStyle(StrEnum):
    DEFAULT = "default"
    PRIMARY = "primary"
    DANGER = "danger"


class CardPayload(_Model):
    """The small typed payload a card carries and gets back with every action."""

    record_id: int | None = None
    version: int | None = None
    item_id: int | None = None
    extra: dict[str, str] = PydanticField(default_factory=dict)

    def to_token(self) -> str:
        return self.model_dump_json(exclude_defaults=True)

    @classmethod
    def from_token(cls, token: str) -> CardPayload:
        if len(token) > MAX_TOKEN_LENGTH:
            raise ValueError("payload token too long")
        if not token:
            return cls()
        try:
            return cls.model_validate_json(token)
        except ValidationError as exc:
            raise ValueError(f"not a card payload: {exc.errors()[0]['msg']}") from None


class Header(_Model):
    title: str
    subtitle: str | None = None
    tone: Tone = Tone.NEUTRAL


class Markdown(_Model):
    kind: Literal["markdown"] = "markdown"
    text: str


class Field(_Model):
    label: str
    value: str


class Fields(_Model):
    kind: Literal["fields"] = "fields"
    items: list[Field]


class Divider(_Model):
    kind: Literal["divider"] = "divider"


class Note(_Model):
    kind: Literal["note"] = "note"
    text: str


class Button(_Model):
    label: str
    action: str
    payload: CardPayload = CardPayload()
    style: ButtonStyle = ButtonStyle.DEFAULT
    confirm: str | None = None


class Actions(_Model):
    kind: Literal["actions"] = "actions"
    buttons: list[Button]


class _Input(_Model):
    name: str
    label: str
    required: bool = False
    placeholder: str | None = None
    hint: str | None = None
    error: str | None = None
    warning: str | None = None


class TextInput(_Input):
    kind: Literal["text"] = "text"
    value: str | None = None
    multiline: bool = False
    max_length: int | None = None


class NumberInput(_Input):
    kind: Literal["number"] = "number"
    value: float | None = None
    min: float | None = None
    max: float | None = None


class Option(_Model):
    value: str
    label: str


class Select(_Input):
    kind: Literal["select"] = "select"
    options: list[Option]
    value: str | None = None


class MultiSelect(_Input):
    kind: Literal["multi_select"] = "multi_select"
    options: list[Option]
    values: list[str] = []


class DateInput(_Input):
    """Free text (明天, 3月15日 18:00, 2026-03-15): the form parses it, not the renderer."""

    kind: Literal["date"] = "date"
    value: str | None = None
    with_time: bool = False


class PersonPicker(_Input):
    kind: Literal["person"] = "person"
    multi: bool = False
    values: list[str] = []


SimpleInput = Annotated[
    TextInput | NumberInput | Select | MultiSelect | DateInput | PersonPicker, PydanticField(discriminator="kind")
]


class Repeat(_Model):
    """A group of inputs repeated per row (action items, participants …); rows hold their values."""

    kind: Literal["repeat"] = "repeat"
    name: str
    label: str
    template: list[SimpleInput]
    rows: list[dict[str, Any]] = []
    min_rows: int = 0
    max_rows: int = 20
    add_label: str | None = None
    row_errors: dict[str, str] = {}  # "1.owner" → message
    row_warnings: dict[str, str] = {}
    error: str | None = None


Input = Annotated[
    TextInput | NumberInput | Select | MultiSelect | DateInput | PersonPicker | Repeat,
    PydanticField(discriminator="kind"),
]


class Section(_Model):
    title: str | None = None
    inputs: list[Input]
    hint: str | None = None


class Form(_Model):
    kind: Literal["form"] = "form"
    form_id: str
    sections: list[Section]
    submit: Button
    cancel: Button | None = None


Element = Annotated[Markdown | Fields | Divider | Note | Actions | Form, PydanticField(discriminator="kind")]


class Card(_Model):
    header: Header | None = None
    elements: list[Element] = []
    payload: CardPayload | None = None
    card_id: str | None = None


# ---------------------------------------------------------------- helpers on cards and forms


def iter_inputs(form: Form) -> Iterator[Any]:
    for section in form.sections:
        yield from section.inputs


def _value_of(item: Any, value: Any) -> dict[str, Any]:
    """The update that puts a submitted ``value`` back into an input."""
    if isinstance(item, MultiSelect | PersonPicker):
        values = value if isinstance(value, list) else ([value] if value not in (None, "") else [])
        return {"values": [str(v) for v in values]}
    if isinstance(item, NumberInput):
        try:
            return {"value": float(value)} if value not in (None, "") else {"value": None}
        except (TypeError, ValueError):
            return {"value": None}
    if isinstance(value, list):
        value = value[0] if value else None
    return {"value": None if value in (None, "") else str(value)}


def with_errors(
    form: Form,
    errors: Mapping[str, str],
    warnings: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
) -> Form:
    """A copy of ``form`` with field errors and warnings (dotted names: ``items.1.owner``) and the values typed."""
    warnings = warnings or {}
    sections = []
    for section in form.sections:
        inputs = []
        for item in section.inputs:
            if isinstance(item, Repeat):
                prefix = f"{item.name}."
                rows = (values or {}).get(item.name, item.rows) if values is not None else item.rows
                inputs.append(item.model_copy(update={
                    "rows": [dict(row) for row in rows if isinstance(row, dict)],
                    "row_errors": {k[len(prefix):]: v for k, v in errors.items() if k.startswith(prefix)},
                    "row_warnings": {k[len(prefix):]: v for k, v in warnings.items() if k.startswith(prefix)},
                }))  # fmt: skip
                continue
            update: dict[str, Any] = {"error": errors.get(item.name), "warning": warnings.get(item.name)}
            if values is not None and item.name in values:
                update.update(_value_of(item, values[item.name]))
            inputs.append(item.model_copy(update=update))
        sections.append(section.model_copy(update={"inputs": inputs}))
    return form.model_copy(update={"sections": sections})


def collect_form_values(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Flat posted keys (``items.0.owner``) back into nested values (``{"items": [{"owner": …}]}``).

    Row indices may have gaps (a removed row); rows come back in index order.
    """
    nested: dict[str, Any] = {}
    rows: dict[str, dict[int, dict[str, Any]]] = {}
    for key, value in flat.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[1].isdigit():
            rows.setdefault(parts[0], {}).setdefault(int(parts[1]), {})[parts[2]] = value
        else:
            nested[key] = value
    for name, by_index in rows.items():
        nested[name] = [by_index[i] for i in sorted(by_index)]
    return nested


def _texts(card: Card) -> Iterator[str]:
    if card.header:
        yield card.header.title
        if card.header.subtitle:
            yield card.header.subtitle
    for element in card.elements:
        if isinstance(element, Markdown | Note):
            yield element.text
        elif isinstance(element, Fields):
            for item in element.items:
                yield item.label
                yield item.value


def mentions_in_card(card: Card) -> list[str]:
    """Every user id mentioned in the card's text, in order, once."""
    return list(dict.fromkeys(m.group(1) for text in _texts(card) for m in MENTION_RE.finditer(text)))


def render_mentions(text: str, names: Mapping[str, str], *, prefix: str = "@") -> str:
    return MENTION_RE.sub(lambda m: prefix + names.get(m.group(1), m.group(1)), text)


def plain_text(card: Card, names: Mapping[str, str] | None = None) -> str:
    """A readable plain-text version: notification previews, platforms without cards, tests."""
    names = names or {}
    lines: list[str] = []
    if card.header:
        lines.append(card.header.title)
    for element in card.elements:
        if isinstance(element, Markdown | Note):
            lines.append(element.text.replace("**", ""))
        elif isinstance(element, Fields):
            lines.extend(f"{item.label}: {item.value}" for item in element.items)
        elif isinstance(element, Actions):
            lines.append(" ".join(f"[{b.label}]" for b in element.buttons))
        elif isinstance(element, Form):
            lines.extend(section.title for section in element.sections if section.title)
            lines.append(f"[{element.submit.label}]")
    return render_mentions("\n".join(lines), names)
