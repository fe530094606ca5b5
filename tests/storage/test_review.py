"""The review of March 2026 for a group whose records, items, escalations and resources are known one by one.

Built through the lifecycle functions at chosen instants (Asia/Shanghai), on SQLite and PostgreSQL.
Reschedule rows are written as the reschedule command will write them (``storage.review.RESCHEDULE_ACTIONS``).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from scheduler.jobs import run_jobs
from storage import items, lifecycle, resources
from storage.directory import ensure_group
from storage.lifecycle import Actor, ParticipantInput, ResourceInput
from storage.models import AuditEntry, ResourceRequest
from storage.review import RESCHEDULE_ACTIONS, Month, Scope, WorkdaySpan, review
from storage.rules import ActionItemInput
from storage.timekeeping import WorkdayCalendar
from storage.types import ResourceStatus

from .conftest import World

CST, BERLIN = ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 4, 2, 10, 0, tzinfo=CST)


def at(text: str, tz: ZoneInfo = CST) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


class March:
    """The fixture month; ``record`` and ``item`` return ids."""

    def __init__(self, w: World) -> None:
        self.w = w
        self.s = w.session

    def record(self, created: str, category: str | None, *, group_id: int | None = None, tz: ZoneInfo = CST,
               items_: tuple[tuple[Actor, str, str], ...] = (), request: ResourceInput | None = None) -> tuple[int, list[int]]:  # fmt: skip
        w, now = self.w, at(created, tz)
        record = lifecycle.create_draft(session=self.s, group_id=group_id or w.group_id,
                                        recorder_id=w.recorder.person_id, topic=f"{category} {created}", now=now)  # fmt: skip
        changes = {"problem": "问题描述", **({"category": category} if category else {})}
        lifecycle.edit_record(session=self.s, record_id=record.id, by=w.recorder, now=now, changes=changes)
        lifecycle.set_participants(session=self.s, record_id=record.id, by=w.recorder, now=now,
                                   participants=[ParticipantInput(w.recorder.person_id)])  # fmt: skip
        if request:
            lifecycle.set_resources(session=self.s, record_id=record.id, by=w.recorder, now=now, requests=[request])
        ids = []
        for owner, department, due in items_ or ((w.recorder, "运营部", "2026-12-31 18:00"),):
            item = items.add_item(
                session=self.s, record_id=record.id, by=w.recorder, now=now,
                item=ActionItemInput(f"交付物 {due}", [owner.person_id], at(due, tz), "可验证",
                                     department_id=w.departments[department]),
            )  # fmt: skip
            ids.append(item.id)
        lifecycle.activate(session=self.s, record_id=record.id, by=w.recorder, now=now)
        self.s.commit()
        return record.id, ids

    def done(self, item_id: int, when: str) -> None:
        items.complete_item(session=self.s, item_id=item_id, by=self.w.admin, result="完成", now=at(when))
        self.s.commit()

    def close(self, record_id: int, when: str) -> None:
        lifecycle.close(session=self.s, record_id=record_id, by=self.w.recorder, verification="已验证", now=at(when))
        self.s.commit()

    def audit(self, record_id: int, item_id: int, when: str) -> None:
        self.s.add(AuditEntry(record_id=record_id, action_item_id=item_id, action=RESCHEDULE_ACTIONS[0], at=at(when),
                              detail={"due_at": "later"}))  # fmt: skip
        self.s.commit()


@pytest.fixture
def march(world: World, engine) -> March:
    w, m = world, March(world)
    tech, finance, ops = w.tech, w.finance, w.recorder
    # January and February: resource conflicts (a streak with March's), one closed in January
    jan, (jan_item,) = m.record("2026-01-09 10:00", "resource_conflict")
    m.done(jan_item, "2026-01-12 10:00")
    m.close(jan, "2026-01-12 11:00")
    feb, (feb_item,) = m.record("2026-02-05 10:00", "resource_conflict", items_=((finance, "财务部", "2026-03-16 18:00"),),
                                request=ResourceInput("办公耗材", Decimal("800"), "元", finance.person_id))  # fmt: skip
    resources.decide(session=m.s, record_id=feb, by=finance, approve=True, now=at("2026-02-06 10:00"))
    m.audit(feb, feb_item, "2026-02-20 10:00")  # February's: not counted in March
    m.done(feb_item, "2026-03-16 11:00")  # on time
    # March
    c, (c1, c2) = m.record("2026-03-02 09:00", "resource_conflict",
                           items_=((tech, "技术部", "2026-03-06 18:00"), (finance, "财务部", "2026-03-06 18:00")),
                           request=ResourceInput("临时扩容服务器", Decimal("5000"), "元", finance.person_id))  # fmt: skip
    resources.decide(session=m.s, record_id=c, by=finance, approve=True, now=at("2026-03-03 10:00"))
    m.audit(c, c1, "2026-03-02 15:00")
    m.done(c1, "2026-03-05 10:00")  # on time
    m.done(c2, "2026-03-10 10:00")  # 2 workdays late (9, 10 March)
    m.close(c, "2026-03-10 16:00")  # 6 workdays after 2 March
    d, (d1,) = m.record("2026-03-03 09:00", "process_bottleneck", items_=((tech, "技术部", "2026-03-04 18:00"),),
                        request=ResourceInput("测试服务器", Decimal("2"), "台", tech.person_id))  # fmt: skip
    m.done(d1, "2026-03-04 12:00")  # on time
    m.close(d, "2026-03-04 15:00")  # 1 workday
    e, (e1, e2) = m.record("2026-03-04 09:00", "process_bottleneck",
                           items_=((tech, "技术部", "2026-03-13 18:00"), (finance, "财务部", "2026-03-20 18:00")),
                           request=ResourceInput("外包人力", Decimal("3000"), "元", finance.person_id))  # fmt: skip
    resources.decide(session=m.s, record_id=e, by=finance, approve=False, now=at("2026-03-05 10:00"), reason="预算不足")
    m.audit(e, e1, "2026-03-09 10:00")
    m.audit(e, e1, "2026-03-11 10:00")
    items.cancel_item(session=m.s, item_id=e2, by=w.recorder, reason="方案调整", now=at("2026-03-12 10:00"))
    m.s.commit()
    f, (f1,) = m.record("2026-03-05 09:00", "technical", items_=((ops, "运营部", "2026-03-31 18:00"),),
                        request=ResourceInput("培训费", Decimal("1200"), "元", finance.person_id))  # fmt: skip
    lifecycle.escalate(session=m.s, record_id=f, by=w.recorder, now=at("2026-03-11 09:00"), reason="跨部门卡住")
    m.s.commit()
    m.done(f1, "2026-04-01 09:00")  # 1 workday late
    m.record("2026-03-06 09:00", None, items_=((tech, "技术部", "2026-04-10 18:00"),))  # uncategorised, due in April
    lifecycle.create_draft(session=m.s, group_id=w.group_id, recorder_id=w.recorder.person_id, topic="草稿",
                           now=at("2026-03-07 09:00"))  # fmt: skip
    # a record opened by mistake and withdrawn: never in the register, so in none of the figures
    gone = lifecycle.create_draft(session=m.s, group_id=w.group_id, recorder_id=w.recorder.person_id, topic="重复",
                                  now=at("2026-03-08 09:00"))  # fmt: skip
    lifecycle.edit_record(session=m.s, record_id=gone.id, by=w.recorder, now=at("2026-03-08 09:00"),
                          changes={"problem": "与 R1 重复", "category": "technical"})  # fmt: skip
    lifecycle.set_resources(session=m.s, record_id=gone.id, by=w.recorder, now=at("2026-03-08 09:00"),
                            requests=[ResourceInput("误填", Decimal("999"), "元", finance.person_id)])  # fmt: skip
    lifecycle.withdraw(session=m.s, record_id=gone.id, by=w.recorder, reason="重复", now=at("2026-03-08 10:00"))
    m.s.commit()
    # the ladder for R(e)-1, due Friday 13 March: step 1 on Monday 16, step 2 on Wednesday 18
    run_jobs(engine, as_of=at("2026-03-18 10:00"), names=["overdue_ladder"])
    # another group of the workspace, in Berlin: its March ends at 1 April 00:00 Berlin time
    berlin = ensure_group(session=m.s, platform="sandbox", chat_id="g2", workspace="sandbox", now=at("2026-01-01 00:00"),
                          timezone="Europe/Berlin")  # fmt: skip
    m.s.commit()
    m.record(
        "2026-03-31 23:30", "technical", group_id=berlin.id, tz=BERLIN, items_=((tech, "技术部", "2026-04-30 18:00"),)
    )
    return m


def test_the_months_review_number_by_number(march: March, world: World) -> None:
    figures = review(world.session, scope=Scope("sandbox", world.group_id), month=Month(2026, 3), now=NOW)
    assert (figures.records_opened, figures.records_closed, figures.records_open_at_end) == (5, 2, 4)
    assert figures.close_workdays == [1, 6] and figures.median_close_workdays == 3.5
    assert figures.slowest_close_workdays == 6
    assert (figures.items_due, figures.items_on_time, figures.items_done_late, figures.items_overdue) == (6, 3, 2, 1)
    assert (figures.items_pending, figures.items_cancelled, figures.items_late) == (0, 1, 3)
    assert figures.on_time_rate == 0.5
    assert figures.late_workdays == Counter({2: 1, 1: 1, 14: 1})  # R(e)-1: 16 March to 2 April
    assert (figures.reschedules, figures.rescheduled_items) == (3, 2)
    assert figures.escalations == Counter({"1": 1, "2": 1, "manual": 1})

    ranked = [(c.category, c.counts, c.recurs_in_month, c.recurs_in_a_row) for c in figures.categories]
    assert ranked == [
        ("process_bottleneck", [0, 0, 0, 0, 0, 2], True, False),
        ("resource_conflict", [0, 0, 0, 1, 1, 1], False, True),
        ("technical", [0, 0, 0, 0, 0, 1], False, False),
        ("uncategorised", [0, 0, 0, 0, 0, 1], False, False),
    ]
    assert [str(m) for m in figures.months] == ["2025-10", "2025-11", "2025-12", "2026-01", "2026-02", "2026-03"]
    assert [c.category for c in figures.recurring] == ["process_bottleneck", "resource_conflict"]
    behind = {c.category: [line.topic for line in c.records] for c in figures.categories}
    assert behind["process_bottleneck"] == [
        "process_bottleneck 2026-03-03 09:00",
        "process_bottleneck 2026-03-04 09:00",
    ]
    assert behind["resource_conflict"] == ["resource_conflict 2026-03-02 09:00"]

    loads = [(d.name, d.due, d.on_time, d.late, d.open_now, d.overdue_now) for d in figures.departments]
    assert loads == [("技术部", 3, 2, 1, 2, 1), ("财务部", 2, 1, 1, 0, 0), ("运营部", 1, 0, 1, 0, 0)]
    assert [d.on_time_rate for d in figures.departments] == [2 / 3, 0.5, 0.0]

    totals = [(r.status, r.unit, r.requests, r.amount) for r in figures.resources]
    assert totals == [
        (ResourceStatus.PENDING, "元", 1, Decimal("1200")), (ResourceStatus.PENDING, "台", 1, Decimal("2")),
        (ResourceStatus.APPROVED, "元", 1, Decimal("5000")), (ResourceStatus.REJECTED, "元", 1, Decimal("3000")),
    ]  # fmt: skip


def test_the_workspace_review_adds_each_zones_own_month(march: March, world: World) -> None:
    figures = review(world.session, scope=Scope("sandbox"), month=Month(2026, 3), now=NOW)
    assert figures.scope.workspace_wide
    assert figures.records_opened == 6, "the Berlin record of 31 March 23:30 is March there (1 April in Shanghai)"
    technical = next(c for c in figures.categories if c.category == "technical")
    assert technical.this_month == 2 and technical.recurs_in_month
    assert figures.departments[0] == figures.departments[0].__class__("技术部", 3, 2, 1, 3, 1)
    april = review(world.session, scope=Scope("sandbox", world.group_id), month=Month(2026, 4), now=NOW)
    assert april.records_opened == 0 and april.items_due == 1 and april.items_pending == 1


def test_a_decision_survives_an_edit_of_the_record(world: World) -> None:
    record = world.seed_active()
    resources.decide(session=world.session, record_id=record.id, by=world.finance, approve=True, now=world.now)
    same = ResourceInput("临时扩容服务器", Decimal("5000"), "元", world.finance.person_id)
    lifecycle.set_resources(
        session=world.session, record_id=record.id, by=world.recorder, now=world.now, requests=[same]
    )
    changed = ResourceInput("临时扩容服务器", Decimal("8000"), "元", world.finance.person_id)
    lifecycle.set_resources(session=world.session, record_id=record.id, by=world.recorder, now=world.now,
                            requests=[same, changed])  # fmt: skip
    query = select(ResourceRequest).where(ResourceRequest.record_id == record.id).order_by(ResourceRequest.id)
    statuses = [r.status for r in world.session.exec(query)]
    assert statuses == [ResourceStatus.APPROVED, ResourceStatus.PENDING], "only an unchanged request keeps its decision"


def test_workdays_between_follow_the_chinese_calendar() -> None:
    calendar = WorkdayCalendar("CN")
    span = WorkdaySpan(calendar, datetime(2026, 9, 25).date(), datetime(2026, 10, 12).date())
    # National Day 2026: 1–7 October off, Saturday 10 October worked (调休)
    assert span.between(datetime(2026, 9, 30).date(), datetime(2026, 10, 12).date()) == 4  # 8, 9, 10, 12 October
    assert span.between(datetime(2026, 10, 1).date(), datetime(2026, 10, 1).date()) == 0
