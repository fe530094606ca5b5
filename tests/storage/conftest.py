"""Fixtures for storage tests: a group with three departments and the seed record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from storage import items, lifecycle
from storage.directory import ensure_group, ensure_person, set_department
from storage.lifecycle import Actor, ParticipantInput, ResourceInput
from storage.models import AuditEntry, Record
from storage.rules import ActionItemInput
from storage.timekeeping import ManualClock
from storage.types import AuditAction


@dataclass
class World:
    session: Session
    clock: ManualClock
    group_id: int
    recorder: Actor  # 张伟, operations
    tech: Actor  # 李娜, technology
    finance: Actor  # 王芳, finance
    admin: Actor
    outsider: Actor
    departments: dict[str, int]

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def item(self, owner: Actor, description: str = "优化数据同步脚本，延迟≤1.5小时", days: int = 3) -> ActionItemInput:
        return ActionItemInput(
            description=description, owner_ids=[owner.person_id], due_at=self.now + timedelta(days=days),
            measure="监控显示延迟≤1.5小时",
        )  # fmt: skip

    def seed_draft(self) -> Record:
        """The seed example as a draft: 订单系统数据延迟, three departments, two items, 5000 元."""
        return _draft_with_everything(self)

    def seed_active(self) -> Record:
        return _active_record(self)

    def audit_actions(self, record_id: int) -> list[AuditAction]:
        query = select(AuditEntry).where(AuditEntry.record_id == record_id).order_by(AuditEntry.id)
        return [row.action for row in self.session.exec(query)]


@pytest.fixture
def world(session: Session, clock: ManualClock) -> World:
    now = clock.now()
    group = ensure_group(
        session=session, platform="sandbox", chat_id="g1", workspace="sandbox", now=now, name="订单项目群"
    )
    people = {
        key: ensure_person(session=session, platform="sandbox", user_id=key, display_name=name)
        for key, name in [
            ("zhangwei", "张伟"),
            ("lina", "李娜"),
            ("wangfang", "王芳"),
            ("boss", "管理员"),
            ("x", "路人"),
        ]
    }
    people["boss"].is_admin = True
    departments = {
        name: set_department(session=session, workspace="sandbox", name=name, lead_id=people[lead].id).id
        for name, lead in [("运营部", "zhangwei"), ("技术部", "lina"), ("财务部", "wangfang")]
    }
    session.commit()
    actor = {key: Actor(p.id, is_admin=p.is_admin) for key, p in people.items()}
    return World(
        session, clock, group.id, actor["zhangwei"], actor["lina"], actor["wangfang"], actor["boss"], actor["x"],
        departments,
    )  # fmt: skip


def _draft_with_everything(w: World) -> Record:
    """The seed example: 订单系统数据延迟, three departments, three items, a 5000 元 request."""
    s, now = w.session, w.now
    record = lifecycle.create_draft(session=s, group_id=w.group_id, recorder_id=w.recorder.person_id,
                                    topic="订单系统数据延迟问题专项沟通", now=now)  # fmt: skip
    lifecycle.edit_record(
        session=s, record_id=record.id, by=w.recorder, now=now,
        changes={"problem": "3月1日起订单数据同步延迟4小时，影响客服查询", "category": "technical",
                 "meeting_start": now, "meeting_end": now + timedelta(minutes=90), "place": "3楼会议室"},
    )  # fmt: skip
    lifecycle.set_participants(
        session=s, record_id=record.id, by=w.recorder, now=now,
        participants=[
            ParticipantInput(w.recorder.person_id, w.departments["运营部"], decision_authority=True),
            ParticipantInput(w.tech.person_id, w.departments["技术部"]),
            ParticipantInput(w.finance.person_id, w.departments["财务部"], resource_authority=True),
        ],
    )  # fmt: skip
    points = {w.departments["技术部"]: "硬件采购需走流程，周期约5天", w.departments["运营部"]: "客服每天收到约40起投诉"}
    lifecycle.set_key_points(session=s, record_id=record.id, by=w.recorder, now=now, points=points)
    request = ResourceInput("临时扩容服务器", Decimal("5000"), "元", w.finance.person_id)
    lifecycle.set_resources(session=s, record_id=record.id, by=w.recorder, now=now, requests=[request])
    items.add_item(session=s, record_id=record.id, by=w.recorder, item=w.item(w.tech), now=now)
    items.add_item(session=s, record_id=record.id, by=w.recorder, item=w.item(w.finance, "审批5000元扩容预算"), now=now)
    s.commit()
    return record


def _active_record(w: World) -> Record:
    record = _draft_with_everything(w)
    lifecycle.activate(session=w.session, record_id=record.id, by=w.recorder, now=w.now)
    w.session.commit()
    return record
