"""Files on Slack: an export, and the review's chart, shared into the channel just before the card that names them.

R1 is made as people make it (``/record new`` → the modal → submitted); ``/record
export R1 xlsx`` asks for the file; the scheduler posts the monthly review. The
fake Slack takes the upload flow ``files_upload_v2`` drives (getUploadURLExternal
→ the bytes to the upload URL → completeUploadExternal) and keeps what was shared.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import openpyxl
from sqlmodel import Session, select

from scheduler.jobs import run_jobs
from storage.models import FileUpload, OutboxMessage, StoredFile
from storage.types import FileKind, OutboxStatus
from tests.platforms.slack.fake import slash_command, view_submission

from .conftest import Slack
from .test_flow import ZHANG, record_values, state_of, valid

XLSX = "R1-订单系统数据延迟问题专项沟通.xlsx"
UPLOAD_FLOW = ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]


async def drain(slack: Slack, seconds: int = 4) -> None:
    """Let the outbox send what is due, one message a second per channel."""
    for _ in range(seconds):
        await slack.work()
        slack.clock.advance(timedelta(seconds=1))


async def record_r1(slack: Slack) -> None:
    """张伟 opens R1 from the modal, as in the seed example; what the bot said so far is forgotten."""
    fake = slack.fake
    status, _ = await slack.send(slash_command("new 订单系统数据延迟", trigger_id=fake.new_trigger()))
    assert status == 200
    (view,) = fake.opened
    status, answer = await slack.send(view_submission(view, state_of(view, record_values()), user=ZHANG))
    assert status == 200 and answer is None, answer
    await drain(slack)
    fake.posted.clear()
    fake.calls.clear()


def stored(slack: Slack, kind: FileKind) -> StoredFile:
    with Session(slack.engine) as session:
        return session.exec(select(StoredFile).where(StoredFile.kind == kind)).one()


def outbox(slack: Slack) -> OutboxMessage:
    with Session(slack.engine) as session:
        return session.exec(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()  # type: ignore[union-attr]


def kept(slack: Slack) -> list[tuple[str, str]]:
    with Session(slack.engine) as session:
        return [(u.scope, u.key) for u in session.exec(select(FileUpload))]


def flow(slack: Slack) -> list[str]:
    """The calls that carry files and cards, in order (not users.info, auth.test …)."""
    return [c for c in slack.fake.calls if c.startswith("files.") or c in ("upload", "chat.postMessage")]


async def test_an_export_is_shared_into_the_channel_with_its_bytes_intact_then_the_card(slack: Slack) -> None:
    fake = slack.fake
    await record_r1(slack)
    status, _ = await slack.send(slash_command("export R1 xlsx", trigger_id=fake.new_trigger()))
    assert status == 200
    await drain(slack, 2)

    (shared,) = fake.shared
    export = stored(slack, FileKind.RECORD_EXPORT)
    assert (shared.channel, shared.filename, shared.title) == ("C0GROUP", XLSX, XLSX) and export.filename == XLSX
    assert shared.content == export.content and shared.alt_txt is None
    rows = [
        c for row in openpyxl.load_workbook(io.BytesIO(shared.content)).active.iter_rows(values_only=True) for c in row
    ]
    assert "沟通主题" in rows and "订单系统数据延迟问题专项沟通" in rows
    assert flow(slack) == [*UPLOAD_FLOW, "chat.postMessage"], "shared first, then the card that names it"
    (card,) = fake.posted
    assert valid(card.blocks) and f"导出文件：{XLSX}" in card.everything and f"📎 {XLSX}" in card.everything
    assert kept(slack) == [("C0GROUP", shared.id)]
    assert outbox(slack).status is OutboxStatus.SENT


async def test_a_retry_after_the_card_failed_shares_nothing_again(slack: Slack) -> None:
    fake = slack.fake
    await record_r1(slack)
    await slack.send(slash_command("export R1 xlsx", trigger_id=fake.new_trigger()))
    fake.fail_next("chat.postMessage", error="internal_error", status=500)
    await slack.work()
    assert len(fake.shared) == 1 and fake.posted == []
    assert outbox(slack).status is OutboxStatus.PENDING

    slack.clock.advance(timedelta(minutes=1))
    await slack.work()
    (card,) = fake.posted
    assert len(fake.shared) == 1 and f"📎 {XLSX}" in card.everything
    assert flow(slack) == [*UPLOAD_FLOW, "chat.postMessage", "chat.postMessage"], "uploaded once, the card twice tried"
    assert outbox(slack).status is OutboxStatus.SENT and outbox(slack).attempts == 2


async def test_a_failed_upload_is_retried_by_the_outbox_and_the_card_waits_for_it(slack: Slack) -> None:
    fake = slack.fake
    await record_r1(slack)
    await slack.send(slash_command("export R1 xlsx", trigger_id=fake.new_trigger()))
    fake.fail_next("upload", error="upstream failure", status=500)
    await slack.work()
    pending = outbox(slack)
    assert pending.status is OutboxStatus.PENDING and "status: 500" in pending.last_error
    assert fake.shared == [] and fake.posted == []

    slack.clock.advance(timedelta(minutes=1))
    fake.fail_next("files.getUploadURLExternal", error="ratelimited", status=429, headers={"Retry-After": "20"})
    await slack.work()
    throttled = outbox(slack)
    assert throttled.status is OutboxStatus.PENDING
    assert throttled.next_attempt_at - slack.clock.now() >= timedelta(seconds=20), "Slack's Retry-After is honoured"

    slack.clock.advance(timedelta(minutes=1))
    await slack.work()
    (shared,) = fake.shared
    assert shared.content == stored(slack, FileKind.RECORD_EXPORT).content and len(fake.posted) == 1
    assert outbox(slack).status is OutboxStatus.SENT and outbox(slack).attempts == 3


async def test_a_file_slack_refuses_for_good_leaves_the_card_naming_it(slack: Slack) -> None:
    fake = slack.fake
    await record_r1(slack)
    await slack.send(slash_command("export R1 xlsx", trigger_id=fake.new_trigger()))
    fake.fail_next("files.getUploadURLExternal", error="missing_scope")  # the app was installed without files:write
    await slack.work()
    (card,) = fake.posted
    assert f"📎 {XLSX}" in card.everything and fake.shared == [] and kept(slack) == []
    assert outbox(slack).status is OutboxStatus.SENT


async def test_the_monthly_review_shares_its_chart_as_an_image_before_the_card(slack: Slack) -> None:
    fake = slack.fake
    await record_r1(slack)
    first_workday = datetime.fromisoformat("2026-12-01T17:30+08:00")
    slack.clock.set(first_workday)
    assert run_jobs(slack.engine, as_of=first_workday, names=["monthly_review"]) == {"monthly_review": 1}
    await drain(slack, 2)

    chart = stored(slack, FileKind.REVIEW_CHART)
    (shared,) = fake.shared
    assert shared.content == chart.content and shared.content.startswith(b"\x89PNG")
    assert (shared.channel, shared.filename, shared.alt_txt) == ("C0GROUP", chart.filename, chart.filename)
    (card,) = fake.posted
    assert valid(card.blocks) and card.blocks[0]["text"]["text"] == "2026年11月 复盘"
    assert flow(slack) == [*UPLOAD_FLOW, "chat.postMessage"]
