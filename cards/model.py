"""The neutral card model: what the core says, before any platform renders it.

A ``Card`` is a frozen pydantic model whose elements and inputs carry a ``kind``
discriminator, so a card round trips through JSON exactly (the outbox stores it,
the sandbox API returns it). In JSON, fields that are ``None`` are left out.

Text conventions every renderer follows:

- ``Markdown`` and ``Note`` text and a ``Field``'s value are neutral markup
  (``cards.markup``: mentions ``<@USER_ID>``, ``**bold**``, links, bullets,
  backslash escapes). Given as ``Markup`` they are kept; a plain ``str`` is a
  person's text and is escaped, so it shows exactly as typed. Cards read back
  from the database (``Card.load``) hold markup already and are kept as stored.
- Every other text (titles, labels, button texts, options, input values) is
  plain text, never parsed: renderers only escape it for their output. Markup
  given there (a catalog sentence) is turned into its plain text.

Forms name their inputs with dotted names: ``topic`` for a plain input,
``items.1.owner`` for the field ``owner`` in row 1 of the repeating group
``items``. Submissions (``collect_form_values``), errors and warnings
(``with_errors``) all use those names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    model_serializer,
    model_validator,
)
from pydantic import Field as PydanticField

from cards.markup import Markup, literal, mentions_in, to_plain

STORED = {"stored": True}  # validation context of a card read back from the database: its text is markup already


def _markup_text(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, Markup) or not isinstance(value, str) or (info.context or {}).get("stored"):
        return value
    return literal(value)


def _plain_text(value: Any) -> Any:
    return to_plain(value) if isinstance(value, Markup) else value


MarkupText = Annotated[str, BeforeValidator(_markup_text)]
PlainText = Annotated[str, BeforeValidator(_plain_text)]

MAX_TOKEN_LENGTH = 1024  # bytes of a payload token; well under every platform's button value limit
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*")  # no dots, no "__": dotted names stay unambiguous

# ---------------------------------------------------------------- the model


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_serializer(mode="wrap")
    def _without_nulls(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        """JSON leaves out ``None`` fields (every one defaults to ``None``, so nothing is lost)."""
        data = handler(self)
        if info.mode_is_json() and isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


class Tone(StrEnum):
    """The header's colour."""

    NEUTRAL = "neutral"
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    DANGER = "danger"


class ButtonStyle(StrEnum):
    DEFAULT = "default"
    PRIMARY = "primary"
    DANGER = "danger"


RowId = Annotated[int, PydanticField(ge=0, le=2**31 - 1)]  # what an integer column holds on every backend


class CardPayload(_Model):
    """The small typed payload a card carries and gets back with every action.

    Some platforms carry only a string per button, so it also travels as a
    compact JSON token (``to_token``/``from_token``) of at most ``MAX_TOKEN_LENGTH``
    bytes; a payload that would not fit is refused when it is built.
    """

    model_config = ConfigDict(strict=True)

    record_id: RowId | None = None
    version: RowId | None = None
    item_id: RowId | None = None
    extra: dict[str, str] = PydanticField(default_factory=dict)

    @model_validator(mode="after")
    def _fits_in_a_token(self) -> CardPayload:
        if len(self.to_token().encode()) > MAX_TOKEN_LENGTH:
            raise ValueError(f"a card payload must fit in {MAX_TOKEN_LENGTH} bytes")
        return self

    def to_token(self) -> str:
        """``{"record_id":12,"version":3}``: compact JSON, defaults left out, ``{}`` when empty."""
        return self.model_dump_json(exclude_defaults=True)

    @classmethod
    def from_token(cls, token: str) -> CardPayload:
        """The payload back from a token; ``""`` is the empty payload. Anything else raises ``ValueError``."""
        if not isinstance(token, str):
            raise ValueError("a payload token is a string")
        if len(token.encode()) > MAX_TOKEN_LENGTH:
            raise ValueError("payload token too long")
        if not token:
            return cls()
        try:
            return cls.model_validate_json(token)
        except ValidationError as exc:
            raise ValueError(f"not a card payload: {exc.errors()[0]['msg']}") from None


class Header(_Model):
    title: PlainText
    subtitle: PlainText | None = None
    tone: Tone = Tone.NEUTRAL


class Markdown(_Model):
    """Text in the module's Markdown subset (bold, line breaks, ``- `` bullets, links)."""

    kind: Literal["markdown"] = "markdown"
    text: MarkupText


class Field(_Model):
    label: PlainText
    value: MarkupText


class Fields(_Model):
    """Label/value pairs, shown as a compact table (values may hold mentions and the Markdown subset)."""

    kind: Literal["fields"] = "fields"
    items: list[Field]


class Divider(_Model):
    kind: Literal["divider"] = "divider"


class Note(_Model):
    """A small grey footnote."""

    kind: Literal["note"] = "note"
    text: MarkupText


class Button(_Model):
    """``action`` is a short action id (a ``cards.actions.ActionId``); ``confirm`` asks before it is sent."""

    label: PlainText
    action: str
    payload: CardPayload = CardPayload()
    style: ButtonStyle = ButtonStyle.DEFAULT
    confirm: PlainText | None = None


def _web_url(url: str) -> str:
    if not re.fullmatch(r"https?://[^\s<>\"']+", url):
        raise ValueError(f"a link button opens an http(s) URL: {url!r}")
    return url


class LinkButton(_Model):
    """A button that opens a web page (a hosted form, the board, a download) instead of sending an action."""

    label: PlainText
    url: Annotated[str, AfterValidator(_web_url)]
    style: ButtonStyle = ButtonStyle.DEFAULT


class Actions(_Model):
    kind: Literal["actions"] = "actions"
    buttons: list[Button | LinkButton]


def _plain_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise ValueError(f"an input name is letters, digits and single underscores: {name!r}")
    return name


InputName = Annotated[str, AfterValidator(_plain_name)]


class _Input(_Model):
    name: InputName
    label: PlainText
    required: bool = False
    placeholder: PlainText | None = None
    hint: PlainText | None = None
    error: PlainText | None = None  # shown under the input; blocks the submission
    warning: PlainText | None = None  # shown under the input; does not block


class TextInput(_Input):
    kind: Literal["text"] = "text"
    value: str | None = None
    multiline: bool = False
    max_length: int | None = PydanticField(default=None, gt=0)


class NumberInput(_Input):
    kind: Literal["number"] = "number"
    value: float | None = None
    min: float | None = None
    max: float | None = None


class Option(_Model):
    value: str
    label: PlainText


class Select(_Input):
    kind: Literal["select"] = "select"
    options: list[Option]
    value: str | None = None


class MultiSelect(_Input):
    kind: Literal["multi_select"] = "multi_select"
    options: list[Option]
    values: list[str] = []


class DateInput(_Input):
    """Free text (明天, 3月15日 18:00, 2026-03-15 or ISO): the form parses it, never the renderer."""

    kind: Literal["date"] = "date"
    value: str | None = None
    with_time: bool = False


class PersonPicker(_Input):
    """User ids; the renderer is told which people to offer."""

    kind: Literal["person"] = "person"
    multi: bool = False
    values: list[str] = []


FieldInput = Annotated[
    TextInput | NumberInput | Select | MultiSelect | DateInput | PersonPicker, PydanticField(discriminator="kind")
]
RowValue = str | list[str] | None


class Repeat(_Model):
    """A group of inputs repeated per row: action items, participants, key points.

    ``rows`` hold what each row says, as typed (strings, lists of user ids).
    A template input's own value is the default for rows that lack it; rows not
    yet written start blank, so an untouched row comes back blank and is dropped
    (``collect_form_values``). Errors and warnings for a cell are kept by
    ``"row.field"`` (``"1.owner"``); ``error``/``warning`` concern the group.
    """

    kind: Literal["repeat"] = "repeat"
    name: InputName
    label: PlainText
    template: list[FieldInput]
    rows: list[dict[str, RowValue]] = []
    min_rows: int = PydanticField(default=0, ge=0)
    max_rows: int = PydanticField(default=20, ge=1)
    add_label: PlainText | None = None
    hint: PlainText | None = None
    error: PlainText | None = None
    warning: PlainText | None = None
    row_errors: dict[str, str] = {}
    row_warnings: dict[str, str] = {}

    @model_validator(mode="after")
    def _consistent(self) -> Repeat:
        if self.min_rows > self.max_rows:
            raise ValueError(f"{self.name}: min_rows is above max_rows")
        _check_unique(item.name for item in self.template)
        return self


Input = Annotated[
    TextInput | NumberInput | Select | MultiSelect | DateInput | PersonPicker | Repeat,
    PydanticField(discriminator="kind"),
]


class Section(_Model):
    title: PlainText | None = None
    inputs: list[Input]
    hint: PlainText | None = None


class Form(_Model):
    """A form; its buttons send the submit button's payload (a form posts one payload)."""

    kind: Literal["form"] = "form"
    form_id: str
    sections: list[Section]
    submit: Button
    cancel: Button | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> Form:
        _check_unique(item.name for item in iter_inputs(self))
        return self


class Attachment(_Model):
    """A file the bot stored (``storage.files``): an image to show, or a file to download.

    Each platform delivers it its own way (an upload, an image message, a link);
    one that cannot shows the file name as text.
    """

    kind: Literal["attachment"] = "attachment"
    file_id: int = PydanticField(gt=0)
    filename: PlainText
    mime: str
    image: bool = False
    size: int | None = PydanticField(default=None, ge=0)


Element = Annotated[
    Markdown | Fields | Divider | Note | Actions | Form | Attachment, PydanticField(discriminator="kind")
]


class Card(_Model):
    header: Header | None = None
    elements: list[Element] = []
    payload: CardPayload | None = None
    card_id: str | None = None

    @classmethod
    def load(cls, data: Any) -> Card:
        """A card read back from storage (the outbox, a draft) or JSON: its text is markup already, kept as stored."""
        if isinstance(data, str | bytes):
            return cls.model_validate_json(data, context=STORED)
        return cls.model_validate(data, context=STORED)


def _check_unique(names: Iterable[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"two inputs are named {name!r}")
        seen.add(name)


# ---------------------------------------------------------------- forms: inputs, submissions, errors


def iter_inputs(card_or_form: Card | Form) -> Iterator[Input]:
    """Each top-level input of the form (or of every form in the card), a ``Repeat`` as one input."""
    forms = (
        [card_or_form] if isinstance(card_or_form, Form) else [e for e in card_or_form.elements if isinstance(e, Form)]
    )
    for form in forms:
        for section in form.sections:
            yield from section.inputs


def collect_form_values(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Flat posted keys back into nested values: ``items.2.owner`` → ``{"items": [{"owner": …}]}``.

    Values are strings or lists of strings (a multi-select posts a list); empty
    strings in a list are dropped (an HTML multi-select posts ``""`` beside its
    choices so that choosing nothing still sends the key). Rows come back in
    index order without gaps, and blank rows (every cell empty) are dropped, so
    row indices in errors refer to the rows that remain. A group whose rows are
    all blank comes back as ``[]``.
    """
    nested: dict[str, Any] = {}
    rows: dict[str, dict[int, dict[str, Any]]] = {}
    for key, value in flat.items():
        if isinstance(value, list):
            value = [v for v in value if v != ""]
        parts = key.split(".")
        if len(parts) == 3 and parts[1].isdigit():
            rows.setdefault(parts[0], {}).setdefault(int(parts[1]), {})[parts[2]] = value
        else:
            nested[key] = value
    for name, by_index in rows.items():
        nested[name] = [by_index[i] for i in sorted(by_index) if not is_blank_row(by_index[i])]
    return nested


def is_blank_row(row: Mapping[str, Any]) -> bool:
    """True when every cell of a row is empty (``None``, whitespace, or a list of those)."""

    def blank(value: Any) -> bool:
        if isinstance(value, list):
            return all(blank(v) for v in value)
        return value is None or not str(value).strip()

    return all(blank(value) for value in row.values())


def with_errors(
    form: Form,
    errors: Mapping[str, str],
    warnings: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
) -> Form:
    """A copy of ``form`` to show a rejected submission again.

    ``errors`` and ``warnings`` are keyed by dotted names (``topic``, ``items.1.owner``,
    or ``items`` for the group itself) and replace the ones the form had; keys
    that name no input are ignored. ``values`` are what was submitted, nested
    (``collect_form_values``) or flat: every input named in it shows that value,
    the others keep theirs; a group named in it gets exactly the submitted rows.
    """
    warnings = warnings or {}
    submitted = collect_form_values(values) if values is not None else {}
    sections = []
    for section in form.sections:
        inputs = []
        for item in section.inputs:
            update: dict[str, Any] = {"error": errors.get(item.name), "warning": warnings.get(item.name)}
            if isinstance(item, Repeat):
                prefix = f"{item.name}."
                update["row_errors"] = {k.removeprefix(prefix): v for k, v in errors.items() if k.startswith(prefix)}
                update["row_warnings"] = {
                    k.removeprefix(prefix): v for k, v in warnings.items() if k.startswith(prefix)
                }
                if item.name in submitted:
                    update["rows"] = _rows_of(submitted[item.name])
            elif item.name in submitted:
                update.update(_value_update(item, submitted[item.name]))
            inputs.append(item.model_copy(update=update))
        sections.append(section.model_copy(update={"inputs": inputs}))
    return form.model_copy(update={"sections": sections})


def _rows_of(rows: Any) -> list[dict[str, RowValue]]:
    """Submitted rows as the model keeps them: strings and lists of strings, blank rows dropped."""

    def cell(value: Any) -> RowValue:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, list | tuple):
            return [str(v) for v in value]
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)

    if not isinstance(rows, list):
        return []
    return [
        {str(key): cell(value) for key, value in row.items()}
        for row in rows
        if isinstance(row, Mapping) and not is_blank_row(row)
    ]


def _value_update(item: Any, value: Any) -> dict[str, Any]:
    """The update that puts a submitted value back into an input (unreadable numbers become empty)."""
    if isinstance(item, MultiSelect | PersonPicker):
        values = value if isinstance(value, list) else [value]
        return {"values": [str(v) for v in values if v not in (None, "")]}
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or (isinstance(value, str) and not value.strip()):
        return {"value": None}
    if isinstance(item, NumberInput):
        try:
            return {"value": float(value)}
        except (TypeError, ValueError):
            return {"value": None}
    return {"value": str(value)}


# ---------------------------------------------------------------- text


def _markup_texts(card: Card) -> Iterator[str]:
    for element in card.elements:
        if isinstance(element, Markdown | Note):
            yield element.text
        elif isinstance(element, Fields):
            for item in element.items:
                yield item.value


def mentions_in_card(card: Card) -> list[str]:
    """Every user id mentioned in the card's text, in order, once."""
    return list(dict.fromkeys(user_id for text in _markup_texts(card) for user_id in mentions_in(text)))


def plain_text(
    card: Card, names: Mapping[str, str] | None = None, *, mention: Callable[[str], str] | None = None
) -> str:
    """A readable plain-text version: notification previews, platforms without cards, tests.

    One line per header line, text line, field (``label: value``) and row of
    buttons (``[label]``); a form shows its section titles and its buttons.
    Mentions become ``@name``, or whatever ``mention(user_id)`` makes of them
    (a platform's own mention syntax in a text message, which must then escape
    the text itself: see the platform's renderer).
    """
    lines: list[str] = []
    if card.header:
        lines.append(card.header.title)
        if card.header.subtitle:
            lines.append(card.header.subtitle)
    for element in card.elements:
        if isinstance(element, Markdown | Note):
            lines.append(to_plain(element.text, names, mention=mention))
        elif isinstance(element, Fields):
            lines.extend(f"{item.label}: {to_plain(item.value, names, mention=mention)}" for item in element.items)
        elif isinstance(element, Divider):
            lines.append("----")
        elif isinstance(element, Actions):
            lines.append(" ".join(f"[{button.label}]" for button in element.buttons))
        elif isinstance(element, Attachment):
            lines.append(f"📎 {element.filename}")
        elif isinstance(element, Form):
            lines.extend(section.title for section in element.sections if section.title)
            buttons = [element.submit] + ([element.cancel] if element.cancel else [])
            lines.append(" ".join(f"[{button.label}]" for button in buttons))
    return "\n".join(lines)
