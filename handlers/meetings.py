"""Preparing and calling meetings: ``/record notify R12`` (通知 R12), the replies, and 二次沟通's meeting form.

The notice goes to the group, @-mentions the participants with the time, place,
goal, agenda and material, and carries a reply form; each reply (coming or not,
with which authority) replaces the notice with the roll so far. The scheduler
reminds the workday before and an hour before (``scheduler.jobs.meeting_reminder``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from cards import forms
from cards.actions import ActionId
from cards.dates import Prefer, WhenParseError, parse_when
from cards.meetings import meeting_form, meeting_notice
from cards.model import Card, CardPayload
from cards.templates import t
from handlers import grammar
from handlers.common import record_in_group, remember, replayed, said, with_token
from handlers.context import Poster
from handlers.records import already_submitted, summary
from handlers.router import Outcome, Router
from storage import meetings
from storage.errors import InvalidTransition, ValidationFailed
from storage.lifecycle import Actor
from storage.models import Group, Person, Record
from storage.queries import record_view

router = Router("meetings")
AUTHORITY = {"decision": (True, False), "resource": (False, True), "both": (True, True)}


def notice_card(session: Session, record: Record, at: datetime, lang: str, zone: ZoneInfo) -> Card:
    people = [p.person for p in record_view(session, record).participants]
    return meeting_notice(record, at=at, people=people, replies=meetings.replies(session, record, at), lang=lang,
                          zone=zone)  # fmt: skip


def send_notice(session: Session, record: Record, actor: Actor, lang: str, now: datetime, zone: ZoneInfo,
                out: Poster, at: datetime | None = None) -> Outcome:  # fmt: skip
    """Post the notice for the upcoming meeting (or ``at``); once per meeting time and version of the record."""
    at = meetings.notify(session=session, record_id=record.id or 0, by=actor, now=now, at=at)
    posted = out.post(notice_card(session, record, at, lang, zone),
                      key=f"record:{record.id}:notice:{at.isoformat()}:v{record.version}")  # fmt: skip
    return Outcome(
        toast=t("meeting_notice.sent_toast" if posted else "meeting_notice.already_toast", lang, ref=record.ref)
    )


@router.command(grammar.RecordNotify)
def notify(command: grammar.RecordNotify, session: Session, group: Group, actor: Actor, lang: str, now: datetime,
           zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    """A typed command's feedback is what it posts; when nothing was posted (sent before), a short reply says so."""
    record = record_in_group(session, group, command.record.record_id)
    before = out.count
    sent = send_notice(session, record, actor, lang, now, zone, out)
    return sent if out.count > before else Outcome(reply=said(sent.toast or "", lang))


@router.action(ActionId.MEETING_NOTIFY)
def notify_button(payload: CardPayload, session: Session, group: Group, actor: Actor, lang: str, now: datetime,
                  zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    record = record_in_group(session, group, payload.record_id)
    return send_notice(session, record, actor, lang, now, zone, out)


@router.action(ActionId.MEETING_REPLY)
def reply(payload: CardPayload, form: dict[str, Any], session: Session, group: Group, person: Person, lang: str,
          now: datetime, zone: ZoneInfo) -> Outcome:  # fmt: skip
    """A participant's answer; answering again replaces it. The notice comes back with the roll so far."""
    record = record_in_group(session, group, payload.record_id)
    try:
        at = datetime.fromisoformat(payload.extra.get("at", ""))
    except ValueError:
        raise InvalidTransition("meeting.none_ahead", ref=record.ref) from None
    decision, resource = AUTHORITY.get(str(form.get("authority") or "none"), (False, False))
    meetings.reply(session=session, record_id=record.id or 0, person_id=person.id or 0, meeting_at=at,
                   attending=str(form.get("attending") or "yes") != "no", decision=decision, resource=resource,
                   note=str(form.get("note") or ""), now=now)  # fmt: skip
    return Outcome(update=notice_card(session, record, at, lang, zone), toast=t("meeting_notice.replied_toast", lang,
                                                                                   ref=record.ref))  # fmt: skip


@router.action(ActionId.MEETING_FORM_OPEN)
def schedule_open(payload: CardPayload, session: Session, group: Group, lang: str) -> Outcome:
    record = record_in_group(session, group, payload.record_id)
    goal = t("meeting_form.second_goal", lang) if payload.extra.get("second") and not record.meeting_goal else None
    return Outcome(form=meeting_form(record, payload=with_token(CardPayload(record_id=record.id)), lang=lang,
                                     goal=str(goal) if goal else None))  # fmt: skip


@router.action(ActionId.MEETING_SCHEDULE)
def schedule(payload: CardPayload, form: dict[str, Any], session: Session, group: Group, person: Person,
             actor: Actor, lang: str, now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    """Save the meeting (time, goal, agenda, place) and send its notice, in one go."""
    if (done := replayed(session, group, payload)) is not None:
        return already_submitted(session, group, done, lang, zone, now)
    record = record_in_group(session, group, payload.record_id)
    card = meeting_form(record, payload=payload, lang=lang)
    text = str(form.get("at") or "").strip()
    try:
        at = parse_when(text, now=now, zone=zone, prefer=Prefer.FUTURE).at if text else None
    except WhenParseError as error:
        return Outcome(
            update=forms.refill(card, values=form, errors={"at": error.message(lang)}, warnings={}, lang=lang)
        )
    if at is None:
        missing = forms.required(forms.label("at", lang), lang)
        return Outcome(update=forms.refill(card, values=form, errors={"at": missing}, warnings={}, lang=lang))
    try:
        with session.begin_nested():
            meetings.schedule(session=session, record_id=record.id or 0, by=actor, at=at, now=now,
                              goal=str(form.get("meeting_goal") or ""), agenda=str(form.get("meeting_agenda") or ""),
                              place=str(form.get("place") or ""), link=str(form.get("meeting_link") or ""))  # fmt: skip
    except ValidationFailed as failed:
        errors = {k: m.render(lang) for k, m in failed.errors.items()}
        return Outcome(update=forms.refill(card, values=form, errors=errors, warnings={}, lang=lang))
    remember(session, group, person, payload, ActionId.MEETING_SCHEDULE, now, record_id=record.id)
    sent = send_notice(session, record, actor, lang, now, zone, out, at=at)
    return Outcome(update=summary(session, record, lang, zone, now), toast=sent.toast)
