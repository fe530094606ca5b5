"""The seed example on Slack: /record new → modal → a field error → stored → sign-off buttons → reminders with <@U…>."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from sqlmodel import Session, select

from bot.platforms.slack import adapter
from scheduler.jobs import run_jobs
from storage.models import ActionItem, OutboxMessage, Participant, Record
from storage.types import OutboxStatus, RecordStatus
from tests.platforms.slack.fake import block_actions, slash_command, view_submission

from .conftest import Slack

ZHANG, LI, WANG = "U0ZHANG", "U0LI", "U0WANG"


def record_values() -> dict[str, Any]:
    """What the person fills in, by block id; dates as Slack's pickers give them."""
    return {
        "topic": "订单系统数据延迟问题专项沟通", "problem": "11月20日起订单同步延迟约4小时", "category": "technical",
        "meeting_start": "2026-11-24 14:00 +08:00", "place": "3楼会议室",
        "participants.0.person": ZHANG, "participants.0.department": "运营部", "participants.0.authority": "decision",
        "participants.1.person": LI, "participants.1.department": "技术部", "participants.1.authority": "both",
        "participants.2.person": WANG, "participants.2.department": "财务部", "participants.2.authority": "resource",
        "key_points.0.department": "技术部", "key_points.0.text": "硬件采购需走流程，周期约5天",
        "items.0.description": "优化同步脚本为多线程", "items.0.owner": LI, "items.0.due": "2026-11-27",
        "items.0.measure": "延迟≤1.5小时",
        "items.1.description": "审批临时扩容预算5000元", "items.1.owner": WANG, "items.1.due": "2026-11-26",
        "items.1.measure": "审批单通过",  # as the seed has it: a form with only warnings comes back once (issue 11)
        "resources.0.what": "临时扩容服务器", "resources.0.amount": "5000", "resources.0.unit": "元",
        "resources.0.approver": WANG,
        "next_meeting_at": "2026-12-01 10:00 +08:00",
    }  # fmt: skip


def state_of(view: dict[str, Any], values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``view.state.values`` as Slack sends them for ``view`` filled with ``values`` (the rest left empty)."""
    state: dict[str, dict[str, Any]] = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        element, value = block["element"], values.get(block["block_id"])
        kind = element["type"]
        if kind == "datetimepicker":
            cell = {
                "selected_date_time": int(datetime.fromisoformat(value.replace(" +", "+")).timestamp())
                if value
                else None
            }
        elif kind == "datepicker":
            cell = {"selected_date": value}
        elif kind == "users_select":
            cell = {"selected_user": value}
        elif kind == "multi_users_select":
            cell = {"selected_users": value or []}
        elif kind == "static_select":
            option = next((o for o in element["options"] if o["value"] == value), None)
            cell = {"selected_option": option}
        elif kind == "multi_static_select":
            cell = {"selected_options": [o for o in element["options"] if o["value"] in (value or [])]}
        else:
            cell = {"value": value}
        state[block["block_id"]] = {"value": {"type": kind, **cell}}
    return state


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def valid(blocks: list[dict[str, Any]]) -> bool:
    for block in Block.parse_all(blocks):
        block.validate_json()
    return True


async def test_the_seed_example_end_to_end_on_slack(slack: Slack) -> None:
    fake = slack.fake
    status, answer = await slack.send(slash_command("new 订单系统数据延迟", trigger_id=fake.new_trigger()))
    assert status == 200, answer

    # the form opens as a modal from the command's trigger
    (view,) = fake.opened
    View(**{k: v for k, v in view.items() if k not in ("id", "hash", "state")}).validate_json()
    assert view["callback_id"] == "record.submit" and len(view["title"]["text"]) <= 24
    inputs = {b["block_id"]: b["element"]["type"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["topic"] == "plain_text_input" and inputs["items.0.owner"] == "users_select"
    assert inputs["items.0.due"] == "datepicker" and inputs["meeting_start"] == "datetimepicker"
    assert inputs["cc_people"] == "multi_users_select" and inputs["category"] == "static_select"
    topic = next(b for b in view["blocks"] if b.get("block_id") == "topic")
    assert topic["element"]["initial_value"] == "订单系统数据延迟"

    # a missing owner is answered with a field error on that input; nothing is stored
    broken = {**record_values(), "items.1.owner": None}
    status, answer = await slack.send(view_submission(view, state_of(view, broken), user=ZHANG))
    assert status == 200 and answer["response_action"] == "errors"
    assert list(answer["errors"]) == ["items.1.owner"] and "责任人" in answer["errors"]["items.1.owner"]
    with Session(slack.engine) as session:
        assert session.exec(select(Record)).all() == []

    # corrected: the modal closes, the record is stored, the sign-off request is posted with real mentions
    status, answer = await slack.send(
        view_submission({**view, "hash": "h2"}, state_of(view, record_values()), user=ZHANG)
    )
    assert status == 200 and answer is None, answer
    with Session(slack.engine) as session:
        record = session.exec(select(Record)).one()
        assert record.status is RecordStatus.CONFIRMING and record.place == "3楼会议室"
        assert record.meeting_start == datetime.fromisoformat("2026-11-24T14:00+08:00")
        due = {i.seq: i.due_at for i in session.exec(select(ActionItem))}
        assert due[1] == datetime.fromisoformat("2026-11-27T23:59+08:00")
    await slack.work()
    assert len(fake.posted) == 1, "one message a second per channel, declared to the outbox: no 429 from Slack"
    slack.clock.advance(timedelta(seconds=1))
    await slack.work()
    summary, request = fake.posted  # the record, and the request to sign off
    slack.clock.advance(timedelta(seconds=1))
    await slack.work()
    assert fake.ephemeral[-1][1] == ZHANG and fake.ephemeral[-1][2].endswith("已提交，等待参与人确认")
    assert summary.blocks[0]["text"]["text"] == "R1 订单系统数据延迟问题专项沟通" and valid(summary.blocks)
    assert valid(request.blocks) and f"<@{ZHANG}> <@{LI}> <@{WANG}>" in request.everything
    confirm = next(b for b in buttons(request.blocks) if json.loads(b["value"])["a"] == "record.confirm")

    # each participant confirms with the button; the pressed message is updated, then follow-up starts
    for person in (LI, WANG, ZHANG):
        status, answer = await slack.send(
            block_actions(confirm, user=person, message_ts=request.ts, trigger_id=fake.new_trigger())
        )
        assert status == 200, answer
        slack.clock.advance(timedelta(seconds=1))
        await slack.work()
    for _ in range(6):  # each press updated the card and told the presser (ephemeral): one message a second
        slack.clock.advance(timedelta(seconds=1))
        await slack.work()
    assert fake.updated and all(u.ts == request.ts for u in fake.updated)
    assert [who for _, who, _ in fake.ephemeral[-3:]] == [LI, WANG, ZHANG], "each presser was told, privately"
    (started,) = [p for p in fake.posted if "已启动跟进" in p.text]
    assert "全员确认，开始跟进。责任人每天下班前汇报进度。" in started.text, "no cc: nobody to name, no （无）"
    with Session(slack.engine) as session:
        assert session.exec(select(Record)).one().status is RecordStatus.IN_PROGRESS
        assert {p.confirmed_at is not None for p in session.exec(select(Participant))} == {True}

    # the scheduler's end-of-day prompt arrives with real <@U…> mentions
    slack.clock.set(datetime.fromisoformat("2026-11-24T17:30+08:00"))
    run_jobs(slack.engine, as_of=datetime.fromisoformat("2026-11-24T17:30+08:00"), now=slack.clock.now())
    for _ in range(3):  # the prompt and the deadline warnings, one a second
        await slack.work()
        slack.clock.advance(timedelta(seconds=1))
    prompt = next(p for p in fake.posted if "下班前请汇报进度" in p.text)
    assert (
        "下班前请汇报进度" in prompt.everything
        and f"<@{LI}>" in prompt.everything
        and f"<@{WANG}>" in prompt.everything
    )
    assert valid(prompt.blocks)
    with Session(slack.engine) as session:
        assert {m.status for m in session.exec(select(OutboxMessage))} == {OutboxStatus.SENT}


async def test_every_slash_command_in_the_manifest_reaches_the_core(slack: Slack) -> None:
    manifest = (Path(adapter.__file__).parent / "manifest.yml").read_text(encoding="utf-8")
    commands = re.findall(r"^ +- command: (/[a-z]+)$", manifest, re.MULTILINE)
    # the bot's messages name these (发送 /approve R1 …): each is a slash command of the app, not a dead end
    assert {"/approve", "/reject", "/snooze", "/board", "/export", "/dept", "/settings", "/help"} <= set(commands)
    assert "/remind" not in commands  # Slack's own: 催办 is /closeloop remind R12, as the manifest says
    assert adapter.COMMAND.pattern == f"^/({'|'.join(c[1:] for c in commands)})$"
    answers = {  # each answered by the core's grammar, as the same words after @closeloop would be
        "/approve": "找不到记录 R999", "/reject": "用法：/reject R12", "/snooze": "用法：/snooze R12-2",
        "/board": "CLOSELOOP_PUBLIC_URL", "/export": "用法：/export", "/escalate": "找不到记录 R999",
        "/progress": "用法：/progress", "/report": "用法：/report", "/record": "/record new",
        "/action": "/action", "/closeloop": "/help", "/dept": "/dept set", "/settings": "设置",
    }  # fmt: skip
    assert set(answers) | {"/help"} == set(commands)
    for command in set(commands) - {"/help"}:
        text = "set" if command == "/dept" else "R999"  # /dept alone lists the departments, in the channel
        status, answer = await slack.send(slash_command(text, command=command, trigger_id=slack.fake.new_trigger()))
        assert status == 200 and answers[command] in answer, (command, answer)
    status, _ = await slack.send(slash_command("", command="/help", trigger_id=slack.fake.new_trigger()))
    await slack.work()
    (help_card,) = [m for m in slack.fake.posted if m.blocks[0]["text"]["text"] == "Closeloop 使用帮助"]
    # the help names 催办 as it is typed on Slack, where /remind is Slack's own
    assert status == 200 and "/closeloop remind R12" in help_card.everything and "*/remind" not in help_card.everything
    status, answer = await slack.send(
        slash_command("remind", command="/closeloop", trigger_id=slack.fake.new_trigger())
    )
    assert status == 200 and "用法：/closeloop remind R12" in answer and " /remind" not in answer, answer


async def test_warnings_beside_errors_are_shown_in_the_modal_before_they_count_as_seen(slack: Slack) -> None:
    fake = slack.fake
    await slack.send(slash_command("new 订单系统数据延迟", trigger_id=fake.new_trigger()))
    (view,) = fake.opened
    values = {**record_values(), "items.1.owner": None, "items.0.measure": ""}  # an error, and a warning
    status, answer = await slack.send(view_submission(view, state_of(view, values), user=ZHANG))
    # response_action "errors" could pin the error only: the modal is drawn again with both under their inputs
    assert status == 200 and answer["response_action"] == "update", answer
    notes = [b["elements"][0]["text"] for b in answer["view"]["blocks"] if b["type"] == "context"]
    assert any(note.startswith("❗") and "责任人" in note for note in notes), notes
    assert any(note.startswith("⚠️") and "衡量" in note for note in notes), notes
    assert json.loads(answer["view"]["private_metadata"]) == json.loads(view["private_metadata"])
    with Session(slack.engine) as session:
        assert session.exec(select(Record)).all() == []

    # the warning was seen: with the owner given, the next submission is stored as it is
    values = {**values, "items.1.owner": WANG}
    status, answer = await slack.send(view_submission({**view, "hash": "h2"}, state_of(view, values), user=ZHANG))
    assert status == 200 and answer is None, answer
    with Session(slack.engine) as session:
        assert session.exec(select(ActionItem).where(ActionItem.seq == 1)).one().measure in (None, "")
