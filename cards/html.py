"""Neutral cards as HTML: one renderer for the sandbox chat and for web forms behind signed links.

``render_card_html`` returns a fragment (``<div class="card">…</div>``) for a
page that declares UTF-8 and includes ``page_css()``. Everything that comes
from a card is escaped; the neutral markup of card text (``cards.markup``:
mentions, bold, links, bullets) is the only markup it can produce.

Posting works without JavaScript:

- A form is a ``<form method="post">`` whose inputs carry their dotted names
  (``items.0.owner``), so ``collect_form_values`` turns the post back into the
  nested values. Its buttons are ``<button name="action" value="…">``, so the
  clicked button says which action it is (pressing Enter sends the submit
  button's); hidden fields carry the ``payload`` token and the caller's extras.
- A button outside a form is a small form of its own posting the same fields.
- A repeating group shows its rows plus one empty row; ``page_script()`` (a
  file, never inline script, so pages can keep a strict Content-Security-Policy)
  shows the add button, which appends more empty rows without touching what
  was typed, asks before a button with ``data-confirm``, and filters a person
  picker as one types a name or pinyin initials.
- ``required`` inputs are marked (``*``, ``aria-required``) but not enforced by
  the browser: saving a draft must be possible, and the server checks anyway.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from cards.markup import Bold, Line, Link, Mention, Span, Text, parse, parse_inline
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
    PersonPicker,
    Repeat,
    Select,
    TextInput,
)

ASSETS = Path(__file__).parent
CSS = (ASSETS / "html.css").read_text("utf-8")
SCRIPT = (ASSETS / "html.js").read_text("utf-8")

ROW = "__row__"  # the row index in a repeating group's template row; the add button replaces it
NUMBER = "__num__"  # the row's number as people count (index + 1)
DATE_EXAMPLE = {False: "YYYY-MM-DD", True: "YYYY-MM-DD HH:MM"}
_ids = itertools.count(1)
Person = tuple[str, str] | tuple[str, str, str]  # user id, display name[, search words]


def page_css() -> str:
    """The stylesheet for pages that show cards: header tones as coloured bars, forms for a phone first."""
    return CSS


def page_script() -> str:
    """The script for pages that show cards (add rows, confirm, search people), as a file: no inline script."""
    return SCRIPT


# ---------------------------------------------------------------- text


class PlainNames(dict[str, str]):
    """Display names to show as plain names (web pages outside the chat), not as ``@name`` mentions."""


def _mention(user_id: str, names: Mapping[str, str]) -> str:
    if isinstance(names, PlainNames):
        return f'<span class="person">{escape(names.get(user_id, user_id))}</span>'
    return f'<span class="mention">@{escape(names.get(user_id, user_id))}</span>'


def spans_html(spans: Sequence[Span], names: Mapping[str, str]) -> str:
    out = []
    for span in spans:
        if isinstance(span, Text):
            out.append(escape(span.text))
        elif isinstance(span, Mention):
            out.append(_mention(span.user_id, names))
        elif isinstance(span, Bold):
            out.append(f"<strong>{spans_html(span.parts, names)}</strong>")
        elif isinstance(span, Link):
            label = spans_html(span.label, names)
            out.append(f'<a href="{escape(span.url)}" rel="noopener noreferrer" target="_blank">{label}</a>')
    return "".join(out)


def inline_html(markup: str, names: Mapping[str, str]) -> str:
    """One line of markup: escaped text, mentions, bold and links; line breaks as ``<br>``."""
    return "<br>".join(spans_html(parse_inline(line), names) for line in markup.split("\n"))


def markdown_html(markup: str, names: Mapping[str, str]) -> str:
    """Markup as blocks: bullet lines as a list, other lines as paragraphs with line breaks."""
    blocks: list[str] = []
    paragraph: list[Line] = []
    bullets: list[Line] = []

    def flush() -> None:
        if paragraph:
            blocks.append("<p>" + "<br>".join(spans_html(line.spans, names) for line in paragraph) + "</p>")
            paragraph.clear()
        if bullets:
            blocks.append("<ul>" + "".join(f"<li>{spans_html(line.spans, names)}</li>" for line in bullets) + "</ul>")
            bullets.clear()

    for line in parse(markup):
        if line.bullet:
            if paragraph:
                flush()
            bullets.append(line)
        elif not line.spans or all(isinstance(s, Text) and not s.text.strip() for s in line.spans):
            flush()
        else:
            if bullets:
                flush()
            paragraph.append(line)
    flush()
    return "".join(blocks)


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return "" if value is None else str(value)


def _one(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _many(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


# ---------------------------------------------------------------- the renderer


class _Renderer:
    def __init__(
        self, *, names: Mapping[str, str], people: Sequence[Person], action_url: str, hidden: Mapping[str, str],
        id_prefix: str, search_label: str | None, file_url: str,
    ) -> None:  # fmt: skip
        self.file_url = file_url
        self.names = names
        self.people = [(p[0], p[1], p[2] if len(p) > 2 else "") for p in people]
        self.search_label = search_label
        self.action_url = escape(action_url)
        self.hidden = hidden
        self.id_prefix = id_prefix

    def card(self, card: Card) -> str:
        card_id = f' data-card-id="{escape(card.card_id)}"' if card.card_id else ""
        parts = [f'<div class="card"{card_id}>']
        if card.header:
            header = card.header
            subtitle = f'<div class="subtitle">{escape(header.subtitle)}</div>' if header.subtitle else ""
            parts.append(
                f'<div class="card-header tone-{escape(header.tone.value)}">'
                f'<div class="title">{escape(header.title)}</div>{subtitle}</div>'
            )
        parts.append('<div class="card-body">')
        parts.extend(self.element(element) for element in card.elements)
        parts.append("</div></div>")
        return "".join(parts)

    def element(self, element: Any) -> str:
        if isinstance(element, Markdown):
            return f'<div class="markdown">{markdown_html(element.text, self.names)}</div>'
        if isinstance(element, Note):
            return f'<p class="note">{inline_html(element.text, self.names)}</p>'
        if isinstance(element, Divider):
            return "<hr>"
        if isinstance(element, Fields):
            rows = "".join(
                f"<div><dt>{escape(f.label)}</dt><dd>{inline_html(f.value, self.names)}</dd></div>"
                for f in element.items
            )
            return f'<dl class="fields">{rows}</dl>'
        if isinstance(element, Actions):
            forms = "".join(
                self.link(button)
                if isinstance(button, LinkButton)
                else f'<form method="post" action="{self.action_url}" class="action">'
                f"{self.hidden_inputs(button)}{self.button(button)}</form>"
                for button in element.buttons
            )
            return f'<div class="actions">{forms}</div>'
        if isinstance(element, Form):
            return self.form(element)
        if isinstance(element, Attachment):
            url = escape(self.file_url.format(file_id=element.file_id))
            if element.image:
                return f'<p><img class="attachment" src="{url}" alt="{escape(element.filename)}"></p>'
            return f'<p><a class="attachment" href="{url}" download="{escape(element.filename)}">{escape(element.filename)}</a></p>'
        raise TypeError(f"no HTML for {type(element).__name__}")

    def hidden_inputs(self, button: Button) -> str:
        fields = {"payload": button.payload.to_token(), **self.hidden}
        return "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items())

    def link(self, button: LinkButton) -> str:
        return (
            f'<a class="button {escape(button.style.value)}" href="{escape(button.url)}" '
            f'rel="noopener noreferrer">{escape(button.label)}</a>'
        )

    def button(self, button: Button) -> str:
        confirm = ""
        if button.confirm:
            confirm = f' data-confirm="{escape(button.confirm)}"'  # asked by page_script(), not inline script
        return (
            f'<button type="submit" name="action" value="{escape(button.action)}" '
            f'class="{escape(button.style.value)}"{confirm}>{escape(button.label)}</button>'
        )

    def form(self, form: Form) -> str:
        parts = [
            f'<form method="post" action="{self.action_url}" class="card-form" data-form="{escape(form.form_id)}">',
            self.hidden_inputs(form.submit),
        ]
        for section in form.sections:
            legend = f"<legend>{escape(section.title)}</legend>" if section.title else ""
            hint = f'<div class="hint">{escape(section.hint)}</div>' if section.hint else ""
            body = "".join(
                self.repeat(item) if isinstance(item, Repeat) else self.field(item, item.name, _own_value(item))
                for item in section.inputs
            )
            parts.append(f'<fieldset class="section">{legend}{hint}{body}</fieldset>')
        buttons = [form.submit] + ([form.cancel] if form.cancel else [])
        parts.append('<div class="buttons">' + "".join(self.button(b) for b in buttons) + "</div></form>")
        return "".join(parts)

    def ident(self, name: str) -> str:
        return f"{self.id_prefix}-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)

    def notes(self, ident: str, hint: str | None, error: str | None, warning: str | None) -> tuple[str, list[str]]:
        """Hint, error and warning under an input, and the ids the input is described by."""
        html, ids = [], []
        for kind, text, role in (("hint", hint, ""), ("error", error, ' role="alert"'), ("warning", warning, "")):
            if text:
                ids.append(f"{ident}-{kind}")
                html.append(f'<div class="{kind}" id="{ident}-{kind}"{role}>{escape(text)}</div>')
        return "".join(html), ids

    def field(self, item: Any, name: str, value: Any, *, error: str | None = None, warning: str | None = None) -> str:
        """One labelled input with its notes; ``error``/``warning`` default to the input's own."""
        error = error if error is not None else item.error
        warning = warning if warning is not None else item.warning
        ident = self.ident(name)
        notes, described = self.notes(ident, item.hint, error, warning)
        attrs = ""
        if described:
            attrs += f' aria-describedby="{" ".join(described)}"'
        if error:
            attrs += ' aria-invalid="true"'
        if item.required:
            attrs += ' aria-required="true"'
        if item.placeholder:
            attrs += f' placeholder="{escape(item.placeholder)}"'
        star = ' <span class="required" aria-hidden="true">*</span>' if item.required else ""
        classes = "field" + (" has-error" if error else "") + (" has-warning" if warning else "")
        return (
            f'<div class="{classes}"><label for="{ident}">{escape(item.label)}{star}</label>'
            f"{self.control(item, name, ident, value, attrs)}{notes}</div>"
        )

    def control(self, item: Any, name: str, ident: str, value: Any, attrs: str) -> str:
        n = escape(name)
        if isinstance(item, TextInput):
            limit = f' maxlength="{item.max_length}"' if item.max_length else ""
            text = escape(str(_one(value) or ""))
            if item.multiline:
                return f'<textarea id="{ident}" name="{n}" rows="3"{limit}{attrs}>{text}</textarea>'
            return f'<input type="text" id="{ident}" name="{n}" value="{text}"{limit}{attrs}>'
        if isinstance(item, DateInput):  # free text (明天 3点), so not <input type="date">
            example = "" if item.placeholder else f' placeholder="{DATE_EXAMPLE[item.with_time]}"'
            text = escape(str(_one(value) or ""))
            return f'<input type="text" id="{ident}" name="{n}" value="{text}" class="date"{example}{attrs}>'
        if isinstance(item, NumberInput):
            bounds = "".join(f' {k}="{_number(v)}"' for k, v in (("min", item.min), ("max", item.max)) if v is not None)
            shown = escape(_number(_one(value)))
            return f'<input type="number" step="any" id="{ident}" name="{n}" value="{shown}"{bounds}{attrs}>'
        if isinstance(item, Select | MultiSelect | PersonPicker):
            options = (
                [(o.value, o.label, "") for o in item.options]
                if isinstance(item, Select | MultiSelect)
                else list(self.people)
            )
            multi = isinstance(item, MultiSelect) or (isinstance(item, PersonPicker) and item.multi)
            chosen = _many(value) if multi else _many(_one(value))
            known = {v for v, _, _ in options}
            options += [(v, self.names.get(v, v), "") for v in chosen if v not in known]  # keep a choice nobody offers
            rendered = "".join(
                f'<option value="{escape(v)}"{f" data-search={_attr(words)}" if words else ""}'
                f"{' selected' if v in chosen else ''}>{escape(label)}</option>"
                for v, label, words in options
            )
            search = self.search_box(item, ident) if isinstance(item, PersonPicker) else ""
            if multi:  # the empty hidden value makes "nothing chosen" reach the server too
                size = min(max(len(options), 2), 8)
                return (
                    f'{search}<input type="hidden" name="{n}" value="">'
                    f'<select id="{ident}" name="{n}" multiple size="{size}"{attrs}>{rendered}</select>'
                )
            return f'{search}<select id="{ident}" name="{n}"{attrs}><option value=""></option>{rendered}</select>'
        raise TypeError(f"no HTML for {type(item).__name__}")

    def search_box(self, item: PersonPicker, ident: str) -> str:
        """A search box over a person picker: hidden until page_script() makes it filter (name or pinyin initials)."""
        if not self.search_label or len(self.people) < 2:
            return ""
        label = _attr(f"{self.search_label}: {item.label}")
        return (
            f'<input type="search" id="{ident}-search" class="people-search" data-people-search="{ident}" '
            f'aria-label={label} placeholder={_attr(self.search_label)} autocomplete="off" hidden>'
        )

    def repeat(self, repeat: Repeat) -> str:
        """The rows there are, enough empty ones for ``min_rows`` (at least one), and a template for more."""
        ident = self.ident(repeat.name)
        shown = min(max(len(repeat.rows) + 1, repeat.min_rows), repeat.max_rows)
        notes, described = self.notes(ident, repeat.hint, repeat.error, repeat.warning)
        described_by = f' aria-describedby="{" ".join(described)}"' if described else ""
        parts = [
            f'<fieldset class="repeat" id="{ident}" data-next="{shown}" data-max="{repeat.max_rows}"{described_by}>'
            f"<legend>{escape(repeat.label)}</legend>{notes}"
        ]
        rows = repeat.rows
        parts.extend(self.row(repeat, rows[i] if i < len(rows) else None, str(i), str(i + 1)) for i in range(shown))
        if repeat.add_label and shown < repeat.max_rows:
            parts.append(f"<template>{self.row(repeat, None, ROW, NUMBER)}</template>")
            parts.append(  # shown by page_script(); without script the spare row is there anyway
                f'<button type="button" class="add-row" data-add-row hidden>{escape(repeat.add_label)}</button>'
            )
        parts.append("</fieldset>")
        return "".join(parts)

    def row(self, repeat: Repeat, row: Mapping[str, Any] | None, index: str, number: str) -> str:
        """One row; ``row`` is ``None`` for a row not yet written, which starts blank (and comes back blank)."""
        cells = []
        for template in repeat.template:
            key = f"{index}.{template.name}"
            value = None if row is None else row.get(template.name, _own_value(template))
            cells.append(
                self.field(template, f"{repeat.name}.{key}", value,
                           error=repeat.row_errors.get(key), warning=repeat.row_warnings.get(key))
            )  # fmt: skip
        return f'<fieldset class="row"><legend>{escape(repeat.label)} {number}</legend>{"".join(cells)}</fieldset>'


def _attr(text: str) -> str:
    return f'"{escape(text)}"'


def _own_value(item: Any) -> Any:
    return item.values if isinstance(item, MultiSelect | PersonPicker) else item.value


def render_card_html(
    card: Card,
    *,
    names: Mapping[str, str] | None = None,
    people: Sequence[Person] = (),
    action_url: str = "/sandbox/actions",
    hidden: Mapping[str, str] | None = None,
    id_prefix: str | None = None,
    search_label: str | None = None,
    file_url: str = "/files/{file_id}",
) -> str:
    """The card as an HTML fragment.

    ``names`` maps user ids to display names for mentions (``PlainNames``: shown
    as names, not mentions); ``people`` is who a person picker offers, as (user
    id, display name) or (user id, display name, search words such as pinyin);
    ``search_label`` adds a search box over each person picker (for
    ``page_script()``); ``hidden`` are extra fields
    every form posts (the page's group, the signed link's token …). Element ids
    start with ``id_prefix`` (a fresh one per call by default) so several cards
    can share a page. ``file_url`` is where an attachment's bytes are served
    (``{file_id}`` is replaced), for an ``<img>`` or a download link.
    """
    if hidden and {"action", "payload"} & set(hidden):
        raise ValueError("hidden fields cannot be named action or payload: the buttons post those")
    prefix = id_prefix or f"c{next(_ids)}"
    renderer = _Renderer(names=names or {}, people=people, action_url=action_url, hidden=hidden or {},
                         id_prefix=prefix, search_label=search_label, file_url=file_url)  # fmt: skip
    return renderer.card(card)
