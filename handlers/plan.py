"""Changing the plan from the chat: a new deadline, another owner, a cancellation, a rewrite, a snooze.

``/action due|owner|cancel|edit`` (改期 转交 取消 编辑任务) and ``/snooze`` (暂缓), and the
buttons on the record card's item lines and on the overdue notice, which open a
small form. Each change goes through ``storage.items`` (permissions, audit), is
announced in the group with old → new, and, once the record is submitted, asks
the owner concerned to sign again in the same notice. The scheduler reads the
new state on its next tick: a new date re-arms the warning and the ladder, a
cancelled item leaves every reminder, a snoozed one skips the daily prompt.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from cards import forms, templates
from cards import plan as plan_cards
from cards.actions import ActionId
from cards.dates import Prefer, WhenParseError, parse_when, split_when
from cards.model import Card, CardPayload, PersonPicker
from cards.templates import t
from handlers import grammar
from handlers.common import (
    come_back_once,
    drop_draft,
    person_for,
    record_in_group,
    remember,
    replayed,
    resign_people,
    save_draft,
    saw_warnings,
    with_token,
)
from handlers.context import Poster
from handlers.records import already_submitted, summary
from handlers.router import Outcome, Router
from storage import items, signoff
from storage.errors import NotFound, StaleVersion, ValidationFailed, message
from storage.i18n import Localized
from storage.lifecycle import Actor
from storage.models import ActionItem, Group, Person, Record
from storage.rules import ActionItemInput

router = Router("plan")


def item_of(session: Session, group: Group, record_id: int | None, seq: int | None = None,
            item_id: int | None = None) -> tuple[Record, ActionItem]:  # fmt: skip
    record = record_in_group(session, group, record_id)
    if seq is not None:
        return record, items.find_item(session, record_id=record.id or 0, seq=seq)
    item = session.get(ActionItem, item_id or 0)
    if item is None or item.record_id != record.id:
        raise NotFound("item.not_found", ref=f"{record.ref}-?")
    return record, item


def _ref(record: Record, item: ActionItem) -> str:
    return f"{record.ref}-{item.seq}"


def _payload(record: Record, item: ActionItem) -> CardPayload:
    return with_token(CardPayload(record_id=record.id, version=record.version, item_id=item.id))


def _fail(card: Card, form: dict[str, Any], failed: ValidationFailed, lang: str, names: dict[str, str]) -> Outcome:
    """The form again with the lifecycle's refusal on its field (``names``: lifecycle field → input)."""
    errors = {names.get(k, k): m.render(lang) for k, m in failed.errors.items()}
    return Outcome(update=forms.refill(card, values=form, errors=errors, warnings={}, lang=lang))


# ---------------------------------------------------------------- 改期: a new deadline


def reschedule(session: Session, record: Record, item: ActionItem, due_at: datetime, reason: str, person: Person,
               actor: Actor, lang: str, now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    old = item.due_at
    items.reschedule_item(session=session, item_id=item.id or 0, by=actor, due_at=due_at, reason=reason, now=now)
    owner = session.get(Person, item.owner_id)
    assert owner is not None
    card = plan_cards.rescheduled(record, item, by=person, owner=owner, old=old, reason=reason, lang=lang, zone=zone)
    out.post(plan_cards.with_resign(card, record, resign_people(session, record), lang=lang),
             key=f"item:{item.id}:due:{due_at.isoformat()}:{now.isoformat()}")  # fmt: skip
    return Outcome(
        update=summary(session, record, lang, zone, now), toast=t("plan.due.title", lang, ref=_ref(record, item))
    )


@router.command(grammar.ActionDue)
def action_due(command: grammar.ActionDue, session: Session, group: Group, person: Person, actor: Actor, lang: str,
               now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    record, item = item_of(session, group, command.item.record_id, command.item.seq)
    try:
        when, reason = split_when(command.rest, now=now, zone=zone, prefer=Prefer.FUTURE)
    except WhenParseError as error:
        raise ValidationFailed({"due": _when_message(error, lang)}) from None
    outcome = reschedule(session, record, item, when.at, reason, person, actor, lang, now, zone, out)
    return Outcome(toast=outcome.toast)  # the notice in the chat is the answer


def _when_message(error: WhenParseError, lang: str) -> Any:
    """The date parser's own sentence, in both languages, as a domain message."""
    text = Localized({"zh-CN": error.message("zh-CN"), "en": error.message("en")})
    return message("lint.all", findings=text)


def due_form(record: Record, item: ActionItem, lang: str, zone: ZoneInfo) -> Card:
    hint = t("due_form.hint", lang, due=templates.due_text(item.due_at, zone))
    return forms.small_form(
        title=t("due_form.title", lang, ref=_ref(record, item)), hint=hint, submit=t("due_form.submit", lang),
        action=ActionId.ITEM_DUE, payload=_payload(record, item), lang=lang,
        inputs=[forms.date_input("due", lang, required=True), forms.reason_input(lang, required=True)],
    )  # fmt: skip


@router.action(ActionId.ITEM_DUE_OPEN)
def due_open(payload: CardPayload, session: Session, group: Group, lang: str, zone: ZoneInfo) -> Outcome:
    record, item = item_of(session, group, payload.record_id, item_id=payload.item_id)
    return Outcome(form=due_form(record, item, lang, zone))


@router.action(ActionId.ITEM_DUE)
def due_submit(payload: CardPayload, form: dict[str, Any], session: Session, group: Group, person: Person,
               actor: Actor, lang: str, now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    if (done := replayed(session, group, payload)) is not None:
        return already_submitted(session, group, done, lang, zone, now)
    record, item = item_of(session, group, payload.record_id, item_id=payload.item_id)
    card = due_form(record, item, lang, zone)
    text, reason = str(form.get("due") or "").strip(), str(form.get("reason") or "").strip()
    errors = {}
    try:
        due_at = parse_when(text, now=now, zone=zone, prefer=Prefer.FUTURE).at if text else None
    except WhenParseError as error:
        due_at, errors["due"] = None, error.message(lang)
    if due_at is None and "due" not in errors:
        errors["due"] = templates.storage_message("item.due_required").render(lang)
    if not reason:
        errors["reason"] = forms.required(forms.label("reason", lang), lang)
    if errors:
        return Outcome(update=forms.refill(card, values=form, errors=errors, warnings={}, lang=lang))
    try:
        with session.begin_nested():
            outcome = reschedule(session, record, item, due_at, reason, person, actor, lang, now, zone, out)  # type: ignore[arg-type]
    except ValidationFailed as failed:
        signoff.discard(session)
        return _fail(card, form, failed, lang, {})
    remember(session, group, person, payload, ActionId.ITEM_DUE, now, record_id=record.id, item_id=item.id)
    return outcome


# ---------------------------------------------------------------- 转交: another owner


def reassign(session: Session, record: Record, item: ActionItem, owner: Person, reason: str | None, person: Person,
             actor: Actor, lang: str, now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    old = session.get(Person, item.owner_id)
    assert old is not None
    items.reassign_item(session=session, item_id=item.id or 0, by=actor, owner_id=owner.id or 0, reason=reason, now=now)
    card = plan_cards.reassigned(record, item, by=person, old=old, new=owner, reason=reason, lang=lang)
    out.post(plan_cards.with_resign(card, record, resign_people(session, record), lang=lang),
             key=f"item:{item.id}:owner:{owner.id}:{now.isoformat()}")  # fmt: skip
    return Outcome(update=summary(session, record, lang, zone, now),
                   toast=t("plan.owner.title", lang, ref=_ref(record, item)))  # fmt: skip


@router.command(grammar.ActionOwner)
def action_owner(command: grammar.ActionOwner, session: Session, group: Group, person: Person, actor: Actor,
                 lang: str, now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    record, item = item_of(session, group, command.item.record_id, command.item.seq)
    owner = person_for(session, group, command.owner.user_id)
    outcome = reassign(session, record, item, owner, command.reason, person, actor, lang, now, zone, out)
    return Outcome(toast=outcome.toast)


def owner_form(record: Record, item: ActionItem, lang: str) -> Card:
    return forms.small_form(
        title=t("owner_form.title", lang, ref=_ref(record, item)), hint=None, submit=t("owner_form.submit", lang),
        action=ActionId.ITEM_OWNER, payload=_payload(record, item), lang=lang,
        inputs=[PersonPicker(name="owner", label=forms.label("owner", lang), required=True),
                forms.reason_input(lang, required=False)],
    )  # fmt: skip


@router.action(ActionId.ITEM_OWNER_OPEN)
def owner_open(payload: CardPayload, session: Session, group: Group, lang: str) -> Outcome:
    record, item = item_of(session, group, payload.record_id, item_id=payload.item_id)
    return Outcome(form=owner_form(record, item, lang))


@router.action(ActionId.ITEM_OWNER)
def owner_submit(payload: CardPayload, form: dict[str, Any], session: Session, group: Group, person: Person,
                 actor: Actor, lang: str, now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    if (done := replayed(session, group, payload)) is not None:
        return already_submitted(session, group, done, lang, zone, now)
    record, item = item_of(session, group, payload.record_id, item_id=payload.item_id)
    card = owner_form(record, item, lang)
    chosen = forms.people_of(form, "owner")
    if len(chosen) != 1:
        error = templates.storage_message("item.owner_required").render(lang)
        return Outcome(update=forms.refill(card, values=form, errors={"owner": error}, warnings={}, lang=lang))
    reason = str(form.get("reason") or "").strip() or None
    try:
        with session.begin_nested():
            owner = person_for(session, group, chosen[0])
            outcome = reassign(session, record, item, owner, reason, person, actor, lang, now, zone, out)
    except ValidationFailed as failed:
        signoff.discard(session)
        return _fail(card, form, failed, lang, {})
    remember(session, group, person, payload, ActionId.ITEM_OWNER, now, record_id=record.id, item_id=item.id)
    return outcome


# ---------------------------------------------------------------- 取消: with a reason


def cancel(session: Session, record: Record, item: ActionItem, reason: str, person: Person, actor: Actor, lang: str,
           now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    items.cancel_item(session=session, item_id=item.id or 0, by=actor, reason=reason, now=now)
    owner = session.get(Person, item.owner_id)
    assert owner is not None
    card = plan_cards.cancelled(record, item, by=person, owner=owner, lang=lang)
    out.post(plan_cards.with_resign(card, record, resign_people(session, record), lang=lang),
             key=f"item:{item.id}:cancelled")  # fmt: skip
    return Outcome(update=summary(session, record, lang, zone, now),
                   toast=t("plan.cancel.title", lang, ref=_ref(record, item)))  # fmt: skip


@router.command(grammar.ActionCancel)
def action_cancel(command: grammar.ActionCancel, session: Session, group: Group, person: Person, actor: Actor,
                  lang: str, now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    record, item = item_of(session, group, command.item.record_id, command.item.seq)
    return Outcome(toast=cancel(session, record, item, command.reason, person, actor, lang, now, zone, out).toast)


def cancel_form(record: Record, item: ActionItem, lang: str) -> Card:
    return forms.single_text_form(
        title=t("cancel_form.title", lang, ref=_ref(record, item)), name="reason", hint=None,
        submit=t("cancel_form.submit", lang), action=ActionId.ITEM_CANCEL, payload=_payload(record, item), lang=lang,
    )  # fmt: skip


@router.action(ActionId.ITEM_CANCEL_OPEN)
def cancel_open(payload: CardPayload, session: Session, group: Group, lang: str) -> Outcome:
    record, item = item_of(session, group, payload.record_id, item_id=payload.item_id)
    return Outcome(form=cancel_form(record, item, lang))


@router.action(ActionId.ITEM_CANCEL)
def cancel_submit(payload: CardPayload, form: dict[str, Any], session: Session, group: Group, person: Person,
                  actor: Actor, lang: str, now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    if (done := replayed(session, group, payload)) is not None:
        return already_submitted(session, group, done, lang, zone, now)
    record, item = item_of(session, group, payload.record_id, item_id=payload.item_id)
    try:
        with session.begin_nested():
            outcome = cancel(session, record, item, str(form.get("reason") or ""), person, actor, lang, now, zone, out)
    except ValidationFailed as failed:
        signoff.discard(session)
        return _fail(cancel_form(record, item, lang), form, failed, lang, {})
    remember(session, group, person, payload, ActionId.ITEM_CANCEL, now, record_id=record.id, item_id=item.id)
    return outcome


# ---------------------------------------------------------------- 编辑任务: the item's form


def edit_form(session: Session, record: Record, item: ActionItem, lang: str, zone: ZoneInfo) -> Card:
    owner = session.get(Person, item.owner_id)
    card = forms.item_form(ref=record.ref, payload=_payload(record, item), lang=lang, editing=_ref(record, item))
    values = {"description": item.description, "owner": [owner.user_id] if owner else [], "measure": item.measure or "",
              "due": item.due_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"), "term": item.term.value,
              "resources": item.resources or ""}  # fmt: skip
    return forms.refill(card, values=values, errors={}, warnings={}, lang=lang)


def open_edit(session: Session, group: Group, person: Person, record: Record, item: ActionItem, lang: str,
              now: datetime, zone: ZoneInfo) -> Outcome:  # fmt: skip
    save_draft(session, group, person, f"item:{item.id}", {}, now, record, warned=False)
    return Outcome(form=edit_form(session, record, item, lang, zone))


@router.command(grammar.ActionEdit)
def action_edit(command: grammar.ActionEdit, session: Session, group: Group, person: Person, lang: str, now: datetime,
                zone: ZoneInfo) -> Outcome:  # fmt: skip
    record, item = item_of(session, group, command.item.record_id, command.item.seq)
    return open_edit(session, group, person, record, item, lang, now, zone)


@router.action(ActionId.ITEM_EDIT_OPEN)
def edit_open(payload: CardPayload, session: Session, group: Group, person: Person, lang: str, now: datetime,
              zone: ZoneInfo) -> Outcome:  # fmt: skip
    record, item = item_of(session, group, payload.record_id, item_id=payload.item_id)
    return open_edit(session, group, person, record, item, lang, now, zone)


@router.action(ActionId.ITEM_EDIT)
def edit_submit(payload: CardPayload, form: dict[str, Any], session: Session, group: Group, person: Person,
                actor: Actor, lang: str, now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    """Rewrite an item: its form's warnings come back once, like the record form's; a stale form is refused."""
    if (done := replayed(session, group, payload)) is not None:
        return already_submitted(session, group, done, lang, zone, now)
    record, item = item_of(session, group, payload.record_id, item_id=payload.item_id)
    base = forms.item_form(ref=record.ref, payload=payload, lang=lang, editing=_ref(record, item))
    if payload.version is not None and payload.version != record.version:
        stale = StaleVersion(ref=record.ref, expected=payload.version, current=record.version)
        return Outcome(update=edit_form(session, record, item, lang, zone), toast=stale.message(lang))
    errors: dict[str, str] = {}
    warnings: dict[str, str] = {}
    draft = forms.parse_item_row(form, index=0, prefix="", now=now, zone=zone, lang=lang, errors=errors,
                                 warnings=warnings)  # fmt: skip
    key = f"item:{item.id}"
    if errors:
        if warnings:
            saw_warnings(session, group, person, key, form, now, record)
        return Outcome(update=forms.refill(base, values=form, errors=errors, warnings=warnings, lang=lang))
    if come_back_once(session, group, person, key, form, warnings, now, record):
        again = forms.refill(base, values=form, errors={}, warnings=warnings, lang=lang)
        return Outcome(update=forms.submit_anyway(again, warnings=warnings, lang=lang))
    owner = person_for(session, group, draft.owner_user_ids[0])
    try:
        with session.begin_nested():
            items.edit_item(session=session, item_id=item.id or 0, by=actor, now=now, item=ActionItemInput(
                draft.description, [owner.id or 0], draft.due_at, draft.measure, draft.resources, term=draft.term))  # fmt: skip
    except ValidationFailed as failed:
        signoff.discard(session)
        return _fail(base, form, failed, lang, {})
    remember(session, group, person, payload, ActionId.ITEM_EDIT, now, record_id=record.id, item_id=item.id)
    drop_draft(session, group, person, key)
    note = signoff.take(session, record.id)
    changes = note.changes if note else []
    people = [p for p in (session.get(Person, i) for i in (note.people if note else [])) if p]
    if changes:
        card = plan_cards.edited(record, item, by=person, owner=owner, changes=changes, lang=lang, zone=zone)
        out.post(
            plan_cards.with_resign(card, record, people, lang=lang), key=f"item:{item.id}:edited:v{record.version}"
        )
    return Outcome(
        update=summary(session, record, lang, zone, now), toast=t("plan.edit.title", lang, ref=_ref(record, item))
    )


# ---------------------------------------------------------------- 暂缓: no daily prompt for a while


@router.command(grammar.Snooze)
def snooze(command: grammar.Snooze, session: Session, group: Group, person: Person, actor: Actor, lang: str,
           now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    """``暂缓 R12-2 12月3日 出差``: no end-of-day prompt for R12-2 through 3 Dec; the recorder is told."""
    record, item = item_of(session, group, command.item.record_id, command.item.seq)
    try:
        when, reason = split_when(command.rest, now=now, zone=zone, prefer=Prefer.FUTURE)
    except WhenParseError as error:
        raise ValidationFailed({"until": _when_message(error, lang)}) from None
    until = when.at.astimezone(zone).date()
    items.snooze_item(session=session, item_id=item.id or 0, by=actor, until=until, reason=reason, now=now)
    recorder = session.get(Person, record.recorder_id)
    assert recorder is not None
    out.post(plan_cards.snoozed(record, item, by=person, recorder=recorder, lang=lang),
             key=f"item:{item.id}:snoozed:{until.isoformat()}:{now.isoformat()}")  # fmt: skip
    return Outcome(toast=t("plan.snooze.title", lang, ref=_ref(record, item)))
