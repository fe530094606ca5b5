"""Signing again: a substantive change to a submitted record asks the people it concerns again; a cosmetic one
does not; only the recorder (or an admin) changes the content; a closed record is read-only."""

from __future__ import annotations

from sqlmodel import Session, select

from storage.models import Participant, Person, Record
from storage.types import AuditAction, RecordStatus

from .conftest import SEED_FORM, SandboxChat, active_record, inputs_of
from .story import audit, button, field_errors, posted_texts, press, record, submit_of, texts, the_form


def confirmations(chat: SandboxChat) -> dict[str, bool]:
    with Session(chat.engine) as session:
        people = {p.id: p.user_id for p in session.exec(select(Person))}
        return {people[p.person_id]: p.confirmed_at is not None for p in session.exec(select(Participant))}


async def edit_values(chat: SandboxChat, user: str) -> tuple[dict, dict]:
    """The edit form as ``user`` gets it, and its values (lists as the seed form has them)."""
    form = the_form(await chat.say(user, "/record edit R1"))
    values = {name: item.get("value") for name, item in inputs_of(form).items() if "value" in item}
    values.update(participants=SEED_FORM["participants"], key_points=SEED_FORM["key_points"])
    return form, values


async def test_a_new_problem_description_asks_every_other_participant_to_sign_again(chat: SandboxChat) -> None:
    await active_record(chat)
    assert confirmations(chat) == {"zhangwei": True, "lina": True, "wangfang": True}
    form, values = await edit_values(chat, "zhangwei")
    values["problem"] = "自11月20日起订单系统数据同步延迟约6小时，客服和仓储都无法查询"
    answer = await press(chat, "zhangwei", submit_of(form), values)
    assert answer["toast"] == "R1 已保存"
    said = posted_texts(answer)
    assert "R1 有实质修改，请重新确认" in said and "<@lina> <@wangfang> 请核对以下修改后点击“确认无误”" in said
    assert (
        "问题描述：自11月20日起订单系统数据同步延迟约4小时" in said
        and "→ 自11月20日起订单系统数据同步延迟约6小时" in said
    )
    assert confirmations(chat) == {"zhangwei": True, "lina": False, "wangfang": False}, "the recorder made it"
    assert record(chat).status is RecordStatus.IN_PROGRESS, "follow-up goes on meanwhile"
    (reset,) = audit(chat, AuditAction.SIGNOFF_RESET)
    assert len(reset.detail["people"]) == 2
    confirm = button(answer["posted"][-1]["card"], "record.confirm")
    for user in ("lina", "wangfang"):
        assert (await press(chat, user, confirm))["toast"] == "已确认 R1"
    assert confirmations(chat) == {"zhangwei": True, "lina": True, "wangfang": True}


async def test_a_typo_in_the_notes_is_cosmetic_and_any_participant_may_fix_it(chat: SandboxChat) -> None:
    await active_record(chat)
    form, values = await edit_values(chat, "lina")
    values["notes"] = "下次会议：12月1日10:00 复盘进展（3楼）"
    answer = await press(chat, "lina", submit_of(form), values)
    assert answer["toast"] == "R1 已保存" and "请重新确认" not in posted_texts(answer)
    assert confirmations(chat) == {"zhangwei": True, "lina": True, "wangfang": True}
    assert audit(chat, AuditAction.SIGNOFF_RESET) == []


async def test_only_the_recorder_changes_the_content_of_a_submitted_record(chat: SandboxChat) -> None:
    await active_record(chat)
    form, values = await edit_values(chat, "lina")
    values["problem"] = "技术部改写的问题描述，数据延迟约2小时"
    answer = await press(chat, "lina", submit_of(form), values)
    assert "只能由记录人或管理员修改" in texts(answer)
    with Session(chat.engine) as session:
        assert session.get(Record, 1).problem.startswith("自11月20日起订单系统数据同步延迟约4小时")
    assert confirmations(chat) == {"zhangwei": True, "lina": True, "wangfang": True}


async def test_a_participant_added_later_is_asked_to_sign(chat: SandboxChat) -> None:
    await active_record(chat)
    form, values = await edit_values(chat, "zhangwei")
    values["participants"] = [*SEED_FORM["participants"], {"person": "zhaoqiang", "department": "技术部"}]
    answer = await press(chat, "zhangwei", submit_of(form), values)
    said = posted_texts(answer)
    assert "<@zhaoqiang> 请核对以下修改后点击“确认无误”" in said and "新增参与人员 赵强" in said
    assert "<@lina>" not in said.split("请重新确认")[1], "the others keep their sign-off"
    assert confirmations(chat) == {"zhangwei": True, "lina": True, "wangfang": True, "zhaoqiang": False}


async def test_a_closed_record_is_read_only_until_reopened(chat: SandboxChat) -> None:
    await active_record(chat)
    form, values = await edit_values(chat, "zhangwei")
    for ref, owner in (("R1-1", "lina"), ("R1-2", "wangfang"), ("R1-3", "zhaoqiang")):
        await chat.say(owner, f"/action done {ref} 已上线，延迟降到1小时")
    await chat.say("zhangwei", "/record close R1 11月30日监控显示延迟≤1.5小时")
    values["notes"] = "闭环后补充"
    refused = await press(chat, "zhangwei", submit_of(form), values)
    assert "已被修改" in texts(refused) or "不能修改" in texts(refused)
    fresh, values = await edit_values(chat, "zhangwei")
    values["notes"] = "闭环后补充"
    assert "当前状态为“已闭环”，不能修改" in texts(await press(chat, "zhangwei", submit_of(fresh), values))
    assert record(chat).notes != "闭环后补充"
    await chat.say("zhangwei", "重新打开 R1 4月又出现延迟")
    fresh, values = await edit_values(chat, "zhangwei")
    values["notes"] = "重新打开后补充"
    assert (await press(chat, "zhangwei", submit_of(fresh), values))["toast"] == "R1 已保存"
    assert field_errors(fresh) == {}
