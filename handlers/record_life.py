"""The rest of a record's life from the chat: reopen, withdraw, roll-call (催办) and its history.

``/record reopen R12 <reason>`` (重新打开), ``/record withdraw R12 [reason]`` (撤回),
``/remind R12`` (催办), ``/record history R12 [page]`` (历史), and the buttons on
the record card that do the same (reopen and withdraw ask for the reason in a form).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from cards import forms
from cards import plan as plan_cards
from cards.actions import ActionId
from cards.model import CardPayload
from cards.templates import payload_of, t
from handlers import grammar
from handlers.common import record_in_group, remember, replayed, said, with_token
from handlers.context import Poster
from handlers.records import already_submitted, summary
from handlers.router import Outcome, Router
from storage import lifecycle
from storage.errors import ValidationFailed
from storage.history import history_page
from storage.lifecycle import Actor
from storage.models import Group, Person, Record
from storage.rollcall import RollCallKind, roll_call

router = Router("record-life")


# ---------------------------------------------------------------- reopen


def reopen(session: Session, record: Record, reason: str, person: Person, actor: Actor, lang: str, now: datetime,
           zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    previous = record.verification
    lifecycle.reopen(session=session, record_id=record.id or 0, by=actor, reason=reason, now=now)
    out.post(plan_cards.reopened(record, by=person, reason=reason.strip(), previous=previous, lang=lang),
             key=f"record:{record.id}:reopened:{now.isoformat()}")  # fmt: skip
    return Outcome(update=summary(session, record, lang, zone, now), toast=t("reopen.title", lang, ref=record.ref))


@router.command(grammar.RecordReopen)
def record_reopen(command: grammar.RecordReopen, session: Session, group: Group, person: Person, actor: Actor,
                  lang: str, now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    record = record_in_group(session, group, command.record.record_id)
    return Outcome(toast=reopen(session, record, command.reason, person, actor, lang, now, zone, out).toast)


def reason_form(record: Record, *, title: str, action: ActionId, payload: CardPayload, lang: str) -> Any:
    return forms.single_text_form(title=title, name="reason", hint=None, submit=t("meeting_notice.submit", lang),
                                  action=action, payload=payload, lang=lang)  # fmt: skip


@router.action(ActionId.RECORD_REOPEN_OPEN)
def reopen_open(payload: CardPayload, session: Session, group: Group, lang: str) -> Outcome:
    record = record_in_group(session, group, payload.record_id)
    return Outcome(form=reason_form(record, title=t("reopen_form.title", lang, ref=record.ref),
                                    action=ActionId.RECORD_REOPEN, payload=with_token(payload_of(record)), lang=lang))  # fmt: skip


@router.action(ActionId.RECORD_REOPEN)
def reopen_submit(payload: CardPayload, form: dict[str, Any], session: Session, group: Group, person: Person,
                  actor: Actor, lang: str, now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    if (done := replayed(session, group, payload)) is not None:
        return already_submitted(session, group, done, lang, zone, now)
    record = record_in_group(session, group, payload.record_id)
    try:
        with session.begin_nested():
            outcome = reopen(session, record, str(form.get("reason") or ""), person, actor, lang, now, zone, out)
    except ValidationFailed as failed:
        card = reason_form(record, title=t("reopen_form.title", lang, ref=record.ref), action=ActionId.RECORD_REOPEN,
                           payload=payload, lang=lang)  # fmt: skip
        errors = {"reason": next(iter(failed.errors.values())).render(lang)}
        return Outcome(update=forms.refill(card, values=form, errors=errors, warnings={}, lang=lang))
    remember(session, group, person, payload, ActionId.RECORD_REOPEN, now, record_id=record.id)
    return outcome


# ---------------------------------------------------------------- withdraw


def withdraw(session: Session, record: Record, reason: str | None, person: Person, actor: Actor, lang: str,
             now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    lifecycle.withdraw(session=session, record_id=record.id or 0, by=actor, reason=reason, now=now)
    out.post(plan_cards.withdrawn(record, by=person, reason=(reason or "").strip() or None, lang=lang),
             key=f"record:{record.id}:withdrawn")  # fmt: skip
    return Outcome(update=summary(session, record, lang, zone, now), toast=t("withdraw.title", lang, ref=record.ref))


@router.command(grammar.RecordWithdraw)
def record_withdraw(command: grammar.RecordWithdraw, session: Session, group: Group, person: Person, actor: Actor,
                    lang: str, now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    record = record_in_group(session, group, command.record.record_id)
    return Outcome(toast=withdraw(session, record, command.reason, person, actor, lang, now, zone, out).toast)


@router.action(ActionId.RECORD_WITHDRAW_OPEN)
def withdraw_open(payload: CardPayload, session: Session, group: Group, lang: str) -> Outcome:
    record = record_in_group(session, group, payload.record_id)
    card = forms.small_form(
        title=t("withdraw_form.title", lang, ref=record.ref), hint=None, submit=t("button.withdraw", lang),
        action=ActionId.RECORD_WITHDRAW, payload=with_token(payload_of(record)), lang=lang,
        inputs=[forms.reason_input(lang, required=False)],
    )  # fmt: skip
    return Outcome(form=card)


@router.action(ActionId.RECORD_WITHDRAW)
def withdraw_submit(payload: CardPayload, form: dict[str, Any], session: Session, group: Group, person: Person,
                    actor: Actor, lang: str, now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    if (done := replayed(session, group, payload)) is not None:
        return already_submitted(session, group, done, lang, zone, now)
    record = record_in_group(session, group, payload.record_id)
    outcome = withdraw(session, record, str(form.get("reason") or ""), person, actor, lang, now, zone, out)
    remember(session, group, person, payload, ActionId.RECORD_WITHDRAW, now, record_id=record.id)
    return outcome


# ---------------------------------------------------------------- roll-call


def remind(session: Session, record: Record, person: Person, actor: Actor, lang: str, now: datetime, zone: ZoneInfo,
           out: Poster, *, typed: bool = False) -> Outcome:  # fmt: skip
    found = roll_call(session=session, record_id=record.id or 0, by=actor, now=now)
    if not found.people:  # nobody to remind: said to the presser, and as a reply to a typed command
        key = "remind.nobody_confirm" if found.kind is RollCallKind.CONFIRM else "remind.nobody_report"
        text = t(key, lang, ref=record.ref)
        return Outcome(toast=text, reply=said(text, lang) if typed else None)
    if found.kind is RollCallKind.CONFIRM:
        card = plan_cards.remind_confirm(record, by=person, people=found.people, lang=lang)
    else:
        owners = [(p, found.items[p.id or 0]) for p in found.people]
        card = plan_cards.remind_report(record, by=person, owners=owners, lang=lang, zone=zone)
    out.post(card, key=f"record:{record.id}:remind:{now.isoformat()}")
    return Outcome(toast=t("button.remind", lang))


@router.command(grammar.Remind)
def remind_command(command: grammar.Remind, session: Session, group: Group, person: Person, actor: Actor, lang: str,
                   now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    record = record_in_group(session, group, command.record.record_id)
    return remind(session, record, person, actor, lang, now, zone, out, typed=True)


@router.action(ActionId.RECORD_REMIND)
def remind_button(payload: CardPayload, session: Session, group: Group, person: Person, actor: Actor, lang: str,
                  now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    record = record_in_group(session, group, payload.record_id)
    return remind(session, record, person, actor, lang, now, zone, out)


# ---------------------------------------------------------------- history


@router.command(grammar.RecordHistory)
def history(command: grammar.RecordHistory, session: Session, group: Group, lang: str, zone: ZoneInfo) -> Outcome:
    record = record_in_group(session, group, command.record.record_id)
    page = history_page(session, record, page=command.page)
    return Outcome(reply=plan_cards.history_card(page, lang=lang, zone=zone))


@router.action(ActionId.RECORD_HISTORY)
def history_button(payload: CardPayload, session: Session, group: Group, lang: str, zone: ZoneInfo) -> Outcome:
    """From the record card: the history as a new message; from the history card's own buttons: that page, in place."""
    record = record_in_group(session, group, payload.record_id)
    number = payload.extra.get("page", "")
    page = history_page(session, record, page=int(number) if number.isdigit() else 1)
    card = plan_cards.history_card(page, lang=lang, zone=zone)
    return Outcome(update=card) if number else Outcome(reply=card)
