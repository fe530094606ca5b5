"""Cards as HTML, read back with the stdlib parser the way a browser would: fields, posts, errors, escaping."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest

from cards.html import PlainNames, page_css, page_script, render_card_html
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
    with_errors,
)

PAYLOAD = CardPayload(record_id=12, version=3)
PEOPLE = [("ou_lina", "李娜（技术部）"), ("ou_zhang", "张伟（运营部）")]
NAMES = {"ou_lina": "李娜", "ou_zhang": "张伟"}
HIDDEN = {"group": "订单项目群", "as": "ou_zhang"}
ITEMS = Repeat(
    name="items", label="行动项", min_rows=1, max_rows=3, add_label="再加一项",
    template=[
        TextInput(name="description", label="任务内容", required=True),
        PersonPicker(name="owner", label="责任人", required=True),
        DateInput(name="due", label="完成时限", hint="如 3月15日"),
        Select(name="term", label="期限", options=[Option(value="short", label="短期"), Option(value="long", label="长期")],
               value="short"),
    ],
)  # fmt: skip
FORM = Form(
    form_id="record",
    sections=[
        Section(title="基本信息", inputs=[
            TextInput(name="topic", label="沟通主题", required=True, max_length=200),
            TextInput(name="problem", label="问题描述", multiline=True),
            DateInput(name="meeting_start", label="会议开始", with_time=True),
            NumberInput(name="budget", label="预算", min=0),
            Select(name="category", label="问题类型", options=[Option(value="resource", label="资源冲突")]),
            MultiSelect(name="tags", label="标签", options=[Option(value="a", label="甲"), Option(value="b", label="乙")]),
            PersonPicker(name="cc", label="抄送", multi=True),
        ]),
        Section(title="解决方案", inputs=[ITEMS]),
    ],
    submit=Button(label="提交", action="record.submit", payload=PAYLOAD, style=ButtonStyle.PRIMARY),
    cancel=Button(label="保存草稿", action="record.save_draft", payload=PAYLOAD),
)  # fmt: skip
CONTROLS = {"topic", "problem", "meeting_start", "budget", "category", "tags", "cc",
            "items.0.description", "items.0.owner", "items.0.due", "items.0.term"}  # fmt: skip


# ---------------------------------------------------------------- a small DOM and a browser's form submission

VOID = {"input", "br", "hr", "img", "meta", "link"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    parent: Node | None = None
    children: list[Node | str] = field(default_factory=list)

    def walk(self, *, into_templates: bool = True) -> Iterator[Node]:
        for child in self.children:
            if isinstance(child, Node):
                yield child
                if into_templates or child.tag != "template":
                    yield from child.walk(into_templates=into_templates)

    def find(self, match: Callable[[Node], bool], *, into_templates: bool = False) -> list[Node]:
        return [node for node in self.walk(into_templates=into_templates) if match(node)]

    def one(self, match: Callable[[Node], bool]) -> Node:
        (node,) = self.find(match)
        return node

    @property
    def text(self) -> str:
        return "".join(child if isinstance(child, str) else child.text for child in self.children)

    def has_class(self, name: str) -> bool:
        return name in (self.attrs.get("class") or "").split()


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#root", {})

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag: str) -> None:
        node = self.current
        while node.parent is not None and node.tag != tag:
            node = node.parent
        assert node.tag == tag, f"</{tag}> closes nothing"
        self.current = node.parent or self.root

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(html: str) -> Node:
    builder = TreeBuilder()
    builder.feed(html)
    builder.close()
    assert builder.current is builder.root, "every element is closed"
    return builder.root


def submit(form: Node, button: Node, typed: dict[str, str | list[str]] | None = None) -> dict[str, str | list[str]]:
    """What a browser posts when ``button`` is clicked after the user typed ``typed``, as the sandbox reads it."""
    typed = typed or {}
    pairs: list[tuple[str, str]] = []
    for node in form.find(lambda n: n.tag in ("input", "textarea", "select") and "name" in n.attrs):
        name = node.attrs["name"] or ""
        if node.tag == "select":
            options = node.find(lambda n: n.tag == "option")
            chosen = [o.attrs.get("value") or "" for o in options if "selected" in o.attrs]
            if name in typed:
                chosen = typed[name] if isinstance(typed[name], list) else [typed[name]]
            elif not chosen and "multiple" not in node.attrs and options:
                chosen = [options[0].attrs.get("value") or ""]
            pairs.extend((name, value) for value in chosen)
        elif node.attrs.get("type") == "hidden":
            pairs.append((name, node.attrs.get("value") or ""))
        else:
            current = node.text if node.tag == "textarea" else node.attrs.get("value") or ""
            pairs.append((name, str(typed.get(name, current))))
    pairs.append((button.attrs["name"] or "", button.attrs.get("value") or ""))
    flat: dict[str, str | list[str]] = {}
    for name in dict.fromkeys(name for name, _ in pairs):
        values = [value for key, value in pairs if key == name]
        flat[name] = values if len(values) > 1 else values[0]
    return flat


def render(card: Card, **kwargs: object) -> Node:
    return parse(render_card_html(card, names=NAMES, people=PEOPLE, action_url="/act", hidden=HIDDEN, **kwargs))


def the_form(page: Node) -> Node:
    return page.one(lambda n: n.tag == "form" and n.has_class("card-form"))


def control(page: Node, name: str) -> Node:
    return page.one(lambda n: n.attrs.get("name") == name and n.tag in ("input", "textarea", "select")
                    and n.attrs.get("type") != "hidden")  # fmt: skip


def button(form: Node, action: str) -> Node:
    return form.one(lambda n: n.tag == "button" and n.attrs.get("value") == action)


# ---------------------------------------------------------------- forms


def test_a_form_posts_its_fields_by_dotted_name_with_the_payload_and_the_extras() -> None:
    form = the_form(render(Card(elements=[FORM])))
    assert (form.attrs["method"], form.attrs["action"]) == ("post", "/act")
    names = {n.attrs["name"] for n in form.find(lambda n: "name" in n.attrs and n.tag != "button")}
    assert names == CONTROLS | {"payload", "group", "as"}
    hidden = {n.attrs["name"]: n.attrs["value"] for n in form.find(lambda n: n.attrs.get("type") == "hidden")}
    assert CardPayload.from_token(hidden["payload"]) == PAYLOAD
    assert (hidden["group"], hidden["as"]) == ("订单项目群", "ou_zhang")
    buttons = form.find(lambda n: n.tag == "button" and n.attrs.get("name") == "action")
    assert [(b.attrs["value"], b.attrs["class"], b.text) for b in buttons] == [
        ("record.submit", "primary", "提交"), ("record.save_draft", "default", "保存草稿")]  # fmt: skip
    assert [b.attrs["type"] for b in buttons] == ["submit", "submit"]


def test_each_input_kind_becomes_the_right_control() -> None:
    page = render(Card(elements=[FORM]))
    assert control(page, "topic").attrs.items() >= {"type": "text", "maxlength": "200", "aria-required": "true"}.items()
    assert "required" not in control(page, "topic").attrs, "drafts must be savable: the server checks"
    assert control(page, "problem").tag == "textarea"
    start = control(page, "meeting_start")
    assert (start.attrs["type"], start.attrs["placeholder"]) == ("text", "YYYY-MM-DD HH:MM"), "free text: 明天 3点"
    assert control(page, "budget").attrs.items() >= {"type": "number", "min": "0"}.items()
    category = control(page, "category")
    assert [o.attrs["value"] for o in category.find(lambda n: n.tag == "option")] == ["", "resource"]
    assert "multiple" in control(page, "tags").attrs and "multiple" in control(page, "cc").attrs
    cc = [(o.attrs["value"], o.text) for o in control(page, "cc").find(lambda n: n.tag == "option")]
    assert cc == [("ou_lina", "李娜（技术部）"), ("ou_zhang", "张伟（运营部）")]
    owner = control(page, "items.0.owner")
    assert "multiple" not in owner.attrs and [o.text for o in owner.find(lambda n: n.tag == "option")][1:] == [
        "李娜（技术部）", "张伟（运营部）"]  # fmt: skip
    label = page.one(lambda n: n.tag == "label" and n.attrs.get("for") == control(page, "topic").attrs["id"])
    assert label.text == "沟通主题 *"


def test_posting_the_rendered_fields_back_gives_the_nested_values() -> None:
    form = the_form(render(Card(elements=[FORM])))
    typed = {
        "topic": "订单系统数据延迟", "problem": "同步延迟约4小时", "budget": "5000", "tags": ["a", "b"],
        "items.0.description": "优化同步脚本", "items.0.owner": "ou_lina", "items.0.due": "3月10日",
    }  # fmt: skip
    flat = submit(form, button(form, "record.submit"), typed)
    action, payload = flat.pop("action"), flat.pop("payload")
    assert action == "record.submit" and CardPayload.from_token(str(payload)) == PAYLOAD
    assert (flat.pop("group"), flat.pop("as")) == ("订单项目群", "ou_zhang")
    assert collect_form_values(flat) == {
        "topic": "订单系统数据延迟", "problem": "同步延迟约4小时", "meeting_start": "", "budget": "5000",
        "category": "", "tags": ["a", "b"], "cc": "",
        "items": [{"description": "优化同步脚本", "owner": "ou_lina", "due": "3月10日", "term": ""}],
    }  # fmt: skip


def test_rows_there_are_plus_one_empty_row_and_a_template_for_more() -> None:
    rows = [{"description": "优化同步脚本", "owner": "ou_lina", "due": "3月10日"}, {"description": "扩容"}]
    form = the_form(render(Card(elements=[with_errors(FORM, {}, values={"items": rows})])))
    assert control(form, "items.0.description").attrs["value"] == "优化同步脚本"
    owner = control(form, "items.0.owner").find(lambda n: "selected" in n.attrs)
    assert [o.attrs["value"] for o in owner] == ["ou_lina"]
    term = control(form, "items.1.term").find(lambda n: "selected" in n.attrs)
    assert [o.attrs["value"] for o in term] == ["short"], "a row without the field gets the template's default"
    assert control(form, "items.2.description").attrs["value"] == ""
    assert not control(form, "items.2.term").find(lambda n: "selected" in n.attrs), "the spare row starts blank"
    group = form.one(lambda n: n.has_class("repeat"))
    assert (group.attrs["data-next"], group.attrs["data-max"]) == ("3", "3")
    assert not form.find(lambda n: n.has_class("add-row")), "three rows shown: the most there may be"
    full = the_form(render(Card(elements=[with_errors(FORM, {}, values={"items": rows[:1]})])))
    (template,) = full.find(lambda n: n.tag == "template")
    assert {n.attrs["name"] for n in template.walk() if "name" in n.attrs} == {
        "items.__row__.description", "items.__row__.owner", "items.__row__.due", "items.__row__.term"}  # fmt: skip
    add = full.one(lambda n: n.has_class("add-row"))
    assert (add.attrs["type"], add.text, "data-add-row" in add.attrs) == ("button", "再加一项", True)
    assert "hidden" in add.attrs and "onclick" not in add.attrs, "the page script shows it and adds the rows"
    posted = submit(full, button(full, "record.save_draft"))
    assert not any("__row__" in name for name in posted), "a template is never posted"
    assert collect_form_values(posted)["items"] == [{"description": "优化同步脚本", "owner": "ou_lina",
                                                     "due": "3月10日", "term": "short"}]  # fmt: skip


def test_field_errors_and_warnings_are_marked_up_accessibly() -> None:
    form = with_errors(
        FORM,
        {"topic": "请填写“沟通主题”。", "items.0.owner": "每项任务需要一位责任人。", "items": "至少一项"},
        {"items.0.description": "“尽快”不够具体", "budget": "预算偏高"},
        {"topic": "", "items": [{"description": "尽快处理", "owner": ""}]},
    )
    page = render(Card(elements=[form]))
    alerts = page.find(lambda n: n.attrs.get("role") == "alert")
    assert [(a.attrs["class"], a.text) for a in alerts] == [
        ("error", "请填写“沟通主题”。"), ("error", "至少一项"), ("error", "每项任务需要一位责任人。")]  # fmt: skip
    for name, error in (("topic", alerts[0]), ("items.0.owner", alerts[2])):
        node = control(page, name)
        assert node.attrs["aria-invalid"] == "true" and error.attrs["id"] in node.attrs["aria-describedby"].split()
        assert node.parent is not None and node.parent.has_class("has-error")
    group = page.one(lambda n: n.has_class("repeat"))
    assert alerts[1].attrs["id"] in group.attrs["aria-describedby"].split()
    warnings = {control(page, name).attrs["aria-describedby"]: name for name in ("budget", "items.0.description")}
    assert {page.one(lambda n, i=i: n.attrs.get("id") == i).text for i in warnings} == {"预算偏高", "“尽快”不够具体"}
    assert all(page.one(lambda n, i=i: n.attrs.get("id") == i).has_class("warning") for i in warnings)
    assert "aria-invalid" not in control(page, "budget").attrs, "a warning does not block"
    due = control(page, "items.0.due")
    hint = page.one(lambda n: n.attrs.get("id") == due.attrs["aria-describedby"])
    assert hint.has_class("hint") and hint.text == "如 3月15日"


# ---------------------------------------------------------------- cards


def test_buttons_outside_a_form_each_post_their_action_and_payload() -> None:
    other = CardPayload(record_id=12, item_id=4)
    card = Card(elements=[Actions(buttons=[
        Button(label="确认无误", action="record.confirm", payload=PAYLOAD, style=ButtonStyle.PRIMARY, confirm="确认？"),
        Button(label="完成", action="item.done", payload=other),
    ])])  # fmt: skip
    forms = render(card).find(lambda n: n.tag == "form")
    posted = [submit(form, form.one(lambda n: n.tag == "button")) for form in forms]
    assert posted == [
        {"payload": PAYLOAD.to_token(), **HIDDEN, "action": "record.confirm"},
        {"payload": other.to_token(), **HIDDEN, "action": "item.done"},
    ]
    confirm = forms[0].one(lambda n: n.tag == "button")
    assert confirm.attrs["data-confirm"] == "确认？" and "onclick" not in confirm.attrs, "asked by the page script"


def test_header_text_fields_and_mentions() -> None:
    card = Card(
        header=Header(title="R12 已延期", subtitle="请 <@ou_lina> 跟进", tone=Tone.DANGER),
        elements=[
            Markdown(text=Markup("**状态** 已延期 <@ou_ghost>\n第二行\n- <@ou_zhang> 负责 **<@ou_lina>**\n- 见 [监控](https://m.example.com/?a=1&b=2)\n\n[坏链接](javascript:alert(1))")),
            Fields(items=[Field(label="记录人", value=Markup("<@ou_zhang>"))]),
            Note(text="每天 17:30 前汇报"),
        ],
        card_id="r12",
    )  # fmt: skip
    page = render(card)
    root = page.one(lambda n: n.has_class("card"))
    assert root.attrs["data-card-id"] == "r12"
    header = root.one(lambda n: n.has_class("card-header"))
    assert header.has_class("tone-danger") and header.text == "R12 已延期请 <@ou_lina> 跟进", "titles are plain text"
    assert [m.text for m in page.find(lambda n: n.has_class("mention"))] == [
        "@ou_ghost",
        "@张伟",
        "@李娜",
        "@张伟",
    ]
    markdown = page.one(lambda n: n.has_class("markdown"))
    first = markdown.find(lambda n: n.tag == "p")[0]
    assert [c.tag for c in first.children if isinstance(c, Node)] == ["strong", "span", "br"]
    assert [li.text for li in markdown.find(lambda n: n.tag == "li")] == ["@张伟 负责 @李娜", "见 监控"]
    assert markdown.one(lambda n: n.tag == "strong" and n.text == "@李娜")
    (link,) = markdown.find(lambda n: n.tag == "a")
    assert link.attrs["href"] == "https://m.example.com/?a=1&b=2" and link.text == "监控"
    assert "[坏链接](javascript:alert(1))" in markdown.text, "only http(s) links become links"
    dl = page.one(lambda n: n.tag == "dl")
    assert [n.text for n in dl.find(lambda n: n.tag in ("dt", "dd"))] == ["记录人", "@张伟"]
    assert page.one(lambda n: n.has_class("note")).text == "每天 17:30 前汇报"


def test_everything_from_a_card_is_escaped() -> None:
    evil = '<script>alert("x")</script>&"\'<b onmouseover=x>'
    card = Card(
        header=Header(title=evil, subtitle=evil),
        elements=[
            Markdown(text=f"{evil}\n- **{evil}** [{evil}](https://x.example/{evil}) <@ou_evil>"),
            Fields(items=[Field(label=evil, value=evil)]), Note(text=evil),
            Actions(buttons=[Button(label=evil, action=evil, confirm=evil, payload=CardPayload(extra={"x": evil}))]),
            Form(form_id=evil, submit=Button(label=evil, action="a"), sections=[Section(title=evil, hint=evil, inputs=[
                TextInput(name="t", label=evil, value=evil, hint=evil, error=evil, warning=evil, placeholder=evil),
                TextInput(name="m", label=evil, value=evil, multiline=True),
                Select(name="s", label=evil, options=[Option(value=evil, label=evil)], value=evil),
                PersonPicker(name="p", label=evil, values=[evil]),
                Repeat(name="r", label=evil, add_label=evil, error=evil, template=[TextInput(name="c", label=evil)],
                       rows=[{"c": evil}], row_errors={"0.c": evil}),
            ])]),
        ],
    )  # fmt: skip
    html = render_card_html(card, names={"ou_evil": evil}, people=[(evil, evil)], action_url=evil, hidden={evil: evil})
    page = parse(html)
    tags = {node.tag for node in page.walk()}
    assert "script" not in tags and "b" not in tags
    assert {name for node in page.walk() for name in node.attrs if name.startswith("on")} == set(), "no inline script"
    assert page.text.count(evil) >= 15, "shown as typed"
    values = [n.attrs.get("value") for n in page.walk() if n.tag in ("input", "option", "button")]
    assert values.count(evil) >= 6 and page.one(lambda n: n.tag == "textarea").text == evil
    assert {n.attrs["action"] for n in page.find(lambda n: n.tag == "form")} == {evil}
    assert CardPayload.from_token(page.find(lambda n: n.attrs.get("name") == "payload")[0].attrs["value"] or "") == (
        CardPayload(extra={"x": evil}))  # fmt: skip


def test_chinese_text_stays_as_characters_and_ids_differ_between_cards() -> None:
    card = Card(elements=[FORM])
    html = render_card_html(card)
    assert "沟通主题" in html and "&#" not in html
    first, second = parse(html), parse(render_card_html(card))
    ids = [{n.attrs["id"] for n in page.walk() if "id" in n.attrs} for page in (first, second)]
    assert ids[0] and not ids[0] & ids[1], "two cards on one page never share an id"
    fixed = parse(render_card_html(card, id_prefix="draft"))
    assert control(fixed, "topic").attrs["id"] == "draft-topic"


def test_numbers_show_as_people_write_them() -> None:
    form = with_errors(FORM, {}, values={"budget": "5000"})
    assert control(render(Card(elements=[form])), "budget").attrs["value"] == "5000"
    form = with_errors(FORM, {}, values={"budget": "12.5"})
    assert control(render(Card(elements=[form])), "budget").attrs["value"] == "12.5"


def test_hidden_extras_cannot_take_the_names_buttons_post() -> None:
    with pytest.raises(ValueError, match="payload"):
        render_card_html(Card(elements=[FORM]), hidden={"payload": "{}"})


def test_the_stylesheet_colours_each_tone() -> None:
    css = page_css()
    assert all(f".tone-{tone.value}" in css for tone in Tone if tone is not Tone.NEUTRAL)
    assert ".card-header" in css and ".error" in css and ".mention" in css


def test_the_page_script_is_a_file_that_adds_rows_confirms_and_searches_people() -> None:
    script = page_script()
    assert "data-add-row" in script and "data-confirm" in script and "data-people-search" in script
    assert "__row__" in script and "__num__" in script, "it numbers the rows as the template marks them"


def test_person_pickers_get_a_search_box_with_pinyin_words_when_asked() -> None:
    people = [("ou_lina", "李娜（技术部）", "lina ln"), ("ou_zhang", "张伟（运营部）", "zhangwei zw")]
    card = Card(elements=[FORM])
    page = parse(render_card_html(card, people=people, search_label="搜索姓名或拼音首字母"))
    owner = control(page, "items.0.owner")
    options = {o.attrs["value"]: o.attrs.get("data-search") for o in owner.find(lambda n: n.tag == "option")}
    assert options == {"": None, "ou_lina": "lina ln", "ou_zhang": "zhangwei zw"}
    box = page.one(lambda n: n.attrs.get("data-people-search") == owner.attrs["id"])
    assert box.attrs["type"] == "search" and "hidden" in box.attrs, "shown only when the script can filter"
    assert box.attrs["aria-label"] == "搜索姓名或拼音首字母: 责任人"
    assert not parse(render_card_html(card, people=people)).find(lambda n: n.has_class("people-search"))


def test_pages_outside_the_chat_show_people_by_name_not_as_mentions() -> None:
    card = Card(elements=[Markdown(text=Markup("负责人 <@ou_lina>"))])
    page = parse(render_card_html(card, names=PlainNames(NAMES)))
    assert [n.text for n in page.find(lambda n: n.has_class("person"))] == ["李娜"]
    assert not page.find(lambda n: n.has_class("mention"))
