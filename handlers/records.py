"""Records: open one with the form, save it, sign it off, show, list, export, close."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from cards import exports, forms, templates
from cards.actions import ActionId
from cards.model import Card, CardPayload, Header, Markdown
from cards.review import file_card
from cards.templates import t
from handlers import grammar
from handlers.common import (
    department_named,
    drop_draft,
    informed_on_activation,
    load_draft,
    person_for,
    record_in_group,
    save_draft,
    view_of,
)
from handlers.context import Poster
from handlers.router import Outcome, Router
from storage import items, lifecycle
from storage.errors import StaleVersion, ValidationFailed
from storage.files import store_file
from storage.lifecycle import Actor, ParticipantInput, ResourceInput
from storage.models import ActionItem, Group, Person, Record
from storage.queries import RecordFilter, list_records, record_view
from storage.rules import ActionItemInput
from storage.types import ExportFormat, FileKind, ItemStatus, RecordStatus

router = Router("records")
NEW_RECORD = "record:new"


def summary(session: Session, record: Record, lang: str, zone: ZoneInfo) -> Any:
    return templates.record_summary(record_view(session, record), lang=lang, zone=zone)


# ---------------------------------------------------------------- the form


@router.command(grammar.RecordNew)
def record_new(command: grammar.RecordNew, session: Session, group: Group, person: Person, lang: str,
               now: datetime) -> Outcome:  # fmt: skip
    draft = load_draft(session, group, person, NEW_RECORD)
    values = dict(draft.values) if draft else {}
    if command.topic:
        values["topic"] = command.topic
    save_draft(session, group, person, NEW_RECORD, values, now)
    card = forms.record_form(lang=lang, payload=CardPayload(extra={"form": NEW_RECORD}), topic=values.get("topic", ""))
    return Outcome(form=forms.refill(card, values=values, errors={}, warnings={}, lang=lang),
                   toast=t("draft.resumed", lang) if draft and draft.values else None)  # fmt: skip


def edit_form(session: Session, record: Record, lang: str, zone: ZoneInfo) -> Any:
    view = record_view(session, record)
    existing = [
        f"{record.ref}-{i.item.seq} {i.item.description}" for i in view.items if i.item.status is ItemStatus.OPEN
    ]
    card = forms.record_form(lang=lang, payload=templates.payload_of(record), editing=record.ref, topic=record.topic,
                             existing_items=existing)  # fmt: skip
    return forms.refill(card, values=values_of(view, zone), errors={}, warnings={}, lang=lang)


def values_of(view: Any, zone: ZoneInfo) -> dict[str, Any]:
    """A stored record as form values, so editing starts from what is there."""
    record = view.record
    values: dict[str, Any] = {
        name: getattr(record, name) or "" for name in
        ("topic", "place", "meeting_link", "problem", "impact", "root_cause", "notes",
         *[f"problem_{p}" for p in forms.PROBLEM_PARTS])
    }  # fmt: skip
    values["category"] = record.category.value if record.category else ""
    for name in ("meeting_start", "meeting_end", "next_meeting_at"):
        value = getattr(record, name)
        values[name] = value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""
    values["participants"] = [
        {"person": p.person.user_id, "department": p.department.name if p.department else "",
         "authority": {(True, True): "both", (True, False): "decision", (False, True): "resource"}.get(
             (p.row.decision_authority, p.row.resource_authority), "none")}
        for p in view.participants
    ]  # fmt: skip
    values["key_points"] = [{"department": d.name, "text": k.text} for d, k in view.key_points]
    values["resources"] = [
        {"what": r.request.what, "amount": f"{r.request.amount.normalize():f}" if r.request.amount is not None else "",
         "unit": r.request.unit or "", "approver": r.approver.user_id if r.approver else ""}
        for r in view.resources
    ]  # fmt: skip
    values["cc_people"] = [p.user_id for p in view.cc_people]
    values["cc_departments"] = ", ".join(d.name for d in view.cc_departments)
    values["items"] = []
    return values


@router.command(grammar.RecordEdit)
def record_edit(command: grammar.RecordEdit, session: Session, group: Group, lang: str, zone: ZoneInfo) -> Outcome:
    return Outcome(form=edit_form(session, record_in_group(session, group, command.record.record_id), lang, zone))


@router.action(ActionId.RECORD_EDIT)
def record_edit_button(payload: CardPayload, session: Session, group: Group, lang: str, zone: ZoneInfo) -> Outcome:
    return Outcome(form=edit_form(session, record_in_group(session, group, payload.record_id), lang, zone))


@router.action(ActionId.RECORD_SAVE_DRAFT)
def record_save_draft(payload: CardPayload, form: dict[str, Any], session: Session, group: Group, person: Person,
                      lang: str, now: datetime) -> Outcome:  # fmt: skip
    key = NEW_RECORD if payload.record_id is None else f"record:{payload.record_id}"
    save_draft(session, group, person, key, form, now)
    return Outcome(toast=t("form.draft_saved", lang))


@router.action(ActionId.RECORD_SUBMIT, ActionId.RECORD_SAVE)
def record_submit(payload: CardPayload, form: dict[str, Any], session: Session, group: Group, person: Person,
                  actor: Actor, lang: str, now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    """Check the whole form; on errors show it again with them, else store it and ask for sign-off."""
    existing = record_in_group(session, group, payload.record_id) if payload.record_id is not None else None
    if existing is not None and payload.version != existing.version:
        stale = StaleVersion(ref=existing.ref, expected=payload.version or 0, current=existing.version)
        return Outcome(update=edit_form(session, existing, lang, zone), toast=stale.message(lang))
    submission = forms.parse_record_form(form, now=now, zone=zone, lang=lang)
    base = forms.record_form(lang=lang, payload=payload, editing=existing.ref if existing else None,
                             topic=existing.topic if existing else "")  # fmt: skip
    if submission.errors:
        save_draft(
            session,
            group,
            person,
            NEW_RECORD if existing is None else f"record:{existing.id}",
            form,
            now,
            existing,
            refuse_too_large=False,
        )
        return Outcome(update=forms.refill(base, values=form, errors=submission.errors, warnings=submission.warnings,
                                           lang=lang))  # fmt: skip
    try:
        with session.begin_nested():  # all of it or none of it
            record = store(session, group, person, actor, submission, existing, now)
            if existing is None:
                lifecycle.submit(session=session, record_id=record.id, by=actor, now=now)
    except ValidationFailed as failed:
        save_draft(
            session,
            group,
            person,
            NEW_RECORD if existing is None else f"record:{existing.id}",
            form,
            now,
            existing,
            refuse_too_large=False,
        )
        errors = {FORM_FIELD.get(k, k): m.render(lang) for k, m in failed.errors.items()}
        return Outcome(update=forms.refill(base, values=form, errors=errors, warnings=submission.warnings, lang=lang))
    drop_draft(session, group, person, NEW_RECORD if existing is None else f"record:{record.id}")
    view = record_view(session, record)
    if existing is None:
        out.post(templates.record_summary(view, lang=lang, zone=zone), key=f"record:{record.id}:submitted")
        out.post(templates.confirmation_request(view, lang=lang), key=f"record:{record.id}:confirm-request")
        return Outcome(update=templates.record_summary(view, lang=lang, zone=zone),
                       toast=t("record.submitted_toast", lang, ref=record.ref))  # fmt: skip
    return Outcome(update=templates.record_summary(view, lang=lang, zone=zone),
                   toast=t("record.saved_toast", lang, ref=record.ref))  # fmt: skip


# A lifecycle error's field → the form input to mark.
FORM_FIELD = {"participants": "participants.0.person", "items": "items.0.description"}


def store(session: Session, group: Group, person: Person, actor: Actor, submission: forms.RecordSubmission,
          existing: Record | None, now: datetime) -> Record:  # fmt: skip
    """Write a checked submission through the lifecycle functions (each audited)."""
    fields = dict(submission.fields)
    if existing is None:
        record = lifecycle.create_draft(session=session, group_id=group.id or 0, recorder_id=person.id or 0,
                                        topic=fields["topic"], now=now)  # fmt: skip
    else:
        record = existing
    lifecycle.edit_record(session=session, record_id=record.id, by=actor, now=now, changes=fields)
    participants = []
    for draft in submission.participants:
        who = person_for(session, group, draft.user_id)
        department = department_named(session, group, draft.department)
        if department is not None and who.department_id is None:
            who.department_id = department.id
            session.add(who)
        participants.append(ParticipantInput(who.id or 0, department.id if department else None, draft.decision,
                                             draft.resource))  # fmt: skip
    lifecycle.set_participants(session=session, record_id=record.id, by=actor, now=now, participants=participants)
    points = {department_named(session, group, name).id: text for name, text in submission.key_points}  # type: ignore[union-attr]
    lifecycle.set_key_points(session=session, record_id=record.id, by=actor, now=now, points=points)
    lifecycle.set_resources(session=session, record_id=record.id, by=actor, now=now, requests=[
        ResourceInput(r.what, r.amount, r.unit, person_for(session, group, r.approver_user_id).id if r.approver_user_id else None)
        for r in submission.resources
    ])  # fmt: skip
    lifecycle.set_cc(
        session=session, record_id=record.id, by=actor, now=now,
        person_ids=[person_for(session, group, u).id or 0 for u in submission.cc_user_ids],
        department_ids=[department_named(session, group, name).id or 0 for name in submission.cc_departments],  # type: ignore[union-attr]
    )  # fmt: skip
    for item in submission.items:
        add_item(session, group, record, actor, item, now)
    return record


def add_item(
    session: Session, group: Group, record: Record, actor: Actor, item: forms.ItemDraft, now: datetime
) -> ActionItem:
    owner = person_for(session, group, item.owner_user_ids[0])
    return items.add_item(
        session=session, record_id=record.id or 0, by=actor, now=now,
        item=ActionItemInput(item.description, [owner.id or 0], item.due_at, item.measure,
                             department_id=owner.department_id, term=item.term),
    )  # fmt: skip


# ---------------------------------------------------------------- sign-off


def announce_activation(session: Session, record: Record, missing: list[Person], lang: str, out: Poster) -> None:
    view = record_view(session, record)
    card = templates.activation_notice(view, informed=informed_on_activation(session, view), missing=missing, lang=lang)
    out.post(card, key=f"record:{record.id}:activated")


@router.action(ActionId.RECORD_CONFIRM)
def record_confirm(payload: CardPayload, session: Session, group: Group, person: Person, lang: str, now: datetime,
                   zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    record = record_in_group(session, group, payload.record_id)
    try:
        before = len(record_view(session, record).unconfirmed)
        activated = lifecycle.confirm(session=session, record_id=record.id or 0, person_id=person.id or 0, now=now,
                                      expected_version=payload.version)  # fmt: skip
    except StaleVersion as stale:
        return Outcome(update=summary(session, record, lang, zone), toast=stale.message(lang))
    if activated:
        announce_activation(session, record, [], lang, out)
    view = record_view(session, record)
    toast = "confirm.done_toast" if len(view.unconfirmed) < before else "confirm.already_toast"
    return Outcome(update=templates.record_summary(view, lang=lang, zone=zone), toast=t(toast, lang, ref=record.ref))


@router.action(ActionId.RECORD_ACTIVATE)
def record_activate(payload: CardPayload, session: Session, group: Group, actor: Actor, lang: str, now: datetime,
                    zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    record = record_in_group(session, group, payload.record_id)
    missing = lifecycle.activate(session=session, record_id=record.id or 0, by=actor, now=now)
    announce_activation(
        session, record, [p for p in (session.get(Person, m.person_id) for m in missing) if p], lang, out
    )
    return Outcome(update=summary(session, record, lang, zone), toast=t("activate.title", lang, ref=record.ref))


# ---------------------------------------------------------------- show, list, export, close


@router.command(grammar.RecordShow)
def record_show(command: grammar.RecordShow, session: Session, group: Group, lang: str, zone: ZoneInfo) -> Outcome:
    return Outcome(reply=summary(session, record_in_group(session, group, command.record.record_id), lang, zone))


@router.action(ActionId.RECORD_SHOW)
def record_show_button(payload: CardPayload, session: Session, group: Group, lang: str, zone: ZoneInfo) -> Outcome:
    return Outcome(reply=summary(session, record_in_group(session, group, payload.record_id), lang, zone))


@router.command(grammar.RecordList)
def record_list(command: grammar.RecordList, session: Session, group: Group, person: Person, lang: str,
                zone: ZoneInfo) -> Outcome:  # fmt: skip
    which = RecordFilter(command.filter.value)
    records = list_records(session, group_id=group.id or 0, which=which, person_id=person.id or 0)
    stats = dict.fromkeys((r.id for r in records), (0, None))
    if records:
        rows = session.exec(
            select(ActionItem.record_id, func.count(), func.min(ActionItem.due_at))
            .where(col(ActionItem.record_id).in_(list(stats)), ActionItem.status == ItemStatus.OPEN)
            .group_by(col(ActionItem.record_id))
        )
        stats.update({record_id: (count, due) for record_id, count, due in rows})
    lines = [(r, *stats[r.id]) for r in records]
    return Outcome(reply=templates.list_card(lines, which=which, lang=lang, zone=zone))


@router.command(grammar.RecordExport)
def record_export(command: grammar.RecordExport, session: Session, group: Group, lang: str, now: datetime,
                  zone: ZoneInfo) -> Outcome:  # fmt: skip
    """The template's table: in the chat (md), or as an Excel or Word file the card refers to."""
    view = view_of(session, group, command.record.record_id)
    if command.format is ExportFormat.MARKDOWN:
        table = exports.record_markdown(view, lang=lang, zone=zone)
        return Outcome(reply=Card(header=Header(title=t("export.title", lang, ref=view.record.ref)),
                                  elements=[Markdown(text=table)]))  # fmt: skip
    build = exports.record_xlsx if command.format is ExportFormat.XLSX else exports.record_docx
    ref = store_file(
        session=session, group_id=group.id or 0, kind=FileKind.RECORD_EXPORT, now=now,
        filename=exports.filename(f"{view.record.ref}-{view.record.topic}", command.format),
        mime=exports.MIME[command.format], content=build(view, lang=lang, zone=zone),
    )  # fmt: skip
    what = t("export.what_record", lang, ref=view.record.ref)
    return Outcome(reply=file_card(ref, kind=FileKind.RECORD_EXPORT, what=what, lang=lang))


def close(session: Session, group: Group, record_id: int | None, verification: str, actor: Actor, lang: str,
          now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    record = record_in_group(session, group, record_id)
    lifecycle.close(session=session, record_id=record.id or 0, by=actor, verification=verification, now=now)
    out.post(templates.closed_notice(record, lang=lang), key=f"record:{record.id}:closed:{now.isoformat()}")
    return Outcome(reply=summary(session, record, lang, zone), update=summary(session, record, lang, zone),
                   toast=t("closed.title", lang, ref=record.ref))  # fmt: skip


@router.command(grammar.RecordClose)
def record_close(command: grammar.RecordClose, session: Session, group: Group, actor: Actor, lang: str,
                 now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    outcome = close(session, group, command.record.record_id, command.verification, actor, lang, now, zone, out)
    return Outcome(toast=outcome.toast)  # the closing notice in the chat is the answer


@router.action(ActionId.RECORD_CLOSE_OPEN)
def record_close_open(payload: CardPayload, session: Session, group: Group, lang: str) -> Outcome:
    record = record_in_group(session, group, payload.record_id)
    card = forms.single_text_form(
        title=t("close_form.title", lang, ref=record.ref), name="verification", hint=t("close_form.hint", lang),
        submit=t("close_form.submit", lang), action=ActionId.RECORD_CLOSE, payload=templates.payload_of(record),
        lang=lang,
    )  # fmt: skip
    return Outcome(form=card)


@router.action(ActionId.RECORD_CLOSE)
def record_close_submit(payload: CardPayload, form: dict[str, Any], session: Session, group: Group, actor: Actor,
                        lang: str, now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    outcome = close(session, group, payload.record_id, str(form.get("verification") or ""), actor, lang, now, zone, out)
    return Outcome(update=outcome.update, toast=outcome.toast)


__all__ = ["RecordStatus", "router"]
