"""Neutral cards as Slack Block Kit: messages for ``chat.postMessage`` / ``chat.update``, forms as modals.

- Card text is neutral markup (``cards.markup``): mentions become Slack's own
  ``<@U123>`` (a real mention that notifies), ``**bold**`` → ``*bold*``,
  ``[label](url)`` → ``<url|label>``; every piece of text (what people typed,
  labels, the notification ``text`` too) has ``&``, ``<`` and ``>`` escaped, as
  Slack asks, so ``<!channel>``, ``<!here>``, ``<@U…>`` or ``<url|label>`` typed
  by a person show as typed.
- Buttons carry ``{"a": action id, "p": payload token}`` as their value; action ids
  are unique per message (``record.confirm:3``).
- A card with a form, posted as a message (the ``@bot`` path has no trigger to
  open a modal with), shows the form's title and one button, ``OPEN_FORM``; the
  adapter finds the form again from the outbox row of that message.
- In a modal every input is an ``input`` block whose ``block_id`` is the dotted
  input name (``items.1.owner``) and whose ``action_id`` is ``value``; errors and
  warnings the form carries are shown as context under the input. Repeated
  groups get the rows that exist plus up to ``EMPTY_ROWS`` blank ones (their inputs are
  optional to Slack: a blank row is dropped, and the core checks what a filled
  row requires, answering with field errors), within the view's
  100 blocks (blank rows are dropped first; a form that still does not fit is a
  programming error, not something to send).
- Limits (https://docs.slack.dev/reference/block-kit/blocks): 50 blocks per
  message (more are paged into several messages, never rejected), 3000
  characters per section text (long text is split), 10 fields per section, 150
  characters per header, 75 per button label, 2000 per button value, 24 per
  modal title and button, 3000 of ``private_metadata``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, tzinfo
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
    collect_form_values,
    iter_inputs,
)

OPEN_FORM = "form.open"
LINK = "link"  # action ids of link buttons: nothing to do when they are pressed
MESSAGE_BLOCKS, VIEW_BLOCKS = 50, 100
SECTION_TEXT, HEADER_TEXT, BUTTON_TEXT, BUTTON_VALUE, FIELD_TEXT = 3000, 150, 75, 2000, 2000
MODAL_TEXT, METADATA, OPTIONS, LABEL = 24, 3000, 100, 2000
EMPTY_ROWS = 4  # blank rows per repeated group, fewer when the view would pass 100 blocks
STYLE = {ButtonStyle.PRIMARY: "primary", ButtonStyle.DANGER: "danger"}
SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,40}")


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _spans(spans: Sequence[Span]) -> str:
    out = []
    for span in spans:
        if isinstance(span, Text):
            out.append(escape(span.text))
        elif isinstance(span, Mention):  # only Slack's user ids become mentions
            out.append(f"<@{span.user_id}>" if SLACK_USER.fullmatch(span.user_id) else escape(f"@{span.user_id}"))
        elif isinstance(span, Bold):
            out.append(f"*{_spans(span.parts)}*")
        elif isinstance(span, Link):
            out.append(f"<{span.url}|{_spans(span.label).replace('|', '/')}>")
    return "".join(out)


def mrkdwn(markup: str) -> str:
    """Neutral markup as Slack mrkdwn (bullets as •)."""
    return "\n".join(("• " if line.bullet else "") + _spans(line.spans) for line in parse(markup))


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": _cut(text, limit), "emoji": True}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _chunks(text: str, limit: int) -> Iterator[str]:
    """Split on line breaks (or hard, for a line longer than ``limit``) into pieces of at most ``limit``."""
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                yield current
                current = ""
            yield line[:limit]
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            yield current
            current = line
        else:
            current = candidate
    if current:
        yield current


def _sections(text: str) -> list[dict[str, Any]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in _chunks(mrkdwn(text), SECTION_TEXT)
    ]


def button_value(button: Button) -> str:
    value = json.dumps({"a": button.action, "p": button.payload.to_token()}, ensure_ascii=False, separators=(",", ":"))
    if len(value) > BUTTON_VALUE:
        raise ValueError(f"button {button.action!r}: its value is over Slack's {BUTTON_VALUE} characters")
    return value


def _button(button: Button | LinkButton, index: int) -> dict[str, Any]:
    if isinstance(button, LinkButton):  # Slack opens the URL and still sends an action, which is acknowledged only
        linked: dict[str, Any] = {"type": "button", "text": _plain(button.label, BUTTON_TEXT),
                                  "action_id": f"{LINK}:{index}", "url": button.url}  # fmt: skip
        if button.style in STYLE:
            linked["style"] = STYLE[button.style]
        return linked
    rendered: dict[str, Any] = {"type": "button", "text": _plain(button.label, BUTTON_TEXT),
                                "action_id": f"{button.action}:{index}", "value": button_value(button)}  # fmt: skip
    if button.style in STYLE:
        rendered["style"] = STYLE[button.style]
    if button.confirm:
        rendered["confirm"] = {"title": _plain(button.label, 100), "text": {"type": "mrkdwn", "text": _cut(escape(button.confirm), 300)},
                               "confirm": _plain("OK", 30), "deny": _plain("✕", 30)}  # fmt: skip
    return rendered


def _element(item: Any, counter: Iterator[int]) -> list[dict[str, Any]]:
    if isinstance(item, Markdown):
        return _sections(item.text)
    if isinstance(item, Note):
        return [
            {"type": "context", "elements": [{"type": "mrkdwn", "text": chunk}]}
            for chunk in _chunks(mrkdwn(item.text), SECTION_TEXT)
        ]
    if isinstance(item, Divider):
        return [{"type": "divider"}]
    if isinstance(item, Fields):
        fields = [
            {"type": "mrkdwn", "text": _cut(f"*{escape(f.label)}*\n{mrkdwn(f.value)}", FIELD_TEXT)} for f in item.items
        ]
        return [{"type": "section", "fields": fields[n : n + 10]} for n in range(0, len(fields), 10)]
    if isinstance(item, Actions):
        buttons = [_button(b, next(counter)) for b in item.buttons]
        return [{"type": "actions", "elements": buttons[n : n + 25]} for n in range(0, len(buttons), 25)]
    if isinstance(item, Form):  # posted as a message: a button opens it as a modal
        open_form = Button(
            label=item.submit.label, action=OPEN_FORM, payload=item.submit.payload, style=ButtonStyle.PRIMARY
        )
        titles = [s.title for s in item.sections if s.title]
        parts = [*_sections("、".join(titles))] if titles else []
        return [
            *parts,
            {"type": "actions", "elements": [{**_button(open_form, next(counter)), "action_id": OPEN_FORM}]},
        ]
    if isinstance(item, Attachment):  # its name: the file itself is shared into the channel (``files.py``)
        return [
            {"type": "context", "elements": [{"type": "plain_text", "text": _cut(f"📎 {item.filename}", SECTION_TEXT)}]}
        ]
    raise TypeError(f"no Slack block for {type(item).__name__}")


def render_blocks(card: Card) -> list[dict[str, Any]]:
    counter = iter(range(10**6))
    rendered: list[dict[str, Any]] = []
    if card.header:
        rendered.append({"type": "header", "text": _plain(card.header.title, HEADER_TEXT)})
        if card.header.subtitle:
            rendered.append(
                {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": _cut(escape(card.header.subtitle), SECTION_TEXT)}],
                }
            )
    for item in card.elements:
        rendered.extend(_element(item, counter))
    return rendered


def plain(card: Card) -> str:
    """The notification text Slack shows where blocks cannot be (and requires beside them), escaped like them.

    Slack reads ``text`` as mrkdwn too, so it is built from the same escaped pieces
    as the blocks: the card's text lines and titles, mentions as ``<@U…>``.
    """
    lines: list[str] = []
    if card.header:
        lines.append(escape(card.header.title))
    for item in card.elements:
        if isinstance(item, Markdown | Note):
            lines.append(mrkdwn(item.text))
        elif isinstance(item, Fields):
            lines.extend(f"{escape(f.label)}: {mrkdwn(f.value)}" for f in item.items)
    return _cut("\n".join(lines), 3000) or " "


def render_messages(card: Card) -> list[dict[str, Any]]:
    """``{"text", "blocks"}`` for each message the card needs: 50 blocks each, later pages marked (2/3)."""
    rendered = render_blocks(card)
    text = plain(card)
    if len(rendered) <= MESSAGE_BLOCKS:
        return [{"text": text, "blocks": rendered}]
    size = MESSAGE_BLOCKS - 1  # room for the page marker
    pages = [rendered[n : n + size] for n in range(0, len(rendered), size)]
    messages = []
    for number, blocks in enumerate(pages, start=1):
        marker = {"type": "context", "elements": [{"type": "mrkdwn", "text": f"({number}/{len(pages)})"}]}
        page_text = text if number == 1 else f"({number}/{len(pages)}) {text}"
        messages.append({"text": _cut(page_text, 3000), "blocks": [*blocks, marker]})
    return messages


# ---------------------------------------------------------------- modals


def _notes(item: Any) -> list[dict[str, Any]]:
    notes = []
    if item.error:
        notes.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": _cut("❗ " + escape(item.error), SECTION_TEXT)}],
            }
        )
    if item.warning:
        notes.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": _cut("⚠️ " + escape(item.warning), SECTION_TEXT)}],
            }
        )
    return notes


def _option(value: str, label: str) -> dict[str, Any]:
    return {"text": _plain(label, 75), "value": value[:150]}


def _input_element(item: Any, value: Any, tz: tzinfo) -> dict[str, Any]:
    if isinstance(item, TextInput | NumberInput):
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value"}
        if isinstance(item, TextInput):
            element["multiline"] = item.multiline
            element["max_length"] = min(item.max_length or 3000, 3000)
        if value not in (None, ""):
            element["initial_value"] = f"{value:g}" if isinstance(value, float) else str(value)
        if item.placeholder:
            element["placeholder"] = _plain(item.placeholder, 150)
        return element
    if isinstance(item, Select):
        options = [_option(o.value, o.label) for o in item.options[:OPTIONS]]
        element = {"type": "static_select", "action_id": "value", "options": options}
        chosen = value[0] if isinstance(value, list) and value else value
        initial = next((o for o in options if chosen and o["value"] == str(chosen)), None)
        if initial:
            element["initial_option"] = initial
        return element
    if isinstance(item, MultiSelect):
        options = [_option(o.value, o.label) for o in item.options[:OPTIONS]]
        chosen = set(value if isinstance(value, list) else item.values)
        element = {"type": "multi_static_select", "action_id": "value", "options": options}
        if initial := [o for o in options if o["value"] in chosen]:
            element["initial_options"] = initial
        return element
    if isinstance(item, DateInput):
        return _date_element(item, value, tz)
    if isinstance(item, PersonPicker):
        chosen = value if isinstance(value, list) else ([value] if value else list(item.values))
        chosen = [str(c) for c in chosen if c]
        if item.multi:
            element = {"type": "multi_users_select", "action_id": "value"}
            if chosen:
                element["initial_users"] = chosen
        else:
            element = {"type": "users_select", "action_id": "value"}
            if chosen:
                element["initial_user"] = chosen[0]
        return element
    raise TypeError(f"no Slack input for {type(item).__name__}")


def _date_element(item: DateInput, value: Any, tz: tzinfo) -> dict[str, Any]:
    """Slack's pickers; a value they cannot show (明天下午) is left for the person to pick again."""
    text = str(value or "").strip()
    if item.with_time:
        element: dict[str, Any] = {"type": "datetimepicker", "action_id": "value"}
        try:
            instant = datetime.fromisoformat(text.replace(" +", "+"))
            instant = instant if instant.tzinfo else instant.replace(tzinfo=tz)
            element["initial_date_time"] = int(instant.timestamp())
        except ValueError:
            pass
        return element
    element = {"type": "datepicker", "action_id": "value"}
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text[:10]) and _is_date(text[:10]):
        element["initial_date"] = text[:10]
    return element


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
        return True
    except ValueError:
        return False


def _input_blocks(item: Any, name: str, value: Any, tz: tzinfo) -> list[dict[str, Any]]:
    block: dict[str, Any] = {"type": "input", "block_id": name, "label": _plain(item.label, LABEL),
                             "element": _input_element(item, value, tz), "optional": not item.required}  # fmt: skip
    if item.hint:
        block["hint"] = _plain(item.hint, LABEL)
    return [block, *_notes(item)]


def _repeat_blocks(item: Repeat, tz: tzinfo, spare: int) -> list[dict[str, Any]]:
    rows = list(item.rows) + [{}] * max(spare, item.min_rows - len(item.rows))
    rendered: list[dict[str, Any]] = [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"*{escape(item.label)}*"}]}
    ]
    rendered.extend(_notes(item))
    for index, row in enumerate(rows[: item.max_rows]):
        for template in item.template:
            key = f"{index}.{template.name}"
            cell = template.model_copy(update={"error": item.row_errors.get(key), "warning": item.row_warnings.get(key),
                                               "label": f"{template.label} {index + 1}", "required": False})  # fmt: skip
            rendered.extend(_input_blocks(cell, f"{item.name}.{key}", row.get(template.name), tz))
    return rendered


def _form_blocks(form: Form, tz: tzinfo, spare: int) -> list[dict[str, Any]]:
    rendered: list[dict[str, Any]] = []
    for section in form.sections:
        if section.title:
            rendered.append({"type": "header", "text": _plain(section.title, HEADER_TEXT)})
        if section.hint:
            rendered.append(
                {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(escape(section.hint), SECTION_TEXT)}]}
            )
        for item in section.inputs:
            if isinstance(item, Repeat):
                rendered.extend(_repeat_blocks(item, tz, spare))
            else:
                rendered.extend(
                    _input_blocks(
                        item,
                        item.name,
                        getattr(item, "value", None)
                        if not isinstance(item, MultiSelect | PersonPicker)
                        else item.values,
                        tz,
                    )
                )
    return rendered


def render_modal(form: Form, *, title: str, private_metadata: str, tz: tzinfo | None = None,
                 intro: list[Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """A ``modal`` view: submitting it sends ``view_submission`` with ``callback_id`` = the submit action."""
    if len(private_metadata) > METADATA:
        raise ValueError(f"private_metadata is over Slack's {METADATA} characters")
    zone = tz or UTC
    counter = iter(range(10**6))
    before = [part for item in intro or [] for part in _element(item, counter)]
    for spare in range(EMPTY_ROWS, -1, -1):  # fewer blank rows until the view fits
        rendered = before + _form_blocks(form, zone, spare)
        if len(rendered) <= VIEW_BLOCKS:
            break
    else:
        raise ValueError(f"form {form.form_id!r} needs {len(rendered)} blocks; a Slack view takes {VIEW_BLOCKS}")
    view: dict[str, Any] = {"type": "modal", "callback_id": form.submit.action, "title": _plain(title, MODAL_TEXT),
                            "submit": _plain(form.submit.label, MODAL_TEXT), "private_metadata": private_metadata,
                            "blocks": rendered}  # fmt: skip
    view["close"] = _plain(form.cancel.label if form.cancel else "✕", MODAL_TEXT)
    return view


def _state_value(action: Mapping[str, Any], tz: tzinfo) -> Any:
    kind = action.get("type")
    if kind == "datetimepicker":
        stamp = action.get("selected_date_time")
        return datetime.fromtimestamp(int(stamp), tz).isoformat(timespec="minutes") if stamp else ""
    if kind == "datepicker":
        return action.get("selected_date") or ""
    if kind == "users_select":
        return action.get("selected_user") or ""
    if kind == "multi_users_select":
        return list(action.get("selected_users") or [])
    if kind == "static_select":
        return (action.get("selected_option") or {}).get("value") or ""
    if kind == "multi_static_select":
        return [o.get("value") for o in action.get("selected_options") or [] if isinstance(o, dict)]
    return action.get("value") or ""


def flat_values(state_values: Mapping[str, Any], *, tz: tzinfo | None = None) -> dict[str, Any]:
    """``view.state.values`` as flat dotted names (``items.1.owner``) → strings or lists of strings."""
    flat: dict[str, Any] = {}
    for block_id, actions in state_values.items():
        if isinstance(actions, Mapping) and isinstance(actions.get("value"), Mapping):
            flat[str(block_id)] = _state_value(actions["value"], tz or UTC)
    return flat


def form_values(state_values: Mapping[str, Any], *, tz: tzinfo | None = None) -> dict[str, Any]:
    """``view.state.values`` as the nested values the core reads (blank rows dropped)."""
    return collect_form_values(flat_values(state_values, tz=tz))


def field_errors(errors: Mapping[str, str]) -> dict[str, Any]:
    """Errors by block id (the dotted input name) as a ``view_submission`` answer; Slack shows 150 characters."""
    return {"response_action": "errors", "errors": {block: _cut(message, 150) for block, message in errors.items()}}


def rows_as_submitted(state: Mapping[str, Any]) -> dict[str, list[int]]:
    """For each repeated group, the modal rows that were not blank, in order.

    The core drops blank rows before it validates, so its errors count rows among
    the filled ones (``items.0`` is the first filled row); Slack needs the block
    the person typed into (``items.2``).
    """
    filled: dict[str, set[int]] = {}
    for block_id, actions in state.items():
        parts = str(block_id).split(".")
        if len(parts) == 3 and parts[1].isdigit():
            rows = filled.setdefault(parts[0], set())
            if any(_filled(a) for a in (actions or {}).values() if isinstance(a, dict)):
                rows.add(int(parts[1]))
    return {group: sorted(rows) for group, rows in filled.items()}


def _filled(action: Mapping[str, Any]) -> bool:
    keys = ("value", "selected_date", "selected_date_time", "selected_time", "selected_user", "selected_users",
            "selected_option", "selected_options")  # fmt: skip
    return any(action.get(key) not in (None, "", [], {}) for key in keys)


def has_warnings(form: Form) -> bool:
    """Whether any input carries a warning: ``response_action: errors`` could not show it."""
    return any(item.warning or (isinstance(item, Repeat) and item.row_warnings) for item in iter_inputs(form))


def modal_errors(form: Form, *, positions: Mapping[str, list[int]]) -> dict[str, str]:
    """The form's errors by the block id of the input they concern (the dotted input name, rows as shown)."""
    errors: dict[str, str] = {}
    for item in iter_inputs(form):
        if isinstance(item, Repeat):
            rows = positions.get(item.name, [])
            if item.error:  # the group's own error ("at least one action item") goes to its first input
                errors[f"{item.name}.{rows[0] if rows else 0}.{item.template[0].name}"] = item.error
            for key, message in item.row_errors.items():
                index, _, field = key.partition(".")
                row = rows[int(index)] if index.isdigit() and int(index) < len(rows) else int(index or 0)
                errors[f"{item.name}.{row}.{field}"] = message
        elif item.error:
            errors[item.name] = item.error
    return field_errors(errors)["errors"] if errors else {}
