"""The template's own example, 订单系统数据延迟, driven through the sandbox API from /record new to active."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from html import unescape

from sqlmodel import Session, select

from storage.models import (
    ActionItem,
    AuditEntry,
    CarbonCopy,
    Department,
    FormDraft,
    KeyPoint,
    OutboxMessage,
    Participant,
    Person,
    Record,
    ResourceRequest,
)
from storage.types import AuditAction, Category, ItemStatus, OutboxStatus, RecordStatus

from .conftest import SandboxChat, open_and_submit


async def test_the_seed_example_from_new_to_active(chat: SandboxChat) -> None:
    answer, record = await open_and_submit(chat)
    # the form turns into one line that says so; the record and the sign-off request are posted below it
    assert answer["update"]["header"]["title"] == f"{record.ref} 的表单已提交"
    assert answer["toast"] == f"{record.ref} 已提交，等待参与人确认"
    summary, _ = [m["card"] for m in answer["posted"]]
    assert summary["header"]["title"] == f"{record.ref} 订单系统数据延迟问题专项沟通"
    assert "订单系统数据延迟问题专项沟通" not in str(answer["update"]), "the record is not shown twice"
    request = answer["posted"][-1]["card"]
    assert "<@zhangwei> <@lina> <@wangfang>" in request["elements"][0]["text"]
    assert answer["posted"][-1]["names"] == {"zhangwei": "张伟", "lina": "李娜", "wangfang": "王芳"}
    confirm = request["elements"][1]["buttons"][0]

    for user in ("lina", "wangfang"):
        confirmed = await chat.act(user, confirm["action"], confirm["payload"])
        assert confirmed["toast"] == f"已确认 {record.ref}" and confirmed["posted"] == []
    last = await chat.act("zhangwei", confirm["action"], confirm["payload"])
    (activation,) = [m["card"] for m in last["posted"]]
    assert activation["header"]["title"] == f"{record.ref} 已启动跟进"
    text = activation["elements"][0]["text"]
    for person in ("liuyang", "zhangwei", "lina", "wangfang"):  # cc, and the leads of the departments taking part
        assert f"<@{person}>" in text
    assert "请知悉；责任人每天下班前汇报进度。" in text

    with Session(chat.engine) as session:
        stored = session.get(Record, record.id)
        assert stored.status is RecordStatus.IN_PROGRESS
        assert (stored.topic, stored.place, stored.meeting_link) == (
            "订单系统数据延迟问题专项沟通", "3楼会议室", "https://meeting.example.com/123")  # fmt: skip
        assert stored.meeting_start == datetime(2026, 11, 24, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai
        assert stored.meeting_end == datetime(2026, 11, 24, 7, 30, tzinfo=UTC)
        assert stored.next_meeting_at == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
        assert stored.category is Category.TECHNICAL
        assert stored.problem_why == "同步脚本单线程，服务器负载高" and stored.impact == "客服投诉每天约40起"
        assert stored.notes == "下次会议：12月1日10:00 复盘进展"
        recorder = session.get(Person, stored.recorder_id)
        assert recorder.user_id == "zhangwei"
        departments = {d.id: d.name for d in session.exec(select(Department))}
        people = {p.id: p.user_id for p in session.exec(select(Person))}
        participants = {
            people[p.person_id]: (departments[p.department_id], p.decision_authority, p.resource_authority,
                                  p.confirmed_at is not None)
            for p in session.exec(select(Participant))
        }  # fmt: skip
        assert participants == {
            "zhangwei": ("运营部", True, False, True), "lina": ("技术部", True, True, True),
            "wangfang": ("财务部", False, True, True),
        }  # fmt: skip
        points = {departments[k.department_id]: k.text for k in session.exec(select(KeyPoint))}
        assert points["技术部"] == "硬件采购需走流程，周期约5天" and len(points) == 3
        items = session.exec(select(ActionItem).order_by(ActionItem.seq)).all()
        assert [(i.seq, people[i.owner_id], i.status) for i in items] == [
            (1, "lina", ItemStatus.OPEN), (2, "wangfang", ItemStatus.OPEN), (3, "zhaoqiang", ItemStatus.OPEN)]  # fmt: skip
        assert items[0].due_at == datetime(2026, 11, 27, 15, 59, tzinfo=UTC)  # 27 Nov, end of day in Shanghai
        assert items[1].due_at == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
        assert items[2].term == "long" and items[0].measure == "延迟≤1.5小时"
        assert departments[items[0].department_id] == "技术部"
        (resource,) = session.exec(select(ResourceRequest)).all()
        assert (resource.what, resource.amount, resource.unit, people[resource.approver_id]) == (
            "临时扩容服务器", Decimal("5000"), "元", "wangfang")  # fmt: skip
        cc = session.exec(select(CarbonCopy)).all()
        assert {people.get(c.person_id) for c in cc if c.person_id} == {"liuyang"}
        assert {departments[c.department_id] for c in cc if c.department_id} == {"总经办"}
        actions = [a.action for a in session.exec(select(AuditEntry).order_by(AuditEntry.id))]
        assert actions[0] is AuditAction.RECORD_CREATED and actions[-1] is AuditAction.RECORD_ACTIVATED
        assert actions.count(AuditAction.ITEM_ADDED) == 3 and actions.count(AuditAction.RECORD_CONFIRMED) == 3
        assert session.exec(select(FormDraft)).all() == [], "the draft is gone once the record is stored"
        assert {m.status for m in session.exec(select(OutboxMessage))} == {OutboxStatus.SENT}

    history = await chat.history()
    titles = [m["card"]["header"]["title"] for m in history]
    assert titles[0] == "新建跨部门沟通记录" and titles[-1] == f"{record.ref} 已启动跟进"


async def test_the_page_renders_the_chat_as_html_forms(chat: SandboxChat) -> None:
    await open_and_submit(chat)
    response = await chat.client.get(f"/?group={chat.group}&as=lina")
    html = await response.text()
    assert response.status == 200 and "确认无误" in html and 'name="items.0.owner"' in html
    assert 'name="action" value="record.confirm"' in html and "李娜" in html


async def test_the_page_works_with_plain_html_form_posts(chat: SandboxChat) -> None:
    """What a browser does: open the page, type a command, then submit the rendered form with one field missing."""
    first = await (await chat.client.get("/?group=demo&as=zhangwei")).text()
    csrf = unescape(re.search(r'name="csrf" value="([^"]*)"', first).group(1))
    said = await chat.client.post("/sandbox/say", data={"group": "demo", "as": "zhangwei", "text": "/record new 盘点差异",
                                                       "csrf": csrf}, allow_redirects=False)  # fmt: skip
    assert said.status == 303 and said.headers["Location"] == "/?group=demo&as=zhangwei"
    html = await (await chat.client.get("/?group=demo&as=zhangwei")).text()
    payload = re.search(r'name="payload" value="([^"]*)"', html).group(1)
    form = {
        "group": "demo", "as": "zhangwei", "action": "record.submit", "payload": unescape(payload), "csrf": csrf,
        "topic": "盘点差异", "problem": "每周盘点差异超过2%", "participants.0.person": "zhangwei",
        "items.0.description": "复核盘点流程并出具报告", "items.0.owner": "", "items.0.due": "下周五",
    }  # fmt: skip
    acted = await chat.client.post("/sandbox/act", data=form, allow_redirects=False)
    assert acted.status == 303
    page = await (await chat.client.get("/?group=demo&as=zhangwei")).text()
    assert "每项任务需要一位责任人。" in page and 'value="复核盘点流程并出具报告"' in page
    form["items.0.owner"] = "lina"
    await chat.client.post("/sandbox/act", data=form, allow_redirects=False)
    page = await (await chat.client.get("/?group=demo&as=zhangwei")).text()
    assert "R1 已提交，等待参与人确认" in page and "确认无误" in page


async def test_the_page_is_a_chat_a_person_can_live_in(chat: SandboxChat) -> None:
    """Cards in their latest state (a used form is not live twice), typed text as bubbles, groups to pick, the clock."""
    answer, _ = await open_and_submit(chat)
    request = answer["posted"][-1]
    confirm = request["card"]["elements"][1]["buttons"][0]
    pressed = await chat.act("lina", confirm["action"], confirm["payload"], message=request["id"])
    assert pressed["update_kept"] is True
    history = await chat.history()
    assert [m["id"] for m in history].count(request["id"]) == 1, "one copy of the card"
    (kept,) = [m for m in history if m["id"] == request["id"]]
    assert kept["replaced"] and kept["card"] != request["card"], "the card in its new state, where it was"

    page = await (await chat.client.get(f"/?group={chat.group}&as=lina")).text()
    bubble = page.index('<span class="bubble">/record new 订单系统数据延迟问题专项沟通</span>')
    assert bubble < page.index("新建跨部门沟通记录"), "what was typed comes before what the bot answered"
    assert f'<option value="{chat.group}">' in page, "the groups can be picked"

    csrf = re.search(r'name="csrf" value="([^"]*)"', page).group(1)
    moved = await chat.client.post("/sandbox/clock", data={"group": chat.group, "as": "lina", "csrf": unescape(csrf),
                                   "at": "2026-11-24T17:30+08:00"}, allow_redirects=False)  # fmt: skip
    assert moved.status == 303
    page = await (await chat.client.get(f"/?group={chat.group}&as=lina")).text()
    assert "本群收到 / this group got 1" in page and "<li>待确认：R1 " in page, "what the clock posted here"
