"""资源需求的审批 in the chat: ``批准 R12 [n] [备注]`` / ``驳回 R12 [n] <原因>``, and the 批准 / 驳回 buttons.

Only the named approver (or an admin) decides (``storage.resources``). The
decision is announced in the group and shows on the record card and in the
export, with who decided, when and the note.
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
from cards.templates import t
from handlers import grammar
from handlers.common import record_in_group, remember, replayed, with_token
from handlers.context import Poster
from handlers.records import already_submitted, summary
from handlers.router import Outcome, Router
from storage import resources
from storage.errors import NotFound, PermissionDenied, ValidationFailed
from storage.lifecycle import Actor
from storage.models import Group, Person, Record, ResourceRequest

router = Router("resources")


def decide(session: Session, record: Record, person: Person, actor: Actor, *, approve: bool, lang: str,
           now: datetime, out: Poster, number: int | None = None, request_id: int | None = None,
           note: str | None = None) -> list[ResourceRequest]:  # fmt: skip
    decided = resources.decide(session=session, record_id=record.id or 0, by=actor, approve=approve, now=now,
                               number=number, request_id=request_id, reason=note)  # fmt: skip
    card = plan_cards.decision_notice(record, decided, by=person, approved=approve, note=note, lang=lang)
    ids = "-".join(str(r.id) for r in decided)
    out.post(card, key=f"record:{record.id}:resource:{ids}:{'approved' if approve else 'rejected'}")
    return decided


def _toast(approve: bool, lang: str) -> str:
    return t("decision.toast", lang, decision=t(f"resource_status.{'approved' if approve else 'rejected'}", lang))


@router.command(grammar.ResourceApprove, grammar.ResourceReject)
def decide_command(command: grammar.ResourceApprove | grammar.ResourceReject, session: Session, group: Group,
                   person: Person, actor: Actor, lang: str, now: datetime, out: Poster) -> Outcome:  # fmt: skip
    record = record_in_group(session, group, command.record.record_id)
    approve = isinstance(command, grammar.ResourceApprove)
    decide(session, record, person, actor, approve=approve, lang=lang, now=now, out=out, number=command.number,
           note=command.note)  # fmt: skip
    return Outcome(toast=_toast(approve, lang))


def _request_id(payload: CardPayload) -> int:
    value = payload.extra.get("request", "")
    return int(value) if value.isdigit() else 0


@router.action(ActionId.RESOURCE_APPROVE)
def approve_button(payload: CardPayload, session: Session, group: Group, person: Person, actor: Actor, lang: str,
                   now: datetime, out: Poster) -> Outcome:  # fmt: skip
    record = record_in_group(session, group, payload.record_id)
    decide(session, record, person, actor, approve=True, lang=lang, now=now, out=out, request_id=_request_id(payload))
    return Outcome(toast=_toast(True, lang))


def reject_form(record: Record, request: ResourceRequest, payload: CardPayload, lang: str) -> Any:
    return forms.single_text_form(
        title=t("reject_form.title", lang, ref=record.ref, what=request.what), name="reason", hint=None,
        submit=t("button.reject", lang), action=ActionId.RESOURCE_REJECT, payload=payload, lang=lang,
    )  # fmt: skip


@router.action(ActionId.RESOURCE_REJECT_OPEN)
def reject_open(payload: CardPayload, session: Session, group: Group, actor: Actor, lang: str) -> Outcome:
    """The reason form; who may reject is checked here already, so nobody types a reason for nothing."""
    record = record_in_group(session, group, payload.record_id)
    request = session.get(ResourceRequest, _request_id(payload))
    if request is None or request.record_id != record.id:
        raise NotFound("resource.not_found", ref=record.ref, index="?")
    if not (actor.is_admin or request.approver_id == actor.person_id):
        raise PermissionDenied("perm.approver_only", what=request.what)
    return Outcome(form=reject_form(record, request, with_token(payload), lang))


@router.action(ActionId.RESOURCE_REJECT)
def reject_submit(payload: CardPayload, form: dict[str, Any], session: Session, group: Group, person: Person,
                  actor: Actor, lang: str, now: datetime, zone: ZoneInfo, out: Poster) -> Outcome:  # fmt: skip
    if (done := replayed(session, group, payload)) is not None:
        return already_submitted(session, group, done, lang, zone, now)
    record = record_in_group(session, group, payload.record_id)
    reason = str(form.get("reason") or "")
    try:
        with session.begin_nested():
            decide(session, record, person, actor, approve=False, lang=lang, now=now, out=out,
                   request_id=_request_id(payload), note=reason)  # fmt: skip
    except ValidationFailed as failed:
        request = session.get(ResourceRequest, _request_id(payload))
        errors = {"reason": next(iter(failed.errors.values())).render(lang)}
        card = reject_form(record, request, payload, lang) if request else None
        if card is None:
            raise
        return Outcome(update=forms.refill(card, values=form, errors=errors, warnings={}, lang=lang))
    remember(session, group, person, payload, ActionId.RESOURCE_REJECT, now, record_id=record.id)
    return Outcome(update=summary(session, record, lang, zone, now), toast=_toast(False, lang))
