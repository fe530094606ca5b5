"""The follow-up, with the clock moved by hand: each group's workdays and zone, each reminder exactly once."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from storage import items, lifecycle
from storage.db import unit_of_work
from storage.lifecycle import Actor
from storage.models import AuditEntry, ProgressUpdate
from storage.rules import ActionItemInput
from storage.types import AuditAction, RecordStatus

from .conftest import Scenario, build

PROMPT = time(17, 30)


def shanghai(engine: sa.Engine, *dues: tuple[str, datetime], created: datetime | None = None, **kwargs) -> Scenario:
    created = created or datetime.fromisoformat("2026-09-01T09:00+08:00")
    return build(engine, created=created, dues=list(dues), **kwargs)


def cst(text: str) -> datetime:
    return datetime.fromisoformat(text + "+08:00")


# ---------------------------------------------------------------- the daily prompt


def test_the_prompt_goes_out_on_workdays_only_around_national_day(engine: sa.Engine) -> None:
    scenario = shanghai(engine, ("优化同步脚本", cst("2026-12-31T18:00")))
    sent = {}
    for offset in range(0, 17):  # 27 Sept .. 13 Oct 2026
        day = date(2026, 9, 27) + timedelta(days=offset)
        sent[day] = scenario.run(day, PROMPT, "daily_prompt")["daily_prompt"]
    prompted = {day for day, count in sent.items() if count}
    assert date(2026, 10, 10) in prompted, "the make-up Saturday is a workday"
    assert not prompted & {date(2026, 10, d) for d in range(1, 8)}, "nothing during the holiday"
    assert date(2026, 10, 11) not in prompted and date(2026, 10, 3) not in prompted
    assert prompted == {date(2026, 9, 28), date(2026, 9, 29), date(2026, 9, 30), date(2026, 10, 8), date(2026, 10, 9),
                        date(2026, 10, 10), date(2026, 10, 12), date(2026, 10, 13)}  # fmt: skip
    (first, *_) = scenario.messages("prompt:")
    assert first.idempotency_key == "sandbox:g1:prompt:2026-09-28"
    assert "<@li>：R1-1 优化同步脚本（2026-12-31 18:00 截止）" in scenario.texts("prompt:")[0]


def test_the_prompt_is_sent_once_and_catches_up_the_same_day_only(engine: sa.Engine) -> None:
    scenario = shanghai(engine, ("优化同步脚本", cst("2026-12-31T18:00")))
    day = date(2026, 11, 24)
    assert scenario.run(day, time(17, 29), "daily_prompt")["daily_prompt"] == 0, "not before its time"
    assert scenario.run(day, time(18, 10), "daily_prompt")["daily_prompt"] == 1, "down at 17:30, up at 18:10: sent"
    assert scenario.run(day, time(18, 11), "daily_prompt")["daily_prompt"] == 0, "never twice"
    # down the whole evening and night: yesterday's prompt is not sent the next morning
    later = shanghai(engine, ("另一件事", cst("2026-12-31T18:00")), chat="g2")
    assert later.run(date(2026, 11, 25), time(9, 0), "daily_prompt")["daily_prompt"] == 0
    assert [m.idempotency_key for m in later.messages("prompt:") if m.target == "g2"] == []


def test_owners_who_reported_today_are_shown_as_done_not_nagged(engine: sa.Engine) -> None:
    scenario = shanghai(engine, ("优化同步脚本", cst("2026-12-31T18:00")))
    scenario.add_item("审批扩容预算", "zhang", cst("2026-12-20T18:00"), created=cst("2026-11-01T09:00"))
    with unit_of_work(engine) as session:
        item = items.find_item(session, record_id=scenario.record_id, seq=1)
        items.record_progress(session=session, item_id=item.id, by=Actor(scenario.people["li"]), text="完成60%",
                              percent=60, now=cst("2026-11-24T16:00"))  # fmt: skip
    scenario.run(date(2026, 11, 24), PROMPT, "daily_prompt")
    (text,) = scenario.texts("prompt:")
    assert "<@zhang>：R1-2 审批扩容预算" in text and "<@li>" not in text and "已汇报：李娜" in text


def test_no_prompt_in_a_group_with_nothing_open(engine: sa.Engine) -> None:
    scenario = shanghai(engine, ("优化同步脚本", cst("2026-12-31T18:00")))
    with unit_of_work(engine) as session:
        item = items.find_item(session, record_id=scenario.record_id, seq=1)
        items.complete_item(session=session, item_id=item.id, by=Actor(scenario.people["li"]), result="done",
                            now=cst("2026-11-20T10:00"))  # fmt: skip
    assert scenario.run(date(2026, 11, 24), PROMPT, "daily_prompt")["daily_prompt"] == 0


def test_a_group_in_berlin_is_prompted_at_its_own_1730_across_the_dst_change(engine: sa.Engine) -> None:
    berlin = build(engine, tz="Europe/Berlin", created=datetime.fromisoformat("2026-03-01T09:00+01:00"),
                   dues=[("Deploy the fix", datetime.fromisoformat("2026-06-30T18:00+02:00"))])  # fmt: skip
    for day, utc in ((date(2026, 3, 27), "2026-03-27T16:30+00:00"), (date(2026, 3, 30), "2026-03-30T15:30+00:00")):
        assert berlin.run(day, time(17, 29), "daily_prompt")["daily_prompt"] == 0
        assert berlin.at(day, time(17, 30)) == datetime.fromisoformat(utc), "CET before, CEST after"
        assert berlin.run(day, time(17, 30), "daily_prompt")["daily_prompt"] == 1
    assert berlin.run(date(2026, 3, 29), time(17, 30), "daily_prompt")["daily_prompt"] == 0, "Sunday"
    assert [m.idempotency_key for m in berlin.messages("prompt:")] == [
        "sandbox:g1:prompt:2026-03-27", "sandbox:g1:prompt:2026-03-30"]  # fmt: skip


# ---------------------------------------------------------------- deadline warnings


def test_the_warning_comes_two_days_before_at_ten(engine: sa.Engine) -> None:
    scenario = shanghai(engine, ("优化同步脚本", cst("2026-11-27T18:00")))  # Friday
    assert scenario.run(date(2026, 11, 25), time(9, 59), "deadline_warning")["deadline_warning"] == 0
    assert scenario.run(date(2026, 11, 25), time(10, 0), "deadline_warning")["deadline_warning"] == 1
    assert scenario.run(date(2026, 11, 25), time(10, 1), "deadline_warning")["deadline_warning"] == 0
    assert scenario.run(date(2026, 11, 26), time(10, 0), "deadline_warning")["deadline_warning"] == 0
    (text,) = scenario.texts("warning:")
    assert (
        text.startswith("<@li> 任务「优化同步脚本」将于 2026-11-27 18:00 到期（还有 2 天）")
        and "<@zhang> 请知悉" in text
    )


def test_a_warning_that_falls_on_a_weekend_moves_to_the_workday_before(engine: sa.Engine) -> None:
    scenario = shanghai(engine, ("周一上线", cst("2026-11-30T18:00")))  # Monday: two days before is Saturday
    assert scenario.run(date(2026, 11, 28), time(10, 0), "deadline_warning")["deadline_warning"] == 0
    assert scenario.run(date(2026, 11, 27), time(10, 0), "deadline_warning")["deadline_warning"] == 1
    assert "还有 3 天" in scenario.texts("warning:")[0]


def test_moving_the_deadline_re_arms_the_warning(engine: sa.Engine) -> None:
    scenario = shanghai(engine, ("优化同步脚本", cst("2026-11-27T18:00")))
    scenario.run(date(2026, 11, 25), time(10, 0), "deadline_warning")
    with unit_of_work(engine) as session:
        item = items.find_item(session, record_id=scenario.record_id, seq=1)
        items.edit_item(session=session, item_id=item.id, by=Actor(scenario.people["zhang"]), now=cst("2026-11-25T11:00"),
                        item=ActionItemInput("优化同步脚本", [scenario.people["li"]], cst("2026-12-04T18:00"), "延迟≤1.5小时"))  # fmt: skip
    assert scenario.run(date(2026, 12, 2), time(10, 0), "deadline_warning")["deadline_warning"] == 1
    assert len(scenario.messages("warning:")) == 2


# ---------------------------------------------------------------- the overdue ladder


def test_each_step_of_the_ladder_once_and_the_record_becomes_delayed(engine: sa.Engine) -> None:
    scenario = shanghai(engine, ("优化同步脚本", cst("2026-11-26T18:00")))  # Thursday
    assert scenario.run(date(2026, 11, 27), time(9, 59), "overdue_ladder")["overdue_ladder"] == 0
    assert scenario.run(date(2026, 11, 27), time(10, 0), "overdue_ladder")["overdue_ladder"] == 1
    assert scenario.record().status is RecordStatus.DELAYED
    (first,) = scenario.texts("overdue1:")
    assert first.startswith("<@li> 任务「优化同步脚本」已于 2026-11-26 18:00 到期未完成") and "<@chen> 请关注" in first
    for day in (date(2026, 11, 27), date(2026, 11, 28), date(2026, 11, 30)):
        assert scenario.run(day, time(15, 0), "overdue_ladder")["overdue_ladder"] == 0, day
    # two workdays after Friday 27 Nov: Tuesday 1 Dec (the weekend does not count)
    assert scenario.run(date(2026, 12, 1), time(10, 0), "overdue_ladder")["overdue_ladder"] == 1
    (second,) = scenario.texts("overdue2:")
    assert "<@liu> <@wang> 请介入" in second
    button = scenario.messages("overdue2:")[0].payload["card"]["elements"][1]["buttons"][0]
    assert (button["label"], button["action"]) == ("发起二次沟通", "record.second_meeting")
    assert scenario.run(date(2026, 12, 2), time(10, 0), "overdue_ladder")["overdue_ladder"] == 0
    with Session(engine) as session:
        delayed = session.exec(select(AuditEntry).where(AuditEntry.action == AuditAction.RECORD_DELAYED)).all()
        assert len(delayed) == 1 and delayed[0].actor_id is None


def test_completing_the_item_stops_the_ladder(engine: sa.Engine) -> None:
    scenario = shanghai(engine, ("优化同步脚本", cst("2026-11-26T18:00")))
    scenario.run(date(2026, 11, 27), time(10, 0), "overdue_ladder")
    with unit_of_work(engine) as session:
        item = items.find_item(session, record_id=scenario.record_id, seq=1)
        items.complete_item(session=session, item_id=item.id, by=Actor(scenario.people["li"]), result="已上线",
                            now=cst("2026-11-30T09:00"))  # fmt: skip
    assert scenario.record().status is RecordStatus.IN_PROGRESS, "nothing overdue is open any more"
    assert scenario.run(date(2026, 12, 1), time(10, 0), "overdue_ladder")["overdue_ladder"] == 0


def test_after_downtime_the_ladder_catches_up_in_order(engine: sa.Engine) -> None:
    scenario = shanghai(engine, ("优化同步脚本", cst("2026-09-29T18:00")))
    assert scenario.run(date(2026, 10, 12), time(11, 0), "overdue_ladder")["overdue_ladder"] == 2
    keys = [m.idempotency_key.split(":")[2] for m in scenario.messages("overdue")]
    assert keys == ["overdue1", "overdue2"]


# ---------------------------------------------------------------- meetings and sign-off


def test_the_meeting_reminder_an_hour_before(engine: sa.Engine) -> None:
    scenario = shanghai(engine, ("优化同步脚本", cst("2026-12-31T18:00")))
    with unit_of_work(engine) as session:
        lifecycle.edit_record(session=session, record_id=scenario.record_id, by=Actor(scenario.people["zhang"]),
                              now=cst("2026-11-24T09:00"), changes={"next_meeting_at": cst("2026-11-26T10:00"),
                                                                    "place": "3楼会议室"})  # fmt: skip
    assert scenario.run(date(2026, 11, 26), time(8, 59), "meeting_reminder")["meeting_reminder"] == 0
    assert scenario.run(date(2026, 11, 26), time(9, 0), "meeting_reminder")["meeting_reminder"] == 1
    assert scenario.run(date(2026, 11, 26), time(9, 30), "meeting_reminder")["meeting_reminder"] == 0
    (text,) = scenario.texts("meeting:")
    assert text == "<@zhang> <@li> 下次沟通会将于 2026-11-26 10:00 开始（3楼会议室）。请提前准备进展和材料。"


def test_participants_who_have_not_confirmed_are_reminded_after_half_a_workday(engine: sa.Engine) -> None:
    scenario = shanghai(
        engine, ("优化同步脚本", cst("2026-12-31T18:00")), created=cst("2026-09-30T16:00"), activate=False
    )
    with unit_of_work(engine) as session:
        lifecycle.confirm(session=session, record_id=scenario.record_id, person_id=scenario.people["zhang"],
                          now=cst("2026-09-30T16:30"))  # fmt: skip
    # 16:00 on the eve of the holiday: two working hours that day, the rest on 8 Oct from 09:00
    assert scenario.run(date(2026, 10, 8), time(11, 29), "confirmation_reminder")["confirmation_reminder"] == 0
    assert scenario.run(date(2026, 10, 8), time(11, 30), "confirmation_reminder")["confirmation_reminder"] == 1
    assert scenario.run(date(2026, 10, 9), time(11, 30), "confirmation_reminder")["confirmation_reminder"] == 0
    (text,) = scenario.texts("confirm-reminder:")
    assert text.startswith("<@li> 记录已提交半个工作日") and "<@zhang>" not in text


def test_progress_today_is_read_in_the_groups_day(engine: sa.Engine) -> None:
    """A report at 23:30 the night before is not today's report."""
    scenario = shanghai(engine, ("优化同步脚本", cst("2026-12-31T18:00")))
    with unit_of_work(engine) as session:
        item = items.find_item(session, record_id=scenario.record_id, seq=1)
        session.add(ProgressUpdate(action_item_id=item.id, person_id=scenario.people["li"], text="昨晚的进度",
                                   created_at=cst("2026-11-23T23:30")))  # fmt: skip
    scenario.run(date(2026, 11, 24), PROMPT, "daily_prompt")
    assert "<@li>" in scenario.texts("prompt:")[0]


def test_a_burst_is_spread_over_ticks_and_nobody_is_skipped(engine: sa.Engine) -> None:
    groups = [shanghai(engine, ("优化同步脚本", cst("2026-12-31T18:00")), chat=f"g{n}") for n in range(5)]
    from scheduler.jobs import run_jobs

    counts = [run_jobs(engine, as_of=cst(f"2026-11-24T17:3{minute}"), names=["daily_prompt"], limit=2)["daily_prompt"]
              for minute in range(4)]  # fmt: skip
    assert counts == [2, 2, 1, 0]
    assert sorted(m.target for m in groups[0].messages("prompt:")) == [f"g{n}" for n in range(5)]


def test_a_second_tick_finds_the_ladder_already_sent_and_writes_nothing(engine: sa.Engine) -> None:
    scenario = shanghai(engine, ("优化同步脚本", cst("2026-11-26T18:00")))
    assert scenario.run(date(2026, 12, 1), time(10, 0), "overdue_ladder")["overdue_ladder"] == 2
    inserts: list[str] = []

    def watch(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
            inserts.append(statement)

    sa.event.listen(engine, "before_cursor_execute", watch)
    try:
        assert scenario.run(date(2026, 12, 1), time(10, 1), "overdue_ladder")["overdue_ladder"] == 0
    finally:
        sa.event.remove(engine, "before_cursor_execute", watch)
    assert inserts == [], "steps already sent are filtered out before any card is built or row written"
