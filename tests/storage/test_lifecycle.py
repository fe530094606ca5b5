"""The record's lifecycle: every transition, allowed and refused, with its audit trail.

Each test runs on SQLite and on PostgreSQL (the ``engine`` fixture).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from storage import items, lifecycle
from storage.errors import InvalidTransition, NotFound, PermissionDenied, StaleVersion, ValidationFailed
from storage.lifecycle import Actor, ParticipantInput
from storage.models import ActionItem, AuditEntry, CarbonCopy, KeyPoint, Participant, Record, ResourceRequest
from storage.types import AuditAction, ItemStatus, RecordStatus

from .conftest import World


def test_a_draft_is_created_with_its_recorder_and_an_audit_row(world: World) -> None:
    record = lifecycle.create_draft(
        session=world.session, group_id=world.group_id, recorder_id=world.recorder.person_id, topic=" 数据延迟 ",
        now=world.now,
    )  # fmt: skip
    world.session.commit()
    assert (record.status, record.topic, record.version, record.ref) == (
        RecordStatus.DRAFT,
        "数据延迟",
        1,
        f"R{record.id}",
    )
    assert world.audit_actions(record.id) == [AuditAction.RECORD_CREATED]


def test_an_empty_topic_is_refused_and_nothing_is_written(world: World) -> None:
    with pytest.raises(ValidationFailed) as caught:
        lifecycle.create_draft(session=world.session, group_id=world.group_id, recorder_id=world.recorder.person_id,
                               topic="   ", now=world.now)  # fmt: skip
    world.session.rollback()
    assert "沟通主题" in caught.value.message("zh-CN")
    assert world.session.exec(select(Record)).all() == []


def test_the_whole_seed_record_is_stored_field_by_field(world: World) -> None:
    record = world.seed_draft()
    s = world.session
    s.expire_all()
    stored = s.get(Record, record.id)
    assert stored.problem.startswith("3月1日起") and stored.category == "technical" and stored.place == "3楼会议室"
    assert stored.meeting_end - stored.meeting_start == timedelta(minutes=90)
    assert stored.meeting_start.tzinfo is not None
    assert len(s.exec(select(Participant).where(Participant.record_id == record.id)).all()) == 3
    assert {k.text for k in s.exec(select(KeyPoint))} == {"硬件采购需走流程，周期约5天", "客服每天收到约40起投诉"}
    (request,) = s.exec(select(ResourceRequest)).all()
    assert (request.amount, request.unit, request.approver_id) == (Decimal("5000"), "元", world.finance.person_id)
    assert [i.seq for i in s.exec(select(ActionItem).order_by(ActionItem.seq))] == [1, 2]
    assert world.audit_actions(record.id) == [
        AuditAction.RECORD_CREATED, AuditAction.RECORD_EDITED, AuditAction.PARTICIPANTS_SET,
        AuditAction.KEY_POINTS_SET, AuditAction.RESOURCES_SET, AuditAction.ITEM_ADDED, AuditAction.ITEM_ADDED,
    ]  # fmt: skip


def test_submit_then_everyone_confirms_activates_the_record(world: World) -> None:
    record = world.seed_draft()
    asked = lifecycle.submit(session=world.session, record_id=record.id, by=world.recorder, now=world.now)
    assert len(asked) == 3 and record.status is RecordStatus.CONFIRMING
    for actor in (world.recorder, world.tech):
        assert (
            lifecycle.confirm(session=world.session, record_id=record.id, person_id=actor.person_id, now=world.now)
            is False
        )
    assert (
        lifecycle.confirm(session=world.session, record_id=record.id, person_id=world.tech.person_id, now=world.now)
        is False
    )
    assert record.status is RecordStatus.CONFIRMING
    assert lifecycle.confirm(
        session=world.session, record_id=record.id, person_id=world.finance.person_id, now=world.now
    )
    world.session.commit()
    assert record.status is RecordStatus.IN_PROGRESS and record.activated_at == world.now
    actions = world.audit_actions(record.id)
    assert actions[-5:] == [
        AuditAction.RECORD_SUBMITTED,
        *[AuditAction.RECORD_CONFIRMED] * 3,
        AuditAction.RECORD_ACTIVATED,
    ]


def test_someone_outside_the_record_cannot_confirm_it(world: World) -> None:
    record = world.seed_draft()
    lifecycle.submit(session=world.session, record_id=record.id, by=world.recorder, now=world.now)
    with pytest.raises(PermissionDenied) as caught:
        lifecycle.confirm(session=world.session, record_id=record.id, person_id=world.outsider.person_id, now=world.now)
    assert "不是" in caught.value.message() and "not a participant" in caught.value.message("en")


def test_a_draft_cannot_be_confirmed_before_it_is_submitted(world: World) -> None:
    record = world.seed_draft()
    with pytest.raises(InvalidTransition) as caught:
        lifecycle.confirm(session=world.session, record_id=record.id, person_id=world.tech.person_id, now=world.now)
    assert "草稿" in caught.value.message() and "draft" in caught.value.message("en")


def test_confirming_a_changed_record_is_stale(world: World) -> None:
    record = world.seed_draft()
    seen = record.version
    lifecycle.submit(session=world.session, record_id=record.id, by=world.recorder, now=world.now)
    lifecycle.edit_record(session=world.session, record_id=record.id, by=world.recorder, now=world.now,
                          changes={"notes": "下次会议：3月8日10:00"})  # fmt: skip
    with pytest.raises(StaleVersion) as caught:
        lifecycle.confirm(session=world.session, record_id=record.id, person_id=world.tech.person_id,
                          now=world.now, expected_version=seen)  # fmt: skip
    assert caught.value.current == seen + 1


def test_the_recorder_activates_without_waiting_and_learns_who_did_not_confirm(world: World) -> None:
    record = world.seed_draft()
    lifecycle.submit(session=world.session, record_id=record.id, by=world.recorder, now=world.now)
    lifecycle.confirm(session=world.session, record_id=record.id, person_id=world.tech.person_id, now=world.now)
    missing = lifecycle.activate(session=world.session, record_id=record.id, by=world.recorder, now=world.now)
    world.session.commit()
    assert {p.person_id for p in missing} == {world.recorder.person_id, world.finance.person_id}
    assert record.status is RecordStatus.IN_PROGRESS
    entry = world.session.exec(select(AuditEntry).where(AuditEntry.action == AuditAction.RECORD_ACTIVATED)).one()
    assert sorted(entry.detail["unconfirmed"]) == sorted([world.recorder.person_id, world.finance.person_id])
    # a late sign-off is still taken, and does not re-activate
    assert not lifecycle.confirm(
        session=world.session, record_id=record.id, person_id=world.finance.person_id, now=world.now
    )


def test_only_the_recorder_or_an_admin_activates(world: World) -> None:
    record = world.seed_draft()
    with pytest.raises(PermissionDenied):
        lifecycle.activate(session=world.session, record_id=record.id, by=world.tech, now=world.now)
    lifecycle.activate(session=world.session, record_id=record.id, by=world.admin, now=world.now)
    assert record.status is RecordStatus.IN_PROGRESS


def test_an_incomplete_record_cannot_be_submitted(world: World) -> None:
    record = lifecycle.create_draft(session=world.session, group_id=world.group_id,
                                    recorder_id=world.recorder.person_id, topic="空记录", now=world.now)  # fmt: skip
    with pytest.raises(ValidationFailed) as caught:
        lifecycle.submit(session=world.session, record_id=record.id, by=world.recorder, now=world.now)
    assert set(caught.value.errors) == {"problem", "participants", "items"}
    with pytest.raises(ValidationFailed):
        lifecycle.activate(session=world.session, record_id=record.id, by=world.recorder, now=world.now)


def test_submitting_twice_is_refused(world: World) -> None:
    record = world.seed_draft()
    lifecycle.submit(session=world.session, record_id=record.id, by=world.recorder, now=world.now)
    with pytest.raises(InvalidTransition):
        lifecycle.submit(session=world.session, record_id=record.id, by=world.recorder, now=world.now)


def test_mark_delayed_by_the_scheduler_once(world: World) -> None:
    record = world.seed_active()
    assert lifecycle.mark_delayed(
        session=world.session, record_id=record.id, by=None, now=world.now, reason="R-1 overdue"
    )
    assert not lifecycle.mark_delayed(session=world.session, record_id=record.id, by=None, now=world.now)
    world.session.commit()
    assert record.status is RecordStatus.DELAYED
    entry = world.session.exec(select(AuditEntry).where(AuditEntry.action == AuditAction.RECORD_DELAYED)).one()
    assert entry.actor_id is None and entry.detail == {"reason": "R-1 overdue"}


def test_a_draft_cannot_be_delayed(world: World) -> None:
    record = world.seed_draft()
    with pytest.raises(InvalidTransition):
        lifecycle.mark_delayed(session=world.session, record_id=record.id, by=None, now=world.now)


def finish_all_items(w: World, record: Record) -> None:
    for item in lifecycle.open_items(w.session, record):
        items.complete_item(session=w.session, item_id=item.id, by=Actor(item.owner_id), result="已上线", now=w.now)


def test_close_needs_a_verified_result_the_recorder_and_nothing_open(world: World) -> None:
    record = world.seed_active()
    with pytest.raises(InvalidTransition) as caught:
        lifecycle.close(session=world.session, record_id=record.id, by=world.recorder, verification="ok", now=world.now)
    assert f"{record.ref}-1" in caught.value.message() and f"{record.ref}-2" in caught.value.message()
    finish_all_items(world, record)
    with pytest.raises(ValidationFailed):
        lifecycle.close(session=world.session, record_id=record.id, by=world.recorder, verification="  ", now=world.now)
    with pytest.raises(PermissionDenied) as denied:
        lifecycle.close(session=world.session, record_id=record.id, by=world.tech, verification="好了", now=world.now)
    assert "记录人" in denied.value.message()
    verified = "3月11日监控显示延迟≤1.5小时，投诉量下降15%"
    lifecycle.close(session=world.session, record_id=record.id, by=world.recorder, verification=verified, now=world.now)
    world.session.commit()
    assert (record.status, record.verification, record.closed_at) == (RecordStatus.CLOSED, verified, world.now)
    assert world.audit_actions(record.id)[-1] is AuditAction.RECORD_CLOSED


def test_an_admin_may_close_and_cancelled_items_do_not_block(world: World) -> None:
    record = world.seed_active()
    first, second = lifecycle.open_items(world.session, record)
    items.complete_item(session=world.session, item_id=first.id, by=world.tech, result="脚本已优化", now=world.now)
    items.cancel_item(
        session=world.session, item_id=second.id, by=world.recorder, reason="改由采购流程解决", now=world.now
    )
    lifecycle.close(
        session=world.session, record_id=record.id, by=world.admin, verification="延迟≤1.5小时", now=world.now
    )
    assert record.status is RecordStatus.CLOSED


def test_a_closed_record_is_read_only_until_reopened(world: World) -> None:
    record = world.seed_active()
    finish_all_items(world, record)
    lifecycle.close(
        session=world.session, record_id=record.id, by=world.recorder, verification="延迟≤1.5小时", now=world.now
    )
    with pytest.raises(InvalidTransition):
        lifecycle.edit_record(session=world.session, record_id=record.id, by=world.recorder, now=world.now,
                              changes={"notes": "x"})  # fmt: skip
    with pytest.raises(InvalidTransition):
        items.add_item(session=world.session, record_id=record.id, by=world.recorder, item=world.item(world.tech),
                       now=world.now)  # fmt: skip
    with pytest.raises(InvalidTransition):
        lifecycle.close(
            session=world.session, record_id=record.id, by=world.recorder, verification="again", now=world.now
        )
    with pytest.raises(PermissionDenied):
        lifecycle.reopen(session=world.session, record_id=record.id, by=world.tech, reason="又出现了", now=world.now)
    with pytest.raises(ValidationFailed):
        lifecycle.reopen(session=world.session, record_id=record.id, by=world.recorder, reason="", now=world.now)
    lifecycle.reopen(
        session=world.session, record_id=record.id, by=world.recorder, reason="4月又出现延迟", now=world.now
    )
    world.session.commit()
    assert (record.status, record.verification, record.closed_at) == (RecordStatus.IN_PROGRESS, None, None)
    entry = world.session.exec(select(AuditEntry).where(AuditEntry.action == AuditAction.RECORD_REOPENED)).one()
    assert entry.detail == {"reason": "4月又出现延迟", "previous": "延迟≤1.5小时"}


def test_reopening_an_open_record_is_refused(world: World) -> None:
    record = world.seed_active()
    with pytest.raises(InvalidTransition):
        lifecycle.reopen(session=world.session, record_id=record.id, by=world.recorder, reason="x", now=world.now)


def test_edits_bump_the_version_and_a_stale_form_is_refused(world: World) -> None:
    record = world.seed_draft()
    version = record.version
    lifecycle.edit_record(session=world.session, record_id=record.id, by=world.tech, now=world.now,
                          changes={"impact": "客服投诉增加"}, expected_version=version)  # fmt: skip
    assert record.version == version + 1
    with pytest.raises(StaleVersion) as caught:
        lifecycle.edit_record(session=world.session, record_id=record.id, by=world.recorder, now=world.now,
                              changes={"impact": "覆盖"}, expected_version=version)  # fmt: skip
    assert f"第 {version + 1} 版" in caught.value.message()
    world.session.rollback()


def test_edit_checks_fields_and_changes_nothing_when_refused(world: World) -> None:
    record = world.seed_draft()
    version = record.version
    with pytest.raises(ValidationFailed) as caught:
        lifecycle.edit_record(
            session=world.session, record_id=record.id, by=world.recorder, now=world.now,
            changes={"topic": "x" * 201, "category": "gossip", "meeting_start": world.now,
                     "meeting_end": world.now - timedelta(hours=1)},
        )  # fmt: skip
    assert set(caught.value.errors) == {"topic", "category", "meeting_end"}
    world.session.rollback()
    world.session.expire_all()
    stored = world.session.get(Record, record.id)
    assert stored.version == version and stored.topic == "订单系统数据延迟问题专项沟通"


def test_an_outsider_cannot_edit_and_an_unknown_record_is_not_found(world: World) -> None:
    record = world.seed_draft()
    with pytest.raises(PermissionDenied):
        lifecycle.edit_record(session=world.session, record_id=record.id, by=world.outsider, now=world.now,
                              changes={"notes": "x"})  # fmt: skip
    with pytest.raises(NotFound) as caught:
        lifecycle.edit_record(session=world.session, record_id=9999, by=world.recorder, now=world.now, changes={})
    assert (
        caught.value.message() == "找不到记录 R9999。" and caught.value.message("en") == "Record R9999 was not found."
    )


def test_participants_who_stay_keep_their_sign_off(world: World) -> None:
    record = world.seed_draft()
    lifecycle.submit(session=world.session, record_id=record.id, by=world.recorder, now=world.now)
    lifecycle.confirm(session=world.session, record_id=record.id, person_id=world.tech.person_id, now=world.now)
    lifecycle.set_participants(session=world.session, record_id=record.id, by=world.recorder, now=world.now,
                               participants=[ParticipantInput(world.tech.person_id, world.departments["技术部"]),
                                             ParticipantInput(world.recorder.person_id)])  # fmt: skip
    rows = {p.person_id: p for p in world.session.exec(select(Participant).where(Participant.record_id == record.id))}
    assert set(rows) == {world.tech.person_id, world.recorder.person_id}
    assert rows[world.tech.person_id].confirmed_at == world.now and rows[world.recorder.person_id].confirmed_at is None
    with pytest.raises(ValidationFailed):
        lifecycle.set_participants(session=world.session, record_id=record.id, by=world.recorder, now=world.now,
                                   participants=[ParticipantInput(world.tech.person_id)] * 2)  # fmt: skip


def test_items_are_numbered_per_record_and_the_item_statuses_show(world: World) -> None:
    record = world.seed_active()
    third = items.add_item(
        session=world.session, record_id=record.id, by=world.tech, item=world.item(world.tech), now=world.now
    )
    assert third.seq == 3 and items.find_item(world.session, record_id=record.id, seq=3).id == third.id
    with pytest.raises(NotFound) as caught:
        items.find_item(world.session, record_id=record.id, seq=9)
    assert f"{record.ref}-9" in caught.value.message()
    items.complete_item(session=world.session, item_id=third.id, by=world.tech, result="done", now=world.now)
    with pytest.raises(InvalidTransition) as twice:
        items.complete_item(session=world.session, item_id=third.id, by=world.tech, result="again", now=world.now)
    assert "已完成" in twice.value.message()
    world.session.commit()
    assert third.status is ItemStatus.DONE and third.done_at == world.now


def test_cc_lists_leaders_and_supporting_departments(world: World) -> None:
    record = world.seed_draft()
    lifecycle.set_cc(session=world.session, record_id=record.id, by=world.recorder, now=world.now,
                     person_ids=[world.admin.person_id], department_ids=[world.departments["财务部"]])  # fmt: skip
    world.session.commit()
    rows = world.session.exec(select(CarbonCopy).where(CarbonCopy.record_id == record.id)).all()
    assert {(r.person_id, r.department_id) for r in rows} == {
        (world.admin.person_id, None),
        (None, world.departments["财务部"]),
    }
    assert world.audit_actions(record.id)[-1] is AuditAction.CC_SET
    with pytest.raises(PermissionDenied):
        lifecycle.set_cc(session=world.session, record_id=record.id, by=world.outsider, now=world.now, person_ids=[1])
