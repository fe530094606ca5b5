"""The neutral card model and its HTML rendering (shared by the sandbox and web forms)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from cards.html import render_card_html
from cards.markup import Markup
from cards.model import (
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
    mentions_in_card,
    plain_text,
    with_errors,
)

PAYLOAD = CardPayload(record_id=12, version=3, extra={"form": "record:new"})
FORM = Form(
    form_id="record",
    sections=[
        Section(title="基本信息", inputs=[
            TextInput(name="topic", label="沟通主题", required=True, max_length=200),
            DateInput(name="meeting_start", label="会议开始时间", with_time=True, hint="如 明天下午3点"),
            NumberInput(name="budget", label="预算", min=0),
            Select(name="category", label="问题类型", options=[Option(value="technical", label="技术问题")]),
            MultiSelect(name="tags", label="标签", options=[Option(value="a", label="A"), Option(value="b", label="B")]),
            PersonPicker(name="cc", label="抄送", multi=True),
        ]),
        Section(title="解决方案", inputs=[Repeat(name="items", label="任务", template=[
            TextInput(name="description", label="任务内容", required=True), PersonPicker(name="owner", label="责任人"),
        ], min_rows=1)]),
    ],
    submit=Button(label="提交", action="record.submit", payload=PAYLOAD, style=ButtonStyle.PRIMARY),
    cancel=Button(label="保存草稿", action="record.save_draft", payload=PAYLOAD),
)  # fmt: skip
CARD = Card(
    header=Header(title="R12 订单系统数据延迟", subtitle="请确认", tone=Tone.WARNING),
    elements=[
        Markdown(text=Markup("**状态** 进行中\n- <@lina> 负责 R12-1\n- 见 [监控](https://example.com/m)")),
        Fields(items=[Field(label="记录人", value=Markup("<@zhangwei>"))]),
        Divider(), Note(text="注：每天17:30汇报"),
        Actions(buttons=[Button(label="确认", action="record.confirm", payload=PAYLOAD, confirm="确认无误？")]),
        FORM,
    ],
    payload=PAYLOAD,
)  # fmt: skip
NAMES = {"lina": "李娜", "zhangwei": "张伟"}


def test_a_card_round_trips_through_json_exactly() -> None:
    assert Card.load(CARD.model_dump_json()) == CARD


def test_the_payload_token_round_trips_and_refuses_garbage() -> None:
    assert CardPayload.from_token(PAYLOAD.to_token()) == PAYLOAD
    assert CardPayload.from_token("") == CardPayload()
    for bad in ("{", '{"record_id": "x"}', '{"evil": 1}', "[1]", "x" * 2000):
        with pytest.raises(ValueError):
            CardPayload.from_token(bad)


def test_mentions_split_and_render() -> None:
    assert mentions_in_card(CARD) == ["lina", "zhangwei"]
    text = plain_text(CARD, NAMES)
    assert (
        "R12 订单系统数据延迟" in text and "- @李娜 负责 R12-1" in text and "记录人: @张伟" in text and "[确认]" in text
    )


def test_errors_warnings_and_values_go_back_into_the_form_including_rows() -> None:
    values = {
        "topic": "数据延迟",
        "tags": ["a", "b"],
        "budget": "12.5",
        "items": [{"description": "尽快", "owner": "lina"}],
    }
    form = with_errors(
        FORM, {"topic": "太长", "items.0.owner": "需要责任人"}, {"items.0.description": "不够具体"}, values
    )
    inputs = {i.name: i for s in form.sections for i in s.inputs}
    assert (inputs["topic"].error, inputs["topic"].value) == ("太长", "数据延迟")
    assert inputs["tags"].values == ["a", "b"] and inputs["budget"].value == 12.5
    assert inputs["items"].rows == [{"description": "尽快", "owner": "lina"}]
    assert inputs["items"].row_errors == {"0.owner": "需要责任人"} and inputs["items"].row_warnings == {
        "0.description": "不够具体"
    }


def test_flat_posted_keys_become_nested_values_with_gaps_in_rows() -> None:
    flat = {
        "topic": "x",
        "items.0.description": "a",
        "items.2.description": "c",
        "items.2.owner": "lina",
        "tags": ["a"],
    }
    assert collect_form_values(flat) == {
        "topic": "x", "tags": ["a"], "items": [{"description": "a"}, {"description": "c", "owner": "lina"}]}  # fmt: skip


class Parsed(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.text: list[str] = []
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "form":
            self.forms.append({"action": attributes.get("action"), "fields": {}, "buttons": []})
        elif tag in ("input", "textarea", "select") and self.forms:
            self.forms[-1]["fields"][attributes.get("name")] = attributes.get("value")
        elif tag == "button" and self.forms:
            self.forms[-1]["buttons"].append(attributes.get("value"))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Parsed:
    parser = Parsed()
    parser.feed(html)
    return parser


def test_html_forms_carry_action_payload_and_dotted_names() -> None:
    page = parse(
        render_card_html(CARD, names=NAMES, people=[("lina", "李娜")], action_url="/act", hidden={"as": "lina"})
    )
    button_form, record_form = page.forms
    assert button_form["buttons"] == ["record.confirm"] and button_form["fields"]["payload"] == PAYLOAD.to_token()
    assert record_form["action"] == "/act" and record_form["buttons"] == ["record.submit", "record.save_draft"]
    fields = record_form["fields"]
    assert {"topic", "meeting_start", "budget", "category", "tags", "cc", "items.0.description", "items.0.owner",
            "payload", "as"} <= set(fields)  # fmt: skip
    assert "items.1.description" not in fields, "no rows yet: one empty row to fill"
    assert CardPayload.from_token(fields["payload"]) == PAYLOAD and fields["as"] == "lina"
    posted = {name: "v" for name in fields if name not in ("payload", "as")}
    assert collect_form_values(posted)["items"] == [{"description": "v", "owner": "v"}]
    filled = Card(elements=[with_errors(FORM, {}, {}, {"items": [{"description": "a"}]})])
    assert "items.1.description" in parse(render_card_html(filled)).forms[0]["fields"], "filled rows plus one empty"
    text = "".join(page.text)
    assert "@李娜" in text and "@张伟" in text and "R12 订单系统数据延迟" in text


def test_html_marks_errors_and_warnings_accessibly() -> None:
    card = Card(
        elements=[with_errors(FORM, {"topic": "请填写“沟通主题”。"}, {"items.0.description": "“尽快”不够具体"})]
    )
    page = parse(render_card_html(card))
    alert = [a for tag, a in page.tags if a.get("role") == "alert"]
    assert len(alert) == 1 and alert[0]["class"] == "error"
    topic = next(a for tag, a in page.tags if a.get("name") == "topic")
    assert topic["aria-invalid"] == "true" and topic["aria-describedby"] == alert[0]["id"]
    assert "“尽快”不够具体" in "".join(page.text)


def test_everything_users_write_is_escaped() -> None:
    evil = '<script>alert("x")</script>'
    card = Card(
        header=Header(title=evil),
        elements=[Markdown(text=evil), Fields(items=[Field(label=evil, value=evil)]),
                  Form(form_id="f", sections=[Section(title=evil, inputs=[
                      TextInput(name="t", label=evil, value=evil, error=evil),
                      Select(name="s", label="s", options=[Option(value=evil, label=evil)], value=evil)])],
                       submit=Button(label=evil, action="a"))],
    )  # fmt: skip
    html = render_card_html(card, names={"u": evil})
    assert "<script>" not in html and html.count("&lt;script&gt;") >= 8
