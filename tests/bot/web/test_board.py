"""The board over HTTP: /board answers with a link for the asker; columns, deadlines, filters, a record and its forms."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html import unescape

from sqlmodel import Session, select

from storage.models import Department, WebForm

from ...conftest import SHANGHAI
from ..platforms.sandbox.conftest import SandboxChat, active_record, open_and_submit
from .conftest import csrf_of, link_in


async def board_link(chat: SandboxChat, user: str = "zhangwei", word: str = "/board") -> str:
    answer = await chat.say(user, word)
    (message,) = answer["posted"]
    assert message["card"]["header"]["title"] == "进度看板"
    assert message["visible_to"] == user, "a link bound to the asker is shown to the asker alone"
    return link_in(message["card"])


async def board(chat: SandboxChat, link: str, query: str = "") -> tuple[int, str]:
    response = await chat.client.get(link + query)
    return response.status, await response.text()


def column(html: str, status: str) -> str:
    return re.search(rf'data-status="{status}">(.*?)</section>', html, re.S).group(1)


async def test_board_shows_each_record_in_its_status_column(site: SandboxChat) -> None:
    await open_and_submit(site)
    status, html = await board(site, await board_link(site, word="看板"))
    assert status == 200 and 'data-ref="R1"' in column(html, "confirming") and "R1" not in column(html, "in_progress")
    assert [unescape(h) for h in re.findall(r"<h2>([^<]+)<span", html)] == ["待确认", "进行中", "已延期", "已闭环"]
    await site.act("zhangwei", "record.activate", {"record_id": 1})
    status, html = await board(site, await board_link(site))
    assert 'data-ref="R1"' in column(html, "in_progress")
    for text in ("优化同步脚本为多线程", "李娜", "王芳", "赵强", "2026-11-26 18:00", "2026-12-10"):
        assert text in column(html, "in_progress")
    assert "<@" not in html and "@李娜" not in html, "names, not mentions"


async def test_deadlines_overdue_in_red_due_soon_in_amber_and_the_last_progress(site: SandboxChat) -> None:
    await active_record(site)
    await site.say("lina", "/progress R1-1 多线程脚本已上线测试环境 60%")
    site.clock.set(datetime(2026, 11, 27, 9, 0, tzinfo=SHANGHAI))
    _, html = await board(site, await board_link(site))
    lines = re.findall(r'<li class="item[^"]*">(.*?)</li>', html, re.S)
    assert 'class="due soon"' in lines[0] and "即将到期" in lines[0], "R1-1 due today: amber"
    assert "最新进展：多线程脚本已上线测试环境 60%" in lines[0]
    assert 'class="due overdue"' in lines[1] and "已逾期" in lines[1], "R1-2 was due yesterday 18:00: red"
    assert 'class="due"' in lines[2], "R1-3 in two weeks: plain"


async def test_filters_mine_department_category_and_month(site: SandboxChat) -> None:
    await active_record(site)
    with Session(site.engine) as session:
        finance = session.exec(select(Department).where(Department.name == "财务部")).one().id
        office = session.exec(select(Department).where(Department.name == "总经办")).one().id
    zhaoqiang, chenjing = await board_link(site, "zhaoqiang"), await board_link(site, "chenjing")
    assert 'data-ref="R1"' in (await board(site, zhaoqiang, "?mine=1"))[1], "赵强 owns R1-3"
    assert 'data-ref="R1"' not in (await board(site, chenjing, "?mine=1"))[1], "陈静 has no part in R1"
    assert 'data-ref="R1"' in (await board(site, chenjing))[1], "the whole group's board, read-only"
    link = await board_link(site)
    expectations = {
        f"?dept={finance}": True, f"?dept={office}": False, "?category=technical": True, "?category=quality": False,
        "?month=2026-11": True, "?month=2026-10": False, "?month=garbage&dept=x&category=y": True,
    }  # fmt: skip
    for query, shown in expectations.items():
        status, html = await board(site, link, query)
        assert status == 200 and ('data-ref="R1"' in html) is shown, query


async def test_a_record_page_has_the_whole_record_its_history_and_actions_that_open_forms(site: SandboxChat) -> None:
    await active_record(site)
    await site.say("lina", "/progress R1-1 多线程脚本已上线测试环境 60%")
    link = await board_link(site, "lina")
    status, html = await board(site, link + "/r/1")
    assert status == 200 and "自11月20日起订单系统数据同步延迟约4小时" in html and "临时扩容服务器" in html
    history = re.search(r'<ol class="history">(.*?)</ol>', html, re.S).group(1)
    for text in ("张伟 创建了记录", "李娜 确认无误", "启动跟进", "李娜 汇报进度 R1-1：多线程脚本已上线测试环境"):
        assert text in unescape(history), text
    assert 'value="record.confirm"' not in html, "the board changes nothing by itself"
    assert "汇报进度" in html and 'value="item.progress_open"' in html

    response = await site.client.post(link + "/r/1", data={"csrf": csrf_of(html), "action": "item.progress_open"},
                                      allow_redirects=False)  # fmt: skip
    assert response.status == 303 and "/f/" in response.headers["Location"]
    form_page = await site.client.get(re.sub(r"^http://127\.0\.0\.1:[0-9]+", "", response.headers["Location"]))
    text = await form_page.text()
    assert form_page.status == 200 and "R1-1 优化同步脚本为多线程" in text and "R1-3" not in text, "lina's own items"
    with Session(site.engine) as session:
        form = session.exec(select(WebForm).order_by(WebForm.id.desc())).first()
        assert form.person_id == 2 and form.card["header"]["title"] == "汇报进度"
    assert (await site.history())[-1]["card"]["header"]["title"] != "汇报进度", "nothing posted to the group"

    forged = await site.client.post(link + "/r/1", data={"csrf": "x", "action": "item.progress_open"})
    refused = await site.client.post(link + "/r/1", data={"csrf": csrf_of(html), "action": "record.confirm"})
    assert forged.status == 403 and refused.status == 403


async def test_board_links_are_for_a_day_and_whole(site: SandboxChat) -> None:
    await open_and_submit(site)
    link = await board_link(site)
    assert (await board(site, link))[0] == 200
    assert (await board(site, link[:-2] + ("AA" if link[-2:] != "AA" else "BB")))[0] == 403
    assert (await board(site, link + "/r/999"))[0] == 404
    status, html = await board(site, link, "?lang=en")
    assert status == 200 and "progress board" in html and "awaiting sign-off" in html
    site.clock.advance(timedelta(hours=24, seconds=1))
    status, html = await board(site, link)
    assert status == 410 and 'data-refusal="expired"' in html
