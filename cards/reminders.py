"""The scheduler's cards: the end-of-day prompt, deadline warnings, the overdue ladder, meeting and sign-off reminders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from cards.actions import ActionId
from cards.markup import Markup, md, mention
from cards.model import Actions, Button, ButtonStyle, Card, CardPayload, Header, Markdown, Note, Tone
from cards.templates import due_text, t
from storage.timekeeping import format_local


@dataclass(frozen=True)
class ItemLine:
    ref: str
    record_id: int
    record_version: int
    description: str
    due_at: datetime
    item_id: int | None = None


def daily_prompt(
    *, owners: Sequence[tuple[str, Sequence[ItemLine]]], reported: Sequence[str], date: str, lang: str, zone: ZoneInfo
) -> Card:
    """@-mentions the owners still to report; those who reported today are listed by name, not nagged."""
    lines = [
        t("prompt.owner_line", lang, owner=mention(user_id), items=Markup("；").join(
            t("prompt.item", lang, ref=i.ref, description=i.description, due=due_text(i.due_at, zone)) for i in items))
        for user_id, items in owners
    ]  # fmt: skip
    elements: list = [Markdown(text=Markup("\n").join(md("- {}", line) for line in lines))] if lines else []
    if reported:
        elements.append(Markdown(text=t("prompt.reported", lang, names="、".join(reported))))
    records = {i.record_id: i for _, items in owners for i in items}
    buttons = [
        Button(label=t("prompt.button", lang, ref=f"R{record_id}"), action=ActionId.ITEM_PROGRESS_OPEN,
               payload=CardPayload(record_id=record_id, version=item.record_version), style=ButtonStyle.PRIMARY)
        for record_id, item in sorted(records.items())[:5]
    ]  # fmt: skip
    first = next((items[0].ref for _, items in owners if items), "R12-2")
    elements.append(Note(text=t("prompt.hint", lang, ref=first)))
    if buttons:
        elements.append(Actions(buttons=buttons))
    return Card(header=Header(title=t("prompt.title", lang, date=date), tone=Tone.INFO), elements=elements)


def _mentions(user_ids: Sequence[str]) -> Markup:
    return Markup(" ").join(mention(u) for u in user_ids)


def _progress_button(item: ItemLine, lang: str) -> Actions:
    return Actions(buttons=[Button(label=t("button.progress", lang), action=ActionId.ITEM_PROGRESS_OPEN,
                                   payload=CardPayload(record_id=item.record_id, version=item.record_version))])  # fmt: skip


def deadline_warning(*, item: ItemLine, owner: str, recorder: str, days: int, lang: str, zone: ZoneInfo) -> Card:
    due = due_text(item.due_at, zone)
    text = t("warning.text", lang, owner=mention(owner), description=item.description, due=due, days=days,
             recorder=mention(recorder))  # fmt: skip
    return Card(header=Header(title=t("warning.title", lang, ref=item.ref, due=due), tone=Tone.WARNING),
                elements=[Markdown(text=text), _progress_button(item, lang)])  # fmt: skip


def overdue_first(*, item: ItemLine, owner: str, leads: Sequence[str], lang: str, zone: ZoneInfo) -> Card:
    text = t("overdue1.text", lang, owner=mention(owner), description=item.description, due=due_text(item.due_at, zone),
             lead=_mentions(leads) or mention(owner))  # fmt: skip
    return Card(header=Header(title=t("overdue1.title", lang, ref=item.ref), tone=Tone.DANGER),
                elements=[Markdown(text=text), _progress_button(item, lang), *_plan_buttons(item, lang)])  # fmt: skip


def _plan_buttons(item: ItemLine, lang: str) -> list[Actions]:
    """What the overdue notice asks for, one press away: a new date, another owner, or a cancellation."""
    if item.item_id is None:
        return []
    payload = CardPayload(record_id=item.record_id, version=item.record_version, item_id=item.item_id)
    keys = (("button.due", ActionId.ITEM_DUE_OPEN), ("button.owner", ActionId.ITEM_OWNER_OPEN),
            ("button.cancel_item", ActionId.ITEM_CANCEL_OPEN))  # fmt: skip
    return [Actions(buttons=[Button(label=t(key, lang), action=action, payload=payload) for key, action in keys])]


def overdue_second(*, item: ItemLine, owner: str, people: Sequence[str], days: int, lang: str, zone: ZoneInfo) -> Card:
    text = t("overdue2.text", lang, owner=mention(owner), description=item.description, due=due_text(item.due_at, zone),
             people=_mentions(people) or mention(owner))  # fmt: skip
    button = Button(label=t("button.second_meeting", lang), action=ActionId.SECOND_MEETING, style=ButtonStyle.DANGER,
                    payload=CardPayload(record_id=item.record_id, version=item.record_version))  # fmt: skip
    return Card(header=Header(title=t("overdue2.title", lang, ref=item.ref, days=days), tone=Tone.DANGER),
                elements=[Markdown(text=text), Actions(buttons=[button])])  # fmt: skip


def meeting_reminder(*, ref: str, topic: str, at: datetime, place: str, people: Sequence[str], lang: str,
                     zone: ZoneInfo, details: Sequence[Markup] = (), eve: bool = False) -> Card:  # fmt: skip
    """60 minutes before (or, ``eve``, the workday before); ``details``: the goal, agenda and material lines."""
    key = "meeting.reminder_eve_text" if eve else "meeting.text"
    text = t(key, lang, people=_mentions(people), at=format_local(at, zone), place=place)
    elements: list = [Markdown(text=text)]
    if details:
        elements.append(Markdown(text=Markup("\n").join(details)))
    title = t("meeting.reminder_eve_title" if eve else "meeting.title", lang, ref=ref, topic=topic)
    return Card(header=Header(title=title, tone=Tone.INFO), elements=elements)


def confirmation_reminder(*, ref: str, record_id: int, version: int, topic: str, people: Sequence[str],
                          lang: str) -> Card:  # fmt: skip
    text = t("confirm_reminder.text", lang, people=_mentions(people))
    button = Button(label=t("button.confirm", lang), action=ActionId.RECORD_CONFIRM, style=ButtonStyle.PRIMARY,
                    payload=CardPayload(record_id=record_id, version=version))  # fmt: skip
    return Card(header=Header(title=t("confirm_reminder.title", lang, ref=ref, topic=topic), tone=Tone.WARNING),
                elements=[Markdown(text=text), Actions(buttons=[button])])  # fmt: skip
