"""Neutral cards as DingTalk messages: template card data (``cardParamMap``) or a plain markdown message.

Two shapes, chosen per card:

- **A template card** (``createAndDeliver``, the template in ``templates/``) for a
  card that has buttons, a form, or mentions: only cards can call back, and only a
  card's ``imGroupOpenDeliverModel.atUserIds`` really @-mentions people in a group
  (``groupMessages/send`` cannot). Its variables, all strings as DingTalk requires
  (``cardParamMap`` is ``Map<String, String>``): ``title``, ``markdown`` (the body),
  ``buttons`` (JSON list of ``{text, style, action, payload, url}``), ``has_form``,
  ``form`` (JSON ``{"fields": [...]}`` in DingTalk's form protocol), ``form_btn_text``,
  ``form_action``, ``form_payload``, ``form_status``, ``lastMessage`` (the chat
  list's summary) and the private ``toast`` (a notice only the person who acted sees).
- **A markdown message** (``sampleMarkdown`` through ``groupMessages/send`` or a
  session webhook) for everything else: no buttons, nobody to @.

Text: card text is neutral markup (``cards.markup``). A mention is written
``@name`` in a card (the real @ is ``atUserIds``) and ``@userId`` in a session
webhook's markdown (DingTalk shows the name for the ids in ``at.atUserIds``).
Every text span is escaped for DingTalk's markdown. DingTalk does not document an
escape syntax; its clients render CommonMark-style markdown (UNCONFIRMED which
parser), so the markdown punctuation a person typed is backslash-escaped (CommonMark
shows ``\\*`` as ``*``), and what backslashes cannot stop is broken with a zero-width
space: ``@`` (a session webhook turns ``@userId`` into a mention) and ``://`` (bare
URLs are auto-linked). So nothing a person typed becomes bold, a link, a tag or a
mention.

Form fields DingTalk cards hold: ``TEXT`` (text and numbers), ``DATE``,
``DATETIME``, ``SELECT``, ``MULTI_SELECT`` — no person picker (none is
documented) and no repeated rows; the capabilities say so (``card_inputs``) and the
core sends such forms to the hosted web form. Field errors, warnings and hints
have no place in DingTalk's form protocol, so they are listed in the markdown
above the form.

Size: DingTalk documents no card size; 15,000 bytes of data per message is what
the robot's ``msgParam`` is reported to take (UNCONFIRMED) and is kept here for
both. A longer card is paged: the first message carries the title, the buttons
and the form (callbacks and updates refer to it), the following ones the rest of
the text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from cards.markup import Bold, Link, Mention, Span, Text, parse
from cards.model import (
    Actions,
    Attachment,
    Button,
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
    Select,
    TextInput,
    collect_form_values,
    mentions_in_card,
)

MAX_MESSAGE_BYTES = 15_000
CARD_INPUTS = frozenset({"text", "number", "date", "select", "multi_select"})
ZWSP = "\u200b"
_ESCAPED = re.compile(r"([\\`*_\[\]<>#|~!])")
_LINE_START = re.compile(r"^(\s*)([-+=]|\d+\.)", re.M)
MENTION_ID = re.compile(r"[A-Za-z0-9_\-$:.]{1,128}")


def in_app(url: str) -> str:
    """A web page opened inside DingTalk (the side panel on PC) instead of the system browser."""
    return "dingtalk://dingtalkclient/page/link?pc_slide=true&url=" + quote(url, safe="")


def escape(plain: str) -> str:
    """A person's text for DingTalk markdown: shown as written, never markup, a link or a mention."""
    escaped = _ESCAPED.sub(r"\\\1", plain).replace("@", "@" + ZWSP).replace("://", ":" + ZWSP + "//")
    return _LINE_START.sub(_defuse_line_start, escaped)


def _defuse_line_start(match: re.Match[str]) -> str:
    """``- `` / ``+ `` / ``= `` and ``1.`` at a line's start would make a list or a heading: escaped (``1\\.``)."""
    marker = match.group(2)
    return match.group(1) + (marker[:-1] + "\\." if marker.endswith(".") else "\\" + marker)


def _spans(spans: tuple[Span, ...], mention: Any) -> str:
    out = []
    for span in spans:
        if isinstance(span, Text):
            out.append(escape(span.text))
        elif isinstance(span, Mention):
            out.append(mention(span.user_id))
        elif isinstance(span, Bold):
            out.append(f"**{_spans(span.parts, mention)}**")
        elif isinstance(span, Link):
            out.append(f"[{_spans(span.label, mention)}]({span.url})")
    return "".join(out)


def markdown(markup: str, names: Mapping[str, str], *, by_id: bool = False) -> str:
    """Neutral markup as DingTalk markdown; mentions as ``@name`` (cards) or ``@userId`` (session webhooks)."""

    def mention(user_id: str) -> str:
        if by_id and MENTION_ID.fullmatch(user_id):
            return "@" + user_id
        return escape("@" + names.get(user_id, user_id))

    return "\n".join(("- " if line.bullet else "") + _spans(line.spans, mention) for line in parse(markup))


def is_plain(card: Card) -> bool:
    """No buttons, no form, nobody to @: a markdown message will do."""
    interactive = any(isinstance(e, Actions | Form) for e in card.elements)
    return not interactive and not mentions_in_card(card)


def mentioned(card: Card, names: Mapping[str, str]) -> dict[str, str]:
    """``atUserIds``: the people the card's own markup mentions (never "all", never anyone a person typed)."""
    return {u: names.get(u, u) for u in mentions_in_card(card) if u.lower() != "all" and MENTION_ID.fullmatch(u)}


def body_lines(card: Card, names: Mapping[str, str], *, by_id: bool = False) -> list[str]:
    """The card's text as markdown lines (everything but buttons and form inputs)."""
    lines: list[str] = []
    if card.header and card.header.subtitle:
        lines.append(escape(card.header.subtitle))
    for item in card.elements:
        if isinstance(item, Markdown):
            lines.append(markdown(item.text, names, by_id=by_id))
        elif isinstance(item, Note):
            lines.append("> " + markdown(item.text, names, by_id=by_id).replace("\n", "\n> "))
        elif isinstance(item, Fields):
            lines.extend(f"**{escape(f.label)}**：{markdown(f.value, names, by_id=by_id)}" for f in item.items)
        elif isinstance(item, Divider):
            lines.extend(["", "---", ""])
        elif isinstance(item, Attachment):
            lines.append(escape(f"📎 {item.filename}"))
        elif isinstance(item, Form):
            lines.extend(_form_notes(item))
    return lines


def _form_notes(form: Form) -> list[str]:
    """Section titles, hints, errors and warnings: DingTalk's form fields have no place for them."""
    lines: list[str] = []
    for section in form.sections:
        if section.title:
            lines.append(f"**{escape(section.title)}**")
        if section.hint:
            lines.append(escape(section.hint))
        for item in section.inputs:
            for mark, note in (("❗", item.error), ("⚠️", item.warning), ("", item.hint)):
                if note:
                    lines.append(f"{mark}{escape(item.label)}：{escape(note)}")
    return lines


# ---------------------------------------------------------------- forms


def _field(item: Any) -> dict[str, Any] | None:
    if not isinstance(item, TextInput | NumberInput | DateInput | Select | MultiSelect):
        return None  # a person picker or repeated rows: the core sends such a form to the web page
    field: dict[str, Any] = {"name": item.name, "label": item.label, "required": item.required}
    if item.placeholder:
        field["placeholder"] = item.placeholder
    if isinstance(item, TextInput | NumberInput):
        field["type"] = "TEXT"
        value = item.value
        if value not in (None, ""):
            field["defaultValue"] = f"{value:g}" if isinstance(value, float) else str(value)
    elif isinstance(item, DateInput):
        field["type"] = "DATETIME" if item.with_time else "DATE"
        if item.value and re.fullmatch(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2})?", item.value):
            field["defaultValue"] = item.value
    else:
        options = [{"value": o.value, "text": o.label} for o in item.options]
        field.update(type="SELECT" if isinstance(item, Select) else "MULTI_SELECT", options=options)
        chosen = [item.value] if isinstance(item, Select) and item.value else list(getattr(item, "values", []))
        indexes = [i for i, o in enumerate(item.options) if o.value in chosen]
        if indexes and isinstance(item, Select):
            field["defaultValue"] = {"index": indexes[0], "value": item.options[indexes[0]].value}
        elif indexes:
            field["defaultValue"] = {"index": indexes, "value": [item.options[i].value for i in indexes]}
    return field


def form_fields(form: Form) -> dict[str, Any]:
    fields = [f for section in form.sections for item in section.inputs if (f := _field(item)) is not None]
    return {"fields": fields}


def form_values(submitted: Mapping[str, Any]) -> dict[str, Any]:
    """A Form component's values (``params.form``) as the core's form values (strings and lists of strings).

    TEXT gives a string, DATE ``2026-11-27``, DATETIME ``2026-11-27 18:00``, SELECT
    ``{"index": 1, "value": "2"}``, MULTI_SELECT ``{"index": [..], "value": [..]}``.
    """
    flat: dict[str, Any] = {}
    for key, value in submitted.items():
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", key):
            raise ValueError("a form field name is not one of ours")
        if isinstance(value, dict):
            value = value.get("value")
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            flat[key] = value
        elif value is None:
            flat[key] = ""
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            flat[key] = str(value)
        else:
            raise ValueError(f"form value {key!r} is not text")
    return collect_form_values(flat)


# ---------------------------------------------------------------- messages


def _button(item: Button | LinkButton) -> dict[str, str]:
    if isinstance(item, LinkButton):
        return {"text": item.label, "style": item.style.value, "action": "", "payload": "", "url": in_app(item.url)}
    return {"text": item.label, "style": item.style.value, "action": item.action,
            "payload": item.payload.to_token(), "url": ""}  # fmt: skip


def card_params(card: Card, text: str, *, interactive: bool = True) -> dict[str, str]:
    """The template's public variables for one message (``text``: its share of the body)."""
    title = card.header.title if card.header else ""
    buttons: list[dict[str, str]] = []
    form = next((e for e in card.elements if isinstance(e, Form)), None) if interactive else None
    if interactive:
        for item in card.elements:
            if isinstance(item, Actions):
                buttons.extend(_button(b) for b in item.buttons)
        if form is not None and form.cancel is not None:
            buttons.append(_button(form.cancel))
    params = {
        "title": title,
        "markdown": text,
        "buttons": json.dumps(buttons, ensure_ascii=False),
        "has_form": "true" if form is not None else "false",
        "form": json.dumps(form_fields(form), ensure_ascii=False) if form is not None else "",
        "form_btn_text": form.submit.label if form is not None else "",
        "form_action": form.submit.action if form is not None else "",
        "form_payload": form.submit.payload.to_token() if form is not None else "",
        "form_status": "normal" if form is not None else "disabled",
        "lastMessage": title or text[:60],
    }
    return params


def render_pages(card: Card, names: Mapping[str, str]) -> list[dict[str, Any]]:
    """The messages a card needs: ``{"cardParamMap": …, "atUserIds": …}`` or ``{"title", "markdown"}``.

    Each stays under ``MAX_MESSAGE_BYTES``; long text is paged, never refused.
    """
    plain = is_plain(card)
    text = "\n".join(body_lines(card, names))
    chunks = _chunks(text, MAX_MESSAGE_BYTES // 3) or [""]  # JSON escaping may double a chunk
    pages: list[dict[str, Any]] = []
    title = card.header.title if card.header else ""
    for number, chunk in enumerate(chunks):
        paged_title = title if len(chunks) == 1 else f"{title} ({number + 1}/{len(chunks)})"
        if plain:
            heading = f"**{escape(paged_title)}**\n" if paged_title else ""
            pages.append({"title": paged_title or "Closeloop", "markdown": heading + chunk})
            continue
        shown = card.model_copy(update={"header": card.header.model_copy(update={"title": paged_title})}) \
            if card.header else card  # fmt: skip
        page = {"cardParamMap": card_params(shown, chunk, interactive=number == 0)}
        if number == 0:
            page["atUserIds"] = mentioned(card, names)
        pages.append(page)
    return pages


def size(page: Mapping[str, Any]) -> int:
    return len(json.dumps(page, ensure_ascii=False).encode())


def _chunks(text: str, limit: int) -> list[str]:
    """Split on line breaks (long lines on characters) so that each chunk stays under ``limit`` bytes."""
    chunks, current = [], ""
    for line in text.split("\n"):
        while len(line.encode()) > limit:
            cut = limit // 4
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:cut])
            line = line[cut:]
        candidate = f"{current}\n{line}" if current else line
        if current and len(candidate.encode()) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current:
        chunks.append(current)
    return chunks


def session_markdown(card: Card, names: Mapping[str, str]) -> tuple[str, str]:
    """A session webhook's markdown (title, text): mentions as ``@userId``, which DingTalk shows as names."""
    title = card.header.title if card.header else "Closeloop"
    lines = ([f"**{escape(card.header.title)}**"] if card.header else []) + body_lines(card, names, by_id=True)
    return title, "\n".join(lines)


def answer_params(card: Card, names: Mapping[str, str]) -> dict[str, str]:
    """The updated card as the callback's answer (the first page: what the person pressed on)."""
    return render_pages(card, names)[0].get("cardParamMap") or card_params(card, "\n".join(body_lines(card, names)))
