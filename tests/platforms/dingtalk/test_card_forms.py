"""A short form on a DingTalk card: the template's Form component, filled and submitted as DingTalk sends it.

The record form (person pickers, repeated rows) opens as the hosted web page; the
progress form (a select, text, a number, a select) fits in a card: its fields go
into the ``form`` variable, its values come back under ``params.form`` with
selects as ``{"index", "value"}``, and the answer updates the card for everyone and
tells the person who pressed, privately, what happened.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlmodel import Session, select

from storage.models import ProgressUpdate
from storage.timekeeping import ManualClock
from tests.platforms.dingtalk.fake import Sent
from tests.platforms.drivers import DingTalkDriver
from tests.platforms.seed import INJECTION, seed_record


async def test_progress_is_reported_on_a_card_form(sqlite_engine: sa.Engine, clock: ManualClock) -> None:
    driver = await DingTalkDriver.start(sqlite_engine, clock)
    try:
        link = await driver.open_form("zhang", "/record new 订单系统数据延迟问题专项沟通")
        assert isinstance(link, str) and link.startswith("/f/"), "the record form opens as the web page"
        await driver.submit("zhang", link, seed_record(driver.ids))
        for who in ("li", "wang", "zhang"):
            await driver.press(who, driver.button("record.confirm"))

        await driver.press("li", driver.button("item.progress_open"))
        form = next(seen.form for seen in reversed(driver.everything()) if isinstance(seen.form, Sent))
        fields = {f["name"]: f for f in json.loads(form.card.params["form"])["fields"]}
        assert fields["item"]["type"] == "SELECT" and fields["text"]["type"] == "TEXT"
        assert all(isinstance(v, str) for v in form.card.params.values()), "cardParamMap holds strings only"

        item = next(o["value"] for o in fields["item"]["options"] if o["text"].startswith("R1-1"))
        answer = await driver.submit("li", form, {"item": item, "text": "完成一半" + INJECTION, "percent": "60",
                                                  "blocked": "no"})  # fmt: skip
        assert answer["userPrivateData"]["cardParamMap"]["toast"], "the presser is told, privately"
        with Session(sqlite_engine) as session:
            (update,) = session.exec(select(ProgressUpdate)).all()
        assert (update.text, update.percent, update.blocked) == ("完成一半" + INJECTION, 60, False)
        assert driver.fake.problems == []
    finally:
        await driver.client.close()
        await driver.stop()
