"""Records: open one with the form, save it, sign it off, show, list, export, close.

The record form is stored once however often it arrives (its payload's token,
``storage.submissions``) and comes back once with its warnings before it is
stored (``handlers.common.come_back_once``). Submitted with no action items while
its meeting lies ahead, a new record is kept as a prepared draft (会前准备): the
recorder sends the meeting notice, and after the meeting edits it and submits it
for sign-off. Saving a submitted record asks the people a substantive change
concerns to sign again, and sends new resource requests to their approvers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from cards import exports, forms, templates
from cards import plan as plan_cards
from cards.actions import ActionId
from cards.model import Card, CardPayload, Header, Markdown
from cards.review import file_card
from cards.templates import t
from handlers import grammar
from handlers.common import (
    come_back_once,
    department_named,
    drop_draft,
    informed_on_activation,
    load_draft,
    person_for,
    post_resign,
    record_in_group,
    remember,
    replayed,
    save_draft,
    saw_warnings,
    view_of,
    with_token,
)
from handlers.context import Poster
from handlers.router import RESULT_CARD, Outcome, Router
from storage import items, lifecycle, signoff, submissions
from storage.errors import StaleVersion, ValidationFailed
from storage.errors import message as storage_message
from storage.files import store_file
from storage.lifecycle import Actor, ParticipantInput, ResourceInput
from storage.meetings import upcoming_meeting
from storage.models import ActionItem, Group, Person, Record
from storage.queries import RecordFilter, list_records, record_view
from storage.rules import ActionItemInput, check_verification, field_label
from storage.types import ExportFormat, FileKind, ItemStatus, RecordStatus, ResourceStatus

router = Router("records")
NEW_RECORD = "record:new"


def summary(session: Session, record: Record, lang: str, zone: ZoneInfo, now: datetime | None = None) -> Any:
    """The record card; given ``now``, it offers 发会议通知 while a meeting lies ahead."""
    ahead = now is not None and upcoming_meeting(record, now) is not None
    return templates.record_summary(record_view(session, record), lang=lang, zone=zone, meeting_ahead=ahead)


# ---------------------------------------------------------------- the form


@router.command(grammar.RecordNew)
def record_new(command: grammar.RecordNew, session: Session, group: Group, person: Person, lang: str,
               now: datetime) -> Outcome:  # fmt: skip
    draft = load_draft(session, group, person, NEW_RECORD)
    values = dict(draft.values) if draft else {}
    if command.topic:
        values["topic"] = command.topic
    save_draft(session, group, person, NEW_RECORD, values, now, warned=False)
    payload = with_token(CardPayload(extra={"form": NEW_RECORD}))
    card = forms.record_form(lang=lang, payload=payload, topic=values.get("topic", ""), recorder=person.user_id)
    return Outcome(form=forms.refill(card, values=values, errors={}, warnings={}, lang=lang),
                   toast=t("draft.resumed", lang) if draft and draft.values else None)  # fmt: skip


def edit_form(session: Session, record: Record, lang: str, zone: ZoneInfo, *, fresh: bool = True) -> Any:
    """The form with the record's content; a prepared draft's form submits it for sign-off."""
    view = record_view(session, record)
    existing = [
        f"{record.ref}-{i.item.seq} {i.item.description}" for i in view.items if i.item.status is ItemStatus.OPEN
    ]
    card = forms.record_form(lang=lang, payload=with_token(templates.payload_of(record)), editing=record.ref,
                             topic=record.topic, existing_items=existing, recorder=view.recorder.user_id,
                             submit_for_signoff=record.status is RecordStatus.DRAFT)  # fmt: skip
    return forms.refill(card, values=values_of(view, zone), errors={}, warnings={}, lang=lang)


def values_of(view: Any, zone: ZoneInfo) -> dict[str, Any]:
    """A stored record as form values, so editing starts from what is there."""
    record = view.record
    values: dict[str, Any] = {
        name: getattr(record, name) or "" for name in
        ("topic", "place", "meeting_link", "problem", "impact", "root_cause", "notes", "meeting_goal",
         "meeting_agenda", "material_link", *[f"problem_{p}" for p in forms.PROBLEM_PARTS])
    }  # fmt: skip
    values["recorder"] = [view.recorder.user_id]
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


def open_edit(session: Session, group: Group, person: Person, record_id: int | None, lang: str, zone: ZoneInfo,
              now: datetime) -> Outcome:  # fmt: skip
    record = record_in_group(session, group, record_id)
    draft = load_draft(session, group, person, f"record:{record.id}")
    if draft is not None:
        draft.warned_at = None  # a form opened afresh shows its warnings again
        session.add(draft)
    return Outcome(form=edit_form(session, record, lang, zone))


@router.command(grammar.RecordEdit)
def record_edit(command: grammar.RecordEdit, session: Session, group: Group, person: Person, lang: str,
                zone: ZoneInfo, now: datetime) -> Outcome:  # fmt: skip
    return open_edit(session, group, person, command.record.record_id, lang, zone, now)


@router.action(ActionId.RECORD_EDIT)
def record_edit_button(payload: CardPayload, session: Session, group: Group, person: Person, lang: str,
                       zone: ZoneInfo, now: datetime) -> Outcome:  # fmt: skip
    return open_edit(session, group, person, payload.record_id, lang, zone, now)


@router.action(ActionId.RECORD_SAVE_DRAFT)
def record_save_draft(payload: CardPayload, form: dict[str, Any], session: Session, group: Group, person: Person,
                      lang: str, now: datetime) -> Outcome:  # fmt: skip
    key = NEW_RECORD if payload.record_id is None else f"record:{payload.record_id}"
    save_draft(session, group, person, key, form, now)
    return Outcome(toast=t("form.draft_saved", lang))


@router.action(ActionId.RECORD_SUBMIT, ActionId.RECORD_SAVE)
def record_submit(payload: CardPayload, form: dict[str, Any], session: Session, group: Group, person: Person,
                  actor: Actor, lang: str, now: datetime, zone: ZoneInfo, out: Poster, event: Any) -> Outcome:  # fmt: skip
    """Check the whole form; on errors (or, once, warnings) show it again, else store it and ask for sign-off."""
    if (done := replayed(session, group, payload)) is not None:
        return already_submitted(session, group, done, lang, zone, now)
    existing = record_in_group(session, group, payload.record_id) if payload.record_id is not None else None
    if existing is not None and payload.version != existing.version:
        stale = StaleVersion(ref=existing.ref, expected=payload.version or 0, current=existing.version)
        return Outcome(update=edit_form(session, existing, lang, zone), toast=stale.message(lang))
    submission = forms.parse_record_form(form, now=now, zone=zone, lang=lang, editing=existing is not None)
    base = forms.record_form(lang=lang, payload=payload, editing=existing.ref if existing else None,
                             topic=existing.topic if existing else "", recorder=person.user_id,
                             submit_for_signoff=existing is not None and existing.status is RecordStatus.DRAFT)  # fmt: skip
    key = NEW_RECORD if existing is None else f"record:{existing.id}"
    if submission.errors:
        save_draft(session, group, person, key, form, now, existing, refuse_too_large=False)
        if submission.warnings:
            saw_warnings(session, group, person, key, form, now, existing)
        return Outcome(update=forms.refill(base, values=form, errors=submission.errors, warnings=submission.warnings,
                                           lang=lang))  # fmt: skip
    if come_back_once(session, group, person, key, form, submission.warnings, now, existing):
        again = forms.refill(base, values=form, errors={}, warnings=submission.warnings, lang=lang)
        return Outcome(update=forms.submit_anyway(again, warnings=submission.warnings, lang=lang))
    submit = event.action == ActionId.RECORD_SUBMIT
    was = existing.status if existing is not None else None
    try:
        with session.begin_nested():  # all of it or none of it
            record, requested = store(session, group, person, actor, submission, existing, now)
            if (existing is None or existing.status is RecordStatus.DRAFT) and submit and _ready(session, record, now):
                lifecycle.submit(session=session, record_id=record.id, by=actor, now=now)
            if submission.recorder_user_id:  # last: whoever saves hands the record over once it is written
                recorder = person_for(session, group, submission.recorder_user_id).id
                lifecycle.edit_record(session=session, record_id=record.id, by=actor, now=now,
                                      changes={"recorder_id": recorder})  # fmt: skip
    except ValidationFailed as failed:
        signoff.discard(session)
        save_draft(session, group, person, key, form, now, existing, refuse_too_large=False)
        errors = {FORM_FIELD.get(k, k): m.render(lang) for k, m in failed.errors.items()}
        return Outcome(update=forms.refill(base, values=form, errors=errors, warnings=submission.warnings, lang=lang))
    remember(session, group, person, payload, str(event.action), now, record_id=record.id)
    drop_draft(session, group, person, key)
    return announce_saved(session, record, was, requested, lang, zone, now, out)


def _ready(session: Session, record: Record, now: datetime) -> bool:
    """Submit for sign-off now? Not a record with no items yet whose meeting lies ahead: that one is prepared."""
    has_items = bool(lifecycle.open_items(session, record))
    return has_items or upcoming_meeting(record, now) is None


def announce_saved(session: Session, record: Record, was: RecordStatus | None, requested: list[int], lang: str,
                   zone: ZoneInfo, now: datetime, out: Poster) -> Outcome:  # fmt: skip
    """What the group sees after a save: the record; a sign-off request (with the approvals) when submitted;
    a sign-again notice after a substantive change; new resource requests (``requested``) to their approvers."""
    view = record_view(session, record)
    card = summary(session, record, lang, zone, now)
    if record.status is RecordStatus.CONFIRMING and was in (None, RecordStatus.DRAFT):
        signoff.take(session, record.id)
        approvals = approvals_of(view)
        out.post(card, key=f"record:{record.id}:submitted")
        out.post(templates.confirmation_request(view, lang=lang, approvals=approvals),
                 key=f"record:{record.id}:confirm-request")  # fmt: skip
        done = t("record.submitted_toast", lang, ref=record.ref)
        return Outcome(update=_form_done(record, done, lang), toast=done, extra={RESULT_CARD: card})
    if was is None:
        out.post(card, key=f"record:{record.id}:prepared")
        done = t("record.prepared_toast", lang, ref=record.ref)
        return Outcome(update=_form_done(record, done, lang), toast=done, extra={RESULT_CARD: card})
    post_resign(session, record, lang, out, key=f"v{record.version}")
    approvals = approvals_of(view, only=requested)
    if approvals and record.status is not RecordStatus.DRAFT:
        out.post(
            plan_cards.approval_request(record, approvals, lang=lang),
            key=f"record:{record.id}:approval:v{record.version}",
        )
    return Outcome(update=card, toast=t("record.saved_toast", lang, ref=record.ref))


def _form_done(record: Record, done: str, lang: str) -> Card:
    """What the submitted form turns into: a line that says so. The record card itself is posted as a new
    message below (where the group reads on), so it is not shown twice."""
    return templates.notice(t("record.form_done_title", lang, ref=record.ref), done)


def approvals_of(view: Any, *, only: list[int] | None = None) -> list[tuple[int, Any]]:
    """(number, request view) of the pending requests sent to an approver; ``only``: those request ids."""
    return [
        (number, r) for number, r in enumerate(view.resources, 1)
        if r.request.status is ResourceStatus.PENDING and r.approver is not None and r.request.requested_at
        and (only is None or r.request.id in only)
    ]  # fmt: skip


def already_submitted(session: Session, group: Group, done: Any, lang: str, zone: ZoneInfo, now: datetime) -> Outcome:
    """A form that was stored before: say where its result is, show it, store nothing."""
    ref = submissions.ref_of(session, done)
    record = session.get(Record, done.record_id) if done.record_id else None
    card = summary(session, record, lang, zone, now) if record is not None and record.group_id == group.id else None
    return Outcome(update=card, toast=t("form.already_submitted", lang, ref=ref))


# A lifecycle error's field → the form input to mark.
FORM_FIELD = {"participants": "participants.0.person", "items": "items.0.description"}


def store(session: Session, group: Group, person: Person, actor: Actor, submission: forms.RecordSubmission,
          existing: Record | None, now: datetime) -> tuple[Record, list[int]]:  # fmt: skip
    """Write a checked submission through the lifecycle functions (each audited); returns the record and the
    ids of the resource requests it added (to go to their approvers)."""
    fields = dict(submission.fields)
    if existing is None:
        record = lifecycle.create_draft(session=session, group_id=group.id or 0, recorder_id=person.id or 0,
                                        topic=fields["topic"], now=now)  # fmt: skip
    else:
        record = existing
    lifecycle.edit_record(session=session, record_id=record.id or 0, by=actor, now=now, changes=fields)
    present = submission.present
    participants = []
    for draft in submission.participants if "participants" in present else ():
        who = person_for(session, group, draft.user_id)
        department = department_named(session, group, draft.department)
        if department is not None and who.department_id is None:
            who.department_id = department.id
            session.add(who)
        participants.append(ParticipantInput(who.id or 0, department.id if department else None, draft.decision,
                                             draft.resource))  # fmt: skip
    if "participants" in present:
        lifecycle.set_participants(session=session, record_id=record.id, by=actor, now=now, participants=participants)
    if "key_points" in present:
        points = {department_named(session, group, name).id: text for name, text in submission.key_points}  # type: ignore[union-attr]
        lifecycle.set_key_points(session=session, record_id=record.id, by=actor, now=now, points=points)
    requested: list[int] = []
    if "resources" in present:
        requested = [r.id or 0 for r in lifecycle.set_resources(session=session, record_id=record.id, by=actor, now=now, requests=[
            ResourceInput(r.what, r.amount, r.unit,
                          person_for(session, group, r.approver_user_id).id if r.approver_user_id else None)
            for r in submission.resources
        ])]  # fmt: skip
    if "cc_people" in present or "cc_departments" in present:
        view = record_view(session, record)
        people = ([person_for(session, group, u).id or 0 for u in submission.cc_user_ids] if "cc_people" in present
                  else [p.id or 0 for p in view.cc_people])  # fmt: skip
        departments = ([department_named(session, group, name).id or 0 for name in submission.cc_departments]  # type: ignore[union-attr]
                       if "cc_departments" in present else [d.id or 0 for d in view.cc_departments])  # fmt: skip
        lifecycle.set_cc(session=session, record_id=record.id, by=actor, now=now, person_ids=people,
                         department_ids=departments)  # fmt: skip
    for item in submission.items:
        add_item(session, group, record, actor, item, now)
    return record, requested


def add_item(
    session: Session, group: Group, record: Record, actor: Actor, item: forms.ItemDraft, now: datetime
) -> ActionItem:
    owner = person_for(session, group, item.owner_user_ids[0])
    return items.add_item(
        session=session, record_id=record.id or 0, by=actor, now=now,
        item=ActionItemInput(item.description, [owner.id or 0], item.due_at, item.measure, item.resources,
                             term=item.term),
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
def record_show(command: grammar.RecordShow, session: Session, group: Group, lang: str, zone: ZoneInfo,
                now: datetime) -> Outcome:  # fmt: skip
    return Outcome(reply=summary(session, record_in_group(session, group, command.record.record_id), lang, zone, now))


@router.action(ActionId.RECORD_SHOW)
def record_show_button(payload: CardPayload, session: Session, group: Group, lang: str, zone: ZoneInfo,
                       now: datetime) -> Outcome:  # fmt: skip
    return Outcome(reply=summary(session, record_in_group(session, group, payload.record_id), lang, zone, now))


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


def close(session: Session, group: Group, person: Person, record_id: int | None, verification: str, actor: Actor,
          lang: str, now: datetime, zone: ZoneInfo, out: Poster, payload: CardPayload | None = None) -> Outcome:  # fmt: skip
    """Close, once the result is checked: empty is a field error on the close form, a vague one (or one with
    nothing checkable in it) brings the form back once with the warning and 仍然提交."""
    record = record_in_group(session, group, record_id)
    lifecycle.require_closable(session=session, record_id=record.id or 0, by=actor)
    key, values = f"close:{record.id}", {"verification": verification}
    base = close_form(record, lang, payload)
    if not verification.strip():
        required = storage_message("text.required", label=field_label("verification")).render(lang)
        return Outcome(
            form=forms.refill(base, values=values, errors={"verification": required}, warnings={}, lang=lang)
        )
    warning = check_verification(verification)
    warnings = {"verification": warning.render(lang)} if warning else {}
    if come_back_once(session, group, person, key, values, warnings, now, record):
        again = forms.refill(base, values=values, errors={}, warnings=warnings, lang=lang)
        return Outcome(form=forms.submit_anyway(again, warnings=warnings, lang=lang),
                       toast=t("closed.toast_warned", lang))  # fmt: skip
    lifecycle.close(session=session, record_id=record.id or 0, by=actor, verification=verification, now=now)
    drop_draft(session, group, person, key)
    if payload is not None:
        remember(session, group, person, payload, ActionId.RECORD_CLOSE, now, record_id=record.id)
    out.post(templates.closed_notice(record, lang=lang), key=f"record:{record.id}:closed:{now.isoformat()}")
    return Outcome(reply=summary(session, record, lang, zone), update=summary(session, record, lang, zone),
                   toast=t("closed.title", lang, ref=record.ref))  # fmt: skip


def close_form(record: Record, lang: str, payload: CardPayload | None = None) -> Any:
    return forms.single_text_form(
        title=t("close_form.title", lang, ref=record.ref), name="verification", hint=t("close_form.hint", lang),
        submit=t("close_form.submit", lang), action=ActionId.RECORD_CLOSE,
        payload=payload or with_token(templates.payload_of(record)), lang=lang,
    )  # fmt: skip


@router.command(grammar.RecordClose)
def record_close(command: grammar.RecordClose, session: Session, group: Group, person: Person, actor: Actor,
                 lang: str, now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    outcome = close(session, group, person, command.record.record_id, command.verification, actor, lang, now, zone, out)
    if outcome.form is not None:
        return Outcome(form=outcome.form, toast=outcome.toast)  # the warning, in the close form
    return Outcome(toast=outcome.toast)  # the closing notice in the chat is the answer


@router.action(ActionId.RECORD_CLOSE_OPEN)
def record_close_open(payload: CardPayload, session: Session, group: Group, person: Person, now: datetime,
                      lang: str) -> Outcome:  # fmt: skip
    record = record_in_group(session, group, payload.record_id)
    save_draft(session, group, person, f"close:{record.id}", {}, now, record, warned=False)
    return Outcome(form=close_form(record, lang))


@router.action(ActionId.RECORD_CLOSE)
def record_close_submit(payload: CardPayload, form: dict[str, Any], session: Session, group: Group, person: Person,
                        actor: Actor, lang: str, now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    if (done := replayed(session, group, payload)) is not None:
        return already_submitted(session, group, done, lang, zone, now)
    verification = str(form.get("verification") or "")
    outcome = close(session, group, person, payload.record_id, verification, actor, lang, now, zone, out, payload)
    if outcome.form is not None:
        return Outcome(update=outcome.form, toast=outcome.toast)
    return Outcome(update=outcome.update, toast=outcome.toast)


__all__ = ["RecordStatus", "router"]
