"""The sign-off rule (storage.signoff): what is substantive, who signs again, who may change what."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from storage import items, lifecycle, signoff
from storage.errors import PermissionDenied
from storage.lifecycle import ParticipantInput, ResourceInput
from storage.models import Participant, Record
from storage.types import AuditAction

from .conftest import World


def signed(world: World, record: Record) -> dict[int, bool]:
    rows = world.session.exec(select(Participant).where(Participant.record_id == record.id))
    return {row.person_id: row.confirmed_at is not None for row in rows}


def everyone_signed(world: World) -> Record:
    record = world.seed_draft()
    lifecycle.submit(session=world.session, record_id=record.id, by=world.recorder, now=world.now)
    for actor in (world.recorder, world.tech, world.finance):
        lifecycle.confirm(session=world.session, record_id=record.id, person_id=actor.person_id, now=world.now)
    signoff.take(world.session, record.id)
    return record


def test_a_new_problem_asks_everyone_but_the_one_who_made_the_change(world: World) -> None:
    record = everyone_signed(world)
    lifecycle.edit_record(session=world.session, record_id=record.id, by=world.recorder, now=world.now,
                          changes={"problem": "延迟扩大到6小时"})  # fmt: skip
    assert signed(world, record) == {world.recorder.person_id: True, world.tech.person_id: False,
                                     world.finance.person_id: False}  # fmt: skip
    note = signoff.take(world.session, record.id)
    assert note.people == [world.tech.person_id, world.finance.person_id]
    assert [c.render() for c in note.changes] == [
        "问题描述：3月1日起订单数据同步延迟4小时，影响客服查询 → 延迟扩大到6小时"
    ]
    assert note.changes[0].render("en").startswith("problem: ")
    assert world.audit_actions(record.id)[-1] is AuditAction.SIGNOFF_RESET


@pytest.mark.parametrize("changes", [{"notes": "下次会议改到周五"}, {"place": "5楼"}, {"topic": "订单同步延迟专项"},
                                     {"meeting_goal": "确定方案"}, {"category": "process_bottleneck"}])  # fmt: skip
def test_cosmetic_changes_reset_nobody_and_any_member_may_make_them(world: World, changes: dict) -> None:
    record = everyone_signed(world)
    lifecycle.edit_record(session=world.session, record_id=record.id, by=world.tech, now=world.now, changes=changes)
    assert all(signed(world, record).values()) and signoff.take(world.session, record.id) is None


def test_only_the_recorder_or_an_admin_makes_a_substantive_change_after_submission(world: World) -> None:
    record = everyone_signed(world)
    for change in ({"problem": "改写"}, {"impact": "更大"}, {"root_cause": "单线程"}):
        with pytest.raises(PermissionDenied) as refused:
            lifecycle.edit_record(session=world.session, record_id=record.id, by=world.tech, now=world.now,
                                  changes=change)  # fmt: skip
        assert "只能由记录人或管理员修改" in refused.value.message()
    with pytest.raises(PermissionDenied):
        lifecycle.set_key_points(session=world.session, record_id=record.id, by=world.tech, now=world.now,
                                 points={world.departments["技术部"]: "改写的要点"})  # fmt: skip
    lifecycle.edit_record(session=world.session, record_id=record.id, by=world.admin, now=world.now,
                          changes={"impact": "投诉翻倍"})  # fmt: skip
    assert not any(signed(world, record).values()), "the admin is no participant: all three sign again"


def test_a_key_point_concerns_its_departments_participants(world: World) -> None:
    record = everyone_signed(world)
    points = {
        world.departments["技术部"]: "采购走紧急流程，周期2天",
        world.departments["运营部"]: "客服每天收到约40起投诉",
    }
    lifecycle.set_key_points(session=world.session, record_id=record.id, by=world.recorder, now=world.now,
                             points=points)  # fmt: skip
    assert signed(world, record) == {world.recorder.person_id: True, world.tech.person_id: False,
                                     world.finance.person_id: True}  # fmt: skip
    version = record.version  # saving the same points again changes nothing
    lifecycle.set_key_points(session=world.session, record_id=record.id, by=world.recorder, now=world.now,
                             points=points)  # fmt: skip
    assert record.version == version


def test_a_changed_resource_request_asks_who_holds_resource_authority_and_keeps_unchanged_decisions(
    world: World,
) -> None:
    record = everyone_signed(world)
    (request,) = lifecycle.set_resources(session=world.session, record_id=record.id, by=world.recorder, now=world.now,
                                         requests=[ResourceInput("临时扩容服务器", Decimal("8000"), "元",
                                                                 world.finance.person_id)])  # fmt: skip
    assert request.requested_at == world.now, "a request on a submitted record goes to its approver at once"
    assert signed(world, record) == {world.recorder.person_id: True, world.tech.person_id: True,
                                     world.finance.person_id: False}  # fmt: skip
    signoff.take(world.session, record.id)
    same = lifecycle.set_resources(session=world.session, record_id=record.id, by=world.recorder, now=world.now,
                                   requests=[ResourceInput("临时扩容服务器", Decimal("8000.00"), "元",
                                                           world.finance.person_id)])  # fmt: skip
    assert same == [] and signoff.take(world.session, record.id) is None


def test_a_new_deadline_asks_its_owner_unless_the_owner_moved_it(world: World) -> None:
    record = everyone_signed(world)
    first, second = lifecycle.open_items(world.session, record)
    items.reschedule_item(session=world.session, item_id=first.id, by=world.recorder, now=world.now,
                          due_at=world.now + timedelta(days=9), reason="等硬件")  # fmt: skip
    assert signed(world, record)[world.tech.person_id] is False
    items.reschedule_item(session=world.session, item_id=second.id, by=world.finance, now=world.now,
                          due_at=world.now + timedelta(days=9), reason="会签")  # fmt: skip
    assert signed(world, record)[world.finance.person_id] is True, "her own change"


def test_a_draft_has_nothing_to_reset(world: World) -> None:
    record = world.seed_draft()
    lifecycle.edit_record(session=world.session, record_id=record.id, by=world.tech, now=world.now,
                          changes={"problem": "草稿里改写问题"})  # fmt: skip
    lifecycle.set_participants(session=world.session, record_id=record.id, by=world.tech, now=world.now,
                               participants=[ParticipantInput(world.tech.person_id)])  # fmt: skip
    assert signoff.take(world.session, record.id) is None
    assert AuditAction.SIGNOFF_RESET not in world.audit_actions(record.id)
