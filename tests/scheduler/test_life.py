"""The follow-up after the plan changes: moved deadlines, snoozes, the ladder's people, meetings, approvals."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import pytest
import sqlalchemy as sa

from storage import items, lifecycle
from storage.db import unit_of_work
from storage.directory import set_department
from storage.errors import ValidationFailed
from storage.lifecycle import Actor, ParticipantInput, ResourceInput
from storage.types import RecordStatus

from .conftest import Scenario, build


def cst(text: str) -> datetime:
    return datetime.fromisoformat(text + "+08:00")


def scenario(engine: sa.Engine, *dues: tuple[str, datetime], **kwargs) -> Scenario:
    return build(engine, created=cst("2026-09-01T09:00"), dues=list(dues), **kwargs)


def test_a_moved_deadline_restarts_the_ladder_at_its_new_date(engine: sa.Engine) -> None:
    s = scenario(engine, ("优化同步脚本", cst("2026-11-26T18:00")))
    assert s.run(date(2026, 11, 27), time(10, 0), "overdue_ladder")["overdue_ladder"] == 1
    assert s.record().status is RecordStatus.DELAYED
    with unit_of_work(engine) as session:
        item = items.find_item(session, record_id=s.record_id, seq=1)
        items.reschedule_item(session=session, item_id=item.id, by=Actor(s.people["li"]), due_at=cst("2026-12-02T18:00"),
                              reason="等待硬件到货", now=cst("2026-11-27T11:00"))  # fmt: skip
    assert s.record().status is RecordStatus.IN_PROGRESS
    assert s.run(date(2026, 12, 1), time(10, 0), "overdue_ladder")["overdue_ladder"] == 0, "the old step 2 is gone"
    assert s.run(date(2026, 12, 3), time(10, 0), "overdue_ladder")["overdue_ladder"] == 1
    assert s.run(date(2026, 12, 3), time(11, 0), "overdue_ladder")["overdue_ladder"] == 0
    assert s.texts("overdue1:")[1].startswith("<@li> 任务「优化同步脚本」已于 2026-12-02 18:00 到期未完成")


def test_a_group_whose_only_item_is_snoozed_gets_no_prompt_then_gets_it_back(engine: sa.Engine) -> None:
    s = scenario(engine, ("优化同步脚本", cst("2026-12-31T18:00")))
    with unit_of_work(engine) as session:
        item = items.find_item(session, record_id=s.record_id, seq=1)
        items.snooze_item(session=session, item_id=item.id, by=Actor(s.people["li"]), until=date(2026, 11, 30),
                          reason="出差", now=cst("2026-11-26T09:00"))  # fmt: skip
    for day in (date(2026, 11, 26), date(2026, 11, 27), date(2026, 11, 30)):
        assert s.run(day, time(17, 30), "daily_prompt")["daily_prompt"] == 0, day
    assert s.run(date(2026, 12, 1), time(17, 30), "daily_prompt")["daily_prompt"] == 1


def test_a_snooze_counts_workdays_only(engine: sa.Engine) -> None:
    """Friday to the next Thursday is 5 workdays (the weekend does not count); to Friday it is 6."""
    s = scenario(engine, ("优化同步脚本", cst("2026-12-31T18:00")))
    with unit_of_work(engine) as session:
        item = items.find_item(session, record_id=s.record_id, seq=1)
        items.snooze_item(session=session, item_id=item.id, by=Actor(s.people["zhang"]), until=date(2026, 12, 3),
                          reason="出差", now=cst("2026-11-27T09:00"))  # fmt: skip
    with pytest.raises(ValidationFailed) as caught, unit_of_work(engine) as session:
        items.snooze_item(session=session, item_id=item.id, by=Actor(s.people["zhang"]), until=date(2026, 12, 4),
                          reason="出差", now=cst("2026-11-27T09:00"))  # fmt: skip
    assert "这次是 6 个" in caught.value.message()


def test_when_the_owner_leads_the_department_step_one_goes_to_the_director(engine: sa.Engine) -> None:
    s = scenario(engine, ("优化同步脚本", cst("2026-11-26T18:00")))
    with unit_of_work(engine) as session:
        set_department(session=session, workspace="acme", name="技术部", lead_id=s.people["li"])
    s.run(date(2026, 11, 27), time(10, 0), "overdue_ladder")
    (text,) = s.texts("overdue1:")
    assert text.count("<@li>") == 1 and "<@liu> 请关注并协调" in text


def test_the_ladder_follows_the_department_the_owner_takes_part_with(engine: sa.Engine) -> None:
    """李娜 is of 技术部 (lead 陈强) but takes part in this record for 运营部 (lead 王总)."""
    s = scenario(engine, ("优化同步脚本", cst("2026-11-26T18:00")), activate=False)
    with unit_of_work(engine) as session:
        ops = set_department(session=session, workspace="acme", name="运营部", lead_id=s.people["wang"])
        zhang = Actor(s.people["zhang"])
        lifecycle.set_participants(session=session, record_id=s.record_id, by=zhang, now=cst("2026-09-01T10:00"),
                                   participants=[ParticipantInput(zhang.person_id),
                                                 ParticipantInput(s.people["li"], ops.id)])  # fmt: skip
        items.add_item(session=session, record_id=s.record_id, by=zhang, now=cst("2026-09-01T10:00"),
                       item=items.ActionItemInput("运营侧核对", [s.people["li"]], cst("2026-11-26T18:00"), "每日核对"))  # fmt: skip
        lifecycle.activate(session=session, record_id=s.record_id, by=zhang, now=cst("2026-09-01T10:00"))
    s.run(date(2026, 11, 27), time(10, 0), "overdue_ladder")
    first, second = s.texts("overdue1:")
    assert "<@chen> 请关注" in first, "R1-1 was written when 李娜 took part for 技术部"
    assert "<@wang> 请关注" in second, "R1-2 belongs to 运营部, the department she takes part with now"


def test_the_workday_before_a_meeting_after_a_holiday_is_before_the_holiday(engine: sa.Engine) -> None:
    s = scenario(engine, ("优化同步脚本", cst("2026-12-31T18:00")))
    with unit_of_work(engine) as session:
        lifecycle.edit_record(session=session, record_id=s.record_id, by=Actor(s.people["zhang"]),
                              now=cst("2026-09-20T09:00"), changes={"next_meeting_at": cst("2026-10-08T10:00"),
                                                                    "meeting_goal": "节后复盘"})  # fmt: skip
    assert s.run(date(2026, 9, 30), time(9, 59), "meeting_reminder")["meeting_reminder"] == 0
    assert s.run(date(2026, 9, 30), time(10, 0), "meeting_reminder")["meeting_reminder"] == 1
    assert s.run(date(2026, 10, 7), time(10, 0), "meeting_reminder")["meeting_reminder"] == 0, "a holiday"
    assert s.run(date(2026, 10, 8), time(9, 0), "meeting_reminder")["meeting_reminder"] == 1
    eve, hour = s.texts("meeting")
    assert eve.startswith("<@zhang> <@li> 沟通会将于 2026-10-08 10:00 开始") and "目标：节后复盘" in eve
    assert hour.startswith("<@zhang> <@li> 下次沟通会将于 2026-10-08 10:00 开始")


def test_a_withdrawn_record_is_reminded_of_nothing(engine: sa.Engine) -> None:
    s = scenario(engine, ("优化同步脚本", cst("2026-12-31T18:00")), activate=False)
    with unit_of_work(engine) as session:
        zhang = Actor(s.people["zhang"])
        lifecycle.edit_record(session=session, record_id=s.record_id, by=zhang, now=cst("2026-09-01T09:00"),
                              changes={"next_meeting_at": cst("2026-09-03T10:00")})  # fmt: skip
        lifecycle.withdraw(session=session, record_id=s.record_id, by=zhang, reason="重复", now=cst("2026-09-01T10:00"))
    counts = s.run(date(2026, 9, 3), time(9, 0))
    assert sum(counts.values()) == 0, counts


def test_an_approval_still_pending_after_a_weekend_is_reminded_on_monday(engine: sa.Engine) -> None:
    s = build(engine, created=cst("2026-11-27T16:00"), dues=[("审批扩容预算", cst("2026-12-31T18:00"))], activate=False)
    with unit_of_work(engine) as session:  # a request added to the submitted record goes to its approver at once
        zhang = Actor(s.people["zhang"])
        (request,) = lifecycle.set_resources(session=session, record_id=s.record_id, by=zhang, now=cst("2026-11-27T16:00"),
                                             requests=[ResourceInput("临时服务器", Decimal("5000"), "元", s.people["chen"])])  # fmt: skip
        assert request.requested_at == cst("2026-11-27T16:00")
    assert s.run(date(2026, 11, 28), time(16, 0), "approval_reminder")["approval_reminder"] == 0
    assert s.run(date(2026, 11, 30), time(15, 59), "approval_reminder")["approval_reminder"] == 0
    assert s.run(date(2026, 11, 30), time(16, 0), "approval_reminder")["approval_reminder"] == 1
    assert s.run(date(2026, 12, 1), time(16, 0), "approval_reminder")["approval_reminder"] == 0, "once"
    (text,) = s.texts("approval-reminder:")
    assert "1. 临时服务器 5000 元 — <@chen> 请审批" in text
