"""资源需求的审批 in the chat: ``批准 R12`` / ``驳回 R12 1 预算已用完`` by the named approver (or an admin)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from cards import templates
from cards.exports import amount_text
from cards.markup import mention
from cards.model import Tone
from cards.templates import t
from handlers import grammar
from handlers.common import record_in_group
from handlers.router import Outcome, Router
from storage import resources
from storage.lifecycle import Actor
from storage.models import Group, Person

router = Router("resources")


@router.command(grammar.ResourceApprove, grammar.ResourceReject)
def decide(command: grammar.ResourceApprove | grammar.ResourceReject, session: Session, group: Group, person: Person,
           actor: Actor, lang: str, now: datetime) -> Outcome:  # fmt: skip
    record = record_in_group(session, group, command.record.record_id)
    approve = isinstance(command, grammar.ResourceApprove)
    decided = resources.decide(session=session, record_id=record.id or 0, by=actor, approve=approve, now=now,
                               number=command.number, reason=command.note)  # fmt: skip
    items = "；".join(" ".join(filter(None, [r.what, amount_text(r)])) for r in decided)
    decision = t(f"resource.decision.{'approved' if approve else 'rejected'}", lang)
    text = t("resource.decided", lang, by=mention(person.user_id), decision=decision, ref=record.ref, items=items)
    if command.note:
        text += t("resource.reason", lang, reason=command.note)
    title = t("summary.resources", lang) + f" · {record.ref}"
    return Outcome(reply=templates.notice(title, text, tone=Tone.SUCCESS if approve else Tone.WARNING))
