"""A group with one active record and its action items, built through the lifecycle functions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from scheduler.jobs import run_jobs
from storage import items, lifecycle
from storage.db import unit_of_work
from storage.directory import ensure_group, ensure_person, set_department
from storage.lifecycle import Actor, ParticipantInput
from storage.models import OutboxMessage, Person, Record
from storage.rules import ActionItemInput


@dataclass
class Scenario:
    engine: sa.Engine
    zone: ZoneInfo
    group_id: int = 0
    record_id: int = 0
    people: dict[str, int] = field(default_factory=dict)
    chat: str = "g1"

    def at(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, tzinfo=self.zone)

    def run(self, day: date, clock: time, *jobs: str) -> dict[str, int]:
        return run_jobs(self.engine, as_of=self.at(day, clock), names=list(jobs) or None)

    def messages(self, prefix: str = "") -> list[OutboxMessage]:
        with Session(self.engine) as session:
            query = select(OutboxMessage).order_by(col(OutboxMessage.id))
            return [m for m in session.exec(query) if m.idempotency_key.split(":", 2)[2].startswith(prefix)]

    def texts(self, prefix: str = "") -> list[str]:
        return [" ".join(e.get("text", "") for e in m.payload["card"]["elements"]) for m in self.messages(prefix)]

    def record(self) -> Record:
        with Session(self.engine) as session:
            return session.get(Record, self.record_id)

    def add_item(self, description: str, owner: str, due: datetime, *, created: datetime) -> int:
        with unit_of_work(self.engine) as session:
            item = items.add_item(
                session=session, record_id=self.record_id, by=Actor(self.people["zhang"]), now=created,
                item=ActionItemInput(description, [self.people[owner]], due, "按时交付"),
            )  # fmt: skip
            return item.id or 0


def build(engine: sa.Engine, *, tz: str = "Asia/Shanghai", created: datetime, dues: list[tuple[str, datetime]],
          chat: str = "g1", activate: bool = True, platform: str = "sandbox") -> Scenario:  # fmt: skip
    """张伟 (运营部, recorder) keeps a record; 李娜 of 技术部 (lead 陈强, director 刘洋) owns the items; 王总 is cc."""
    scenario = Scenario(engine, ZoneInfo(tz), chat=chat)
    with unit_of_work(engine) as session:
        group = ensure_group(
            session=session, platform=platform, chat_id=chat, workspace="acme", now=created, timezone=tz
        )
        for key, name in [("zhang", "张伟"), ("li", "李娜"), ("chen", "陈强"), ("liu", "刘洋"), ("wang", "王总")]:
            scenario.people[key] = ensure_person(session=session, platform=platform, user_id=key, display_name=name).id
        tech = set_department(session=session, workspace="acme", name="技术部", lead_id=scenario.people["chen"],
                              director_id=scenario.people["liu"])  # fmt: skip
        session.get(Person, scenario.people["li"]).department_id = tech.id
        zhang = Actor(scenario.people["zhang"])
        record = lifecycle.create_draft(session=session, group_id=group.id, recorder_id=zhang.person_id,
                                        topic="订单系统数据延迟", now=created)  # fmt: skip
        lifecycle.edit_record(
            session=session, record_id=record.id, by=zhang, now=created, changes={"problem": "延迟4小时"}
        )
        lifecycle.set_participants(session=session, record_id=record.id, by=zhang, now=created, participants=[
            ParticipantInput(zhang.person_id), ParticipantInput(scenario.people["li"], tech.id)])  # fmt: skip
        lifecycle.set_cc(
            session=session, record_id=record.id, by=zhang, now=created, person_ids=[scenario.people["wang"]]
        )
        for description, due in dues:
            items.add_item(session=session, record_id=record.id, by=zhang, now=created,
                           item=ActionItemInput(description, [scenario.people["li"]], due, "延迟≤1.5小时"))  # fmt: skip
        if activate:
            lifecycle.activate(session=session, record_id=record.id, by=zhang, now=created)
        else:
            lifecycle.submit(session=session, record_id=record.id, by=zhang, now=created)
        scenario.group_id, scenario.record_id = group.id, record.id
    return scenario


@pytest.fixture
def shanghai() -> ZoneInfo:
    return ZoneInfo("Asia/Shanghai")
