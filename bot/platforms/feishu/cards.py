"""Neutral cards as Feishu card JSON 2.0 (``schema: 2.0``, ``body.elements``).

- Card text is neutral markup (``cards.markup``): mentions become
  ``<at id=ou_x></at>`` (a real @ that notifies), bold ``**…**``, links
  ``[…](https://…)``. Every piece of text — what people typed, labels, errors —
  is escaped for Feishu's markdown (HTML entities for ``& < >`` and the
  markdown punctuation), so ``<at id=all></at>``, ``<font>``, ``**`` or a
  ``[link](…)`` typed by a person shows as typed and never acts. A text
  message (the fallback when a card is refused) breaks ``<`` and ``](`` with a
  zero-width space instead: Feishu's text messages know tags but no entities.
- Buttons carry ``{"a": action id, "p": payload token}`` in a callback behaviour;
  inside a form they are submit buttons, so the form's values come back with them.
- Form inputs are named with ``__`` instead of ``.`` (``items__1__owner``): Feishu
  names are identifiers. ``form_values`` turns a callback's ``form_value`` back.
- Dates use Feishu's ``date_picker`` / ``picker_datetime``; the chat commands still take 明天, 下周五 ….
- Repeated groups (action items, participants) have no dynamic rows in Feishu
  cards: the rows that exist plus up to ``EMPTY_ROWS`` empty ones are rendered,
  fewer when the card would not fit (a form cannot be split over cards).
- A card whose JSON would pass ``MAX_CARD_BYTES`` is split into several cards
  (long text is paged), never rejected.
- An attachment that is an uploaded image (``images``: file id → ``image_key``) is
  an ``img`` element; any other attachment shows its name (the adapter sends the
  file itself as a ``file`` message after the card).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from cards.markup import Bold, Link, Mention, Span, Text, parse
from cards.model import (
    Actions,
    Attachment,
    Button,
    ButtonStyle,
    Card,
    DateInput,
    Divider,
    Fields,
    Form,
    LinkButton,
    Markdown,
    MultiSelect,
    Note,
    NumberInput,
    PersonPicker,
    Repeat,
    Select,
    TextInput,
    Tone,
    collect_form_values,
    plain_text,
)

MAX_CARD_BYTES = 28 * 1024  # Feishu's limit is 30 KB for a card message; keep a margin for the envelope
EMPTY_ROWS = 5  # blank rows per repeated group (action items, participants), fewer when the card would not fit
TEMPLATE = {Tone.NEUTRAL: "grey", Tone.INFO: "blue", Tone.SUCCESS: "green", Tone.WARNING: "orange", Tone.DANGER: "red"}
BUTTON_TYPE = {ButtonStyle.DEFAULT: "default", ButtonStyle.PRIMARY: "primary", ButtonStyle.DANGER: "danger"}
MENTION = re.compile(r"<@([A-Za-z0-9_.:\-]{1,128})>")


def text(content: str) -> dict[str, str]:
    return {"tag": "plain_text", "content": content}


_MARKDOWN_TEXT = str.maketrans({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", "*": "&#42;", "_": "&#95;", "~": "&#126;", "`": "&#96;",
    "[": "&#91;", "]": "&#93;", "|": "&#124;", "\\": "&#92;", "$": "&#36;",
})  # fmt: skip
_LINE_START = re.compile(r"^(\s*)([#+\-]|\d+\.)", re.M)


def escape(plain: str) -> str:
    """Plain text for Feishu markdown: shown as written, never as a tag, mention, link or formatting."""
    escaped = plain.translate(_MARKDOWN_TEXT)
    return _LINE_START.sub(lambda m: m.group(1) + "".join(f"&#{ord(c)};" for c in m.group(2)), escaped)


def _spans(spans: tuple[Span, ...] | list[Span]) -> str:
    out = []
    for span in spans:
        if isinstance(span, Text):
            out.append(escape(span.text))
        elif isinstance(span, Mention):
            # only the people we name; a user id "all" would be @everyone, so it shows as text
            out.append(escape("@all") if span.user_id == "all" else f"<at id={span.user_id}></at>")
        elif isinstance(span, Bold):
            out.append(f"**{_spans(span.parts)}**")
        elif isinstance(span, Link):
            out.append(f"[{_spans(span.label)}]({span.url})")
    return "".join(out)


def lark_md(markup: str) -> str:
    """Neutral markup as Feishu markdown."""
    return "\n".join(("- " if line.bullet else "") + _spans(line.spans) for line in parse(markup))


def text_message(card: Card, names: Mapping[str, str]) -> str:
    """The card as a text message (no buttons, no form), its mentions real: ``<at user_id="ou_x">name</at>``."""
    readable = card.model_copy(update={"elements": [e for e in card.elements if not isinstance(e, Actions | Form)]})
    marker = "\x00"

    def at(user_id: str) -> str:  # placeholders first, so that the text around them can be defused
        return f"{marker}{user_id}{marker}"

    def tag(match: re.Match[str]) -> str:
        user_id = match.group(1)
        name = names.get(user_id, user_id).replace("<", "").replace(">", "")  # inside a tag: cannot open or close one
        return f"@{name}" if user_id == "all" else f'<at user_id="{user_id}">{name}</at>'

    text = _defuse(plain_text(readable, mention=at).replace(marker + marker, ""))
    return re.sub(f"{marker}([^{marker}]+){marker}", tag, text)


def _defuse(plain: str) -> str:
    """Plain text for a Feishu text message: no tag can open (``<``) and no link can form (``](``)."""
    return plain.replace("<", "<\u200b").replace("](", "]\u200b(")


def field_name(name: str) -> str:
    return name.replace(".", "__")


def form_values(form_value: Mapping[str, Any]) -> dict[str, Any]:
    """A callback's ``form_value`` (``items__1__owner``) as the core's nested values (strings and lists of them)."""
    flat: dict[str, Any] = {}
    for key, value in form_value.items():
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            flat[key.replace("__", ".")] = value
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            flat[key.replace("__", ".")] = str(value)
        else:
            raise ValueError(f"form value {key!r} is not text")
    return collect_form_values(flat)


def button(item: Button | LinkButton, *, in_form: bool = False) -> dict[str, Any]:
    if isinstance(item, LinkButton):  # opens the page in Feishu's browser
        return {"tag": "button", "text": text(item.label), "type": BUTTON_TYPE[item.style],
                "behaviors": [{"type": "open_url", "default_url": item.url}]}  # fmt: skip
    rendered: dict[str, Any] = {
        "tag": "button",
        "text": text(item.label),
        "type": BUTTON_TYPE[item.style],
        "behaviors": [{"type": "callback", "value": {"a": item.action, "p": item.payload.to_token()}}],
    }
    if in_form:
        rendered["form_action_type"] = "submit"
        rendered["name"] = field_name(item.action)
    if item.confirm:
        rendered["confirm"] = {"title": text(item.label), "text": text(item.confirm)}
    return rendered


def _notes(item: Any) -> list[dict[str, Any]]:
    notes = []
    if item.error:
        notes.append({"tag": "markdown", "content": f"<font color='red'>{escape(item.error)}</font>"})
    if item.warning:
        notes.append({"tag": "markdown", "content": f"<font color='orange'>{escape(item.warning)}</font>"})
    if item.hint:
        notes.append({"tag": "markdown", "content": f"<font color='grey'>{escape(item.hint)}</font>"})
    return notes


def _heading(item: Any) -> dict[str, Any]:
    return {"tag": "markdown", "content": f"**{escape(item.label)}**" + (" " + escape("*") if item.required else "")}


def form_input(item: Any, name: str, value: Any = None) -> list[dict[str, Any]]:
    label = text(item.label + (" *" if item.required else ""))
    value = getattr(item, "value", None) if value is None else value
    common: dict[str, Any] = {"name": field_name(name), "required": False}
    if item.placeholder:
        common["placeholder"] = text(item.placeholder)
    if isinstance(item, DateInput):
        # Feishu's own pickers; their values ("2026-11-27 +0800") are read by the same date parser
        rendered = {"tag": "picker_datetime" if item.with_time else "date_picker", **common}
        if value and re.fullmatch(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2})?", str(value)):
            rendered["initial_datetime" if item.with_time else "initial_date"] = str(value)
        return [_heading(item), rendered, *_notes(item)]
    if isinstance(item, TextInput | NumberInput):
        rendered = {"tag": "input", **common, "label": label, "label_position": "top"}
        if isinstance(item, NumberInput):
            rendered["input_type"] = "text"
        if isinstance(item, TextInput) and item.multiline:
            rendered.update(input_type="multiline_text", rows=3)
        if isinstance(item, TextInput) and item.max_length:
            rendered["max_length"] = item.max_length
        if value not in (None, ""):
            rendered["default_value"] = f"{value:g}" if isinstance(value, float) else str(value)
        return [rendered, *_notes(item)]
    heading = _heading(item)
    if isinstance(item, Select | MultiSelect):
        options = [{"text": text(o.label), "value": o.value} for o in item.options]
        if isinstance(item, Select):
            rendered = {"tag": "select_static", **common, "options": options}
            if value:
                rendered["initial_option"] = str(value[0] if isinstance(value, list) else value)
        else:
            rendered = {"tag": "multi_select_static", **common, "options": options,
                        "selected_values": list(value if isinstance(value, list) else item.values)}  # fmt: skip
        return [heading, rendered, *_notes(item)]
    if isinstance(item, PersonPicker):
        chosen = value if isinstance(value, list) else ([value] if value else list(item.values))
        if item.multi:
            rendered = {"tag": "multi_select_person", **common, "selected_values": chosen}
        else:
            rendered = {"tag": "select_person", **common}
            if chosen:
                rendered["initial_option"] = chosen[0]
        return [heading, rendered, *_notes(item)]
    raise TypeError(f"no Feishu input for {type(item).__name__}")


def repeat(item: Repeat, spare: int = EMPTY_ROWS) -> list[dict[str, Any]]:
    rows = list(item.rows) + [{}] * max(spare, item.min_rows - len(item.rows))
    rendered: list[dict[str, Any]] = []
    for index, row in enumerate(rows[: item.max_rows]):
        rendered.append({"tag": "markdown", "content": f"**{escape(item.label)} {index + 1}**"})
        blank = index >= len(item.rows)  # a row not yet written starts empty: its defaults would make it not blank
        for template in item.template:
            key = f"{index}.{template.name}"
            update: dict[str, Any] = {"error": item.row_errors.get(key), "warning": item.row_warnings.get(key)}
            if blank:
                update["values" if isinstance(template, MultiSelect | PersonPicker) else "value"] = (
                    [] if isinstance(template, MultiSelect | PersonPicker) else None
                )
            with_notes = template.model_copy(update=update)
            rendered.extend(form_input(with_notes, f"{item.name}.{key}", row.get(template.name)))
    return rendered


def form(item: Form, spare: int = EMPTY_ROWS) -> dict[str, Any]:
    elements: list[dict[str, Any]] = []
    for section in item.sections:
        if section.title:
            elements.append({"tag": "markdown", "content": f"**{escape(section.title)}**"})
        if section.hint:
            elements.append({"tag": "markdown", "content": f"<font color='grey'>{escape(section.hint)}</font>"})
        for child in section.inputs:
            elements.extend(repeat(child, spare) if isinstance(child, Repeat) else form_input(child, child.name))
    elements.append(button(item.submit, in_form=True))
    if item.cancel is not None:
        elements.append(button(item.cancel, in_form=True))
    return {"tag": "form", "name": field_name(item.form_id), "elements": elements}


def attachment(item: Attachment, images: Mapping[int, str]) -> dict[str, Any]:
    if item.file_id in images:  # the whole chart, not cropped; a click opens it large
        return {"tag": "img", "img_key": images[item.file_id], "alt": text(item.filename), "scale_type": "fit_horizontal",
                "preview": True}  # fmt: skip
    return {"tag": "div", "text": text(f"📎 {item.filename}")}


def element(item: Any, spare: int = EMPTY_ROWS, images: Mapping[int, str] | None = None) -> list[dict[str, Any]]:
    if isinstance(item, Markdown):
        return [{"tag": "markdown", "content": lark_md(item.text)}]
    if isinstance(item, Note):
        return [
            {"tag": "markdown", "content": f"<font color='grey'>{lark_md(item.text)}</font>", "text_size": "notation"}
        ]
    if isinstance(item, Divider):
        return [{"tag": "hr"}]
    if isinstance(item, Fields):
        return [
            {"tag": "markdown", "content": "\n".join(f"**{escape(f.label)}**：{lark_md(f.value)}" for f in item.items)}
        ]
    if isinstance(item, Actions):
        return [{"tag": "column_set", "columns": [
            {"tag": "column", "width": "auto", "elements": [button(b)]} for b in item.buttons]}]  # fmt: skip
    if isinstance(item, Form):
        return [form(item, spare)]
    if isinstance(item, Attachment):
        return [attachment(item, images or {})]
    raise TypeError(f"no Feishu element for {type(item).__name__}")


def render(card: Card, *, images: Mapping[int, str] | None = None) -> dict[str, Any]:
    """The card JSON; a form gets as many blank rows (up to ``EMPTY_ROWS``) as fit in one card."""
    for spare in range(EMPTY_ROWS, 0, -1):
        rendered = _render(card, spare, images)
        if size(rendered) <= MAX_CARD_BYTES or not any(isinstance(e, Form) for e in card.elements):
            return rendered
    return _render(card, 0, images)


def _render(card: Card, spare: int, images: Mapping[int, str] | None = None) -> dict[str, Any]:
    rendered: dict[str, Any] = {"schema": "2.0", "config": {"update_multi": True, "width_mode": "fill"}}
    if card.header:
        header: dict[str, Any] = {"title": text(card.header.title), "template": TEMPLATE[card.header.tone]}
        if card.header.subtitle:
            header["subtitle"] = text(card.header.subtitle)
        rendered["header"] = header
    rendered["body"] = {"elements": [part for item in card.elements for part in element(item, spare, images)]}
    return rendered


def size(rendered: dict[str, Any]) -> int:
    return len(json.dumps(rendered, ensure_ascii=False).encode())


def render_pages(card: Card, *, images: Mapping[int, str] | None = None) -> list[dict[str, Any]]:
    """One or more card JSONs, each under the size limit: long text is paged, elements spread over cards."""
    whole = render(card, images=images)
    if size(whole) <= MAX_CARD_BYTES:
        return [whole]
    pieces: list[dict[str, Any]] = []
    for part in whole["body"]["elements"]:
        if part.get("tag") == "markdown" and size(part) > MAX_CARD_BYTES // 2:
            pieces.extend({**part, "content": chunk} for chunk in _chunks(part["content"], MAX_CARD_BYTES // 4))
        else:
            pieces.append(part)
    pages: list[list[dict[str, Any]]] = [[]]
    for part in pieces:
        trial = {**whole, "body": {"elements": [*pages[-1], part]}}
        if pages[-1] and size(trial) > MAX_CARD_BYTES:
            pages.append([])
        pages[-1].append(part)
    result = []
    for number, elements in enumerate(pages, start=1):
        page = {**whole, "body": {"elements": elements}}
        if "header" in whole:
            title = f"{whole['header']['title']['content']} ({number}/{len(pages)})"
            page["header"] = {**whole["header"], "title": text(title)}
        result.append(page)
    return result


def _chunks(content: str, limit: int) -> list[str]:
    """Split on line breaks so that each chunk stays under ``limit`` bytes."""
    chunks, current = [], ""
    for line in content.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if current and len(candidate.encode()) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current:
        chunks.append(current)
    return chunks
