"""Drafts are capped: a form too large to be a real draft is refused in the person's language, nothing stored."""

from __future__ import annotations

import copy

from sqlmodel import Session, select

from handlers.common import MAX_DRAFT_BYTES
from storage.models import FormDraft, Record
from tests.bot.platforms.sandbox.conftest import SEED_FORM, SandboxChat, chat, form_of  # noqa: F401  (a fixture)

HUGE = "很长的内容" * (MAX_DRAFT_BYTES // 10)  # 5 characters × 3 bytes each: well over the cap


def drafts(chat: SandboxChat) -> list[FormDraft]:  # noqa: F811
    with Session(chat.engine) as session:
        return list(session.exec(select(FormDraft)))


async def open_form(chat: SandboxChat) -> dict:  # noqa: F811
    return (await chat.say("zhangwei", "/record new 仓储系统盘点差异"))["posted"][-1]["card"]


async def test_a_draft_over_the_cap_is_refused_with_a_clear_message(chat: SandboxChat) -> None:  # noqa: F811
    cancel = form_of(await open_form(chat))["cancel"]
    saved = await chat.act(
        "zhangwei", cancel["action"], cancel["payload"], {"topic": "仓储系统盘点差异", "notes": "复核"}
    )
    assert saved["toast"].startswith("草稿已保存")
    refused = await chat.act("zhangwei", cancel["action"], cancel["payload"], {"topic": "仓储", "notes": HUGE})
    assert refused["toast"].startswith("草稿太大（约 ") and "上限 256 KB），没有保存" in refused["toast"]
    (kept,) = drafts(chat)
    assert kept.values == {"topic": "仓储系统盘点差异", "notes": "复核"}, "the earlier draft is untouched"


async def test_the_message_follows_the_groups_language(chat: SandboxChat) -> None:  # noqa: F811
    await chat.say("zhangwei", "/settings language en")
    cancel = form_of(await open_form(chat))["cancel"]
    refused = await chat.act("zhangwei", cancel["action"], cancel["payload"], {"notes": HUGE})
    assert refused["toast"].startswith("The draft is too large (about ") and "the limit is 256 KB" in refused["toast"]


async def test_a_submission_too_large_to_keep_as_a_draft_still_shows_its_field_errors(
    chat: SandboxChat,  # noqa: F811
) -> None:
    submit = form_of(await open_form(chat))["submit"]
    form = copy.deepcopy(SEED_FORM)
    form["notes"] = HUGE
    answer = await chat.act("zhangwei", submit["action"], submit["payload"], form)
    assert "需要修改" in answer["update"]["elements"][0]["text"], "the notes are over their limit"
    assert [d.values.get("notes") for d in drafts(chat)] != [HUGE], "not kept"
    with Session(chat.engine) as session:
        assert session.exec(select(Record)).all() == []
