"""Neutral cards as the intelligent robot's messages: button cards of six, choices, notices, markdown, escaping."""

from __future__ import annotations

import json

from bot.platforms.wecom import cards
from bot.platforms.wecom.inbound import Reading, command_text, to_event
from cards.markup import md, mention
from cards.model import (
    Actions,
    Button,
    Card,
    CardPayload,
    Form,
    Header,
    LinkButton,
    Markdown,
    MultiSelect,
    Option,
    Section,
    Select,
)
from handlers.events import ActionEvent, CommandEvent


def buttons(count: int) -> Card:
    return Card(header=Header(title="R1 订单系统数据延迟问题专项沟通"), elements=[
        Markdown(text=md("请 {} 处理", mention("LiNa"))),
        Actions(buttons=[Button(label=f"操作{n}", action=f"do.{n}", payload=CardPayload(record_id=n))
                         for n in range(count)])])  # fmt: skip


def test_a_long_list_of_buttons_is_split_over_cards_of_six() -> None:
    messages = cards.render(buttons(8), {"LiNa": "李娜"}, task_id="cl7xab")
    sent = [m["template_card"] for m in messages]
    assert [len(c["button_list"]) for c in sent] == [6, 2] and [c["task_id"] for c in sent] == ["cl7xabp0", "cl7xabp1"]
    assert sent[0]["main_title"]["title"].endswith("(1/2)") and sent[1]["main_title"]["title"].endswith("(2/2)")
    keys = [b["key"] for c in sent for b in c["button_list"]]
    assert len(set(keys)) == 8 and cards.read_key(keys[7]) == ("do.7", '{"record_id":7}')
    assert sent[0]["sub_title_text"] == "请 李娜 处理", "a card's text is plain: the name, no markup"


def test_choices_become_a_vote_or_a_multiple_choice_card_and_read_back() -> None:
    submit = Button(label="提交", action="record.category", payload=CardPayload(record_id=3))
    one = Form(form_id="f", sections=[Section(inputs=[MultiSelect(name="cc", label="抄送", values=["b"], options=[
        Option(value="a", label="张伟"), Option(value="b", label="李娜")])])], submit=submit)  # fmt: skip
    (vote,) = [m for m in cards.render(Card(elements=[one]), {}, task_id="cl1x") if m["msgtype"] == "template_card"]
    checkbox = vote["template_card"]["checkbox"]
    assert vote["template_card"]["card_type"] == "vote_interaction" and checkbox["mode"] == 1
    assert [o["is_checked"] for o in checkbox["option_list"]] == [False, True]
    three = Form(form_id="g", submit=submit, sections=[Section(inputs=[
        Select(name=name, label=name, options=[Option(value="x", label="X"), Option(value="y", label="Y")])
        for name in ("category", "term", "authority")])])  # fmt: skip
    (multiple,) = [
        m for m in cards.render(Card(elements=[three]), {}, task_id="cl2x") if m["msgtype"] == "template_card"
    ]
    assert multiple["template_card"]["card_type"] == "multiple_interaction"
    assert len(multiple["template_card"]["select_list"]) == 3
    assert cards.form_values({"m:cc": ["a", "b"], "s:category": ["y"], "other": ["z"]}) == {"cc": ["a", "b"],
                                                                                             "category": "y"}  # fmt: skip


def test_a_notice_with_a_link_is_a_text_notice_the_whole_card_opens() -> None:
    card = Card(header=Header(title="新建跨部门沟通记录"), elements=[Markdown(text="请在网页中填写"), Actions(buttons=[
        LinkButton(label="在网页中填写", url="https://closeloop.example.com/f/abc")])])  # fmt: skip
    (notice,) = cards.render(card, {}, task_id="cl3x")
    body = notice["template_card"]
    assert body["card_type"] == "text_notice" and body["card_action"] == {
        "type": 1,
        "url": "https://closeloop.example.com/f/abc",
    }
    assert body["jump_list"][0]["url"] == "https://closeloop.example.com/f/abc"


def test_typed_text_is_escaped_for_markdown_and_guarded_in_cards() -> None:
    typed = "<@all> <font color='red'>红</font> [点我](https://evil.example) **加粗** # 标题"
    card = Card(header=Header(title=typed), elements=[Markdown(text=md("{} 说：{}", mention("LiNa"), typed)),
                                                      Markdown(text=md("[看板](https://closeloop.example.com/board/x)")),
                                                      Markdown(text=mention("all"))])  # fmt: skip
    (text,) = cards.render(card, {"LiNa": "李<娜"}, task_id="cl4x")
    content = text["markdown"]["content"]
    for leak in ("<@", "<font", "](https://evil", "**加粗**", "\n# "):
        assert leak not in content, leak
    assert "**李<\u200b娜**" in content, "a mention: the name in bold, itself escaped"
    assert "[看板](https://closeloop.example.com/board/x)" in content, "the bot's own links stay links"
    assert "@all" in content and "<@all>" not in content, "a mention of all is text"
    assert cards.markdown(md("{}", mention("LiNa")), {}, mention="inline") == "<@LiNa>", "the push robot's @"


def test_a_message_as_typed_becomes_a_command() -> None:
    sealed = []
    reading = Reading(seal=lambda url: sealed.append(url) or "SEALED")
    text = command_text("@Closeloop\u2005进度 R1-1 完成 @李娜 <@ZhaoQiang> https://qyapi.weixin.qq.com/cgi-bin/webhook/"
                        "send?key=693a91f6-7xxx", reading)  # fmt: skip
    assert text == "进度 R1-1 完成 @李娜 <@ZhaoQiang> SEALED", "the robot's @ gone; the rest as typed"
    assert sealed == ["https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx"]
    body = {"msgid": "m1", "aibotid": "aib", "chattype": "single", "from": {"userid": "LiNa"}, "msgtype": "text",
            "text": {"content": "帮助"}}  # fmt: skip
    event = to_event(body, handle="req:1", reading=Reading())
    assert isinstance(event, CommandEvent) and event.chat.chat_id == "single:LiNa" and event.chat.is_direct


def test_an_updated_card_keeps_its_task_id_and_an_inert_button_when_none_is_left() -> None:
    card = Card(header=Header(title="R1 已闭环"), elements=[Markdown(text="验证结果：延迟≤1.5小时")])
    update = cards.updated(card, {}, task_id="cl5xabp1", page=1, note="已确认", pressed_by=("操作人", "LiNa"))
    assert update["task_id"] == "cl5xabp1" and update["button_list"] == [{"text": "已确认", "style": 4,
                                                                            "key": cards.NOOP}]  # fmt: skip
    assert update["horizontal_content_list"][0] == {"type": 3, "keyname": "操作人", "userid": "LiNa"}
    press = {"msgid": "m2", "aibotid": "aib", "chattype": "group", "chatid": "wrk1", "from": {"userid": "LiNa"},
             "msgtype": "event", "event": {"eventtype": "template_card_event", "template_card_event": {
                 "event_key": cards.NOOP, "task_id": "cl5xabp1"}}}  # fmt: skip
    assert to_event(press, handle=None, reading=Reading()) is None, "pressing it does nothing"
    press["event"]["template_card_event"]["event_key"] = '0|record.show|{"record_id":1}'
    event = to_event(press, handle=None, reading=Reading())
    assert isinstance(event, ActionEvent) and event.message_id == "cl5xabp1" and event.payload.record_id == 1
    assert json.dumps(update, ensure_ascii=False).count("task_id") == 1
