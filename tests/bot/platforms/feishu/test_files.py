"""Files on Feishu: an export arrives as a file message after its card, the review's chart as an image in the card.

Everything comes in through the encrypted event endpoint (``@bot /record new`` and
the form's callback make R1, ``@bot /record export R1 xlsx`` asks for the file) or
from the scheduler (the monthly review), and goes out through the outbox to the
fake open platform, which takes the uploads as Feishu does and keeps their bytes.
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta

import openpyxl
from sqlmodel import Session, select

from scheduler.jobs import run_jobs
from storage.db import unit_of_work
from storage.models import FileUpload, OutboxMessage, StoredFile
from storage.outbox import enqueue
from storage.types import FileKind, OutboxStatus

from .conftest import BOT, Feishu
from .test_flow import find, flat_form

BOT_MENTION = [("@_user_1", BOT, "Closeloop")]
XLSX = "R1-订单系统数据延迟问题专项沟通.xlsx"


async def record_r1(feishu: Feishu) -> None:
    """张伟 opens R1 with the form card, as in the seed example; what the bot said so far is forgotten."""
    await feishu.push(feishu.message("@_user_1 /record new 订单系统数据延迟", mentions=BOT_MENTION))
    await feishu.work()
    (form,) = find(feishu.fake.sent[0].card, "form")
    submit = next(e for e in form["elements"] if e.get("form_action_type") == "submit")
    status, answer = await feishu.push(feishu.card_action(submit, operator="ou_zhang", form=flat_form()))
    assert status == 200 and answer["toast"]["content"].endswith("已提交，等待参与人确认")
    await feishu.work()
    feishu.fake.sent.clear()


async def ask_for_export(feishu: Feishu) -> str:
    """``@bot /record export R1 xlsx`` in the group; returns the command message's id."""
    event = feishu.message("@_user_1 /record export R1 xlsx", mentions=BOT_MENTION)
    status, _ = await feishu.push(event)
    assert status == 200
    return event["event"]["message"]["message_id"]


def stored(feishu: Feishu, kind: FileKind) -> StoredFile:
    with Session(feishu.engine) as session:
        return session.exec(select(StoredFile).where(StoredFile.kind == kind)).one()


def outbox(feishu: Feishu) -> OutboxMessage:
    with Session(feishu.engine) as session:
        return session.exec(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()  # type: ignore[union-attr]


def kept_keys(feishu: Feishu) -> list[tuple[str, str]]:
    with Session(feishu.engine) as session:
        return [(u.scope, u.key) for u in session.exec(select(FileUpload))]


def sheet_text(content: bytes) -> str:
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    return json.dumps(
        [[c for c in row if c is not None] for row in sheet.iter_rows(values_only=True)], ensure_ascii=False
    )


async def test_an_export_arrives_as_a_file_after_its_card_with_its_bytes_intact(feishu: Feishu) -> None:
    fake = feishu.fake
    await record_r1(feishu)
    command = await ask_for_export(feishu)
    await feishu.work()

    (upload,) = fake.uploads
    export = stored(feishu, FileKind.RECORD_EXPORT)
    assert (
        (upload.kind, upload.file_type, upload.file_name) == ("file", "xls", XLSX) == ("file", "xls", export.filename)
    )
    assert upload.content == export.content
    assert "沟通主题" in sheet_text(upload.content) and "订单系统数据延迟问题专项沟通" in sheet_text(upload.content)

    card, file = fake.messages
    assert card.reply_to == file.reply_to == command, "both answer the command, card first"
    assert card.card["header"]["title"]["content"] == f"导出文件：{XLSX}" and f"📎 {XLSX}" in card.text
    assert file.card == {"file_key": upload.key}
    assert kept_keys(feishu) == [("cli_test:file", upload.key)]
    assert outbox(feishu).status is OutboxStatus.SENT


async def test_a_retry_after_a_failed_send_uploads_nothing_again(feishu: Feishu) -> None:
    fake = feishu.fake
    await record_r1(feishu)
    command = await ask_for_export(feishu)
    reply = f"/open-apis/im/v1/messages/{command}/reply"
    fake.fail_next(status=502, path=reply, skip=1)  # the card goes out; the file message after it fails
    await feishu.work()
    assert [m.card.get("schema") for m in fake.messages] == ["2.0"] and len(fake.uploads) == 1
    assert outbox(feishu).status is OutboxStatus.PENDING

    feishu.clock.advance(timedelta(minutes=1))
    await feishu.work()
    (upload,) = fake.uploads
    card, file = fake.messages
    assert card.card["schema"] == "2.0" and file.card == {"file_key": upload.key}, "the card once (by its uuid)"
    assert outbox(feishu).status is OutboxStatus.SENT and outbox(feishu).attempts == 2


async def test_a_failed_upload_is_retried_by_the_outbox_and_nothing_goes_out_before_it(feishu: Feishu) -> None:
    fake = feishu.fake
    await record_r1(feishu)
    await ask_for_export(feishu)
    fake.fail_next(status=503, path="/open-apis/im/v1/files")
    await feishu.work()
    assert fake.uploads == [] and fake.messages == []
    pending = outbox(feishu)
    assert pending.status is OutboxStatus.PENDING and "/open-apis/im/v1/files: HTTP 503" in pending.last_error

    feishu.clock.advance(timedelta(minutes=1))
    fake.fail_next(status=429, code=99991400, headers={"x-ogw-ratelimit-reset": "30"}, path="/open-apis/im/v1/files")
    await feishu.work()
    throttled = outbox(feishu)
    assert throttled.status is OutboxStatus.PENDING
    assert throttled.next_attempt_at - feishu.clock.now() >= timedelta(seconds=30), "Feishu's reset is honoured"

    feishu.clock.advance(timedelta(minutes=1))
    await feishu.work()
    (upload,) = fake.uploads
    assert [m.card for m in fake.messages][1] == {"file_key": upload.key}
    assert outbox(feishu).status is OutboxStatus.SENT and outbox(feishu).attempts == 3


async def test_a_file_feishu_refuses_for_good_leaves_the_card_naming_it(feishu: Feishu) -> None:
    await record_r1(feishu)
    await ask_for_export(feishu)
    feishu.fake.fail_next(status=400, code=234006, path="/open-apis/im/v1/files")  # too large, as Feishu judges it
    await feishu.work()
    (card,) = feishu.fake.messages
    assert f"📎 {XLSX}" in card.text and feishu.fake.uploads == [] and kept_keys(feishu) == []
    assert outbox(feishu).status is OutboxStatus.SENT


async def test_the_monthly_review_shows_its_chart_in_the_card_uploaded_once(feishu: Feishu) -> None:
    fake = feishu.fake
    await record_r1(feishu)
    first_workday = datetime.fromisoformat("2026-12-01T17:30+08:00")
    feishu.clock.set(first_workday)
    assert run_jobs(feishu.engine, as_of=first_workday, names=["monthly_review"]) == {"monthly_review": 1}
    fake.fail_next(status=500, path="/open-apis/im/v1/messages")  # the card fails once, after the upload
    await feishu.work()
    assert len(fake.uploads) == 1 and fake.messages == []

    feishu.clock.advance(timedelta(minutes=1))
    await feishu.work()
    (upload,) = fake.uploads
    chart = stored(feishu, FileKind.REVIEW_CHART)
    assert (upload.kind, upload.image_type) == ("image", "message") and upload.content == chart.content
    assert upload.content.startswith(b"\x89PNG")
    (card,) = fake.messages
    assert card.reply_to is None and card.card["header"]["title"]["content"] == "2026年11月 复盘"
    (image,) = find(card.card, "img")
    assert image["img_key"] == upload.key and image["alt"] == {"tag": "plain_text", "content": chart.filename}
    assert "📎" not in card.text, "shown, not named"

    # the same card again (a second message with the same chart): shown with the key already given
    with unit_of_work(feishu.engine) as session:
        enqueue(session, platform="feishu", target="oc_group", card=outbox(feishu).payload["card"], key="again",
                now=feishu.clock.now())  # fmt: skip
    feishu.clock.advance(timedelta(seconds=1))
    await feishu.work()
    assert len(fake.uploads) == 1 and find(fake.messages[-1].card, "img")[0]["img_key"] == upload.key
    assert kept_keys(feishu) == [("cli_test:image", upload.key)]
