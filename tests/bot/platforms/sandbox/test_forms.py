"""Forms: field errors come back in the card, stale cards never overwrite, drafts survive a restart."""

from __future__ import annotations

import copy

import sqlalchemy as sa
from sqlmodel import Session, select

from storage.models import FormDraft, Record
from storage.timekeeping import ManualClock
from storage.types import RecordStatus

from .conftest import SEED_FORM, SandboxChat, active_record, form_of, inputs_of, posted_form, start_chat


async def open_form(chat: SandboxChat, user: str = "zhangwei", text: str = "/record new 订单系统数据延迟") -> dict:
    answer = await chat.say(user, text)
    return answer["posted"][-1]["card"]


def repeat_errors(card: dict, name: str) -> dict[str, str]:
    return inputs_of(card)[name]["row_errors"]


async def test_a_missing_owner_and_a_bad_date_come_back_as_field_errors(chat: SandboxChat) -> None:
    card = await open_form(chat)
    submit = form_of(card)["submit"]
    bad = copy.deepcopy(SEED_FORM)
    bad["items"][1]["owner"] = ""
    bad["items"][2]["due"] = "下下下周八"
    bad["meeting_start"] = "昨天的后天的前天"
    answer = await chat.act("zhangwei", submit["action"], submit["payload"], bad)
    update = answer["update"]
    assert update["elements"][0]["text"] == "**有 3 处需要修改，请看标红的字段。**"
    errors = repeat_errors(update, "items")
    assert errors["1.owner"] == "每项任务需要一位责任人。"
    assert errors["2.due"].startswith("无法识别的日期“下下下周八”")
    assert inputs_of(update)["meeting_start"]["error"].startswith("无法识别的日期")
    assert inputs_of(update)["topic"]["value"] == "订单系统数据延迟问题专项沟通", "what was typed is kept"
    assert answer["posted"] == []
    with Session(chat.engine) as session:
        assert session.exec(select(Record)).all() == [], "nothing is stored from a rejected form"
        assert session.exec(select(FormDraft)).one().values["items"][2]["due"] == "下下下周八"


async def test_vague_and_blaming_wording_are_warnings_and_a_vague_only_item_is_an_error(chat: SandboxChat) -> None:
    card = await open_form(chat)
    submit = form_of(card)["submit"]
    form = copy.deepcopy(SEED_FORM)
    form["problem"] = "技术部不配合，数据一直延迟"
    form["items"][0]["description"] = "尽快解决"
    answer = await chat.act("zhangwei", submit["action"], submit["payload"], form)
    update = answer["update"]
    assert inputs_of(update)["problem"]["warning"].startswith("“不配合”带有主观评价")
    assert repeat_errors(update, "items")["0.description"].startswith("“尽快解决”不是具体的交付物")
    form["items"][0]["description"] = "尽快把同步脚本改为多线程"
    saved = await chat.act("zhangwei", submit["action"], submit["payload"], form)
    assert saved["toast"] == "R1 已提交，等待参与人确认"


async def test_a_stale_edit_is_refused_and_the_latest_is_shown(chat: SandboxChat) -> None:
    record = await active_record(chat)
    mine = (await chat.say("zhangwei", f"/record edit {record.ref}"))["posted"][-1]["card"]
    theirs = (await chat.say("lina", f"编辑 {record.ref}"))["posted"][-1]["card"]
    values = {name: item.get("value") for name, item in inputs_of(theirs).items() if "value" in item}
    values.update(participants=SEED_FORM["participants"], key_points=SEED_FORM["key_points"], notes="李娜改过的备注")
    submit = form_of(theirs)["submit"]
    first = await chat.act("lina", submit["action"], submit["payload"], values)
    assert first["toast"] == f"{record.ref} 已保存"
    mine_submit = form_of(mine)["submit"]
    second = await chat.act(
        "zhangwei", mine_submit["action"], mine_submit["payload"], {**values, "notes": "张伟的旧备注"}
    )
    assert second["toast"].startswith(f"记录 {record.ref} 在您打开后已被修改")
    assert inputs_of(second["update"])["notes"]["value"] == "李娜改过的备注", "the latest content comes back to work on"
    with Session(chat.engine) as session:
        assert session.get(Record, record.id).notes == "李娜改过的备注"


async def test_a_stale_confirmation_button_is_refused(chat: SandboxChat) -> None:
    card = await open_form(chat)
    submit = form_of(card)["submit"]
    answer = await chat.act("zhangwei", submit["action"], submit["payload"], SEED_FORM)
    confirm = answer["posted"][-1]["card"]["elements"][1]["buttons"][0]
    edit = (await chat.say("zhangwei", "/record edit R1"))["posted"][-1]["card"]
    values = {name: item.get("value") for name, item in inputs_of(edit).items() if "value" in item}
    values.update(participants=SEED_FORM["participants"], problem="修改后的问题描述")
    await chat.act("zhangwei", form_of(edit)["submit"]["action"], form_of(edit)["submit"]["payload"], values)
    stale = await chat.act("lina", confirm["action"], confirm["payload"])
    assert "已被修改" in stale["toast"] and "修改后的问题描述" in str(stale["update"])
    with Session(chat.engine) as session:
        assert session.get(Record, 1).status is RecordStatus.CONFIRMING


async def test_a_draft_survives_a_restart_of_the_app(engine: sa.Engine, clock: ManualClock) -> None:
    first = await start_chat(engine, clock)
    card = await open_form(first)
    half = {"topic": "仓储系统盘点差异", "problem": "每周盘点差异超过2%", "items": [{"description": "复核盘点流程"}]}
    saved = await first.act("zhangwei", form_of(card)["cancel"]["action"], form_of(card)["cancel"]["payload"], half)
    assert saved["toast"] == "草稿已保存，稍后发送 /record new 可继续填写。"
    await first.client.close()

    second = await start_chat(engine, clock)  # a new process: nothing in memory survives
    resumed = await second.say("zhangwei", "/record new")
    card = posted_form(resumed)
    assert inputs_of(card)["topic"]["value"] == "仓储系统盘点差异"
    assert inputs_of(card)["problem"]["value"] == "每周盘点差异超过2%"
    assert inputs_of(card)["items"]["rows"] == [{"description": "复核盘点流程"}]
    other = await second.say("lina", "/record new")
    assert inputs_of(posted_form(other))["topic"].get("value") is None, "drafts are per person"
    await second.client.close()


async def test_the_record_form_has_every_section_of_the_template(chat: SandboxChat) -> None:
    card = await open_form(chat)
    titles = [section["title"] for section in form_of(card)["sections"]]
    assert titles == ["基本信息", "参与部门及人员", "问题描述（5W1H）", "沟通要点（每个部门一条）",
                      "解决方案（谁、做什么、何时完成、如何衡量）", "资源需求及审批人", "抄送", "备注与下次会议"]  # fmt: skip
    kinds = {item["kind"] for section in form_of(card)["sections"] for item in section["inputs"]}
    assert kinds == {"text", "date", "select", "repeat", "person"}
    items = inputs_of(card)["items"]
    assert [t["name"] for t in items["template"]] == ["description", "owner", "due", "measure", "term"]
    assert form_of(card)["cancel"]["label"] == "保存草稿"


async def test_the_sandbox_api_refuses_bad_requests(chat: SandboxChat) -> None:
    for body in (
        {"group": "g", "user": "nobody", "text": "/help"},
        {"group": "g", "user": "lina"},
        ["not", "an object"],
    ):
        response = await chat.client.post("/sandbox/api/messages", json=body)
        assert response.status == 400 and "error" in await response.json()
    response = await chat.client.post(
        "/sandbox/api/messages", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    bad_payload = {"group": "g", "user": "lina", "action": "record.confirm", "payload": "{broken", "form": {}}
    response = await chat.client.post("/sandbox/api/actions", json=bad_payload)
    assert response.status == 400 and "payload" in (await response.json())["error"]


async def test_an_unknown_button_is_answered_not_crashed(chat: SandboxChat) -> None:
    answer = await chat.act("lina", "record.self_destruct", {"record_id": 1, "version": 1})
    assert answer["toast"].startswith("这张卡片的按钮已失效") and answer["posted"] == [], "told the presser only"
