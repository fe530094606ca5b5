"""Neutral cards as Block Kit: valid by slack_sdk.models, inside Slack's limits, paged not rejected, values back."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.platforms.slack import blocks
from bot.platforms.slack.inbound import button_value
from cards.dates import parse_when
from cards.forms import record_form
from cards.markup import Markup
from cards.model import (
    Actions,
    Button,
    ButtonStyle,
    Card,
    CardPayload,
    DateInput,
    Field,
    Fields,
    Form,
    Header,
    Markdown,
    Note,
    PersonPicker,
    Repeat,
    Section,
    TextInput,
    with_errors,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def valid(rendered: list[dict[str, Any]]) -> None:
    for block in Block.parse_all(rendered):
        block.validate_json()


def a_form(card: Card) -> Form:
    return next(e for e in card.elements if isinstance(e, Form))


def test_markdown_becomes_mrkdwn_with_real_mentions_and_everything_else_escaped() -> None:
    assert blocks.mrkdwn("**R1-1** 请 <@U0LI> 看 [文档](https://x.example/a?b=1&c=2) <script> & co") == (
        "*R1-1* 请 <@U0LI> 看 <https://x.example/a?b=1&c=2|文档> &lt;script&gt; &amp; co"
    )


def test_a_card_renders_as_valid_blocks_and_its_buttons_come_back() -> None:
    payload = CardPayload(record_id=12, version=3)
    card = Card(header=Header(title="R12 订单延迟", subtitle="进行中"), elements=[
        Markdown(text=Markup("**截止** 11月27日，<@U0LI> 负责")), Note(text="每天 17:30 提醒"),
        Fields(items=[Field(label=f"字段{n}", value=f"值 {n}") for n in range(12)]),
        Actions(buttons=[Button(label="确认无误", action="record.confirm", payload=payload, style=ButtonStyle.PRIMARY),
                         Button(label="升级", action="record.escalate", payload=payload, style=ButtonStyle.DANGER,
                                confirm="确定升级？")]),
    ])  # fmt: skip
    (message,) = blocks.render_messages(card)
    valid(message["blocks"])
    assert message["text"].startswith("R12 订单延迟") and "<@U0LI>" in message["text"]
    assert [b["type"] for b in message["blocks"]] == [
        "header",
        "context",
        "section",
        "context",
        "section",
        "section",
        "actions",
    ]
    confirm, escalate = message["blocks"][-1]["elements"]
    assert (confirm["style"], escalate["style"], confirm["action_id"] != escalate["action_id"]) == (
        "primary",
        "danger",
        True,
    )
    assert button_value(confirm["value"]) == ("record.confirm", payload)
    assert escalate["confirm"]["text"]["text"] == "确定升级？"


def test_a_long_card_is_paged_into_valid_messages_and_nothing_is_lost() -> None:
    lines = [f"- R{n} 订单系统数据延迟问题专项沟通 — 进行中，最近截止 2026-12-0{n % 9 + 1}" for n in range(600)]
    elements = [Markdown(text=Markup("\n".join(lines[n : n + 10]))) for n in range(0, 600, 10)]
    card = Card(header=Header(title="记录列表"), elements=[*elements, Markdown(text=Markup("\n".join(lines)))])
    messages = blocks.render_messages(card)
    assert len(messages) >= 2
    for message in messages:
        valid(message["blocks"])
        assert len(message["blocks"]) <= 50 and len(message["text"]) <= 3000
        assert all(len(b["text"]["text"]) <= 3000 for b in message["blocks"] if b["type"] == "section")
    assert messages[1]["blocks"][-1]["elements"][0]["text"] == f"(2/{len(messages)})"
    text = "\n".join(b["text"]["text"] for m in messages for b in m["blocks"] if b["type"] == "section")
    assert all(text.count(blocks.mrkdwn(line)) == 2 for line in lines), "every line on some page, twice as given"


def test_the_record_form_is_a_valid_modal_within_the_limits() -> None:
    card = record_form(lang="zh-CN", payload=CardPayload(), topic="订单系统数据延迟")
    view = blocks.render_modal(a_form(card), title=card.header.title, private_metadata="{}", tz=SHANGHAI)
    View(**view).validate_json()
    valid(view["blocks"])
    assert len(view["blocks"]) <= 100 and len(view["title"]["text"]) <= 24 and len(view["submit"]["text"]) <= 24
    ids = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
    assert len(ids) == len(set(ids)) and {"topic", "participants.3.person", "items.3.owner"} <= set(ids)
    cells = [b for b in view["blocks"] if b.get("block_id", "").startswith("items.")]
    assert all(b["optional"] for b in cells), "blank rows must not stop the submission; the core checks filled rows"


def test_a_form_with_many_rows_drops_blank_rows_to_fit_and_refuses_what_cannot() -> None:
    def form(rows: int) -> Form:
        template = [TextInput(name="a", label="A"), TextInput(name="b", label="B")]
        return Form(form_id="f", sections=[Section(inputs=[Repeat(name="rows", label="行", template=template,
                    rows=[{"a": str(n)} for n in range(rows)], max_rows=200)])],
                    submit=Button(label="提交", action="x.submit"))  # fmt: skip

    fits = blocks.render_modal(form(45), title="t", private_metadata="")
    assert len(fits["blocks"]) <= 100 and fits["blocks"][-1]["block_id"] == "rows.48.b", "45 rows and 4 blank"
    squeezed = blocks.render_modal(form(49), title="t", private_metadata="")
    assert squeezed["blocks"][-1]["block_id"] == "rows.48.b", "no blank rows left"
    with pytest.raises(ValueError, match="100"):
        blocks.render_modal(form(50), title="t", private_metadata="")
    with pytest.raises(ValueError, match="3000"):
        blocks.render_modal(form(1), title="t", private_metadata="x" * 3001)


def test_errors_and_warnings_are_shown_under_their_inputs() -> None:
    form = Form(form_id="f", sections=[Section(inputs=[
        TextInput(name="topic", label="主题", required=True),
        Repeat(name="items", label="任务", template=[TextInput(name="description", label="内容"),
                                                      PersonPicker(name="owner", label="责任人")]),
    ])], submit=Button(label="提交并请参与人确认", action="record.submit"))  # fmt: skip
    shown = with_errors(form, {"topic": "请填写主题", "items.0.owner": "每项任务需要一位责任人"}, {"items.0.description": "太短"},
                        {"items.0.description": "改"})  # fmt: skip
    view = blocks.render_modal(shown, title="新建跨部门沟通记录（很长的标题）", private_metadata="")
    valid(view["blocks"])
    assert view["title"]["text"] == "新建跨部门沟通记录（很长的标题）"[:23] + "…" or len(view["title"]["text"]) <= 24
    texts = [(b.get("block_id"), b["elements"][0]["text"]) for b in view["blocks"] if b["type"] == "context"]
    assert any("请填写主题" in t for _, t in texts) and any("⚠️ 太短" in t for _, t in texts)
    order = [b.get("block_id") or b["elements"][0]["text"] for b in view["blocks"]]
    assert order.index("items.0.owner") + 1 == next(i for i, o in enumerate(order) if "责任人" in o and "❗" in o)
    assert blocks.field_errors({"items.0.owner": "x" * 200})["errors"]["items.0.owner"].endswith("…")


def test_slacks_state_values_come_back_as_the_values_the_core_reads() -> None:
    state = {
        "topic": {"value": {"type": "plain_text_input", "value": "订单延迟"}},
        "category": {"value": {"type": "static_select",
                               "selected_option": {"text": {"type": "plain_text", "text": "技术"}, "value": "technical"}}},
        "meeting_start": {"value": {"type": "datetimepicker", "selected_date_time": 1795500000}},
        "cc_people": {"value": {"type": "multi_users_select", "selected_users": ["U1", "U2"]}},
        "items.0.description": {"value": {"type": "plain_text_input", "value": None}},
        "items.0.owner": {"value": {"type": "users_select", "selected_user": None}},
        "items.1.description": {"value": {"type": "plain_text_input", "value": "扩容"}},
        "items.1.owner": {"value": {"type": "users_select", "selected_user": "U0WANG"}},
        "items.1.due": {"value": {"type": "datepicker", "selected_date": "2026-11-27"}},
        "tags": {"value": {"type": "multi_static_select", "selected_options": [{"value": "a"}, {"value": "b"}]}},
    }  # fmt: skip
    values = blocks.form_values(state, tz=SHANGHAI)
    assert values["topic"] == "订单延迟" and values["category"] == "technical" and values["cc_people"] == ["U1", "U2"]
    assert values["items"] == [{"description": "扩容", "owner": "U0WANG", "due": "2026-11-27"}], "the blank row dropped"
    assert values["tags"] == ["a", "b"]
    now = datetime(2026, 11, 24, 9, tzinfo=SHANGHAI)
    when = parse_when(values["meeting_start"], now=now, zone=ZoneInfo("UTC")).at
    assert when == datetime.fromtimestamp(1795500000, SHANGHAI), "the offset travels with the value"


def test_a_date_the_pickers_can_show_is_preselected() -> None:
    form = Form(form_id="f", sections=[Section(inputs=[
        DateInput(name="due", label="截止", value="2026-11-27"), DateInput(name="soon", label="时间", value="明天"),
        DateInput(name="at", label="会议", value="2026-11-24T14:00+08:00", with_time=True),
    ])], submit=Button(label="提交", action="x.submit"))  # fmt: skip
    view = blocks.render_modal(form, title="t", private_metadata="", tz=SHANGHAI)
    elements = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert elements["due"]["initial_date"] == "2026-11-27" and "initial_date" not in elements["soon"]
    assert elements["at"]["initial_date_time"] == int(datetime(2026, 11, 24, 14, tzinfo=SHANGHAI).timestamp())


def test_a_posted_form_card_shows_a_button_that_opens_it() -> None:
    card = record_form(lang="zh-CN", payload=CardPayload(), topic="x")
    (message,) = blocks.render_messages(card)
    valid(message["blocks"])
    (opener,) = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert opener["action_id"] == blocks.OPEN_FORM
    assert json.loads(opener["value"])["a"] == blocks.OPEN_FORM
