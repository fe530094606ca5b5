"""Neutral cards as HTML: one renderer for the sandbox chat and for web forms behind signed links.

Everything user-supplied is escaped. Forms are plain ``<form method="post">``
with inputs named by their dotted names (``items.0.owner``), so a submission
comes back through ``collect_form_values``; every button posts ``action`` and the
card's ``payload`` token plus any ``hidden`` fields the page needs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from cards.model import (
    Actions,
    Button,
    Card,
    DateInput,
    Divider,
    Fields,
    Form,
    Markdown,
    MultiSelect,
    Note,
    NumberInput,
    PersonPicker,
    Repeat,
    Select,
    TextInput,
    split_mentions,
)

CSS = """
.card { background: #fff; border: 1px solid #d1d5db; border-radius: 8px; overflow: hidden; margin: .5rem 0; }
.card .hd { padding: .5rem .75rem; border-left: 6px solid #9ca3af; background: #f9fafb; }
.card .hd.info { border-color: #2563eb; } .card .hd.success { border-color: #16a34a; }
.card .hd.warning { border-color: #d97706; } .card .hd.danger { border-color: #dc2626; }
.card .hd h3 { margin: 0; font-size: 1rem; } .card .hd p { margin: .2rem 0 0; color: #4b5563; font-size: .85rem; }
.card .bd { padding: .5rem .75rem; } .card .md { margin: .4rem 0; } .card .note { color: #6b7280; font-size: .8rem; }
.card dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem .8rem; margin: .4rem 0; }
.card dt { color: #6b7280; } .card dd { margin: 0; }
.card fieldset { border: 1px solid #e5e7eb; border-radius: 6px; margin: .5rem 0; }
.card label { display: block; margin: .35rem 0 .1rem; font-size: .9rem; }
.card input[type=text], .card input[type=number], .card textarea, .card select { width: 100%; box-sizing: border-box; padding: .3rem; }
.card .row { border-top: 1px dashed #e5e7eb; padding-top: .3rem; margin-top: .3rem; }
.card .req { color: #dc2626; } .card .error { color: #dc2626; font-size: .85rem; } .card .warning { color: #b45309; font-size: .85rem; }
.card .hint { color: #6b7280; font-size: .8rem; } .card .mention { color: #2563eb; font-weight: 600; }
.card button { margin: .3rem .3rem 0 0; padding: .35rem .8rem; border-radius: 5px; border: 1px solid #9ca3af; background: #fff; }
.card button.primary { background: #2563eb; border-color: #2563eb; color: #fff; }
.card button.danger { background: #dc2626; border-color: #dc2626; color: #fff; }
"""


def page_css() -> str:
    return CSS


def inline(text: str, names: Mapping[str, str]) -> str:
    """Escaped text with mentions, **bold** and [links](https://…)."""
    out = []
    for part in split_mentions(text):
        if isinstance(part, str):
            html = escape(part)
            html = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html)
            html = re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r'<a href="\2" rel="noopener">\1</a>', html)
            out.append(html)
        else:
            out.append(f'<span class="mention">@{escape(names.get(part.user_id, part.user_id))}</span>')
    return "".join(out)


def markdown(text: str, names: Mapping[str, str]) -> str:
    blocks, bullets = [], []
    for line in text.split("\n"):
        if line.startswith("- "):
            bullets.append(f"<li>{inline(line[2:], names)}</li>")
            continue
        if bullets:
            blocks.append("<ul>" + "".join(bullets) + "</ul>")
            bullets = []
        blocks.append(inline(line, names) + "<br>")
    if bullets:
        blocks.append("<ul>" + "".join(bullets) + "</ul>")
    return "".join(blocks).removesuffix("<br>")


class _Renderer:
    def __init__(self, *, names: Mapping[str, str], people: Sequence[tuple[str, str]], action_url: str,
                 hidden: Mapping[str, str]) -> None:  # fmt: skip
        self.names = names
        self.people = people
        self.action_url = action_url
        self.hidden = hidden

    def hidden_fields(self, button: Button | None = None) -> str:
        fields = dict(self.hidden)
        if button is not None:
            fields["payload"] = button.payload.to_token()
        return "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items())

    def button(self, button: Button) -> str:
        confirm = f' onclick="return confirm({escape(repr(button.confirm))})"' if button.confirm else ""
        return (f'<button type="submit" name="action" value="{escape(button.action)}" '
                f'class="{escape(button.style.value)}"{confirm}>{escape(button.label)}</button>')  # fmt: skip

    def card(self, card: Card) -> str:
        parts = ['<div class="card">']
        if card.header:
            subtitle = f"<p>{inline(card.header.subtitle, self.names)}</p>" if card.header.subtitle else ""
            parts.append(f'<div class="hd {escape(card.header.tone.value)}"><h3>{inline(card.header.title, self.names)}'
                         f"</h3>{subtitle}</div>")  # fmt: skip
        parts.append('<div class="bd">')
        parts.extend(self.element(element) for element in card.elements)
        parts.append("</div></div>")
        return "".join(parts)

    def element(self, element: Any) -> str:
        if isinstance(element, Markdown):
            return f'<div class="md">{markdown(element.text, self.names)}</div>'
        if isinstance(element, Note):
            return f'<div class="note">{inline(element.text, self.names)}</div>'
        if isinstance(element, Divider):
            return "<hr>"
        if isinstance(element, Fields):
            rows = "".join(f"<dt>{escape(f.label)}</dt><dd>{inline(f.value, self.names)}</dd>" for f in element.items)
            return f"<dl>{rows}</dl>"
        if isinstance(element, Actions):
            return "".join(
                f'<form method="post" action="{escape(self.action_url)}" style="display:inline">'
                f"{self.hidden_fields(b)}{self.button(b)}</form>"
                for b in element.buttons
            )
        if isinstance(element, Form):
            return self.form(element)
        raise TypeError(f"no HTML for {type(element).__name__}")

    def form(self, form: Form) -> str:
        parts = [f'<form method="post" action="{escape(self.action_url)}" data-form="{escape(form.form_id)}">',
                 self.hidden_fields(form.submit)]  # fmt: skip
        for section in form.sections:
            legend = f"<legend>{escape(section.title)}</legend>" if section.title else ""
            hint = f'<p class="hint">{escape(section.hint)}</p>' if section.hint else ""
            body = "".join(self.input(item, item.name) for item in section.inputs)
            parts.append(f"<fieldset>{legend}{hint}{body}</fieldset>")
        parts.append(self.button(form.submit))
        if form.cancel is not None:
            parts.append(self.button(form.cancel))
        parts.append("</form>")
        return "".join(parts)

    def input(self, item: Any, name: str, *, value: Any = None, error: str | None = None,
              warning: str | None = None) -> str:  # fmt: skip
        if isinstance(item, Repeat):
            return self.repeat(item)
        error = error if error is not None else item.error
        warning = warning if warning is not None else item.warning
        ident = "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)
        described = f' aria-describedby="{ident}-error" aria-invalid="true"' if error else ""
        required = ""  # marked with a star; the server checks (a browser check would block "save draft")
        star = ' <span class="req">*</span>' if item.required else ""
        placeholder = f' placeholder="{escape(item.placeholder)}"' if item.placeholder else ""
        current = value if value is not None else getattr(item, "value", None)
        field = self.control(item, name, ident, current, f"{described}{required}{placeholder}")
        parts = [f'<label for="{ident}">{escape(item.label)}{star}</label>', field]
        if item.hint:
            parts.append(f'<div class="hint">{escape(item.hint)}</div>')
        if error:
            parts.append(f'<div class="error" id="{ident}-error" role="alert">{escape(error)}</div>')
        if warning:
            parts.append(f'<div class="warning">{escape(warning)}</div>')
        return "".join(parts)

    def control(self, item: Any, name: str, ident: str, value: Any, attrs: str) -> str:
        n = escape(name)
        if isinstance(item, TextInput) and item.multiline:
            limit = f' maxlength="{item.max_length}"' if item.max_length else ""
            return f'<textarea id="{ident}" name="{n}" rows="3"{limit}{attrs}>{escape(str(value or ""))}</textarea>'
        if isinstance(item, TextInput | DateInput):
            limit = f' maxlength="{item.max_length}"' if getattr(item, "max_length", None) else ""
            return f'<input type="text" id="{ident}" name="{n}" value="{escape(str(value or ""))}"{limit}{attrs}>'
        if isinstance(item, NumberInput):
            bounds = "".join(f' {k}="{v:g}"' for k, v in (("min", item.min), ("max", item.max)) if v is not None)
            shown = "" if value in (None, "") else (f"{value:g}" if isinstance(value, float) else escape(str(value)))
            return f'<input type="number" step="any" id="{ident}" name="{n}" value="{shown}"{bounds}{attrs}>'
        if isinstance(item, Select | MultiSelect | PersonPicker):
            multi = isinstance(item, MultiSelect) or (isinstance(item, PersonPicker) and item.multi)
            options = (
                [(o.value, o.label) for o in item.options]
                if isinstance(item, Select | MultiSelect)
                else list(self.people)
            )
            chosen = set(value if isinstance(value, list) else ([value] if value else []))
            if isinstance(item, MultiSelect | PersonPicker) and value is None:
                chosen = set(item.values)
            known = {v for v, _ in options}
            options += [(v, self.names.get(v, v)) for v in sorted(chosen - known)]
            blank = "" if multi else '<option value=""></option>'
            rendered = "".join(
                f'<option value="{escape(v)}"{" selected" if v in chosen else ""}>{escape(label)}</option>'
                for v, label in options
            )
            return f'<select id="{ident}" name="{n}"{" multiple" if multi else ""}{attrs}>{blank}{rendered}</select>'
        raise TypeError(f"no HTML for {type(item).__name__}")

    def repeat(self, repeat: Repeat) -> str:
        rows = list(repeat.rows)
        count = max(len(rows) + 1, repeat.min_rows, 1)
        count = min(count, repeat.max_rows) if repeat.max_rows else count
        parts = [
            f'<div class="repeat" data-name="{escape(repeat.name)}"><div class="hint">{escape(repeat.label)}</div>'
        ]
        if repeat.error:
            parts.append(f'<div class="error" role="alert">{escape(repeat.error)}</div>')
        for index in range(count):
            row = rows[index] if index < len(rows) else {}
            cells = []
            for template in repeat.template:
                key = f"{index}.{template.name}"
                value = row.get(template.name)
                if (
                    isinstance(template, PersonPicker | MultiSelect)
                    and value is not None
                    and not isinstance(value, list)
                ):
                    value = [value]
                cells.append(self.input(template, f"{repeat.name}.{key}", value=value if value not in ("",) else None,
                                        error=repeat.row_errors.get(key), warning=repeat.row_warnings.get(key)))  # fmt: skip
            parts.append(f'<div class="row">{"".join(cells)}</div>')
        if repeat.add_label:
            parts.append(
                f'<div class="hint">{escape(repeat.add_label)}：提交后会再多出一行 / one more row after saving</div>'
            )
        parts.append("</div>")
        return "".join(parts)


def render_card_html(
    card: Card,
    *,
    names: Mapping[str, str] | None = None,
    people: Sequence[tuple[str, str]] = (),
    action_url: str = "/sandbox/actions",
    hidden: Mapping[str, str] | None = None,
) -> str:
    return _Renderer(names=names or {}, people=people, action_url=action_url, hidden=hidden or {}).card(card)
