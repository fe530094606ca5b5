"""Meeting cards: the notice with its reply form (会议通知), the scheduling form, the reminders' extra lines.

The notice @-mentions the participants with the time, place, goal, agenda and
material, and carries a small form each of them answers: coming or not, and with
which authority (提前确认其决策权限). Each answer replaces the notice with one
that lists who replied what and who has not yet. Typed links (the meeting link,
the material) are shown as text, as everything a person types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from cards.actions import ActionId
from cards.forms import AUTHORITIES, label
from cards.markup import Markup, md
from cards.model import (
    Button,
    ButtonStyle,
    Card,
    CardPayload,
    DateInput,
    Form,
    Header,
    Markdown,
    Option,
    Section,
    Select,
    TextInput,
    Tone,
)
from cards.templates import people_text, t
from storage.models import MeetingReply, Person, Record
from storage.rules import RULES
from storage.timekeeping import format_local


def meeting_lines(record: Record, lang: str) -> list[Markup]:
    """Goal, agenda and material, those that are filled in."""
    lines = []
    if record.meeting_goal:
        lines.append(t("meeting.goal_line", lang, goal=record.meeting_goal))
    if record.meeting_agenda:
        lines.append(t("meeting.agenda_line", lang, agenda=record.meeting_agenda))
    if record.material_link:
        lines.append(t("meeting.material_line", lang, link=record.material_link))
    return lines


def place_of(record: Record) -> str:
    return " ".join(filter(None, [record.place, record.meeting_link])) or "—"


def reply_payload(record: Record, at: datetime, **extra: str) -> CardPayload:
    return CardPayload(record_id=record.id, extra={"at": at.isoformat(), **extra})


def meeting_notice(
    record: Record, *, at: datetime, people: Sequence[Person], replies: Mapping[int, MeetingReply], lang: str,
    zone: ZoneInfo,
) -> Card:  # fmt: skip
    """The notice for the meeting at ``at``; ``replies`` by person id (who answered what so far)."""
    text = t(
        "meeting_notice.text", lang, people=people_text(people, lang), at=format_local(at, zone), place=place_of(record)
    )
    elements: list[Any] = [Markdown(text=Markup("\n").join([text, *meeting_lines(record, lang)]))]
    answered = [p for p in people if p.id in replies]
    if answered:
        lines = [md("- {}", _reply_line(p, replies[p.id or 0], lang)) for p in answered]
        elements.append(Markdown(text=md("**{}**\n{}", t("meeting_notice.replied", lang), Markup("\n").join(lines))))
    waiting = [p for p in people if p.id not in replies]
    if waiting:
        elements.append(
            Markdown(text=t("meeting_notice.waiting", lang, people=", ".join(p.display_name for p in waiting)))
        )
    elements.append(Markdown(text=t("meeting_notice.ask", lang)))
    elements.append(reply_form(reply_payload(record, at), lang=lang))  # no token: many people answer one notice
    return Card(header=Header(title=t("meeting_notice.title", lang, ref=record.ref, topic=record.topic), tone=Tone.INFO),
                elements=elements, payload=reply_payload(record, at))  # fmt: skip


def _reply_line(person: Person, reply: MeetingReply, lang: str) -> Markup:
    key = {(True, True): "both", (True, False): "decision", (False, True): "resource"}.get(
        (reply.decision_authority, reply.resource_authority)
    )
    authority = md("（{}）", t(f"authority.{key}", lang)) if key and reply.attending else ""
    note = md("：{}", reply.note) if reply.note else ""
    answer = t("attending.yes" if reply.attending else "attending.no", lang)
    return t("meeting_notice.reply_line", lang, name=person.display_name, answer=answer, authority=authority, note=note)


def reply_form(payload: CardPayload, *, lang: str) -> Form:
    attending = [Option(value="yes", label=t("attending.yes", lang)), Option(value="no", label=t("attending.no", lang))]
    authorities = [Option(value=a, label=t(f"authority.{a}", lang)) for a in AUTHORITIES]
    return Form(
        form_id="meeting_reply",
        sections=[Section(title=None, inputs=[
            Select(name="attending", label=t("field.attending", lang), options=attending, value="yes", required=True),
            Select(name="authority", label=t("field.authority", lang), options=authorities, value="none"),
            TextInput(name="note", label=label("note", lang), max_length=RULES.limits["reason"]),
        ])],
        submit=Button(label=t("meeting_notice.submit", lang), action=ActionId.MEETING_REPLY, payload=payload,
                      style=ButtonStyle.PRIMARY),
    )  # fmt: skip


def meeting_form(record: Record, *, payload: CardPayload, lang: str, goal: str | None = None) -> Card:
    """When, goal, agenda, place: the next meeting (二次沟通), saved and announced in one go."""
    hint = t("form.date_hint", lang)
    form = Form(
        form_id="meeting",
        sections=[Section(title=None, hint=t("second_meeting.scheduled", lang), inputs=[
            DateInput(name="at", label=label("at", lang), with_time=True, required=True, hint=hint),
            TextInput(name="meeting_goal", label=label("meeting_goal", lang), value=goal or record.meeting_goal,
                      max_length=RULES.limits["meeting_goal"]),
            TextInput(name="meeting_agenda", label=label("meeting_agenda", lang), multiline=True,
                      value=record.meeting_agenda, max_length=RULES.limits["meeting_agenda"]),
            TextInput(name="place", label=label("place", lang), value=record.place, max_length=RULES.limits["place"]),
            TextInput(name="meeting_link", label=label("meeting_link", lang), value=record.meeting_link,
                      max_length=RULES.limits["meeting_link"]),
        ])],
        submit=Button(label=t("meeting_form.submit", lang), action=ActionId.MEETING_SCHEDULE, payload=payload,
                      style=ButtonStyle.PRIMARY),
    )  # fmt: skip
    return Card(header=Header(title=t("meeting_form.title", lang, ref=record.ref), tone=Tone.INFO), elements=[form],
                payload=payload)  # fmt: skip
