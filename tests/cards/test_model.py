"""The neutral card model: exact JSON round trips, payload tokens, form values and errors, mentions, plain text."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from cards.markup import Markup
from cards.model import (
    MAX_TOKEN_LENGTH,
    Actions,
    Button,
    ButtonStyle,
    Card,
    CardPayload,
    DateInput,
    Divider,
    Field,
    Fields,
    Form,
    Header,
    Markdown,
    MultiSelect,
    Note,
    NumberInput,
    Option,
    PersonPicker,
    Repeat,
    Section,
    Select,
    TextInput,
    Tone,
    collect_form_values,
    iter_inputs,
    mentions_in_card,
    plain_text,
    with_errors,
)

PAYLOAD = CardPayload(record_id=12, version=3, extra={"form": "record:new"})
NAMES = {"ou_lina": "李娜", "ou_zhang": "张伟"}
ITEMS = Repeat(
    name="items",
    label="行动项",
    template=[
        TextInput(name="description", label="任务内容", required=True),
        PersonPicker(name="owner", label="责任人", required=True),
        DateInput(name="due", label="完成时限", required=True, hint="如 3月15日"),
        NumberInput(name="cost", label="费用", min=0),
        Select(name="term", label="期限", options=[Option(value="short", label="短期"), Option(value="long", label="长期")],
               value="short"),
    ],
    rows=[{"description": "优化同步脚本", "owner": ["ou_lina"], "due": "3月10日", "term": "short"}],
    min_rows=1, max_rows=5, add_label="再加一项",
)  # fmt: skip
FORM = Form(
    form_id="record",
    sections=[
        Section(title="基本信息", hint="先写清楚问题", inputs=[
            TextInput(name="topic", label="沟通主题", required=True, max_length=200, placeholder="一句话",
                      value="订单系统数据延迟问题专项沟通", warning="再具体一点"),
            TextInput(name="problem", label="问题描述", multiline=True, error="请填写问题描述"),
            DateInput(name="meeting_start", label="会议开始", with_time=True, value="2024-03-05 14:00"),
            NumberInput(name="budget", label="预算（元）", min=0, max=100000, value=5000),
            Select(name="category", label="问题类型", options=[Option(value="resource", label="资源冲突")]),
            MultiSelect(name="tags", label="标签", options=[Option(value="a", label="甲"), Option(value="b", label="乙")],
                        values=["a"]),
            PersonPicker(name="recorder", label="记录人", values=["ou_zhang"]),
            PersonPicker(name="cc", label="抄送", multi=True, values=["ou_lina", "ou_zhang"]),
        ]),
        Section(title="解决方案", inputs=[ITEMS]),
    ],
    submit=Button(label="提交", action="record.submit", payload=PAYLOAD, style=ButtonStyle.PRIMARY),
    cancel=Button(label="保存草稿", action="record.save_draft", payload=PAYLOAD),
)  # fmt: skip
CARD = Card(
    header=Header(title="R12 订单系统数据延迟", subtitle="请李娜确认", tone=Tone.WARNING),
    elements=[
        Markdown(text=Markup("**状态** 进行中\n- <@ou_lina> 负责 R12-1\n- 见 [监控](https://example.com/m?a=1&b=2)")),
        Fields(items=[Field(label="记录人", value=Markup("<@ou_zhang>")), Field(label="截止", value="3月15日")]),
        Divider(),
        Note(text="每个工作日 17:30 前汇报进度"),
        Actions(buttons=[
            Button(label="确认无误", action="record.confirm", payload=PAYLOAD, style=ButtonStyle.PRIMARY, confirm="确认？"),
            Button(label="要求修改", action="record.edit", payload=CardPayload(record_id=12), style=ButtonStyle.DANGER),
        ]),
        FORM,
    ],
    payload=PAYLOAD,
    card_id="record-12",
)  # fmt: skip


def inputs(form: Form) -> dict[str, object]:
    return {item.name: item for item in iter_inputs(form)}


# ---------------------------------------------------------------- JSON


def test_a_card_with_every_element_and_input_round_trips_through_json_exactly() -> None:
    kinds = {element.kind for element in CARD.elements} | {item.kind for item in iter_inputs(CARD)}
    assert kinds == {"markdown", "fields", "divider", "note", "actions", "form",
                     "text", "date", "number", "select", "multi_select", "person", "repeat"}  # fmt: skip
    assert Card.load(CARD.model_dump_json()) == CARD
    assert Card.load(json.loads(CARD.model_dump_json())) == CARD


def test_the_json_is_clean_readable_and_keeps_chinese_as_is() -> None:
    text = CARD.model_dump_json()
    assert "null" not in text and "沟通主题" in text and "\\u" not in text
    data = json.loads(text)
    assert data["header"] == {"title": "R12 订单系统数据延迟", "subtitle": "请李娜确认", "tone": "warning"}
    assert data["elements"][2] == {"kind": "divider"}
    assert data["elements"][4]["buttons"][1]["payload"] == {"record_id": 12, "extra": {}}
    assert CARD.model_dump()["header"]["subtitle"] == "请李娜确认", "Python dumps keep every field"


def test_cards_are_frozen_and_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        CARD.card_id = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Header(title="x", colour="red")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Card.model_validate({"elements": [{"kind": "video", "url": "x"}]})


@pytest.mark.parametrize("name", ["items.0", "a__b", "_x", "x_", "1st", "", "名字"])
def test_input_names_stay_unambiguous_in_dotted_keys(name: str) -> None:
    with pytest.raises(ValidationError):
        TextInput(name=name, label="x")


def test_a_form_refuses_two_inputs_with_one_name_and_a_group_with_impossible_row_counts() -> None:
    with pytest.raises(ValidationError, match="topic"):
        Form(form_id="f", submit=Button(label="ok", action="a"), sections=[
            Section(inputs=[TextInput(name="topic", label="a")]), Section(inputs=[TextInput(name="topic", label="b")])])  # fmt: skip
    with pytest.raises(ValidationError, match="min_rows"):
        Repeat(name="items", label="x", template=[TextInput(name="a", label="a")], min_rows=3, max_rows=2)


# ---------------------------------------------------------------- payload tokens


def test_the_payload_token_is_compact_json_and_round_trips() -> None:
    token = PAYLOAD.to_token()
    assert token == '{"record_id":12,"version":3,"extra":{"form":"record:new"}}'
    assert CardPayload.from_token(token) == PAYLOAD
    assert CardPayload().to_token() == "{}" and CardPayload.from_token("") == CardPayload()
    assert CardPayload.from_token(CardPayload(item_id=7).to_token()) == CardPayload(item_id=7)


@pytest.mark.parametrize(
    "garbage",
    [
        "{",
        "[1]",
        "null",
        "12",
        "record_id=12",
        '{"record_id": "12"}',
        '{"record_id": true}',
        '{"record_id": 1.5}',
        '{"evil": 1}',
        '{"extra": {"a": 1}}',
        '{"extra": ["a"]}',
        "x" * 2000,
        json.dumps({"extra": {"a": "长" * 400}}),  # valid JSON, but 1,200+ bytes
    ],
)
def test_a_garbage_or_oversized_token_is_refused_with_a_value_error(garbage: str) -> None:
    with pytest.raises(ValueError):
        CardPayload.from_token(garbage)


def test_a_payload_too_big_for_a_token_cannot_be_built() -> None:
    with pytest.raises(ValueError, match=str(MAX_TOKEN_LENGTH)):
        CardPayload(extra={"notes": "x" * MAX_TOKEN_LENGTH})


# ---------------------------------------------------------------- submissions and errors


def test_flat_posted_keys_become_nested_values() -> None:
    flat = {
        "topic": "订单延迟",
        "tags": ["", "a", "b"],  # an HTML multi-select posts "" beside its choices
        "cc": "",  # … and only "" when nothing is chosen
        "items.0.description": "优化脚本",
        "items.0.owner": ["", "ou_lina"],
        "items.3.description": "扩容",  # a gap: rows 1 and 2 were removed
        "items.3.due": "3月15日",
        "items.7.description": "",  # the spare row, left untouched
        "items.7.owner": "",
        "participants.0.person": " ",
        "a.b": "kept as it is",
    }
    assert collect_form_values(flat) == {
        "topic": "订单延迟",
        "tags": ["a", "b"],
        "cc": "",
        "items": [{"description": "优化脚本", "owner": ["ou_lina"]}, {"description": "扩容", "due": "3月15日"}],
        "participants": [],
        "a.b": "kept as it is",
    }


def test_rows_come_back_in_index_order_not_post_order() -> None:
    flat = {"items.10.description": "c", "items.2.description": "b", "items.0.description": "a"}
    assert collect_form_values(flat)["items"] == [{"description": "a"}, {"description": "b"}, {"description": "c"}]


def test_with_errors_fills_errors_warnings_and_values_into_inputs_and_rows() -> None:
    values = {
        "topic": "数据延迟",
        "problem": "",
        "budget": "12.5",
        "tags": ["a", "b"],
        "cc": "ou_lina",
        "items": [
            {"description": "尽快处理", "owner": "", "due": "下周五", "term": "long"},
            {"description": "", "owner": [], "due": " "},  # blank: dropped, so indices match the parsed rows
            {"description": "扩容", "owner": ["ou_zhang"], "cost": 5000.0},
        ],
    }
    errors = {"items.0.owner": "每项任务需要一位责任人。", "items": "至少一项", "nowhere": "ignored"}
    form = with_errors(FORM, errors, {"topic": "太笼统", "items.0.description": "“尽快”不够具体"}, values)
    fields = inputs(form)
    assert (fields["topic"].value, fields["topic"].error, fields["topic"].warning) == ("数据延迟", None, "太笼统")
    assert (fields["problem"].value, fields["problem"].error) == (None, None), "old errors are replaced"
    assert fields["budget"].value == 12.5 and fields["tags"].values == ["a", "b"] and fields["cc"].values == ["ou_lina"]
    assert fields["meeting_start"].value == "2024-03-05 14:00", "inputs not submitted keep their value"
    items = fields["items"]
    assert items.rows == [
        {"description": "尽快处理", "owner": "", "due": "下周五", "term": "long"},
        {"description": "扩容", "owner": ["ou_zhang"], "cost": "5000"},
    ]
    assert items.error == "至少一项"
    assert items.row_errors == {"0.owner": "每项任务需要一位责任人。"}
    assert items.row_warnings == {"0.description": "“尽快”不够具体"}
    assert inputs(FORM)["topic"].warning == "再具体一点", "the original form is untouched"
    refilled = Card(elements=[form])
    assert Card.load(refilled.model_dump_json()) == refilled


def test_with_errors_takes_flat_values_too() -> None:
    flat = {"topic": "盘点差异", "items.0.description": "复核", "items.0.owner": "", "items.1.description": ""}
    form = with_errors(FORM, {"items.0.owner": "需要责任人"}, values=flat)
    assert inputs(form)["topic"].value == "盘点差异"
    assert inputs(form)["items"].rows == [{"description": "复核", "owner": ""}]
    assert inputs(form)["items"].row_errors == {"0.owner": "需要责任人"}


def test_an_unreadable_number_is_shown_empty_rather_than_failing() -> None:
    assert inputs(with_errors(FORM, {"budget": "不是数字"}, values={"budget": "很多"}))["budget"].value is None


# ---------------------------------------------------------------- mentions and text


def test_mentions_in_a_card_in_order_once() -> None:
    assert mentions_in_card(CARD) == ["ou_lina", "ou_zhang"]


def test_plain_text_reads_well_with_names_for_mentions() -> None:
    assert plain_text(CARD, NAMES) == "\n".join([
        "R12 订单系统数据延迟",
        "请李娜确认",
        "状态 进行中",
        "- @李娜 负责 R12-1",
        "- 见 监控 (https://example.com/m?a=1&b=2)",
        "记录人: @张伟",
        "截止: 3月15日",
        "----",
        "每个工作日 17:30 前汇报进度",
        "[确认无误] [要求修改]",
        "基本信息",
        "解决方案",
        "[提交] [保存草稿]",
    ])  # fmt: skip
    assert "@ou_lina" in plain_text(CARD), "an unknown name falls back to the id"


def test_iter_inputs_walks_a_form_or_every_form_of_a_card() -> None:
    assert [item.name for item in iter_inputs(FORM)] == [
        "topic", "problem", "meeting_start", "budget", "category", "tags", "recorder", "cc", "items"]  # fmt: skip
    assert list(iter_inputs(CARD)) == list(iter_inputs(FORM))
    assert list(iter_inputs(Card(elements=[Markdown(text="x")]))) == []
