"""Neutral cards as the intelligent robot's messages: ``markdown`` and ``template_card`` (doc 101032).

What goes where:
- a card with buttons → ``button_interaction`` cards, at most six buttons each (a longer
  list is split over several cards, "(2/3)" in the title); the card's text goes into
  ``sub_title_text`` (112 characters) and short fields into ``horizontal_content_list``;
  what does not fit is sent first as a markdown message, so nothing is cut off;
- a form whose inputs are only choices (a select, a multi-select) → ``vote_interaction``
  (one question) or ``multiple_interaction`` (up to three); any other form opens as a web
  page (the core sends a link card instead, ``forms=WEB``);
- a short notice with links → ``text_notice`` (the whole card opens the first link, the
  rest are ``jump_list`` entries); anything else → ``markdown``, paged within
  ``MAX_MESSAGE_BYTES``.

Escaping (WeCom documents none for its markdown; this is our choice): a person's text gets
CommonMark backslash escapes for the punctuation that makes formatting, and a zero-width
space after every ``<`` and between ``]`` and ``(``, so ``<@userid>``, ``<font>`` and
``[label](url)`` cannot form whether or not WeCom honours backslashes. Template-card
fields are plain text and only get the ``<`` guard. The robot cannot @-mention: a
mention is the person's name in bold here; the real @ goes through the group's
message-push robot (``robot.py``). Button keys are ``n|action|payload token``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cards.markup import Bold, Link, Mention, Span, Text, parse, to_plain
from cards.model import (
    Actions,
    Attachment,
    Button,
    ButtonStyle,
    Card,
    Divider,
    Fields,
    Form,
    LinkButton,
    Markdown,
    MultiSelect,
    Note,
    Select,
    iter_inputs,
)

MAX_MESSAGE_BYTES = 4096  # the smallest documented limit (a message-push markdown); every message stays within it
BUTTONS = 6  # per button_interaction card
TITLE, DESC, SUB_TITLE, KEYNAME, VALUE, BUTTON_TEXT, JUMP_TITLE, OPTION = 26, 30, 112, 5, 26, 10, 13, 11
ZWSP = "\u200b"
STYLE = {ButtonStyle.PRIMARY: 1, ButtonStyle.DEFAULT: 2, ButtonStyle.DANGER: 3}
NOOP = "cl.noop"  # the key of the button an updated card shows when it has none left (pressing it does nothing)
_MD_ANYWHERE = str.maketrans({c: "\\" + c for c in "\\`*_[]~|"})
_LINE_START = re.compile(r"^(\s*)([#>+\-]|\d+\.)", re.M)


# ---------------------------------------------------------------- escaping


def guard(text: str) -> str:
    """Plain text where WeCom might look for tags or its ``<@userid>`` mention: ``<`` can open nothing."""
    return text.replace("<", "<" + ZWSP)


def defuse(text: str) -> str:
    """Plain text for a ``text`` message (not markdown, but WeCom reads ``<@userid>`` in it): nothing can open a
    tag or a mention, nor look like a link or bold to a client that renders more than it should."""
    return guard(text).replace("](", "]" + ZWSP + "(").replace("**", "*" + ZWSP + "*")


def escape(text: str) -> str:
    """A person's text for WeCom markdown: shown as written, never a tag, mention, link or formatting."""
    escaped = guard(text.translate(_MD_ANYWHERE)).replace("](", "]" + ZWSP + "(")
    return _LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), escaped)


def _spans(spans: tuple[Span, ...] | list[Span], names: Mapping[str, str], mention: str) -> str:
    out = []
    for span in spans:
        if isinstance(span, Text):
            out.append(escape(span.text))
        elif isinstance(span, Mention):
            name = escape(names.get(span.user_id) or span.user_id)
            real = mention == "inline" and span.user_id != "all"  # "all" would be everyone: shown as text
            out.append(f"<@{span.user_id}>" if real else f"**{name}**")
        elif isinstance(span, Bold):
            out.append(f"**{_spans(span.parts, names, mention)}**")
        elif isinstance(span, Link):
            out.append(f"[{_spans(span.label, names, mention)}]({span.url})")
    return "".join(out)


def markdown(markup: str, names: Mapping[str, str], *, mention: str = "bold") -> str:
    """Neutral markup as WeCom markdown; mentions in bold, or ``inline`` as ``<@userid>`` (message-push robot)."""
    return "\n".join(("- " if line.bullet else "") + _spans(line.spans, names, mention) for line in parse(markup))


def plain(markup: str, names: Mapping[str, str]) -> str:
    """Neutral markup as plain text (a template card's fields): names for mentions, ``<`` guarded."""
    return guard(to_plain(markup, mention=lambda user_id: names.get(user_id) or user_id))


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------- keys


def button_key(index: int, action: str, token: str) -> str:
    return f"{index}|{action}|{token}"


def read_key(key: str) -> tuple[str, str]:
    """(action, payload token) from a key we rendered; ``ValueError`` for any other."""
    parts = key.split("|", 2)
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1]:
        raise ValueError("not a key we rendered")
    return parts[1], parts[2]


def form_values(selected: Mapping[str, list[str]]) -> dict[str, Any]:
    """``selected_items`` (question key → option ids) as the core's values: ``m:`` questions are lists."""
    values: dict[str, Any] = {}
    for question, options in selected.items():
        kind, _, name = question.partition(":")
        if name and kind in ("s", "m"):
            values[name] = list(options) if kind == "m" else (options[0] if options else "")
    return values


# ---------------------------------------------------------------- reading a card


@dataclass
class _Parts:
    title: str = ""
    desc: str = ""
    text: list[str] = field(default_factory=list)  # markdown lines, in order
    plain: list[str] = field(default_factory=list)  # the text (not the fields) as plain text
    fields: list[tuple[str, str]] = field(default_factory=list)  # (label, plain value), also in ``text``
    buttons: list[Button] = field(default_factory=list)
    links: list[LinkButton] = field(default_factory=list)
    form: Form | None = None


def _read(card: Card, names: Mapping[str, str], mention: str) -> _Parts:
    parts = _Parts()
    if card.header:
        parts.title, parts.desc = card.header.title, card.header.subtitle or ""
    for element in card.elements:
        if isinstance(element, Markdown | Note):
            parts.text.append(markdown(element.text, names, mention=mention))
            parts.plain.append(plain(element.text, names))
        elif isinstance(element, Fields):
            for item in element.items:
                value = plain(item.value, names)
                parts.fields.append((guard(item.label), value))
                parts.text.append(f"**{escape(item.label)}**：{markdown(item.value, names, mention=mention)}")
        elif isinstance(element, Divider):
            parts.text.append("---")
        elif isinstance(element, Actions):
            parts.buttons.extend(b for b in element.buttons if isinstance(b, Button))
            parts.links.extend(b for b in element.buttons if isinstance(b, LinkButton))
        elif isinstance(element, Attachment):
            parts.text.append(escape(f"📎 {element.filename}"))
            parts.plain.append(guard(f"📎 {element.filename}"))
        elif isinstance(element, Form):
            parts.form = element
            parts.buttons.extend(b for b in (element.submit, element.cancel) if b is not None)
    return parts


def choices_only(form: Form) -> bool:
    """A form a vote or multiple-choice card can hold: one to three selects, nothing typed."""
    inputs = list(iter_inputs(form))
    return 0 < len(inputs) <= 3 and all(isinstance(i, Select | MultiSelect) for i in inputs) and (
        len(inputs) == 1 or all(isinstance(i, Select) and len(i.options) <= 10 for i in inputs))  # fmt: skip


# ---------------------------------------------------------------- rendering


def size(message: dict[str, Any]) -> int:
    return len(json.dumps(message, ensure_ascii=False).encode())


def render(card: Card, names: Mapping[str, str], *, task_id: str = "cl", mention: str = "bold",
           cards: bool = True) -> list[dict[str, Any]]:  # fmt: skip
    """The messages for one card, in order; ``task_id`` is the prefix of each template card's id (``…p<n>``).

    ``cards=False`` (a message-push robot, whose cards cannot call back): markdown only, buttons dropped.
    """
    parts = _read(card, names, mention)
    if cards and parts.form is not None and choices_only(parts.form):
        return [*_markdown_pages(parts, with_title=True, links=True), _choice_card(parts, f"{task_id}p0")]
    if cards and parts.buttons:
        return _interactive(parts, task_id)
    if cards and parts.links and _fits(parts):
        return [_text_notice(parts, f"{task_id}p0")]
    return _markdown_pages(parts, with_title=True, links=True)


def _fits(parts: _Parts) -> bool:
    """The text fits a card's sub-title, and the fields its horizontal list."""
    short = all(len(label) <= KEYNAME and len(value) <= VALUE for label, value in parts.fields)
    return short and len(parts.fields) <= 6 and len(_body_plain(parts)) <= SUB_TITLE


def _body_plain(parts: _Parts) -> str:
    return "\n".join(parts.plain)


def _head(parts: _Parts, *, number: int = 0, of: int = 1) -> dict[str, Any]:
    title = parts.title or (parts.plain[0] if parts.plain else "Closeloop")
    suffix = f" ({number + 1}/{of})" if of > 1 else ""
    head: dict[str, Any] = {"title": guard(cut(title, TITLE - len(suffix)) + suffix)}
    if parts.desc:
        head["desc"] = guard(cut(parts.desc, DESC))
    return head


def _horizontal(parts: _Parts) -> list[dict[str, Any]]:
    return [{"type": 0, "keyname": cut(label, KEYNAME), "value": cut(value, VALUE)} for label, value in parts.fields][
        :6
    ]


def _button(index: int, button: Button) -> dict[str, Any]:
    return {"text": guard(cut(button.label, BUTTON_TEXT)), "style": STYLE[button.style],
            "key": button_key(index, button.action, button.payload.to_token())}  # fmt: skip


def _jumps(links: list[LinkButton]) -> list[dict[str, Any]]:
    return [{"type": 1, "title": guard(cut(b.label, JUMP_TITLE)), "url": b.url} for b in links[:3]]


def _interactive(parts: _Parts, task_id: str) -> list[dict[str, Any]]:
    """Text that fits goes into the first card; otherwise it is sent before the cards, as markdown."""
    fits = _fits(parts) and len(parts.links) <= 3
    messages = [] if fits else _markdown_pages(parts, with_title=True, links=True)
    body = _body_plain(parts)
    groups = [parts.buttons[i : i + BUTTONS] for i in range(0, len(parts.buttons), BUTTONS)]
    for number, group in enumerate(groups):
        card: dict[str, Any] = {"card_type": "button_interaction", "main_title": _head(parts, number=number,
                                                                                      of=len(groups))}  # fmt: skip
        if body:
            card["sub_title_text"] = cut(body, SUB_TITLE)
        if number == 0 and fits and parts.fields:
            card["horizontal_content_list"] = _horizontal(parts)
        if number == 0 and fits and parts.links:
            card["jump_list"] = _jumps(parts.links)
        card["button_list"] = [_button(number * BUTTONS + i, b) for i, b in enumerate(group)]
        card["task_id"] = f"{task_id}p{number}"
        messages.extend(_within_limit(card))
    return messages


def _within_limit(card: dict[str, Any]) -> list[dict[str, Any]]:
    """A card over the size limit (long button keys) is split, fewer buttons in each."""
    message = {"msgtype": "template_card", "template_card": card}
    buttons = card["button_list"]
    if size(message) <= MAX_MESSAGE_BYTES or len(buttons) == 1:
        return [message]
    half = len(buttons) // 2
    first = {**card, "button_list": buttons[:half]}
    second = {**card, "button_list": buttons[half:], "task_id": card["task_id"] + "b"}
    second.pop("horizontal_content_list", None)
    second.pop("jump_list", None)
    return _within_limit(first) + _within_limit(second)


def _text_notice(parts: _Parts, task_id: str) -> dict[str, Any]:
    card: dict[str, Any] = {"card_type": "text_notice", "main_title": _head(parts)}
    if body := _body_plain(parts):
        card["sub_title_text"] = cut(body, SUB_TITLE)
    if parts.fields:
        card["horizontal_content_list"] = _horizontal(parts)
    card["jump_list"] = _jumps(parts.links)
    card["card_action"] = {"type": 1, "url": parts.links[0].url}  # required for text_notice: the whole card opens it
    card["task_id"] = task_id
    return {"msgtype": "template_card", "template_card": card}


def _choice_card(parts: _Parts, task_id: str) -> dict[str, Any]:
    assert parts.form is not None
    form = parts.form
    inputs = [i for i in iter_inputs(form) if isinstance(i, Select | MultiSelect)]  # all of them (choices_only)
    submit = {"text": guard(cut(form.submit.label, BUTTON_TEXT)),
              "key": button_key(0, form.submit.action, form.submit.payload.to_token())}  # fmt: skip
    card: dict[str, Any] = {"main_title": _head(parts), "submit_button": submit, "task_id": task_id}
    if len(inputs) == 1:
        (only,) = inputs
        multi = isinstance(only, MultiSelect)
        chosen = set(only.values) if isinstance(only, MultiSelect) else {only.value}
        card.update(card_type="vote_interaction", checkbox={
            "question_key": f"{'m' if multi else 's'}:{only.name}", "mode": int(multi),
            "option_list": [{"id": o.value, "text": guard(cut(o.label, OPTION)), "is_checked": o.value in chosen}
                            for o in only.options[:20]]})  # fmt: skip
    else:
        card.update(card_type="multiple_interaction", select_list=[
            {"question_key": f"s:{i.name}", "title": guard(cut(i.label, JUMP_TITLE)),
             **({"selected_id": i.value} if isinstance(i, Select) and i.value else {}),
             "option_list": [{"id": o.value, "text": guard(cut(o.label, BUTTON_TEXT))} for o in i.options]}
            for i in inputs if isinstance(i, Select)])  # fmt: skip
    return {"msgtype": "template_card", "template_card": card}


def _markdown_pages(parts: _Parts, *, with_title: bool, links: bool) -> list[dict[str, Any]]:
    lines = [f"**{escape(parts.title)}**"] if with_title and parts.title else []
    if with_title and parts.desc:
        lines.append(escape(parts.desc))
    lines.extend(parts.text)
    if links and parts.links:
        lines.append("  ".join(f"[{escape(b.label)}]({b.url})" for b in parts.links))
    if parts.form is not None:
        lines.extend(escape(f"📝 {s.title}") for s in parts.form.sections if s.title)
    return [{"msgtype": "markdown", "markdown": {"content": page}} for page in _pages("\n".join(lines))]


def _pages(content: str) -> list[str]:
    """Markdown content cut on line breaks (a line too long for one message is cut by characters)."""
    limit = MAX_MESSAGE_BYTES - 64  # the envelope
    pages, current = [], ""
    for line in content.split("\n") or [""]:
        while len(json.dumps(line, ensure_ascii=False).encode()) > limit:
            head = line[: len(line) // 2]
            while len(json.dumps(head, ensure_ascii=False).encode()) > limit:
                head = head[: len(head) // 2]
            if current:
                pages.append(current)
                current = ""
            pages.append(head)
            line = line[len(head) :]
        candidate = f"{current}\n{line}" if current else line
        if current and len(json.dumps(candidate, ensure_ascii=False).encode()) > limit:
            pages.append(current)
            current = line
        else:
            current = candidate
    if current or not pages:
        pages.append(current)
    return pages


def updated(card: Card, names: Mapping[str, str], *, task_id: str, page: int, note: str | None,
            pressed_by: tuple[str, str] | None) -> dict[str, Any]:  # fmt: skip
    """One card to replace a pressed one within WeCom's 5 seconds: the same ``task_id``, the text cut to fit.

    ``note`` (what the press did) heads the text; ``pressed_by`` is (label, userid): WeCom shows that
    member's name. A card left without buttons keeps one inert button, since ``button_interaction``
    needs one and a ``text_notice`` needs a link.
    """
    parts = _read(card, names, "bold")
    groups = [parts.buttons[i : i + BUTTONS] for i in range(0, len(parts.buttons), BUTTONS)] or [[]]
    group = groups[min(page, len(groups) - 1)]
    short = [(label, value) for label, value in parts.fields if len(label) <= KEYNAME and len(value) <= VALUE]
    long = [f"{label}：{value}" for label, value in parts.fields if (label, value) not in short]
    body = "\n".join(filter(None, [guard(note) if note else "", _body_plain(parts), *long]))
    result: dict[str, Any] = {"card_type": "button_interaction", "main_title": _head(parts)}
    if body:
        result["sub_title_text"] = cut(body, SUB_TITLE)
    horizontal = [] if pressed_by is None else [{"type": 3, "keyname": cut(pressed_by[0], KEYNAME),
                                                  "userid": pressed_by[1]}]  # fmt: skip
    horizontal += [{"type": 0, "keyname": label, "value": value} for label, value in short]
    if horizontal:
        result["horizontal_content_list"] = horizontal[:6]
    first = min(page, len(groups) - 1) * BUTTONS
    result["button_list"] = [_button(first + i, b) for i, b in enumerate(group)] or [
        {"text": guard(cut(note or "✓", BUTTON_TEXT)), "style": 4, "key": NOOP}
    ]
    result["task_id"] = task_id
    return result


def ping_text(card: Card, names: Mapping[str, str]) -> str:
    """The one line a message-push robot sends beside a card to @-mention its people: the card's title."""
    if card.header:
        return defuse(card.header.title)
    parts = _read(card, names, "bold")
    return defuse(cut(parts.plain[0].replace(ZWSP, ""), 200)) if parts.plain else "Closeloop"
