"""资源需求的审批: requests go to their approvers with the sign-off request, only the named approver (or an admin)
decides, the decision shows on the card and in the export, and a request still pending a workday later is
reminded once."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from storage.models import Person, ResourceRequest
from storage.types import AuditAction, ResourceStatus

from .conftest import SEED_FORM, SandboxChat, active_record, inputs_of, open_and_submit
from .story import audit, button, field_errors, jump, posted_texts, press, submit_of, texts, the_form, titles


def request(chat: SandboxChat) -> ResourceRequest:
    with Session(chat.engine) as session:
        return session.exec(select(ResourceRequest)).one()


async def test_the_request_goes_to_its_approver_and_only_she_decides(chat: SandboxChat) -> None:
    answer, _ = await open_and_submit(chat)
    signoff = answer["posted"][-1]["card"]
    said = "\n".join(e.get("text", "") for e in signoff["elements"])
    assert "1. 临时扩容服务器 5000 元 — <@wangfang> 请审批" in said
    approve = button(signoff, "resource.approve", extra={"request": str(request(chat).id)})
    refused = await press(chat, "lina", approve)
    assert "只有资源需求“临时扩容服务器”的审批人或管理员可以审批" in texts(refused)
    assert request(chat).status is ResourceStatus.PENDING

    approved = await press(chat, "wangfang", approve)
    assert approved["toast"] == "已批准"
    assert "<@wangfang> 批准了 R1 的资源需求：临时扩容服务器 5000 元" in posted_texts(approved)
    stored = request(chat)
    with Session(chat.engine) as session:
        decider = session.get(Person, stored.decided_by_id)
    assert (stored.status, decider.user_id, stored.decided_at is not None) == (
        ResourceStatus.APPROVED,
        "wangfang",
        True,
    )
    shown = texts(await chat.say("lina", "/record show R1"))
    assert "临时扩容服务器 5000 元，审批人 <@wangfang>（已批准，王芳 2026-11-24 09:00）" in shown
    exported = texts(await chat.say("lina", "/record export R1"))
    assert "临时扩容服务器 5000 元，审批人 王芳：已批准（2026-11-24 09:00）" in exported
    assert "已审批过" in texts(await press(chat, "wangfang", approve)), "decided once"
    (entry,) = audit(chat, AuditAction.RESOURCE_DECIDED)
    assert entry.detail["decision"] == "approved"


@pytest.mark.parametrize(
    "text", ["驳回 R1 1 本季度预算已用完", "/reject R1 1 本季度预算已用完", "驳回 R1 本季度预算已用完"]
)
async def test_rejecting_needs_a_reason_and_shows_it(chat: SandboxChat, text: str) -> None:
    await active_record(chat)
    assert "缺少原因" in texts(await chat.say("wangfang", "驳回 R1 1"))
    assert "R1 没有等您审批的资源需求。" in texts(await chat.say("lina", "驳回 R1 预算不足"))
    assert "只有资源需求“临时扩容服务器”的审批人或管理员可以审批" in texts(await chat.say("lina", "驳回 R1 1 预算不足"))
    assert "R1 没有第 3 项资源需求。" in texts(await chat.say("wangfang", "驳回 R1 3 预算不足"))
    answer = await chat.say("wangfang", text)
    assert "<@wangfang> 驳回了 R1 的资源需求：临时扩容服务器 5000 元（原因：本季度预算已用完）" in posted_texts(answer)
    stored = request(chat)
    assert (stored.status, stored.decision_note) == (ResourceStatus.REJECTED, "本季度预算已用完")
    assert "（已驳回，王芳 2026-11-24 09:00：本季度预算已用完）" in texts(await chat.say("zhangwei", "/record show R1"))


async def test_the_reject_button_asks_for_the_reason_in_a_form(chat: SandboxChat) -> None:
    answer, _ = await open_and_submit(chat)
    reject = button(answer["posted"][-1]["card"], "resource.reject_open")
    assert "审批人或管理员" in texts(await press(chat, "lina", reject)), "nobody types a reason for nothing"
    form = the_form(await press(chat, "wangfang", reject))
    empty = await press(chat, "wangfang", submit_of(form), {"reason": " "})
    assert field_errors(empty["update"]) == {
        "reason": "驳回需要写明原因，例如“驳回 R12 1 本季度预算已用完，请走下季度预算”。"
    }
    done = await press(chat, "wangfang", submit_of(form), {"reason": "请走下季度预算"})
    assert request(chat).status is ResourceStatus.REJECTED and "驳回了" in posted_texts(done)


@pytest.mark.parametrize("text", ["批准 R1", "/approve R1 1 同意，走紧急采购"])
async def test_an_admin_may_decide_for_the_approver(chat: SandboxChat, text: str) -> None:
    await active_record(chat)  # 张伟 is an admin of the sandbox
    await chat.say("zhangwei", text)
    stored = request(chat)
    assert stored.status is ResourceStatus.APPROVED
    assert stored.decision_note == ("同意，走紧急采购" if "同意" in text else None)
    exported = texts(await chat.say("lina", "/record export R1"))
    note = "，同意，走紧急采购" if "同意" in text else ""
    assert f"审批人 王芳：已批准（2026-11-24 09:00，由 张伟 审批{note}）" in exported, "who decided, when, the note"


async def test_a_request_still_pending_a_workday_later_is_reminded_once(chat: SandboxChat) -> None:
    await active_record(chat)  # sent to 王芳 on Tuesday 24 Nov 09:00
    assert not [t for t in titles(await jump(chat, "2026-11-25T08:59+08:00")) if "仍待审批" in t]
    (card,) = [m["card"] for m in (await jump(chat, "2026-11-25T09:00+08:00"))["posted"]
               if m["card"]["header"]["title"].startswith("仍待审批")]  # fmt: skip
    assert card["header"]["title"] == "仍待审批：R1 订单系统数据延迟问题专项沟通"
    assert "<@wangfang> 请审批" in card["elements"][1]["text"]
    assert not [t for t in titles(await jump(chat, "2026-11-26T09:00+08:00")) if "仍待审批" in t], "once"


async def test_a_decided_request_is_not_reminded_and_keeps_its_decision_across_edits(chat: SandboxChat) -> None:
    await active_record(chat)
    await chat.say("wangfang", "批准 R1")
    assert not [t for t in titles(await jump(chat, "2026-11-25T09:00+08:00")) if "仍待审批" in t]
    form = the_form(await chat.say("zhangwei", "/record edit R1"))
    values = {name: item.get("value") for name, item in inputs_of(form).items() if "value" in item}
    values.update(participants=SEED_FORM["participants"], key_points=SEED_FORM["key_points"],
                  resources=SEED_FORM["resources"], notes="审批后补充备注")  # fmt: skip
    assert (await press(chat, "zhangwei", submit_of(form), values))["toast"] == "R1 已保存"
    assert request(chat).status is ResourceStatus.APPROVED
    form = the_form(await chat.say("zhangwei", "/record edit R1"))
    values = {name: item.get("value") for name, item in inputs_of(form).items() if "value" in item}
    more = [{**SEED_FORM["resources"][0], "amount": "8000"}]
    values.update(participants=SEED_FORM["participants"], key_points=SEED_FORM["key_points"], resources=more)
    changed = await press(chat, "zhangwei", submit_of(form), values)
    assert "1. 临时扩容服务器 8000 元 — <@wangfang> 请审批" in posted_texts(changed), "a changed request asks again"
    assert request(chat).status is ResourceStatus.PENDING
