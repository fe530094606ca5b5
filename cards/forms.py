"""Form definitions: each builds its neutral form and parses a submission into domain values.

Parsing never raises on user input: it returns the values it could read plus
field-level errors (which block) and warnings (which don't), keyed by the
form's dotted input names (``items.1.owner``), ready for ``with_errors``.
People stay platform user ids here; the handler turns them into people.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from cards.actions import ActionId
from cards.dates import Prefer, WhenParseError, parse_when
from cards.markup import md
from cards.model import (
    Button,
    ButtonStyle,
    Card,
    CardPayload,
    DateInput,
    Form,
    Header,
    Markdown,
    MultiSelect,
    NumberInput,
    Option,
    PersonPicker,
    Repeat,
    Section,
    Select,
    TextInput,
    Tone,
    with_errors,
)
from cards.quantities import PercentError, read_percent
from cards.templates import t
from storage.errors import message as storage_message
from storage.rules import RULES, ActionItemInput, check_action_item, check_texts
from storage.types import Category, ItemTerm

Errors = dict[str, str]

PROBLEM_PARTS = ("what", "when", "where", "who", "why", "how")
AUTHORITIES = ("none", "decision", "resource", "both")


def label(field_name: str, lang: str) -> str:
    return storage_message(f"field.{field_name}").render(lang)


def _text(values: Mapping[str, Any], name: str) -> str:
    value = values.get(name)
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value or "").strip()


def _people(values: Mapping[str, Any], name: str) -> list[str]:
    value = values.get(name)
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    return [str(v).strip() for v in items if str(v).strip()]


def _rows(values: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    rows = values.get(name) or []
    return [row for row in rows if isinstance(row, dict) and any(str(v or "").strip() for v in row.values())]


def _when(
    text: str, *, now: datetime, zone: ZoneInfo, lang: str, prefer: Prefer, errors: Errors, key: str
) -> datetime | None:
    if not text:
        return None
    try:
        return parse_when(text, now=now, zone=zone, prefer=prefer).at
    except WhenParseError as exc:
        errors[key] = exc.message(lang)
        return None


# ---------------------------------------------------------------- the record form


@dataclass
class ParticipantDraft:
    user_id: str
    department: str | None
    decision: bool
    resource: bool


@dataclass
class ItemDraft:
    row: int
    description: str
    owner_user_ids: list[str]
    due_at: datetime | None
    measure: str | None
    term: str
    resources: str | None = None


@dataclass
class ResourceDraft:
    what: str
    amount: Decimal | None
    unit: str | None
    approver_user_id: str | None


@dataclass
class RecordSubmission:
    """``present``: the lists the submission carried at all; editing a record, a list it leaves out stays as it is."""

    fields: dict[str, Any] = field(default_factory=dict)
    recorder_user_id: str | None = None
    present: set[str] = field(default_factory=set)
    participants: list[ParticipantDraft] = field(default_factory=list)
    key_points: list[tuple[str, str]] = field(default_factory=list)
    items: list[ItemDraft] = field(default_factory=list)
    resources: list[ResourceDraft] = field(default_factory=list)
    cc_user_ids: list[str] = field(default_factory=list)
    cc_departments: list[str] = field(default_factory=list)
    errors: Errors = field(default_factory=dict)
    warnings: Errors = field(default_factory=dict)


def record_form(
    *, lang: str, payload: CardPayload, editing: str | None = None, topic: str = "", existing_items: Sequence[str] = (),
    recorder: str | None = None, submit_for_signoff: bool = False,
) -> Card:  # fmt: skip
    """The template's whole record as one form, in its sections. ``editing``: the record's ref.

    ``recorder``: the user id the recorder field starts with (who opens the record);
    ``submit_for_signoff``: editing a prepared draft, whose submit asks for sign-off.
    """
    hint = t("form.date_hint", lang)

    def text(name: str, *, required: bool = False, multiline: bool = False, limit: str | None = None) -> TextInput:
        return TextInput(name=name, label=label(name, lang), required=required, multiline=multiline,
                         max_length=RULES.limits.get(limit or name))  # fmt: skip

    def when(name: str, required: bool = False) -> DateInput:
        return DateInput(name=name, label=label(name, lang), with_time=True, hint=hint, required=required)

    categories = [Option(value=c.value, label=t(f"category.{c.value}", lang)) for c in Category]
    authorities = [Option(value=a, label=t(f"authority.{a}", lang)) for a in AUTHORITIES]
    terms = [Option(value=term.value, label=t(f"term.{term.value}", lang)) for term in ItemTerm]
    item_rows: list[Any] = [
        TextInput(name="description", label=label("description", lang), required=True, max_length=RULES.limits["description"]),
        PersonPicker(name="owner", label=label("owner", lang), required=True),
        DateInput(name="due", label=label("due", lang), required=True, hint=hint),
        TextInput(name="measure", label=label("measure", lang), max_length=RULES.limits["measure"]),
        Select(name="term", label=t("field.term", lang), options=terms, value=ItemTerm.SHORT.value),
    ]  # fmt: skip
    items_section = Section(
        title=t("form.section.items", lang),
        hint=(t("form.section.items_existing", lang) + " " + "；".join(existing_items)) if existing_items else None,
        inputs=[Repeat(name="items", label=t("form.section.items", lang), template=item_rows, rows=[],
                       min_rows=0 if editing else 1, max_rows=20, add_label=t("form.add_row", lang))],
    )  # fmt: skip
    sections = [
        Section(title=t("form.section.basics", lang), inputs=[
            TextInput(name="topic", label=label("topic", lang), required=True, value=topic or None, max_length=RULES.limits["topic"]),
            when("meeting_start"), when("meeting_end"), text("place"), text("meeting_link"),
            Select(name="category", label=label("category", lang), options=categories),
            PersonPicker(name="recorder", label=label("recorder", lang), values=[recorder] if recorder else []),
            text("meeting_goal"), text("meeting_agenda", multiline=True), text("material_link"),
        ]),
        Section(title=t("form.section.participants", lang), hint=t("form.section.participants_hint", lang), inputs=[
            Repeat(name="participants", label=t("form.section.participants", lang), rows=[], min_rows=1, max_rows=30,
                   add_label=t("form.add_row", lang), template=[
                       PersonPicker(name="person", label=t("field.person", lang), required=True),
                       TextInput(name="department", label=label("department", lang), max_length=RULES.limits["department"]),
                       Select(name="authority", label=t("field.authority", lang), options=authorities, value="none"),
                   ]),
        ]),
        Section(title=t("form.section.problem", lang), inputs=[
            text("problem", required=True, multiline=True),
            *[text(f"problem_{part}", limit="problem_part") for part in PROBLEM_PARTS],
            text("impact", multiline=True), text("root_cause", multiline=True),
        ]),
        Section(title=t("form.section.key_points", lang), inputs=[
            Repeat(name="key_points", label=t("form.section.key_points", lang), rows=[], min_rows=0, max_rows=20,
                   add_label=t("form.add_row", lang), template=[
                       TextInput(name="department", label=label("department", lang)),
                       TextInput(name="text", label=label("key_point", lang), multiline=True,
                                 max_length=RULES.limits["key_point"]),
                   ]),
        ]),
        items_section,
        Section(title=t("form.section.resources", lang), inputs=[
            Repeat(name="resources", label=t("form.section.resources", lang), rows=[], min_rows=0, max_rows=20,
                   add_label=t("form.add_row", lang), template=[
                       TextInput(name="what", label=label("resource_what", lang), max_length=RULES.limits["resource_what"]),
                       NumberInput(name="amount", label=t("field.amount", lang), min=0),
                       TextInput(name="unit", label=t("field.unit", lang), placeholder="元"),
                       PersonPicker(name="approver", label=t("field.approver", lang)),
                   ]),
        ]),
        Section(title=t("form.section.cc", lang), hint=t("form.section.cc_hint", lang), inputs=[
            PersonPicker(name="cc_people", label=t("field.cc_people", lang), multi=True),
            TextInput(name="cc_departments", label=t("field.cc_departments", lang)),
        ]),
        Section(title=t("form.section.notes", lang), inputs=[text("notes", multiline=True), when("next_meeting_at")]),
    ]  # fmt: skip
    submit_action, submit_key = (
        (ActionId.RECORD_SAVE, "form.save")
        if editing and not submit_for_signoff
        else (ActionId.RECORD_SUBMIT, "form.submit")
    )
    form = Form(
        form_id="record",
        sections=sections,
        submit=Button(label=t(submit_key, lang), action=submit_action, payload=payload, style=ButtonStyle.PRIMARY),
        cancel=Button(label=t("form.save_draft", lang), action=ActionId.RECORD_SAVE_DRAFT, payload=payload),
    )
    title = t("form.record.title_edit", lang, ref=editing, topic=topic) if editing else t("form.record.title_new", lang)
    return Card(
        header=Header(title=title, subtitle=t("form.record.subtitle", lang), tone=Tone.INFO),
        elements=[form],
        payload=payload,
    )


def parse_record_form(
    values: Mapping[str, Any], *, now: datetime, zone: ZoneInfo, lang: str, editing: bool = False
) -> RecordSubmission:
    """``editing``: an existing record; the lists a submission leaves out (no key at all) are kept as they are."""
    out = RecordSubmission()
    errors, warnings = out.errors, out.warnings
    out.present = {name for name in ("participants", "key_points", "items", "resources", "cc_people",
                                     "cc_departments") if name in values or not editing}  # fmt: skip
    for name in ("topic", "place", "meeting_link", "problem", "impact", "root_cause", "notes", "meeting_goal",
                 "meeting_agenda", "material_link", *[f"problem_{p}" for p in PROBLEM_PARTS]):  # fmt: skip
        out.fields[name] = _text(values, name) or None
    recorders = _people(values, "recorder")
    out.recorder_user_id = recorders[0] if recorders else None
    if not out.fields["topic"]:
        errors["topic"] = storage_message("text.required", label=label("topic", lang)).render(lang)
    if not out.fields["problem"]:
        errors["problem"] = storage_message("record.problem_required").render(lang)
    category = _text(values, "category")
    if category and category not in {c.value for c in Category}:
        errors["category"] = t("error.choice", lang, value=category)
    out.fields["category"] = category or None
    for name, prefer in (
        ("meeting_start", Prefer.NEAREST),
        ("meeting_end", Prefer.NEAREST),
        ("next_meeting_at", Prefer.FUTURE),
    ):
        out.fields[name] = _when(
            _text(values, name), now=now, zone=zone, lang=lang, prefer=prefer, errors=errors, key=name
        )
    start, end = out.fields["meeting_start"], out.fields["meeting_end"]
    if start and end and end < start:
        errors["meeting_end"] = storage_message("record.meeting_end_before_start").render(lang)
    checked = check_texts({k: v for k, v in out.fields.items() if isinstance(v, str) and k != "category"})
    errors.update({k: m.render(lang) for k, m in checked.errors.items()})
    warnings.update({k: m.render(lang) for k, m in checked.warnings.items()})

    for index, row in enumerate(_rows(values, "participants")):
        people = _people(row, "person")
        if len(people) != 1:
            errors[f"participants.{index}.person"] = storage_message(
                "text.required", label=t("field.person", lang)
            ).render(lang)
            continue
        authority = _text(row, "authority") or "none"
        out.participants.append(ParticipantDraft(people[0], _text(row, "department") or None,
                                                 authority in ("decision", "both"), authority in ("resource", "both")))  # fmt: skip
    if not _rows(values, "participants") and "participants" in out.present:
        errors["participants.0.person"] = storage_message("record.participants_required").render(lang)

    seen_departments: set[str] = set()
    for index, row in enumerate(_rows(values, "key_points")):
        department, text = _text(row, "department"), _text(row, "text")
        if not department:
            errors[f"key_points.{index}.department"] = t("error.key_point_department", lang)
        elif department in seen_departments:
            errors[f"key_points.{index}.department"] = t("error.duplicate_department", lang)
        seen_departments.add(department)
        for finding in check_texts({"key_point": text}).warnings.values():
            warnings[f"key_points.{index}.text"] = finding.render(lang)
        if department and text:
            out.key_points.append((department, text))

    for index, row in enumerate(_rows(values, "items")):
        out.items.append(parse_item_row(row, index=index, prefix=f"items.{index}.", now=now, zone=zone, lang=lang,
                                        errors=errors, warnings=warnings))  # fmt: skip

    for index, row in enumerate(_rows(values, "resources")):
        what, amount_text = _text(row, "what"), _text(row, "amount")
        amount = None
        if amount_text:
            try:
                amount = Decimal(amount_text)
            except InvalidOperation:
                errors[f"resources.{index}.amount"] = t("error.number", lang, value=amount_text)
        if not what:
            errors[f"resources.{index}.what"] = storage_message(
                "text.required", label=label("resource_what", lang)
            ).render(lang)
        approvers = _people(row, "approver")
        out.resources.append(
            ResourceDraft(what, amount, _text(row, "unit") or None, approvers[0] if approvers else None)
        )

    out.cc_user_ids = _people(values, "cc_people")
    out.cc_departments = [d.strip() for d in _text(values, "cc_departments").replace("，", ",").split(",") if d.strip()]
    return out


def parse_item_row(
    row: Mapping[str, Any], *, index: int, prefix: str, now: datetime, zone: ZoneInfo, lang: str,
    errors: Errors, warnings: Errors,
) -> ItemDraft:  # fmt: skip
    """One action item: SMART checks from ``storage.rules`` plus the date the user typed."""
    due_text = _text(row, "due")
    local_errors: Errors = {}
    due = _when(due_text, now=now, zone=zone, lang=lang, prefer=Prefer.FUTURE, errors=local_errors, key="due")
    owners = _people(row, "owner")
    term = _text(row, "term") or ItemTerm.SHORT.value
    draft = ItemDraft(index, _text(row, "description"), owners, due, _text(row, "measure") or None,
                      term if term in {t.value for t in ItemTerm} else ItemTerm.SHORT.value,
                      _text(row, "resources") or None)  # fmt: skip
    checked = check_action_item(ActionItemInput(draft.description, owners, due, draft.measure, draft.resources),
                                now=now)  # fmt: skip
    names = {"description": "description", "owner": "owner", "due": "due", "measure": "measure"}
    for key, msg in checked.errors.items():
        if key == "due" and "due" in local_errors:
            continue
        errors[prefix + names.get(key, key)] = msg.render(lang)
    errors.update({prefix + k: v for k, v in local_errors.items()})
    warnings.update({prefix + names.get(k, k): m.render(lang) for k, m in checked.warnings.items()})
    return draft


def refill(card: Card, *, values: Mapping[str, Any], errors: Errors, warnings: Errors, lang: str) -> Card:
    """The same form again, with what the user typed, the errors in red and the warnings beside."""
    elements: list[Any] = []
    for element in card.elements:
        if isinstance(element, Form):
            element = with_errors(element, errors, warnings, values)
        elements.append(element)
    if errors:
        elements.insert(0, Markdown(text=md("**{}**", t("form.errors_banner", lang, count=len(errors)))))
    return card.model_copy(update={"elements": elements})


# ---------------------------------------------------------------- small forms


def item_form(*, ref: str, payload: CardPayload, lang: str, editing: str | None = None) -> Card:
    """A new item for record ``ref``, or (``editing``: the item's ref) the item's own form, with its resources."""
    hint = t("form.date_hint", lang)
    terms = [Option(value=term.value, label=t(f"term.{term.value}", lang)) for term in ItemTerm]
    inputs: list[Any] = [
        TextInput(name="description", label=label("description", lang), required=True, max_length=RULES.limits["description"]),
        PersonPicker(name="owner", label=label("owner", lang), required=True),
        DateInput(name="due", label=label("due", lang), required=True, hint=hint),
        TextInput(name="measure", label=label("measure", lang), max_length=RULES.limits["measure"]),
        Select(name="term", label=t("field.term", lang), options=terms, value=ItemTerm.SHORT.value),
    ]  # fmt: skip
    if editing:
        inputs.append(TextInput(name="resources", label=label("resources", lang), max_length=RULES.limits["resources"]))
    action, title = (ActionId.ITEM_EDIT, t("item_form.title_edit", lang, ref=editing)) if editing else (
        ActionId.ITEM_ADD, t("item_form.title", lang, ref=ref))  # fmt: skip
    form = Form(
        form_id="item",
        sections=[Section(title=None, inputs=inputs)],
        submit=Button(label=t("item_form.submit", lang), action=action, payload=payload, style=ButtonStyle.PRIMARY),
    )
    return Card(header=Header(title=title, tone=Tone.INFO), elements=[form], payload=payload)


def progress_form(*, items: Sequence[tuple[str, str]], payload: CardPayload, lang: str) -> Card:
    """``items``: (item id, "R12-2 description") of the presser's open items."""
    options = [Option(value=item_id, label=text) for item_id, text in items]
    form = Form(
        form_id="progress",
        sections=[Section(title=None, inputs=[
            Select(name="item", label=t("field.item", lang), options=options, required=True,
                   value=options[0].value if len(options) == 1 else None),
            TextInput(name="text", label=label("progress", lang), required=True, multiline=True,
                      max_length=RULES.limits["progress"]),
            NumberInput(name="percent", label=label("percent", lang), min=0, max=100),
            Select(name="blocked", label=t("field.blocked", lang), value="no",
                   options=[Option(value="no", label=t("no", lang)), Option(value="yes", label=t("yes", lang))]),
        ])],
        submit=Button(label=t("progress_form.submit", lang), action=ActionId.ITEM_PROGRESS, payload=payload,
                      style=ButtonStyle.PRIMARY),
    )  # fmt: skip
    return Card(header=Header(title=t("progress_form.title", lang), tone=Tone.INFO), elements=[form], payload=payload)


def single_text_form(
    *, title: str, name: str, hint: str | None, submit: str, action: ActionId, payload: CardPayload, lang: str
) -> Card:
    """One required text field: the close form's verification result, an item's result."""
    form = Form(
        form_id=name,
        sections=[Section(title=None, hint=hint, inputs=[
            TextInput(name=name, label=label(name, lang), required=True, multiline=True, max_length=RULES.limits[name]),
        ])],
        submit=Button(label=submit, action=action, payload=payload, style=ButtonStyle.PRIMARY),
    )  # fmt: skip
    return Card(header=Header(title=title, tone=Tone.INFO), elements=[form], payload=payload)


def parse_percent(text: str, *, lang: str) -> tuple[int | None, str | None]:
    """The form's percent field, read as the command reads it (``cards.quantities``): 60, 60%, （60%）."""
    if not text:
        return None, None
    try:
        value = read_percent(text, bare_number=True)
    except PercentError:
        return None, storage_message("progress.bad_percent", percent=text).render(lang)
    if value is None:
        return None, t("error.number", lang, value=text)
    return value, None


def submit_anyway(card: Card, *, warnings: Errors, lang: str) -> Card:
    """The form back once with its warnings: a banner, and its submit button now says 仍然提交."""
    elements: list[Any] = [Markdown(text=md("**{}**", t("form.warnings_banner", lang, count=len(warnings))))]
    for element in card.elements:
        if isinstance(element, Form):
            submit = element.submit.model_copy(update={"label": t("form.submit_anyway", lang)})
            element = element.model_copy(update={"submit": submit})
        elements.append(element)
    return card.model_copy(update={"elements": elements})


__all__ = [
    "MultiSelect", "RecordSubmission", "item_form", "parse_item_row", "parse_percent", "parse_record_form",
    "progress_form", "record_form", "refill", "single_text_form",
]  # fmt: skip


# ---------------------------------------------------------------- the plan-change forms' pieces


def required(label_text: str, lang: str) -> str:
    return storage_message("text.required", label=label_text).render(lang)


def people_of(values: Mapping[str, Any], name: str) -> list[str]:
    """The user ids a person picker sent."""
    return _people(values, name)


def date_input(name: str, lang: str, *, required: bool = False, with_time: bool = False) -> DateInput:
    return DateInput(name=name, label=label(name, lang), required=required, with_time=with_time,
                     hint=t("form.date_hint", lang))  # fmt: skip


def reason_input(lang: str, *, required: bool) -> TextInput:
    return TextInput(name="reason", label=label("reason", lang), required=required, max_length=RULES.limits["reason"])


def small_form(*, title: str, hint: str | None, submit: str, action: ActionId, payload: CardPayload, lang: str,
               inputs: Sequence[Any]) -> Card:  # fmt: skip
    """A few inputs and one button: a new deadline, another owner, a meeting reply."""
    form = Form(
        form_id=str(action).replace(".", "_"),
        sections=[Section(title=None, hint=hint, inputs=list(inputs))],
        submit=Button(label=submit, action=action, payload=payload, style=ButtonStyle.PRIMARY),
    )
    return Card(header=Header(title=title, tone=Tone.INFO), elements=[form], payload=payload)
