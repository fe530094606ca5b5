"""The bot's cards (not forms): record summary, sign-off request, notices, lists, help, report.

Every function takes what it shows and the reader's language and returns a
neutral ``Card``; people appear as ``<@user_id>`` mentions that each platform
renders its own way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cards.actions import ActionId
from cards.markup import Markup, md, mention, to_plain
from cards.model import (
    Actions,
    Button,
    ButtonStyle,
    Card,
    CardPayload,
    Divider,
    Field,
    Fields,
    Header,
    Markdown,
    Note,
    Tone,
)
from storage.errors import message as storage_message
from storage.i18n import Catalog
from storage.models import Department, Group, Person, Record
from storage.queries import ItemView, MonthlyReport, RecordFilter, RecordView
from storage.timekeeping import format_local, to_local
from storage.types import ItemStatus, RecordStatus, ResourceStatus

CATALOG = Catalog.load(Path(__file__).with_name("messages.toml"))
STATUS_TONE = {
    RecordStatus.DRAFT: Tone.NEUTRAL, RecordStatus.CONFIRMING: Tone.INFO, RecordStatus.IN_PROGRESS: Tone.INFO,
    RecordStatus.DELAYED: Tone.WARNING, RecordStatus.CLOSED: Tone.SUCCESS, RecordStatus.WITHDRAWN: Tone.NEUTRAL,
}  # fmt: skip
SUBMITTED = (RecordStatus.CONFIRMING, RecordStatus.IN_PROGRESS, RecordStatus.DELAYED)


def t(key: str, lang: str, /, **params: Any) -> Markup:
    """A catalog sentence as markup; its parameters are escaped unless they are markup themselves."""
    return md(CATALOG.entry(key, lang), **params)


def status_text(status: RecordStatus | ItemStatus, lang: str) -> str:
    prefix = "status" if isinstance(status, RecordStatus) else "item_status"
    return storage_message(f"{prefix}.{status.value}").render(lang)


def category_text(category: str | None, lang: str) -> str:
    return t(f"category.{category or 'uncategorised'}", lang)


def who(person: Person | None, lang: str) -> Markup:
    return mention(person.user_id) if person else t("summary.none", lang)


def unique(people: Iterable[Person]) -> list[Person]:
    """People in order, each once (rows are not hashable)."""
    return list({person.id: person for person in people}.values())


def people_text(people: Iterable[Person], lang: str) -> Markup:
    mentions = [mention(p.user_id) for p in unique(people)]
    return Markup(" ").join(mentions) if mentions else t("summary.none", lang)


def due_text(instant: datetime, zone: ZoneInfo) -> str:
    """A deadline given as a date only (stored as 23:59 local) shows as the date."""
    local = to_local(instant, zone)
    return format_local(instant, zone, with_time=local.time() != time(23, 59))


def payload_of(record: Record, **extra: str) -> CardPayload:
    return CardPayload(record_id=record.id, version=record.version, extra=dict(extra))


def error_card(text: str | None, *, lang: str) -> Card:
    return Card(
        header=Header(title=t("error.title", lang), tone=Tone.DANGER),
        elements=[Markdown(text=text or t("error.internal", lang))],
    )


def notice(title: str, text: str, *, tone: Tone = Tone.INFO, buttons: Sequence[Button] = ()) -> Card:
    elements: list[Any] = [Markdown(text=text)]
    if buttons:
        elements.append(Actions(buttons=list(buttons)))
    return Card(header=Header(title=title, tone=tone), elements=elements)


def item_line(view: RecordView, item: ItemView, *, lang: str, zone: ZoneInfo) -> Markup:
    """One item: a done item shows its result, a cancelled one its reason, an open one its latest progress."""
    progress: Markup | str = ""
    if item.item.status is ItemStatus.DONE:
        progress = t("summary.result", lang, result=item.item.result or "")
    elif item.item.status is ItemStatus.CANCELLED:
        progress = t("summary.result", lang, result=item.item.cancel_reason or "")
    elif item.last_progress is not None:
        percent = f"{item.last_progress.percent}%" if item.last_progress.percent is not None else ""
        progress = t("summary.progress", lang, percent=percent, text=item.last_progress.text)
    if item.item.status is ItemStatus.OPEN and item.item.snoozed_until is not None:
        progress = Markup("").join([progress, t("summary.snoozed", lang, until=item.item.snoozed_until.isoformat())])
    return t(
        "summary.item_line", lang, ref=f"{view.record.ref}-{item.item.seq}", description=item.item.description,
        owner=who(item.owner, lang), due=due_text(item.item.due_at, zone),
        measure=t("summary.measure", lang, measure=item.item.measure) if item.item.measure else "",
        status=status_text(item.item.status, lang), progress=progress,
    )  # fmt: skip


def record_summary(view: RecordView, *, lang: str, zone: ZoneInfo, meeting_ahead: bool = False) -> Card:
    """The record as the group sees it, with the buttons that fit its status (and 发会议通知 before a meeting)."""
    record = view.record
    meeting = ""
    if record.meeting_start:
        meeting = format_local(record.meeting_start, zone)
        if record.meeting_end:
            meeting += "–" + format_local(record.meeting_end, zone)[-5:]
    fields = [
        Field(label=t("summary.status", lang), value=status_text(record.status, lang)),
        Field(label=t("summary.recorder", lang), value=who(view.recorder, lang)),
        Field(label=t("summary.category", lang), value=category_text(record.category, lang)),
    ]
    if meeting:
        fields.append(Field(label=t("summary.meeting", lang), value=meeting))
    if record.place or record.meeting_link:
        fields.append(
            Field(label=t("summary.place", lang), value=" ".join(filter(None, [record.place, record.meeting_link])))
        )
    elements: list[Any] = [Fields(items=fields)]
    participants = [
        md("- {}{}{} · {}", p.department.name + " " if p.department else "", mention(p.person.user_id),
           _authority(p.row.decision_authority, p.row.resource_authority, lang),
           t("summary.confirmed" if p.row.confirmed_at else "summary.not_confirmed", lang))
        for p in view.participants
    ]  # fmt: skip
    lines = Markup("\n").join
    sections = [
        ("summary.meeting_goal", record.meeting_goal or ""),
        ("summary.meeting_agenda", record.meeting_agenda or ""),
        ("summary.material", record.material_link or ""),
        ("summary.participants", lines(participants)),
        ("summary.problem", _problem_text(record)),
        ("summary.key_points", lines(md("- **{}**：{}", d.name, k.text) for d, k in view.key_points)),
        ("summary.items", ITEMS),
        ("summary.resources", lines(md("- {}", _resource_line(r, lang, zone)) for r in view.resources)),
        ("summary.cc", Markup(" ").join([people_text(view.cc_people, lang), *(d.name for d in view.cc_departments)])
         if view.cc_people or view.cc_departments else ""),
        ("summary.notes", record.notes or ""),
        ("summary.next_meeting", format_local(record.next_meeting_at, zone) if record.next_meeting_at else ""),
        ("summary.verification", record.verification or ""),
    ]  # fmt: skip
    for key, text in sections:
        if text is ITEMS:
            elements.extend(_items_section(view, lang=lang, zone=zone))
        elif text:
            elements.append(Markdown(text=md("**{}**\n{}", t(key, lang), text)))
    buttons = summary_buttons(record, lang=lang, meeting_ahead=meeting_ahead)
    if buttons:
        elements.extend([Divider(), Actions(buttons=buttons)])
    return Card(
        header=Header(
            title=t("summary.title", lang, ref=record.ref, topic=record.topic), tone=STATUS_TONE[record.status]
        ),
        elements=elements,
        payload=payload_of(record),
    )


ITEMS = Markup("items")  # where the items go among the summary's sections: lines with their own buttons


def _items_section(view: RecordView, *, lang: str, zone: ZoneInfo) -> list[Any]:
    """The action items, each open one of a submitted record followed by its buttons (改期 转交 取消 编辑)."""
    if not view.items:
        return []
    elements: list[Any] = [Markdown(text=md("**{}**", t("summary.items", lang)))]
    changeable = view.record.status in SUBMITTED
    for item in view.items:
        elements.append(Markdown(text=md("- {}", item_line(view, item, lang=lang, zone=zone))))
        if changeable and item.item.status is ItemStatus.OPEN:
            elements.append(Actions(buttons=item_buttons(view.record, item.item.id or 0, lang=lang)))
    return elements


def item_buttons(record: Record, item_id: int, *, lang: str, cancel: bool = True) -> list[Button]:
    payload = CardPayload(record_id=record.id, version=record.version, item_id=item_id)
    keys = [("button.due", ActionId.ITEM_DUE_OPEN), ("button.owner", ActionId.ITEM_OWNER_OPEN)]
    if cancel:
        keys.append(("button.cancel_item", ActionId.ITEM_CANCEL_OPEN))
    keys.append(("button.edit_item", ActionId.ITEM_EDIT_OPEN))
    return [Button(label=t(key, lang), action=action, payload=payload) for key, action in keys]


def _problem_text(record: Record) -> Markup:
    parts = [md("{}", record.problem or "")]
    for name in ("what", "when", "where", "who", "why", "how"):
        value = getattr(record, f"problem_{name}")
        if value:
            parts.append(md("- {}: {}", name.capitalize(), value))
    if record.impact:
        parts.append(md("- Impact: {}", record.impact))
    if record.root_cause:
        parts.append(md("- Root cause: {}", record.root_cause))
    return Markup("\n").join(p for p in parts if p)


def _authority(decision: bool, resource: bool, lang: str) -> Markup:
    key = {(True, True): "both", (True, False): "decision", (False, True): "resource"}.get((decision, resource))
    return md("（{}）", t(f"authority.{key}", lang)) if key else Markup()


def amount_text(request: Any) -> str:
    return f"{request.amount.normalize():f} {request.unit or ''}".strip() if request.amount is not None else ""


def _resource_line(view: Any, lang: str, zone: ZoneInfo | None = None) -> Markup:
    """A request with its status: 待审批, or 已批准/已驳回 with by whom (a name, not a mention), when and the note."""
    request = view.request
    status = t(f"resource_status.{request.status.value}", lang)
    decided_by = getattr(view, "decided_by", None)
    if request.status is not ResourceStatus.PENDING and request.decided_at is not None:
        note = t("summary.decision_note", lang, note=request.decision_note) if request.decision_note else ""
        by = (decided_by.display_name or decided_by.user_id) if decided_by else "—"
        at = format_local(request.decided_at, zone) if zone else request.decided_at.date().isoformat()
        status = t("summary.decision", lang, status=status, by=by, at=at, note=note)
    return t(
        "summary.resource_line", lang, what=request.what, amount=amount_text(request),
        approver=who(view.approver, lang), status=status,
    )  # fmt: skip


def summary_buttons(record: Record, *, lang: str, meeting_ahead: bool = False) -> list[Button]:
    payload = payload_of(record)

    def button(key: str, action: ActionId, style: ButtonStyle = ButtonStyle.DEFAULT) -> Button:
        return Button(label=t(key, lang), action=action, payload=payload, style=style)

    meeting = [button("button.notify", ActionId.MEETING_NOTIFY)] if meeting_ahead else []
    if record.status is RecordStatus.CONFIRMING:
        return [
            button("button.confirm", ActionId.RECORD_CONFIRM, ButtonStyle.PRIMARY),
            button("button.activate", ActionId.RECORD_ACTIVATE),
            button("button.edit", ActionId.RECORD_EDIT),
            *meeting,
            button("button.remind", ActionId.RECORD_REMIND),
            button("button.withdraw", ActionId.RECORD_WITHDRAW_OPEN),
            button("button.history", ActionId.RECORD_HISTORY),
        ]
    if record.status in (RecordStatus.IN_PROGRESS, RecordStatus.DELAYED):
        return [
            button("button.progress", ActionId.ITEM_PROGRESS_OPEN, ButtonStyle.PRIMARY),
            button("button.add_item", ActionId.ITEM_ADD_OPEN),
            button("button.close", ActionId.RECORD_CLOSE_OPEN),
            button("button.edit", ActionId.RECORD_EDIT),
            *meeting,
            button("button.remind", ActionId.RECORD_REMIND),
            button("button.history", ActionId.RECORD_HISTORY),
        ]
    if record.status is RecordStatus.DRAFT:
        return [
            button("button.edit", ActionId.RECORD_EDIT, ButtonStyle.PRIMARY),
            *meeting,
            button("button.withdraw", ActionId.RECORD_WITHDRAW_OPEN),
            button("button.history", ActionId.RECORD_HISTORY),
        ]
    if record.status is RecordStatus.CLOSED:
        return [button("button.reopen", ActionId.RECORD_REOPEN_OPEN), button("button.history", ActionId.RECORD_HISTORY)]
    return [button("button.history", ActionId.RECORD_HISTORY)]


def confirmation_request(view: RecordView, *, lang: str, approvals: Sequence[tuple[int, Any]] = ()) -> Card:
    """The sign-off request; ``approvals``: (number, resource view) of the requests going to their approvers with it."""
    record = view.record
    people = people_text((p.person for p in view.unconfirmed), lang)
    card = notice(
        t("summary.title", lang, ref=record.ref, topic=record.topic),
        t("confirm.request", lang, ref=record.ref, topic=record.topic, people=people),
        buttons=[Button(label=t("button.confirm", lang), action=ActionId.RECORD_CONFIRM, payload=payload_of(record),
                        style=ButtonStyle.PRIMARY)],
    )  # fmt: skip
    if not approvals:
        return card
    return card.model_copy(update={"elements": [*card.elements, *approval_elements(record, approvals, lang=lang)]})


def approval_elements(record: Record, approvals: Sequence[tuple[int, Any]], *, lang: str) -> list[Any]:
    """Each request @-mentions its approver, with 批准 / 驳回 buttons (the request's id in the payload)."""
    lines = [
        md("- {}", t("approval.line", lang, number=number, what=view.request.what, amount=amount_text(view.request),
                     approver=who(view.approver, lang)))
        for number, view in approvals
    ]  # fmt: skip
    buttons: list[Button | Any] = []
    for number, view in approvals:
        payload = CardPayload(record_id=record.id, version=record.version, extra={"request": str(view.request.id)})
        buttons += [
            Button(label=t("approval.button_approve", lang, number=number), action=ActionId.RESOURCE_APPROVE,
                   payload=payload, style=ButtonStyle.PRIMARY),
            Button(label=t("approval.button_reject", lang, number=number), action=ActionId.RESOURCE_REJECT_OPEN,
                   payload=payload, style=ButtonStyle.DANGER),
        ]  # fmt: skip
    return [
        Markdown(text=md("**{}**\n{}", t("approval.section", lang), Markup("\n").join(lines))),
        Note(text=t("approval.hint", lang, ref=record.ref)),
        Actions(buttons=buttons),
    ]


def activation_notice(view: RecordView, *, informed: Sequence[Person], missing: Sequence[Person], lang: str) -> Card:
    record = view.record
    # with nobody to inform, the sentence goes, rather than "（无） 请知悉"
    inform = t("activate.inform", lang, people=people_text(informed, lang)) if informed else ""
    if missing:
        text = t("activate.text_missing", lang, topic=record.topic, missing=people_text(missing, lang), inform=inform)
    else:
        text = t("activate.text", lang, topic=record.topic, inform=inform)
    return notice(t("activate.title", lang, ref=record.ref), text, tone=Tone.SUCCESS)


def closed_notice(record: Record, *, lang: str) -> Card:
    return notice(
        t("closed.title", lang, ref=record.ref),
        t("closed.text", lang, topic=record.topic, verification=record.verification),
        tone=Tone.SUCCESS,
    )


def list_card(
    records: Sequence[tuple[Record, int, datetime | None]], *, which: RecordFilter, lang: str, zone: ZoneInfo
) -> Card:
    """(record, open item count, next due) per line, newest first."""
    title = t("list.title", lang, which=t(f"list.which.{which.value}", lang))
    if not records:
        return notice(title, t("list.empty", lang), tone=Tone.NEUTRAL)
    lines = [
        md("- {}", t(
            "list.line", lang, ref=record.ref, topic=record.topic, status=status_text(record.status, lang),
            open=open_count, next_due=t("list.next_due", lang, due=due_text(next_due, zone)) if next_due else "",
        ))
        for record, open_count, next_due in records
    ]  # fmt: skip
    return Card(header=Header(title=title, tone=Tone.INFO), elements=[Markdown(text=Markup("\n").join(lines))])


def help_card(commands: Sequence[Any], *, lang: str, as_typed: Callable[[str], str] = str) -> Card:
    """``commands``: the grammar's command table (usage and description per language); ``as_typed``: a usage
    as it is typed on the platform (where it keeps a command for itself)."""
    lines = [md("- **{}** — {}", Markup(as_typed(spec.usage(lang))), spec.description(lang))
             for spec in commands]  # ours: as is  # fmt: skip
    return Card(
        header=Header(title=t("help.title", lang), tone=Tone.INFO),
        elements=[Markdown(text=t("help.intro", lang)), Markdown(text=Markup("\n").join(lines))],
    )


def export_card(view: RecordView, *, lang: str, zone: ZoneInfo) -> Card:
    """The record in the template's table layout, as Markdown to paste into a document (people by name)."""
    record = view.record
    names = {p.user_id: p.display_name or p.user_id for p in _people_of(view)}

    def plain(value: Markup) -> str:
        return to_plain(value, names)

    rows = [
        ("field.topic", record.topic),
        ("summary.meeting", format_local(record.meeting_start, zone) if record.meeting_start else ""),
        ("summary.place", " ".join(filter(None, [record.place, record.meeting_link]))),
        ("summary.participants", "；".join(
            f"{p.department.name if p.department else ''} {p.person.display_name}"
            f"{plain(_authority(p.row.decision_authority, p.row.resource_authority, lang))}" for p in view.participants)),
        ("summary.problem", plain(_problem_text(record)).replace("\n", "；")),
        ("summary.key_points", "；".join(f"{d.name}：{k.text}" for d, k in view.key_points)),
        ("summary.items", "；".join(
            f"{record.ref}-{i.item.seq} {i.item.description}（{i.owner.display_name}，{due_text(i.item.due_at, zone)}，"
            f"{status_text(i.item.status, lang)}）" for i in view.items)),
        ("summary.resources", "；".join(plain(_resource_line(r, lang, zone)) for r in view.resources)),
        ("summary.status", status_text(record.status, lang)),
        ("summary.verification", record.verification or ""),
        ("summary.notes", record.notes or ""),
        ("summary.recorder", view.recorder.display_name),
        ("summary.cc", "、".join([p.display_name for p in view.cc_people] + [d.name for d in view.cc_departments])),
        ("summary.category", plain(category_text(record.category, lang))),
    ]  # fmt: skip
    labels = {"field.topic": storage_message("field.topic").render(lang)}
    table = [Markup("| | |"), Markup("|---|---|")] + [
        md("| {} | {} |", labels.get(key) or plain(t(key, lang)), _cell(value)) for key, value in rows
    ]
    return Card(
        header=Header(title=t("export.title", lang, ref=record.ref)), elements=[Markdown(text=Markup("\n").join(table))]
    )


def _people_of(view: RecordView) -> list[Person]:
    people = [view.recorder, *(p.person for p in view.participants), *(i.owner for i in view.items), *view.cc_people]
    return people + [r.approver for r in view.resources if r.approver is not None]


def _cell(text: str) -> str:
    """A table cell: one line, no column break."""
    return (text or "—").replace("|", "/").replace("\n", " ")


def report_card(report: MonthlyReport, *, lang: str) -> Card:
    rate = f"{report.on_time_rate:.0%}" if report.on_time_rate is not None else t("report.na", lang)
    summary = t(
        "report.summary", lang, opened=report.records_opened, closed=report.records_closed, due=report.items_due,
        on_time=report.items_done_on_time, rate=rate, overdue=report.items_overdue,
    )  # fmt: skip
    categories = Markup("\n").join(
        md("- {}：{}", category_text(c, lang), n) for c, n in report.by_category.most_common()
    )
    load = Markup("\n").join(md("- {}：{}", name, n) for name, n in report.open_items_by_department.most_common())
    elements: list[Any] = [Markdown(text=summary)]
    if categories:
        elements.append(Markdown(text=md("**{}**\n{}", t("report.categories", lang), categories)))
    if load:
        elements.append(Markdown(text=md("**{}**\n{}", t("report.departments", lang), load)))
    return Card(header=Header(title=t("report.title", lang, year=report.year, month=report.month), tone=Tone.INFO),
                elements=elements)  # fmt: skip


def departments_card(rows: Sequence[tuple[Department, Person | None, Person | None]], *, lang: str) -> Card:
    if not rows:
        return notice(t("dept.title", lang), t("dept.empty", lang), tone=Tone.NEUTRAL)
    lines = [
        md("- {}", t("dept.line", lang, name=d.name, lead=who(lead, lang), director=who(director, lang)))
        for d, lead, director in rows
    ]
    return Card(header=Header(title=t("dept.title", lang), tone=Tone.INFO),
                elements=[Markdown(text=Markup("\n").join(lines))])  # fmt: skip


def settings_card(group: Group, *, lang: str) -> Card:
    values = [
        ("timezone", group.timezone), ("language", group.language), ("holidays", group.holiday_country),
        ("prompt", group.prompt_time.strftime("%H:%M")), ("warning", group.warning_time.strftime("%H:%M")),
        ("warning_days", str(group.warning_days)), ("meeting_reminder", str(group.meeting_reminder_minutes)),
    ]  # fmt: skip
    return Card(
        header=Header(title=t("settings.title", lang), tone=Tone.INFO),
        elements=[Fields(items=[Field(label=key, value=value) for key, value in values]),
                  Note(text="/settings <key> <value>")],
    )  # fmt: skip


def escalation_card(
    view: RecordView, *, ref: str, by: Person, people: Sequence[Person], reason: str | None, lang: str
) -> Card:
    record = view.record
    text = t(
        "escalate.text", lang, by=mention(by.user_id), ref=ref, topic=record.topic, people=people_text(people, lang),
        reason=reason or t("escalate.no_reason", lang),
    )  # fmt: skip
    return notice(t("escalate.title", lang, ref=ref), text, tone=Tone.DANGER, buttons=[
        Button(label=t("button.show", lang), action=ActionId.RECORD_SHOW, payload=payload_of(record)),
        Button(label=t("button.second_meeting", lang), action=ActionId.SECOND_MEETING, payload=payload_of(record),
               style=ButtonStyle.DANGER),
    ])  # fmt: skip
