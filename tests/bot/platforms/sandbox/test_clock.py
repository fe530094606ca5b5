"""The sandbox's clock control: move time and watch the prompts, warnings and escalations arrive."""

from __future__ import annotations

from .conftest import SandboxChat, active_record


async def test_moving_the_clock_runs_the_reminders_as_of_then(chat: SandboxChat) -> None:
    await active_record(chat)  # items due 26 Nov 18:00, 27 Nov and 10 Dec
    warned = await chat.client.post("/sandbox/api/clock", json={"group": chat.group, "at": "2026-11-24T10:00+08:00"})
    body = await warned.json()
    assert body["jobs"]["deadline_warning"] == 1
    assert [m["card"]["header"]["title"] for m in body["posted"]] == ["到期预警：R1-2 将于 2026-11-26 18:00 到期"]
    prompt = await (
        await chat.client.post("/sandbox/api/clock", json={"group": chat.group, "at": "2026-11-24T17:30"})
    ).json()
    (card,) = [m["card"] for m in prompt["posted"]]
    assert card["header"]["title"] == "下班前请汇报进度（2026-11-24）"
    text = card["elements"][0]["text"]
    assert "<@lina>：R1-1" in text and "<@wangfang>：R1-2" in text and "<@zhaoqiang>：R1-3" in text
    overdue = await (
        await chat.client.post("/sandbox/api/clock", json={"group": chat.group, "at": "2026-11-27T10:00"})
    ).json()
    titles = [m["card"]["header"]["title"] for m in overdue["posted"]]
    assert "已逾期：R1-2，记录转为已延期" in titles
    listed = await chat.say("zhangwei", "/record list delayed")
    assert "R1" in listed["posted"][-1]["card"]["elements"][0]["text"]


async def test_a_bad_instant_is_a_400(chat: SandboxChat) -> None:
    response = await chat.client.post("/sandbox/api/clock", json={"group": chat.group, "at": "next tuesday"})
    assert response.status == 400 and "ISO-8601" in (await response.json())["error"]


async def test_the_ladder_proposes_a_second_meeting_that_calls_everyone_back(chat: SandboxChat) -> None:
    await active_record(chat)
    answer = await (
        await chat.client.post("/sandbox/api/clock", json={"group": chat.group, "at": "2026-12-01T10:00"})
    ).json()
    step2 = next(m["card"] for m in answer["posted"] if m["card"]["header"]["title"].startswith("逾期升级：R1-2"))
    assert "<@liuyang>" in step2["elements"][0]["text"], "the director of 财务部 and the cc list are called in"
    button = step2["elements"][1]["buttons"][0]
    pressed = await chat.act("zhangwei", button["action"], button["payload"])
    (notice,) = [m["card"] for m in pressed["posted"]]
    assert notice["header"]["title"] == "发起二次沟通"
    assert "<@zhangwei> 发起二次沟通：请 <@zhangwei> <@lina> <@wangfang> 参加" in notice["elements"][0]["text"]
