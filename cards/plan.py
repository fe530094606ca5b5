"""Cards for the life of a record after it is written: plan changes, signing again, approvals, roll-calls, history.

Every change the group should know of is a notice with old → new; a change
that asks people to sign again carries their @-mentions and the 确认无误 button
(``resign_notice``, or appended to the change's own notice). The history card
names people as text: reading the past should ping nobody.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from cards.actions import ActionId
from cards.markup import Markup, md, mention
from cards.model import Actions, Button, ButtonStyle, Card, CardPayload, Header, Markdown, Note, Tone
from cards.templates import CATALOG, amount_text, approval_elements, due_text, notice, payload_of, people_text, t
from storage.errors import message
from storage.i18n import Message
from storage.models import ActionItem, Person, Record
from storage.rules import field_label
from storage.timekeeping import format_local

# ---------------------------------------------------------------- signing again


def resign_elements(record: Record, people: Sequence[Person], changes: Sequence[Message], *, lang: str,
                    list_changes: bool = True) -> list[Any]:  # fmt: skip
    """Who signs again, what changed (unless the notice said it already) and the 确认无误 button."""
    if not people:
        return []
    elements: list[Any] = []
    if list_changes and changes:
        lines = Markup("\n").join(md("- {}", change.render(lang)) for change in changes)
        elements.append(Markdown(text=md("{}\n{}", t("resign.text", lang, people=people_text(people, lang)), lines)))
    else:
        elements.append(Markdown(text=t("resign.line", lang, people=people_text(people, lang))))
    button = Button(label=t("button.confirm", lang), action=ActionId.RECORD_CONFIRM, payload=payload_of(record),
                    style=ButtonStyle.PRIMARY)  # fmt: skip
    elements.append(Actions(buttons=[button]))
    return elements


def resign_notice(record: Record, people: Sequence[Person], changes: Sequence[Message], *, lang: str) -> Card:
    return Card(header=Header(title=t("resign.title", lang, ref=record.ref), tone=Tone.WARNING),
                elements=resign_elements(record, people, changes, lang=lang))  # fmt: skip


def with_resign(card: Card, record: Record, people: Sequence[Person], *, lang: str) -> Card:
    """A change notice that also asks the people concerned to sign again (the notice says what changed)."""
    extra = resign_elements(record, people, (), lang=lang, list_changes=False)
    return card.model_copy(update={"elements": [*card.elements, *extra]}) if extra else card


# ---------------------------------------------------------------- plan changes


def rescheduled(record: Record, item: ActionItem, *, by: Person, owner: Person, old: datetime, reason: str,
                lang: str, zone: ZoneInfo) -> Card:  # fmt: skip
    ref = f"{record.ref}-{item.seq}"
    text = t("plan.due.text", lang, by=mention(by.user_id), ref=ref, description=item.description,
             old=due_text(old, zone), new=due_text(item.due_at, zone), reason=reason, owner=mention(owner.user_id))  # fmt: skip
    return notice(t("plan.due.title", lang, ref=ref), text, tone=Tone.WARNING)


def reassigned(record: Record, item: ActionItem, *, by: Person, old: Person, new: Person, reason: str | None,
               lang: str) -> Card:  # fmt: skip
    ref = f"{record.ref}-{item.seq}"
    suffix = t("plan.reason_suffix", lang, reason=reason) if reason else ""
    text = t("plan.owner.text", lang, by=mention(by.user_id), ref=ref, description=item.description,
             old=mention(old.user_id), new=mention(new.user_id), reason=suffix)  # fmt: skip
    return notice(t("plan.owner.title", lang, ref=ref), text, tone=Tone.INFO)


def cancelled(record: Record, item: ActionItem, *, by: Person, owner: Person, lang: str) -> Card:
    ref = f"{record.ref}-{item.seq}"
    text = t("plan.cancel.text", lang, by=mention(by.user_id), ref=ref, description=item.description,
             owner=mention(owner.user_id), reason=item.cancel_reason or "")  # fmt: skip
    return notice(t("plan.cancel.title", lang, ref=ref), text, tone=Tone.NEUTRAL)


def edited(record: Record, item: ActionItem, *, by: Person, owner: Person, changes: Sequence[Message], lang: str,
           zone: ZoneInfo) -> Card:  # fmt: skip
    ref = f"{record.ref}-{item.seq}"
    text = t("plan.edit.text", lang, by=mention(by.user_id), ref=ref,
             changes="；".join(change.render(lang) for change in changes), owner=mention(owner.user_id),
             due=due_text(item.due_at, zone))  # fmt: skip
    return notice(t("plan.edit.title", lang, ref=ref), text, tone=Tone.INFO)


def snoozed(record: Record, item: ActionItem, *, by: Person, recorder: Person, lang: str) -> Card:
    ref = f"{record.ref}-{item.seq}"
    text = t("plan.snooze.text", lang, by=mention(by.user_id), ref=ref, description=item.description,
             until=item.snoozed_until.isoformat() if item.snoozed_until else "", reason=item.snooze_reason or "",
             recorder=mention(recorder.user_id))  # fmt: skip
    return notice(t("plan.snooze.title", lang, ref=ref), text, tone=Tone.NEUTRAL)


def reopened(record: Record, *, by: Person, reason: str, previous: str | None, lang: str) -> Card:
    text = t("reopen.text", lang, by=mention(by.user_id), topic=record.topic, reason=reason,
             previous=previous or t("summary.none", lang))  # fmt: skip
    return notice(t("reopen.title", lang, ref=record.ref), text, tone=Tone.WARNING)


def withdrawn(record: Record, *, by: Person, reason: str | None, lang: str) -> Card:
    text = t("withdraw.text", lang, by=mention(by.user_id), topic=record.topic,
             reason=reason or t("withdraw.no_reason", lang))  # fmt: skip
    return notice(t("withdraw.title", lang, ref=record.ref), text, tone=Tone.NEUTRAL)


# ---------------------------------------------------------------- roll-call


def remind_confirm(record: Record, *, by: Person, people: Sequence[Person], lang: str) -> Card:
    text = t("remind.confirm.text", lang, by=mention(by.user_id), people=people_text(people, lang), ref=record.ref,
             topic=record.topic)  # fmt: skip
    button = Button(label=t("button.confirm", lang), action=ActionId.RECORD_CONFIRM, payload=payload_of(record),
                    style=ButtonStyle.PRIMARY)  # fmt: skip
    return notice(t("remind.confirm.title", lang, ref=record.ref), text, tone=Tone.WARNING, buttons=[button])


def remind_report(record: Record, *, by: Person, owners: Sequence[tuple[Person, Sequence[ActionItem]]], lang: str,
                  zone: ZoneInfo) -> Card:  # fmt: skip
    lines = [
        md("- {}", t("remind.report.line", lang, owner=mention(owner.user_id), items=Markup("；").join(
            t("prompt.item", lang, ref=f"{record.ref}-{i.seq}", description=i.description, due=due_text(i.due_at, zone))
            for i in items)))
        for owner, items in owners
    ]  # fmt: skip
    first = owners[0][1][0]
    button = Button(label=t("button.progress", lang), action=ActionId.ITEM_PROGRESS_OPEN, payload=payload_of(record),
                    style=ButtonStyle.PRIMARY)  # fmt: skip
    return Card(
        header=Header(title=t("remind.report.title", lang, ref=record.ref), tone=Tone.WARNING),
        elements=[
            Markdown(
                text=md("{}\n{}", t("remind.report.text", lang, by=mention(by.user_id)), Markup("\n").join(lines))
            ),
            Note(text=t("prompt.hint", lang, ref=f"{record.ref}-{first.seq}")),
            Actions(buttons=[button]),
        ],
    )


# ---------------------------------------------------------------- approvals


def approval_request(record: Record, approvals: Sequence[tuple[int, Any]], *, lang: str,
                     reminder: bool = False) -> Card:  # fmt: skip
    """Requests going to their approvers outside a sign-off request (added later, or a reminder)."""
    title_key = "approval.reminder_title" if reminder else "approval.title"
    elements: list[Any] = [Markdown(text=t("approval.reminder_text", lang))] if reminder else []
    elements += approval_elements(record, approvals, lang=lang)
    return Card(header=Header(title=t(title_key, lang, ref=record.ref, topic=record.topic), tone=Tone.WARNING),
                elements=elements)  # fmt: skip


def decision_notice(record: Record, requests: Sequence[Any], *, by: Person, approved: bool, note: str | None,
                    lang: str) -> Card:  # fmt: skip
    items = "；".join(" ".join(filter(None, [r.what, amount_text(r)])) for r in requests)
    decision = t(f"resource.decision.{'approved' if approved else 'rejected'}", lang)
    text = t("resource.decided", lang, by=mention(by.user_id), decision=decision, ref=record.ref, items=items)
    if note:
        text += t("resource.reason" if not approved else "decision.note", lang, reason=note, note=note)
    return notice(t("decision.title", lang, ref=record.ref), text, tone=Tone.SUCCESS if approved else Tone.WARNING)


# ---------------------------------------------------------------- history


def history_card(page: Any, *, lang: str, zone: ZoneInfo) -> Card:
    """``page``: a ``storage.history.HistoryPage``; newest first, with buttons to page through."""
    record = page.record
    lines = [md("- {}", _history_line(entry, page, lang=lang, zone=zone)) for entry in page.entries]
    elements: list[Any] = [Markdown(text=Markup("\n").join(lines) if lines else t("history.empty", lang))]
    buttons = []
    for key, target in (("button.previous", page.page - 1), ("button.next", page.page + 1)):
        if 1 <= target <= page.pages:
            payload = CardPayload(record_id=record.id, extra={"page": str(target)})
            buttons.append(Button(label=t(key, lang), action=ActionId.RECORD_HISTORY, payload=payload))
    if buttons:
        elements.append(Actions(buttons=buttons))
    title = t("history.title", lang, ref=record.ref, page=page.page, pages=page.pages)
    return Card(header=Header(title=title, tone=Tone.NEUTRAL), elements=elements)


def _history_line(entry: Any, page: Any, *, lang: str, zone: ZoneInfo) -> Markup:
    detail = dict(entry.detail or {})
    names = page.names

    def name(person_id: Any) -> str:
        return names.get(person_id, "—") if isinstance(person_id, int) else "—"

    def when(value: Any) -> str:
        try:
            return format_local(datetime.fromisoformat(value), zone)
        except (TypeError, ValueError):
            return str(value or "—")

    item = f"{page.record.ref}-{page.items[entry.action_item_id]}" if entry.action_item_id in page.items else ""
    reason = detail.get("reason") or t("escalate.no_reason", lang)
    params: dict[str, Any] = {
        "topic": detail.get("topic", ""), "reason": reason, "verification": detail.get("verification", ""),
        "item": item, "until": detail.get("until", ""), "what": detail.get("what", ""),
        "change": detail.get("change", ""), "at": detail.get("at") or when(detail.get("meeting_at")),
        "people": "、".join(name(p) for p in detail.get("people", [])) or "—",
        "target": f" {item}" if item else "", "old": "", "new": "",
        "percent": f" {detail['percent']}%" if detail.get("percent") is not None else "",
        "changes": _changes(detail, lang=lang, names=names, when=when),
        "decision": t(f"resource_status.{detail.get('decision', 'pending')}", lang),
        "answer": t("history.attending" if detail.get("attending") else "history.absent", lang),
    }  # fmt: skip
    if entry.action.value == "item.rescheduled":
        params.update(old=when(detail.get("old")), new=when(detail.get("new")))
    elif entry.action.value == "item.reassigned":
        params.update(old=name(detail.get("old")), new=name(detail.get("new")),
                      reason=t("plan.reason_suffix", lang, reason=detail["reason"]) if detail.get("reason") else "")  # fmt: skip
    elif entry.action.value == "record.escalated" and detail.get("level"):
        params["reason"] = t("history.ladder", lang, level=detail["level"])
    elif entry.action.value == "record.resource_decided":
        params["reason"] = t("plan.reason_suffix", lang, reason=detail["reason"]) if detail.get("reason") else ""
    key = f"history.action.{entry.action.value}"
    what = t(key, lang, **params) if _known(key) else entry.action.value
    who = name(entry.actor_id) if entry.actor_id else t("history.bot", lang)
    return t("history.line", lang, at=format_local(entry.at, zone), who=who, what=what)


def _known(key: str) -> bool:
    return key in CATALOG.entries


def _changes(detail: dict[str, Any], *, lang: str, names: dict[int, str], when: Any) -> str:
    """``field: old → new`` for a record edit or an item edit; the fields changed for older rows."""
    parts = []
    if isinstance(detail.get("changes"), dict):
        for field, pair in detail["changes"].items():
            old, new = [*pair, "", ""][:2] if isinstance(pair, list) else ("", "")
            if field in ("meeting_start", "meeting_end", "next_meeting_at"):
                old, new = when(old) if old != "—" else old, when(new) if new != "—" else new
            parts.append(message("change.field", label=field_label(field), old=old, new=new).render(lang))
    elif isinstance(detail.get("after"), dict):
        before = detail.get("before") or {}
        for field, new in detail["after"].items():
            old = before.get(field)
            if field == "owner_id":
                old, new = names.get(old or 0, "—"), names.get(new or 0, "—")
            elif field == "due_at":
                old, new = when(old), when(new)
            label = field_label({"owner_id": "owner", "due_at": "due"}.get(field, field))
            parts.append(message("change.field", label=label, old=old or "—", new=new or "—").render(lang))
    elif isinstance(detail.get("fields"), list):
        parts = [field_label(f).pick(lang) for f in detail["fields"]]
    return "；".join(parts) or "—"
