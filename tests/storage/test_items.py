"""Action items: SMART checks on the way in, progress, completion, cancel, and the delay they settle."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from storage import items, lifecycle
from storage.errors import InvalidTransition, PermissionDenied, ValidationFailed
from storage.models import ActionItem, AuditEntry, ProgressUpdate
from storage.rules import ActionItemInput
from storage.types import AuditAction, ItemStatus, RecordStatus

from .conftest import World


def test_an_item_without_owner_or_deadline_cannot_be_saved(world: World) -> None:
    record = world.seed_draft()
    count = len(world.session.exec(select(ActionItem)).all())
    bad = ActionItemInput(description="尽快解决", owner_ids=[], due_at=None)
    with pytest.raises(ValidationFailed) as caught:
        items.add_item(session=world.session, record_id=record.id, by=world.recorder, item=bad, now=world.now)
    assert set(caught.value.errors) == {"description", "owner", "due"}
    text = caught.value.message()
    assert "责任人" in text and "完成时限" in text and "尽快解决" in text
    world.session.rollback()
    assert len(world.session.exec(select(ActionItem)).all()) == count


def test_two_owners_or_a_past_deadline_are_refused(world: World) -> None:
    record = world.seed_draft()
    two = ActionItemInput(
        "扩容两台服务器", [world.tech.person_id, world.finance.person_id], world.now + timedelta(days=1)
    )
    past = ActionItemInput("扩容两台服务器", [world.tech.person_id], world.now - timedelta(minutes=1))
    for item, field, phrase in ((two, "owner", "只能有一位"), (past, "due", "不能早于现在")):
        with pytest.raises(ValidationFailed) as caught:
            items.add_item(session=world.session, record_id=record.id, by=world.recorder, item=item, now=world.now)
        assert list(caught.value.errors) == [field] and phrase in caught.value.errors[field].render()


def test_vague_wording_is_a_warning_not_an_error(world: World) -> None:
    record = world.seed_draft()
    vague = ActionItemInput("进一步优化数据同步脚本", [world.tech.person_id], world.now + timedelta(days=2))
    row = items.add_item(session=world.session, record_id=record.id, by=world.recorder, item=vague, now=world.now)
    assert row.seq == 3  # saved; the warning is the card's business (see test_rules.py)


def test_progress_is_kept_per_item_by_its_owner(world: World) -> None:
    record = world.seed_active()
    first = lifecycle.open_items(world.session, record)[0]
    version = record.version
    update = items.record_progress(session=world.session, item_id=first.id, by=world.tech, text="脚本改造完成60%",
                                   percent=60, now=world.now)  # fmt: skip
    world.session.commit()
    assert (update.percent, update.blocked, update.person_id) == (60, False, world.tech.person_id)
    assert record.version == version, "progress is not a content change; cards stay valid"
    with pytest.raises(ValidationFailed):
        items.record_progress(
            session=world.session, item_id=first.id, by=world.tech, text="x", percent=150, now=world.now
        )
    with pytest.raises(ValidationFailed):
        items.record_progress(session=world.session, item_id=first.id, by=world.tech, text=" ", now=world.now)
    with pytest.raises(PermissionDenied):
        items.record_progress(session=world.session, item_id=first.id, by=world.finance, text="替他汇报", now=world.now)
    world.session.rollback()
    assert len(world.session.exec(select(ProgressUpdate)).all()) == 1


def test_progress_on_a_draft_is_refused(world: World) -> None:
    record = world.seed_draft()
    first = lifecycle.open_items(world.session, record)[0]
    with pytest.raises(InvalidTransition):
        items.record_progress(session=world.session, item_id=first.id, by=world.tech, text="开始", now=world.now)


def test_only_owner_recorder_or_admin_completes_and_a_result_is_required(world: World) -> None:
    record = world.seed_active()
    first = lifecycle.open_items(world.session, record)[0]
    with pytest.raises(PermissionDenied):
        items.complete_item(session=world.session, item_id=first.id, by=world.finance, result="x", now=world.now)
    with pytest.raises(ValidationFailed):
        items.complete_item(session=world.session, item_id=first.id, by=world.tech, result="", now=world.now)
    items.complete_item(session=world.session, item_id=first.id, by=world.recorder, result="已上线", now=world.now)
    entry = world.session.exec(select(AuditEntry).where(AuditEntry.action == AuditAction.ITEM_COMPLETED)).one()
    assert entry.detail == {"on_time": True} and entry.action_item_id == first.id


def test_cancel_needs_the_owner_or_the_recorder_and_a_reason(world: World) -> None:
    record = world.seed_active()
    first, second = lifecycle.open_items(world.session, record)  # owned by 李娜 (tech) and 王芳 (finance)
    with pytest.raises(PermissionDenied):
        items.cancel_item(session=world.session, item_id=first.id, by=world.finance, reason="不做了", now=world.now)
    with pytest.raises(ValidationFailed):
        items.cancel_item(session=world.session, item_id=first.id, by=world.recorder, reason="", now=world.now)
    items.cancel_item(session=world.session, item_id=first.id, by=world.recorder, reason="合并到R2", now=world.now)
    assert (first.status, first.cancel_reason) == (ItemStatus.CANCELLED, "合并到R2")
    items.cancel_item(
        session=world.session, item_id=second.id, by=world.finance, reason="预算改走年度计划", now=world.now
    )
    assert second.status is ItemStatus.CANCELLED
    with pytest.raises(InvalidTransition):
        items.edit_item(session=world.session, item_id=first.id, by=world.recorder, item=world.item(world.tech),
                        now=world.now)  # fmt: skip


def test_a_new_deadline_brings_a_delayed_record_back_in_progress(world: World) -> None:
    record = world.seed_active()
    world.clock.advance(timedelta(days=4))  # both items are now overdue
    lifecycle.mark_delayed(session=world.session, record_id=record.id, by=None, now=world.now)
    first, second = lifecycle.open_items(world.session, record)
    items.edit_item(
        session=world.session, item_id=first.id, by=world.tech, item=world.item(world.tech, days=2), now=world.now
    )
    assert record.status is RecordStatus.DELAYED, "the second item is still overdue"
    items.complete_item(session=world.session, item_id=second.id, by=world.finance, result="预算已批", now=world.now)
    world.session.commit()
    assert record.status is RecordStatus.IN_PROGRESS and record.delayed_at is None
    entry = world.session.exec(select(AuditEntry).where(AuditEntry.action == AuditAction.ITEM_COMPLETED)).one()
    assert entry.detail == {"on_time": False}
    edited = world.session.exec(select(AuditEntry).where(AuditEntry.action == AuditAction.ITEM_EDITED)).one()
    assert edited.detail["before"]["owner_id"] == world.tech.person_id


def test_an_item_is_edited_by_its_owner_or_the_recorder_only(world: World) -> None:
    record = world.seed_active()
    first = lifecycle.open_items(world.session, record)[0]
    with pytest.raises(PermissionDenied):
        items.edit_item(
            session=world.session, item_id=first.id, by=world.finance, item=world.item(world.finance), now=world.now
        )
    moved = world.item(world.finance, "优化同步脚本并补充监控告警", days=5)
    items.edit_item(session=world.session, item_id=first.id, by=world.recorder, item=moved, now=world.now)
    world.session.commit()
    assert (first.owner_id, first.description) == (world.finance.person_id, "优化同步脚本并补充监控告警")
    assert first.due_at == world.now + timedelta(days=5)
