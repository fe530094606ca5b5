"""The follow-up jobs. Each is "query what is due now, enqueue it under an idempotency key".

Running a job twice, after a restart, or on two replicas at once sends nothing
twice: the outbox's unique key decides who posts, and side effects (marking a
record delayed) happen only for the key that was inserted. Jobs look at every
group in its own zone and workday calendar. What has a time of day (the 17:30
prompt, the 10:00 warning) is still sent if the bot was down then, within
``GRACE`` and the same local day; the overdue ladder is state-based and always
catches up.

``as_of`` is the instant the job reasons about; ``now`` is when messages are
queued (they differ only for an operator's ``closeloop jobs run --now …`` or the
sandbox's clock).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, and_, col, or_, select

from cards import reminders
from cards.chart import review_chart
from cards.meetings import meeting_lines, place_of
from cards.model import Card
from cards.plan import approval_request
from cards.reminders import ItemLine
from cards.review import review_card
from cards.templates import t
from storage import lifecycle, resources
from storage.db import unit_of_work
from storage.files import purge_expired, store_file
from storage.followup import (
    DueAt,
    OpenItem,
    already_queued,
    among,
    cc_people,
    declined,
    departments_by_id,
    groups_not_yet_told,
    groups_with_records,
    open_items,
    participants_of,
    pending_approvals,
    people_by_id,
    reported_since,
)
from storage.i18n import normalize_language
from storage.models import (
    AuditEntry,
    CalendarOverride,
    Group,
    Record,
    StoredFile,
)
from storage.outbox import QueuedCard, enqueue_many
from storage.queries import ResourceView
from storage.review import Month, Scope, review
from storage.timekeeping import (
    CalendarOverrides,
    WorkdayCalendar,
    add_working_hours,
    local_to_utc,
    to_local,
    zone,
)
from storage.types import AuditAction, FileKind, RecordStatus

GRACE = timedelta(hours=6)
# At most this many messages per job per tick: a burst (10,000 groups all prompted at 17:30) is spread over a few
# ticks instead of one long one. Platforms deliver ~50 messages a second anyway, so nothing arrives later for it.
MAX_PER_TICK = 2000
HALF_WORKDAY_HOURS = 4.5  # of 09:00–18:00
REVIEWS_PER_TICK = 50  # a review with its chart takes ~0.1–0.3 s: 10,000 groups take ~200 ticks, well within GRACE


@dataclass(frozen=True)
class GroupInfo:
    id: int
    platform: str
    chat_id: str
    workspace: str
    zone: ZoneInfo
    country: str
    lang: str
    prompt_time: time
    warning_time: time
    warning_days: int
    meeting_minutes: int


@dataclass(frozen=True)
class Schedule:
    """What a set of groups shares for the follow-up: zone, calendar (a workspace's own when it has overrides) and times.

    A tick first asks which schedules have something due now — a handful of rows however many groups there are —
    and reads groups only for those.
    """

    zone: ZoneInfo
    country: str
    workspace: str  # "" unless the workspace has calendar overrides
    prompt_time: time
    warning_time: time
    warning_days: int
    meeting_minutes: int


@dataclass
class Tick:
    """What one pass knows: the groups, their calendars, the instant, and what it queued."""

    session: Session
    as_of: datetime
    now: datetime
    groups: dict[int, GroupInfo] = field(default_factory=dict)
    calendars: dict[tuple[str, str], WorkdayCalendar] = field(default_factory=dict)
    overrides: dict[str, CalendarOverrides] = field(default_factory=dict)
    queued: list[QueuedCard] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    platforms: list[str] | None = None  # only these platforms' groups (None: all)
    limit: int = MAX_PER_TICK
    _due: dict[tuple[Any, ...], bool] = field(default_factory=dict)  # groups share zones: decide once per kind

    @classmethod
    def load(
        cls, session: Session, *, as_of: datetime, now: datetime, platforms: Collection[str] | None = None
    ) -> Tick:
        """The calendars' overrides and the few distinct schedules; groups themselves are read when a job needs them
        (only those of ``platforms`` when given: the sandbox's clock moves only its own groups)."""
        tick = cls(session, as_of, now, platforms=list(platforms) if platforms is not None else None)
        by_workspace: dict[str, tuple[set[date], set[date]]] = defaultdict(lambda: (set(), set()))
        for override in session.exec(select(CalendarOverride)):
            by_workspace[override.workspace][1 if override.is_workday else 0].add(override.day)
        tick.overrides = {ws: CalendarOverrides(frozenset(h), frozenset(w)) for ws, (h, w) in by_workspace.items()}
        own_calendar = (
            sa.case((col(Group.workspace).in_(list(tick.overrides)), Group.workspace), else_="")
            if tick.overrides else sa.literal("")
        )  # fmt: skip
        query = sa.select(col(Group.timezone), col(Group.holiday_country), own_calendar, col(Group.prompt_time),
                          col(Group.warning_time), col(Group.warning_days), col(Group.meeting_reminder_minutes))  # fmt: skip
        rows = session.execute(tick.only_ours(query).distinct())
        tick.schedules = [Schedule(zone(tz), country, workspace, *rest) for tz, country, workspace, *rest in rows]
        return tick

    def need_all(self) -> None:
        """Read every group (of ``platforms``): for the rare job that looks at all of them (the monthly review)."""
        self.need(self.session.execute(self.only_ours(sa.select(col(Group.id)))).scalars())

    def only_ours(self, query: Any) -> Any:
        return query if self.platforms is None else query.where(col(Group.platform).in_(self.platforms))

    def need(self, group_ids: Iterable[int]) -> None:
        """Read the groups a job is about to use (a tick over 100,000 groups reads only those that have something due)."""
        missing = sorted({gid for gid in group_ids if gid not in self.groups})
        columns = (Group.id, Group.platform, Group.chat_id, Group.workspace, Group.timezone, Group.holiday_country,
                   Group.language, Group.prompt_time, Group.warning_time, Group.warning_days,
                   Group.meeting_reminder_minutes)  # fmt: skip
        for condition in among(self.session, col(Group.id), missing):
            for row in self.session.execute(self.only_ours(sa.select(*columns).where(condition))):
                gid, platform, chat, workspace, tz, country, lang, prompt, warning, days, minutes = row
                self.groups[gid] = GroupInfo(gid, platform, chat, workspace, zone(tz), country,
                                             normalize_language(lang), prompt, warning, days, minutes)  # fmt: skip

    def calendar(self, group: GroupInfo | Schedule) -> WorkdayCalendar:
        key = (group.country, group.workspace if group.workspace in self.overrides else "")
        if key not in self.calendars:
            self.calendars[key] = WorkdayCalendar(group.country, self.overrides.get(key[1]))
        return self.calendars[key]

    def local_day(self, group: GroupInfo | Schedule) -> date:
        return to_local(self.as_of, group.zone).date()

    def at_time_today(self, group: GroupInfo | Schedule, at: time) -> bool:
        """Today is a workday here and its ``at`` has come, within the grace window of the same day."""
        key = (group.zone.key, group.country, group.workspace if group.workspace in self.overrides else "", at)
        if key not in self._due:
            today = self.local_day(group)
            fire = local_to_utc(today, at, group.zone)
            self._due[key] = self.calendar(group).is_workday(today) and fire <= self.as_of < fire + GRACE
        return self._due[key]

    def post(self, group: GroupInfo, card: Card, key: str, names: dict[str, str]) -> None:
        self.queued.append(QueuedCard(platform=group.platform, target=group.chat_id, card=card,
                                      key=f"{group.platform}:{group.chat_id}:{key}", names=names))  # fmt: skip

    def flush(self) -> set[str]:
        """Queue everything collected; returns the keys that were new (the others were sent before)."""
        inserted = enqueue_many(self.session, self.queued, now=self.now)
        self.queued = []
        return inserted


def line_of(item: OpenItem) -> ItemLine:
    return ItemLine(f"R{item.record_id}-{item.seq}", item.record_id, item.record_version, item.description, item.due_at,
                    item.id)  # fmt: skip


# ---------------------------------------------------------------- the jobs


def daily_prompt(tick: Tick) -> int:
    """17:30 on workdays: one message per group with open items, @-mentioning owners who have not reported today.

    A snoozed item (暂缓) is left out through its last snoozed day; a group whose open items are all snoozed
    gets no prompt that day.
    """
    schedules = [
        DueAt(s.zone.key, s.country, s.workspace or None, s.prompt_time, f"prompt:{tick.local_day(s).isoformat()}")
        for s in tick.schedules if tick.at_time_today(s, s.prompt_time)
    ]  # fmt: skip
    if not schedules:
        return 0  # no group's prompt time has come: nothing to read
    ids = groups_not_yet_told(tick.session, schedules, own_calendars=list(tick.overrides), column=col(Group.prompt_time),
                              limit=tick.limit, platforms=tick.platforms)  # fmt: skip
    tick.need(ids)
    due = [tick.groups[gid] for gid in ids]
    keys = {g.id: f"prompt:{tick.local_day(g).isoformat()}" for g in due}
    if not due:
        return 0
    rows = open_items(tick.session, group_ids=[g.id for g in due])
    people = people_by_id(tick.session, (item.owner_id for item in rows))
    earliest = min(local_to_utc(tick.local_day(g), time(0), g.zone) for g in due)
    reported = reported_since(tick.session, [item.id for item in rows], earliest)
    by_group: dict[int, list[OpenItem]] = defaultdict(list)
    for item in rows:
        by_group[item.group_id].append(item)
    for group in due:
        midnight = local_to_utc(tick.local_day(group), time(0), group.zone)
        owners: dict[int, list[ItemLine]] = defaultdict(list)
        done_today: set[int] = set()
        for item in sorted(by_group[group.id], key=lambda i: (i.due_at, i.record_id, i.seq)):
            if item.snoozed_until is not None and item.snoozed_until >= tick.local_day(group):
                continue
            if any(at >= midnight and who == item.owner_id for who, at in reported.get(item.id, ())):
                done_today.add(item.owner_id)
            owners[item.owner_id].append(line_of(item))
        if not owners:
            continue
        waiting = [(people[o].user_id, lines) for o, lines in owners.items() if o not in done_today]
        card = reminders.daily_prompt(owners=waiting, reported=[people[o].display_name for o in sorted(done_today)],
                                      date=tick.local_day(group).isoformat(), lang=group.lang, zone=group.zone)  # fmt: skip
        tick.post(group, card, keys[group.id], {people[o].user_id: people[o].display_name for o in owners})
    return len(tick.flush())


def warning_day(due_day: date, days: int, calendar: WorkdayCalendar) -> date:
    """N calendar days before the deadline; on a day off, the workday before it."""
    return calendar.previous_workday(due_day - timedelta(days=days), include=True)


def warning_window(tick: Tick, schedule: Schedule) -> tuple[datetime, datetime] | None:
    """The deadlines (UTC) whose warning day is today under ``schedule``: N days ahead, and over the days off after today."""
    calendar = tick.calendar(schedule)
    today = tick.local_day(schedule)
    if not calendar.is_workday(today):
        return None
    after_days_off = calendar.next_workday(today)  # a deadline N days after a day off is warned of today
    first, last = today + timedelta(days=schedule.warning_days), after_days_off + timedelta(days=schedule.warning_days)
    return local_to_utc(first, time(0), schedule.zone), local_to_utc(last, time(0), schedule.zone)


def deadline_warning(tick: Tick) -> int:
    """N days (default 2) before each deadline, at the group's warning time: @owner and @recorder, once per due date."""
    windows = [w for s in tick.schedules if tick.at_time_today(s, s.warning_time) and (w := warning_window(tick, s))]
    if not windows:
        return 0  # no group's warning time has come (or today is no workday anywhere)
    window_start, window_end = min(w[0] for w in windows), max(w[1] for w in windows)
    rows = open_items(tick.session, due_after=max(tick.as_of, window_start), due_before=window_end, chats=True)
    keys = {item.id: f"warning:{item.id}:{item.due_at.isoformat()}" for item in rows}
    sent = already_queued(tick.session, [f"{i.platform}:{i.chat_id}:{keys[i.id]}" for i in rows])
    rows = [i for i in rows if f"{i.platform}:{i.chat_id}:{keys[i.id]}" not in sent]  # most, once the day's are out
    tick.need(item.group_id for item in rows)
    candidates = []
    days_of: dict[tuple[Any, ...], date] = {}  # thousands of items share a few due days: ask the calendar once each
    for item in rows:
        if (group := tick.groups.get(item.group_id)) is None:  # a group this tick does not look at
            continue
        due_day = to_local(item.due_at, group.zone).date()
        calendar = tick.calendar(group)
        memo = (id(calendar), due_day, group.warning_days)
        if memo not in days_of:
            days_of[memo] = warning_day(due_day, group.warning_days, calendar)
        day = days_of[memo]
        if day != tick.local_day(group):
            continue
        fire = local_to_utc(day, group.warning_time, group.zone)
        if fire <= tick.as_of < min(fire + GRACE, item.due_at):
            candidates.append((group, item, (due_day - day).days))
    candidates = candidates[: tick.limit]
    people = people_by_id(
        tick.session, [i.owner_id for _, i, _ in candidates] + [i.recorder_id for _, i, _ in candidates]
    )
    for group, item, days_left in candidates:
        owner, recorder = people[item.owner_id], people[item.recorder_id]
        card = reminders.deadline_warning(item=line_of(item), owner=owner.user_id, recorder=recorder.user_id,
                                          days=days_left, lang=group.lang, zone=group.zone)  # fmt: skip
        tick.post(
            group, card, keys[item.id], {owner.user_id: owner.display_name, recorder.user_id: recorder.display_name}
        )
    return len(tick.flush())


def overdue_ladder(tick: Tick) -> int:
    """First workday morning after a missed deadline: 已延期, @owner and their lead. Two workdays later: @director, cc.

    The department is the item's (its owner's in this record), else the owner's own. When the owner is that
    department's lead, step 1 goes to the director instead of naming the same person twice; with nobody above
    the owner, the recorder is asked to follow up.
    """
    steps: list[tuple[GroupInfo, OpenItem, int, int]] = []
    overdue = open_items(tick.session, due_before=tick.as_of)
    tick.need(item.group_id for item in overdue)
    for item in overdue:
        if (group := tick.groups.get(item.group_id)) is None:  # a group this tick does not look at
            continue
        calendar = tick.calendar(group)
        first = calendar.next_workday(to_local(item.due_at, group.zone).date())
        if tick.as_of >= local_to_utc(first, group.warning_time, group.zone):
            steps.append((group, item, 1, 1))
        second = calendar.add_workdays(first, 2)
        if tick.as_of >= local_to_utc(second, group.warning_time, group.zone):
            steps.append((group, item, 2, calendar.workdays_between(first, tick.local_day(group)) + 1))
    keys = {
        (item.id, step): f"{group.platform}:{group.chat_id}:overdue{step}:{item.id}:{item.due_at.isoformat()}"
        for group, item, step, _ in steps
    }
    sent = already_queued(tick.session, list(keys.values()))
    steps = [s for s in steps if keys[(s[1].id, s[2])] not in sent][: tick.limit]
    if not steps:
        return 0
    people = people_by_id(tick.session, [s[1].owner_id for s in steps] + [s[1].recorder_id for s in steps])
    department_of = {s[1].id: s[1].department_id or people[s[1].owner_id].department_id for s in steps}
    departments = departments_by_id(tick.session, department_of.values())
    cc = cc_people(tick.session, [s[1].record_id for s in steps if s[2] == 2])
    people.update(people_by_id(tick.session, [d.lead_id for d in departments.values()] + [d.director_id for d in departments.values()]
                               + [p for ids in cc.values() for p in ids]))  # fmt: skip
    for group, item, step, days in steps:
        owner = people[item.owner_id]
        department = departments.get(department_of[item.id] or 0)
        if step == 1:
            lead = department.lead_id if department else None
            if lead == owner.id:
                lead = department.director_id if department else None
            if not lead and item.recorder_id != owner.id:
                lead = item.recorder_id
            leads = [people[lead].user_id] if lead and lead != owner.id else []
            card = reminders.overdue_first(item=line_of(item), owner=owner.user_id, leads=leads, lang=group.lang,
                                           zone=group.zone)  # fmt: skip
        else:
            ids = ([department.director_id] if department and department.director_id else []) + cc.get(
                item.record_id, []
            )
            leads = [people[i].user_id for i in dict.fromkeys(ids) if i != owner.id]
            card = reminders.overdue_second(item=line_of(item), owner=owner.user_id, people=leads, days=days,
                                            lang=group.lang, zone=group.zone)  # fmt: skip
        names = {p.user_id: p.display_name for p in people.values()}
        tick.post(group, card, f"overdue{step}:{item.id}:{item.due_at.isoformat()}", names)
    inserted = tick.flush()
    for _, item, step, _ in steps:
        if keys[(item.id, step)] not in inserted:
            continue
        # each step is an escalation the monthly review counts by level (storage.review)
        tick.session.add(AuditEntry(record_id=item.record_id, action_item_id=item.id, action=AuditAction.ESCALATED,
                                    detail={"level": step, "due_at": item.due_at.isoformat()}, at=tick.now))  # fmt: skip
        if step == 1:
            lifecycle.mark_delayed(session=tick.session, record_id=item.record_id, by=None, now=tick.now,
                                   reason=f"R{item.record_id}-{item.seq} overdue")  # fmt: skip
    return len(inserted)


def meeting_reminder(tick: Tick) -> int:
    """Before a record's meeting (``meeting_start`` or ``next_meeting_at``, whichever lie ahead): the workday
    before at the warning time, and an hour (the group's setting) before. @ the participants, except those who
    answered the notice with 不能参加. Each reminder once per meeting time (a moved meeting is reminded anew)."""
    horizon = tick.as_of + timedelta(days=14)  # the workday before can lie a long holiday before the meeting
    query = select(Record).where(
        col(Record.status).not_in([RecordStatus.CLOSED, RecordStatus.WITHDRAWN]),
        or_(and_(col(Record.meeting_start) > tick.as_of, col(Record.meeting_start) <= horizon),
            and_(col(Record.next_meeting_at) > tick.as_of, col(Record.next_meeting_at) <= horizon)),
    )  # fmt: skip
    due: list[tuple[Record, datetime, bool]] = []
    records = list(tick.session.exec(query))
    tick.need(record.group_id for record in records)
    for record in records:
        if (group := tick.groups.get(record.group_id)) is None:  # a group this tick does not look at
            continue
        for at in sorted(
            {a for a in (record.meeting_start, record.next_meeting_at) if a and tick.as_of < a <= horizon}
        ):
            if at - timedelta(minutes=group.meeting_minutes) <= tick.as_of:
                due.append((record, at, False))
            eve_day = tick.calendar(group).previous_workday(to_local(at, group.zone).date())
            fire = local_to_utc(eve_day, group.warning_time, group.zone)
            if tick.local_day(group) == eve_day and fire <= tick.as_of < min(fire + GRACE, at):
                due.append((record, at, True))
    keys: dict[tuple[int | None, datetime, bool], str] = {}
    full: dict[tuple[int | None, datetime, bool], str] = {}
    for record, at, eve in due:
        group = tick.groups[record.group_id]
        keys[(record.id, at, eve)] = f"{'meeting-eve' if eve else 'meeting'}:{record.id}:{at.isoformat()}"
        full[(record.id, at, eve)] = f"{group.platform}:{group.chat_id}:{keys[(record.id, at, eve)]}"
    sent = already_queued(tick.session, list(full.values()))
    due = [d for d in due if full[(d[0].id, d[1], d[2])] not in sent][: tick.limit]
    attendees = participants_of(tick.session, [r.id for r, _, _ in due if r.id])
    absent = declined(tick.session, [r.id for r, _, _ in due if r.id])
    for record, at, eve in due:
        group = tick.groups[record.group_id]
        people = [p for p in attendees.get(record.id or 0, []) if p.id not in absent.get((record.id or 0, at), set())]
        card = reminders.meeting_reminder(ref=record.ref, topic=record.topic, at=at, lang=group.lang,
                                          place=place_of(record), people=[p.user_id for p in people], zone=group.zone,
                                          details=meeting_lines(record, group.lang), eve=eve)  # fmt: skip
        tick.post(group, card, keys[(record.id, at, eve)], {p.user_id: p.display_name for p in people})
    return len(tick.flush())


def confirmation_reminder(tick: Tick) -> int:
    """Half a workday after submission, @ the participants who still have not signed off. Once."""
    waiting = list(tick.session.exec(select(Record).where(Record.status == RecordStatus.CONFIRMING,
                                                          col(Record.submitted_at).is_not(None))))  # fmt: skip
    tick.need(r.group_id for r in waiting)
    due = []
    for record in waiting:
        if (group := tick.groups.get(record.group_id)) is None:
            continue
        at = add_working_hours(record.submitted_at, HALF_WORKDAY_HOURS, calendar=tick.calendar(group), tz=group.zone)
        if at <= tick.as_of and len(due) < tick.limit:
            due.append(record)
    missing = participants_of(tick.session, [r.id for r in due if r.id], unconfirmed_only=True)
    for record in due:
        people = missing.get(record.id or 0, [])
        if not people:
            continue
        group = tick.groups[record.group_id]
        card = reminders.confirmation_reminder(ref=record.ref, record_id=record.id or 0, version=record.version,
                                               topic=record.topic, people=[p.user_id for p in people], lang=group.lang)  # fmt: skip
        tick.post(group, card, f"confirm-reminder:{record.id}:{record.submitted_at.isoformat()}",
                  {p.user_id: p.display_name for p in people})  # fmt: skip
    return len(tick.flush())


def monthly_review(tick: Tick) -> int:
    """The first workday of each month at the prompt time: last month's review (card and chart), once per group.

    Only groups that keep records get one. Drawing a chart takes a while, so a tick
    posts at most ``REVIEWS_PER_TICK``; the rest follow on the next ticks, within
    the same day's grace window.
    """
    first_workdays: dict[tuple[Any, ...], date] = {}

    def first_workday_now(group: GroupInfo | Schedule) -> bool:
        today = tick.local_day(group)
        key = (group.country, group.workspace, today.year, today.month)
        if key not in first_workdays:
            first_workdays[key] = tick.calendar(group).next_workday(today.replace(day=1), include=True)
        return today == first_workdays[key] and tick.at_time_today(group, group.prompt_time)

    if not any(first_workday_now(s) for s in tick.schedules):
        return 0  # not the first workday's prompt time anywhere: nothing to read
    tick.need_all()
    due = []
    for group in tick.groups.values():
        if first_workday_now(group):
            due.append(group)
    if not due:
        return 0
    keys = {g.id: f"review:{Month.of(tick.local_day(g)).shift(-1)}" for g in due}
    full = {g.id: f"{g.platform}:{g.chat_id}:{keys[g.id]}" for g in due}
    sent = already_queued(tick.session, list(full.values()))
    keeping = groups_with_records(tick.session, [g.id for g in due if full[g.id] not in sent])
    due = sorted((g for g in due if g.id in keeping), key=lambda g: g.id)[: min(tick.limit, REVIEWS_PER_TICK)]
    charts: dict[str, int] = {}
    for group in due:
        month = Month.of(tick.local_day(group)).shift(-1)
        figures = review(tick.session, scope=Scope(group.workspace, group.id), month=month, now=tick.as_of)
        chart = store_file(session=tick.session, group_id=group.id, kind=FileKind.REVIEW_CHART, mime="image/png",
                           filename=f"{t('review.chart_file', group.lang, period=str(month))}.png",
                           content=review_chart(figures, lang=group.lang), now=tick.now)  # fmt: skip
        card = review_card(figures, lang=group.lang, zone=group.zone, now=tick.as_of, chart=chart)
        tick.post(group, card, keys[group.id], {})
        charts[full[group.id]] = chart.id
    inserted = tick.flush()
    for key, file_id in charts.items():
        if key not in inserted:  # another replica posted this one a moment earlier: its chart is the one shown
            tick.session.exec(sa.delete(StoredFile).where(col(StoredFile.id) == file_id))  # type: ignore[call-overload]
    return len(inserted)


def purge_files(tick: Tick) -> int:
    """Delete stored files (exports, charts) past their expiry. Queues nothing."""
    purge_expired(tick.session, now=tick.now)
    return 0


def approval_reminder(tick: Tick) -> int:
    """A resource request still pending one workday after it went to its approver: @ the approver, once."""
    due = []
    pending = list(pending_approvals(tick.session))
    tick.need(record.group_id for _, record in pending)
    for request, record in pending:
        if (group := tick.groups.get(record.group_id)) is None:  # a group this tick does not look at
            continue
        if request.requested_at is None:  # not sent to its approver yet
            continue
        sent = to_local(request.requested_at, group.zone)
        at = local_to_utc(tick.calendar(group).add_workdays(sent.date(), 1), sent.time(), group.zone)
        if at <= tick.as_of:
            due.append((group, request, record))
    keys = {r.id: f"approval-reminder:{r.id}:{r.requested_at.isoformat()}" for _, r, _ in due if r.requested_at}
    sent_keys = already_queued(tick.session, [f"{g.platform}:{g.chat_id}:{keys[r.id]}" for g, r, _ in due])
    due = [d for d in due if f"{d[0].platform}:{d[0].chat_id}:{keys[d[1].id]}" not in sent_keys][: tick.limit]
    approvers = people_by_id(tick.session, [r.approver_id for _, r, _ in due if r.approver_id])
    for group, request, record in due:
        number = next(i for i, r in enumerate(resources.requests_of(tick.session, record), 1) if r.id == request.id)
        approver = approvers[request.approver_id or 0]
        card = approval_request(record, [(number, ResourceView(request, approver))], lang=group.lang, reminder=True)
        tick.post(group, card, keys[request.id], {approver.user_id: approver.display_name})
    return len(tick.flush())


@dataclass(frozen=True)
class Job:
    name: str
    description: str
    run: Callable[[Tick], int]


JOBS = {
    job.name: job
    for job in (
        Job("daily_prompt", "workdays at each group's prompt time (17:30): owners report progress", daily_prompt),
        Job("deadline_warning", "N days (2) before a deadline at the warning time (10:00), off days moved earlier",
            deadline_warning),
        Job("overdue_ladder", "after a missed deadline: delayed + owner and lead; two workdays later director and cc",
            overdue_ladder),
        Job("meeting_reminder", "the workday before a record's meeting and 60 minutes before: participants",
            meeting_reminder),
        Job("confirmation_reminder", "half a workday after submission: participants who have not confirmed",
            confirmation_reminder),
        Job("monthly_review", "first workday of the month at the prompt time: last month's review and chart",
            monthly_review),
        Job("purge_files", "delete exports and charts past their expiry", purge_files),
        Job("approval_reminder", "a resource request still pending one workday after it was sent: its approver, once",
            approval_reminder),
    )
}  # fmt: skip


def run_jobs(engine: sa.Engine, *, as_of: datetime, now: datetime | None = None,
             names: Sequence[str] | None = None, limit: int = MAX_PER_TICK,
             platforms: Collection[str] | None = None) -> dict[str, int]:  # fmt: skip
    """One tick: each job in its own transaction (one failing job does not hold back the others)."""
    counts: dict[str, int] = {}
    with Session(engine) as session:
        shared = Tick.load(session, as_of=as_of, now=now or as_of, platforms=platforms)
    for name in names or list(JOBS):
        with unit_of_work(engine) as session:
            counts[name] = JOBS[name].run(replace(shared, session=session, queued=[], limit=limit))
    return counts
