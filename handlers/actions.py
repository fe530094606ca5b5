"""Action items and progress: add an item, report progress, mark done, escalate."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from cards import forms, templates
from cards import plan as plan_cards
from cards.actions import ActionId
from cards.markup import mention
from cards.model import Button, ButtonStyle, CardPayload, Tone
from cards.templates import t
from handlers import grammar
from handlers.common import (
    come_back_once,
    drop_draft,
    leads_of,
    record_in_group,
    remember,
    replayed,
    resign_people,
    save_draft,
    saw_warnings,
    view_of,
    with_token,
)
from handlers.context import Poster
from handlers.records import add_item, already_submitted, summary
from handlers.router import Outcome, Router
from storage import items, lifecycle, signoff
from storage.errors import NotFound, ValidationFailed
from storage.lifecycle import Actor
from storage.models import ActionItem, Department, Group, Person, Record
from storage.queries import record_view
from storage.types import ItemStatus

router = Router("actions")


def item_in_group(session: Session, group: Group, record_id: int, seq: int) -> tuple[Record, ActionItem]:
    record = record_in_group(session, group, record_id)
    return record, items.find_item(session, record_id=record.id or 0, seq=seq)


# ---------------------------------------------------------------- add


def open_item_form(session: Session, group: Group, person: Person, record_id: int | None, lang: str,
                   now: datetime) -> Outcome:  # fmt: skip
    record = record_in_group(session, group, record_id)
    save_draft(session, group, person, f"item:new:{record.id}", {}, now, record, warned=False)
    return Outcome(form=forms.item_form(ref=record.ref, payload=with_token(templates.payload_of(record)), lang=lang))


@router.command(grammar.ActionAdd)
def action_add(command: grammar.ActionAdd, session: Session, group: Group, person: Person, lang: str,
               now: datetime) -> Outcome:  # fmt: skip
    return open_item_form(session, group, person, command.record.record_id, lang, now)


@router.action(ActionId.ITEM_ADD_OPEN)
def action_add_button(payload: CardPayload, session: Session, group: Group, person: Person, lang: str,
                      now: datetime) -> Outcome:  # fmt: skip
    return open_item_form(session, group, person, payload.record_id, lang, now)


@router.action(ActionId.ITEM_ADD)
def action_add_submit(payload: CardPayload, form: dict[str, Any], session: Session, group: Group, person: Person,
                      actor: Actor, lang: str, now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    if (done := replayed(session, group, payload)) is not None:
        return already_submitted(session, group, done, lang, zone, now)
    record = record_in_group(session, group, payload.record_id)
    errors: dict[str, str] = {}
    warnings: dict[str, str] = {}
    draft = forms.parse_item_row(
        form, index=0, prefix="", now=now, zone=zone, lang=lang, errors=errors, warnings=warnings
    )
    base = forms.item_form(ref=record.ref, payload=payload, lang=lang)
    key = f"item:new:{record.id}"
    if errors:
        if warnings:
            saw_warnings(session, group, person, key, form, now, record)
        return Outcome(update=forms.refill(base, values=form, errors=errors, warnings=warnings, lang=lang))
    if come_back_once(session, group, person, key, form, warnings, now, record):
        again = forms.refill(base, values=form, errors={}, warnings=warnings, lang=lang)
        return Outcome(update=forms.submit_anyway(again, warnings=warnings, lang=lang))
    try:
        with session.begin_nested():
            item = add_item(session, group, record, actor, draft, now)
    except ValidationFailed as failed:
        signoff.discard(session)
        errors = {k: m.render(lang) for k, m in failed.errors.items()}
        return Outcome(update=forms.refill(base, values=form, errors=errors, warnings=warnings, lang=lang))
    remember(session, group, person, payload, ActionId.ITEM_ADD, now, record_id=record.id, item_id=item.id)
    drop_draft(session, group, person, key)
    owner = session.get(Person, item.owner_id)
    notice = templates.notice(
        t("item_form.title", lang, ref=record.ref),
        t("item.added", lang, ref=f"{record.ref}-{item.seq}", description=item.description,
          owner=mention(owner.user_id) if owner else "", due=templates.due_text(item.due_at, zone)),
    )  # fmt: skip
    out.post(
        plan_cards.with_resign(notice, record, resign_people(session, record), lang=lang), key=f"item:{item.id}:added"
    )
    return Outcome(
        update=summary(session, record, lang, zone, now), toast=t("record.saved_toast", lang, ref=record.ref)
    )


# ---------------------------------------------------------------- progress


def progress_notice(session: Session, record: Record, item: ActionItem, by: Person, text: str, percent: int | None,
                    blocked: bool, lang: str) -> Any:  # fmt: skip
    body = t(
        "progress.posted", lang, owner=mention(by.user_id), ref=f"{record.ref}-{item.seq}",
        percent=f" {percent}%" if percent is not None else "", text=text,
        blocked=t("progress.blocked", lang) if blocked else "",
    )  # fmt: skip
    return templates.notice(t("progress_form.title", lang), body, tone=Tone.WARNING if blocked else Tone.INFO)


@router.command(grammar.Progress)
def progress(command: grammar.Progress, session: Session, group: Group, person: Person, actor: Actor, lang: str,
             now: datetime) -> Outcome:  # fmt: skip
    record, item = item_in_group(session, group, command.item.record_id, command.item.seq)
    items.record_progress(session=session, item_id=item.id or 0, by=actor, text=command.text, percent=command.percent,
                          now=now)  # fmt: skip
    return Outcome(reply=progress_notice(session, record, item, person, command.text, command.percent, False, lang))


@router.action(ActionId.ITEM_PROGRESS_OPEN)
def progress_open(payload: CardPayload, session: Session, group: Group, person: Person, actor: Actor,
                  lang: str) -> Outcome:  # fmt: skip
    """The presser's own open items (all open items for the recorder or an admin)."""
    record = record_in_group(session, group, payload.record_id)
    view = record_view(session, record)
    mine = [
        (str(i.item.id), f"{record.ref}-{i.item.seq} {i.item.description}")
        for i in view.items
        if i.item.status is ItemStatus.OPEN
        and (i.item.owner_id == person.id or actor.is_admin or record.recorder_id == person.id)
    ]
    if not mine:
        return Outcome(toast=t("progress_form.no_items", lang, ref=record.ref))
    return Outcome(form=forms.progress_form(items=mine, payload=with_token(templates.payload_of(record)), lang=lang))


@router.action(ActionId.ITEM_PROGRESS)
def progress_submit(payload: CardPayload, form: dict[str, Any], session: Session, group: Group, person: Person,
                    actor: Actor, lang: str, now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    if (done := replayed(session, group, payload)) is not None:
        return already_submitted(session, group, done, lang, zone, now)
    record = record_in_group(session, group, payload.record_id)
    item_id = str(form.get("item") or "")
    item = session.get(ActionItem, int(item_id)) if item_id.isdigit() else None
    if item is None or item.record_id != record.id:
        raise NotFound("item.not_found", ref=f"{record.ref}-?")
    percent, error = forms.parse_percent(str(form.get("percent") or "").strip(), lang=lang)
    text = str(form.get("text") or "").strip()
    if error:
        mine = [(str(item.id), f"{record.ref}-{item.seq} {item.description}")]
        base = forms.progress_form(items=mine, payload=payload, lang=lang)
        return Outcome(update=forms.refill(base, values=form, errors={"percent": error}, warnings={}, lang=lang))
    blocked = form.get("blocked") == "yes"
    items.record_progress(session=session, item_id=item.id or 0, by=actor, text=text, percent=percent, blocked=blocked,
                          now=now)  # fmt: skip
    remember(session, group, person, payload, ActionId.ITEM_PROGRESS, now, record_id=record.id, item_id=item.id)
    out.post(progress_notice(session, record, item, person, text, percent, blocked, lang),
             key=f"item:{item.id}:progress:{now.isoformat()}")  # fmt: skip
    return Outcome(update=summary(session, record, lang, zone), toast=t("progress_form.submit", lang))


# ---------------------------------------------------------------- done


def complete(session: Session, record: Record, item: ActionItem, result: str, actor: Actor, lang: str, now: datetime,
             out: Poster) -> None:  # fmt: skip
    items.complete_item(session=session, item_id=item.id or 0, by=actor, result=result, now=now)
    ref = f"{record.ref}-{item.seq}"
    out.post(templates.notice(t("item.done_title", lang, ref=ref), t("item.done", lang, ref=ref, result=result),
                              tone=Tone.SUCCESS), key=f"item:{item.id}:done")  # fmt: skip


@router.command(grammar.ActionDone)
def action_done(command: grammar.ActionDone, session: Session, group: Group, actor: Actor, lang: str, now: datetime,
                zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    record, item = item_in_group(session, group, command.item.record_id, command.item.seq)
    if not command.result:
        ref = f"{record.ref}-{item.seq}"
        return Outcome(form=forms.single_text_form(
            title=t("item.done_form_title", lang, ref=ref), name="result", hint=None, submit=t("item.done_submit", lang),
            action=ActionId.ITEM_DONE,
            payload=with_token(CardPayload(record_id=record.id, version=record.version, item_id=item.id)),
            lang=lang,
        ))  # fmt: skip
    complete(session, record, item, command.result, actor, lang, now, out)
    return Outcome(reply=summary(session, record, lang, zone, now))


@router.action(ActionId.ITEM_DONE)
def action_done_submit(payload: CardPayload, form: dict[str, Any], session: Session, group: Group, person: Person,
                       actor: Actor, lang: str, now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    if (done := replayed(session, group, payload)) is not None:
        return already_submitted(session, group, done, lang, zone, now)
    record = record_in_group(session, group, payload.record_id)
    item = session.get(ActionItem, payload.item_id or 0)
    if item is None or item.record_id != record.id:
        raise NotFound("item.not_found", ref=f"{record.ref}-?")
    complete(session, record, item, str(form.get("result") or ""), actor, lang, now, out)
    remember(session, group, person, payload, ActionId.ITEM_DONE, now, record_id=record.id, item_id=item.id)
    return Outcome(update=summary(session, record, lang, zone, now), toast=t("item.done_submit", lang))


# ---------------------------------------------------------------- escalate


@router.command(grammar.Escalate)
def escalate(command: grammar.Escalate, session: Session, group: Group, person: Person, actor: Actor, lang: str,
             now: datetime, out: Poster) -> Outcome:  # fmt: skip
    """升级: an item goes to its owner, their lead and director; a record to every owner's lead and the cc list."""
    target = command.target
    view = view_of(session, group, target.record_id)
    record = view.record
    if isinstance(target, grammar.ItemRef):
        chosen = view.item(target.seq)
        if chosen is None:
            raise NotFound("item.not_found", ref=str(target))
        owners, ref, item = [chosen.owner], str(target), chosen.item
    else:
        owners = [i.owner for i in view.items if i.item.status is ItemStatus.OPEN]
        ref, item = record.ref, None
    departments = [session.get(Department, o.department_id) if o.department_id else None for o in owners]
    people = owners + leads_of(session, departments) + leads_of(session, departments, directors=True)
    if item is None:
        people += list(view.cc_people)
    lifecycle.escalate(session=session, record_id=record.id or 0, by=actor, now=now, item=item, reason=command.reason)
    card = templates.escalation_card(view, ref=ref, by=person, people=templates.unique(people), reason=command.reason,
                                     lang=lang)  # fmt: skip
    out.post(card, key=f"escalate:{ref}:{now.isoformat()}")
    return Outcome(toast=t("escalate.title", lang, ref=ref))


@router.action(ActionId.SECOND_MEETING)
def second_meeting(payload: CardPayload, session: Session, group: Group, person: Person, actor: Actor, lang: str,
                   now: datetime, out: Poster) -> Outcome:  # fmt: skip
    """二次沟通, proposed by the escalation ladder and the escalation card: call the participants back to the
    table. Anyone the escalation reached may press it; its 安排会议时间 button opens the meeting form."""
    view = view_of(session, group, payload.record_id)
    lifecycle.escalate(session=session, record_id=view.record.id or 0, by=actor, now=now, reason="second meeting")
    people = templates.people_text((p.person for p in view.participants), lang)
    text = t("second_meeting.text", lang, by=mention(person.user_id), people=people, ref=view.record.ref)
    schedule = Button(label=t("button.schedule_meeting", lang), action=ActionId.MEETING_FORM_OPEN,
                      payload=CardPayload(record_id=view.record.id, extra={"second": "1"}), style=ButtonStyle.PRIMARY)  # fmt: skip
    out.post(templates.notice(t("button.second_meeting", lang), text, tone=Tone.WARNING, buttons=[schedule]),
             key=f"record:{view.record.id}:second-meeting:{now.isoformat()}")  # fmt: skip
    return Outcome(toast=t("button.second_meeting", lang))
