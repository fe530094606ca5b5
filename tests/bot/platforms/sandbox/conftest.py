"""A running bot with the sandbox platform on 127.0.0.1, a clock that moves only when told."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import Session, select

from bot.app import GATEWAY, create_app
from bot.settings import load_settings
from storage.models import Record
from storage.timekeeping import ManualClock


@dataclass
class SandboxChat:
    client: TestClient
    engine: sa.Engine
    clock: ManualClock
    group: str = "订单项目群"

    async def say(self, user: str, text: str, *, status: int = 200) -> dict[str, Any]:
        response = await self.client.post(
            "/sandbox/api/messages", json={"group": self.group, "user": user, "text": text}
        )
        assert response.status == status, await response.text()
        return await response.json()

    async def act(self, user: str, action: str, payload: Any, form: dict | None = None, *, status: int = 200,
                  message: int | None = None) -> dict:  # fmt: skip
        body = {"group": self.group, "user": user, "action": action, "payload": payload, "form": form or {},
                "message": message}  # fmt: skip
        response = await self.client.post("/sandbox/api/actions", json=body)
        assert response.status == status, await response.text()
        return await response.json()

    async def history(self) -> list[dict[str, Any]]:
        response = await self.client.get(f"/sandbox/api/groups/{self.group}/messages")
        assert response.status == 200
        return (await response.json())["messages"]

    @property
    def sender(self):  # the app's outbox sender, to drive retries in tests
        return self.client.server.app[GATEWAY].sender


async def start_chat(engine: sa.Engine, clock: ManualClock, **settings: str) -> SandboxChat:
    app = create_app(
        load_settings(_env_file=None, **settings), engine=engine, clock=clock, run_sender=False, run_scheduler=False
    )
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return SandboxChat(client, engine, clock)


@pytest.fixture
async def chat(engine: sa.Engine, clock: ManualClock) -> AsyncIterator[SandboxChat]:
    chat = await start_chat(engine, clock)
    yield chat
    await chat.client.close()


SEED_FORM: dict[str, Any] = {
    "topic": "订单系统数据延迟问题专项沟通",
    "meeting_start": "2026-11-24 14:00",
    "meeting_end": "2026-11-24 15:30",
    "place": "3楼会议室",
    "meeting_link": "https://meeting.example.com/123",
    "category": "technical",
    "participants": [
        {"person": "zhangwei", "department": "运营部", "authority": "decision"},
        {"person": "lina", "department": "技术部", "authority": "both"},
        {"person": "wangfang", "department": "财务部", "authority": "resource"},
    ],
    "problem": "自11月20日起订单系统数据同步延迟约4小时，客服无法查询最新订单状态",
    "problem_what": "订单数据同步延迟", "problem_when": "11月20日起", "problem_where": "订单中心 → 客服系统",
    "problem_who": "客服、仓储", "problem_why": "同步脚本单线程，服务器负载高", "problem_how": "高峰期任务堆积",
    "impact": "客服投诉每天约40起",
    "key_points": [
        {"department": "技术部", "text": "硬件采购需走流程，周期约5天"},
        {"department": "运营部", "text": "需在双12前恢复到1.5小时以内"},
        {"department": "财务部", "text": "临时扩容预算可走紧急审批"},
    ],
    "items": [
        {"description": "优化同步脚本为多线程", "owner": "lina", "due": "11月27日", "measure": "延迟≤1.5小时", "term": "short"},
        {"description": "审批临时扩容预算5000元", "owner": "wangfang", "due": "11月26日 18:00", "measure": "审批单通过"},
        {"description": "建立延迟监控告警", "owner": "zhaoqiang", "due": "12月10日", "measure": "延迟超1小时告警",
         "term": "long"},
    ],
    "resources": [{"what": "临时扩容服务器", "amount": "5000", "unit": "元", "approver": "wangfang"}],
    "cc_people": ["liuyang"],
    "cc_departments": "总经办",
    "notes": "下次会议：12月1日10:00 复盘进展",
    "next_meeting_at": "12月1日 10:00",
}  # fmt: skip


def form_of(card: dict[str, Any]) -> dict[str, Any]:
    return next(e for e in card["elements"] if e["kind"] == "form")


def posted_form(answer: dict[str, Any]) -> dict[str, Any]:
    """The form card among what the bot posted for one request."""
    return next(m["card"] for m in answer["posted"] if any(e["kind"] == "form" for e in m["card"]["elements"]))


def inputs_of(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for section in form_of(card)["sections"]:
        for item in section["inputs"]:
            found[item["name"]] = item
    return found


async def open_and_submit(chat: SandboxChat) -> tuple[dict, Record]:
    opened = await chat.say("zhangwei", "/record new 订单系统数据延迟问题专项沟通")
    (form_card,) = [m["card"] for m in opened["posted"]]
    assert inputs_of(form_card)["topic"]["value"] == "订单系统数据延迟问题专项沟通"
    submit = form_of(form_card)["submit"]
    answer = await chat.act("zhangwei", submit["action"], submit["payload"], SEED_FORM)
    with Session(chat.engine) as session:
        record = session.exec(select(Record)).one()
    return answer, record


async def active_record(chat: SandboxChat) -> Record:
    """The seed record, signed off by everyone."""
    answer, record = await open_and_submit(chat)
    confirm = answer["posted"][-1]["card"]["elements"][1]["buttons"][0]
    for user in ("lina", "wangfang", "zhangwei"):
        await chat.act(user, confirm["action"], confirm["payload"])
    with Session(chat.engine) as session:
        return session.get(Record, record.id)
