"""Neutral markup: what a person typed is escaped once, at the boundary, and parsed back as exactly that text."""

from __future__ import annotations

import pytest

from cards.markup import Bold, Line, Link, Markup, Mention, Text, literal, md, mention, mentions_in, parse, to_plain
from cards.model import Card, Field, Fields, Header, Markdown, Note
from cards.templates import t

TYPED = [
    "<at id=all></at>订单延迟",
    '<at user_id="all">所有人</at>',
    "<!channel> <!here> <!everyone> <@U0LI> <@ou_x>",
    "[点我](https://evil.example) **加粗** *斜* ~~删~~ `code` # 标题",
    "- 不是列表\n-- 也不是\n> 引用 | 表格 |",
    "C:\\path\\*file* \\\\ \\[x\\]",
    "",
]


@pytest.mark.parametrize("typed", TYPED)
def test_typed_text_comes_back_from_the_markup_exactly_as_text(typed: str) -> None:
    lines = parse(literal(typed))
    assert [line.bullet for line in lines] == [False] * len(typed.split("\n"))
    assert ["".join(s.text for s in line.spans if isinstance(s, Text)) for line in lines] == typed.split("\n")
    assert all(isinstance(s, Text) for line in lines for s in line.spans), "no mention, bold or link"
    assert mentions_in(literal(typed)) == []
    assert to_plain(literal(typed)) == typed


def test_markup_is_parsed_into_mentions_bold_links_and_bullets() -> None:
    markup = Markup("**R1** 请 <@ou_li> 看 [监控](https://m.example/?a=1&b=2)\n- 第二行 **<@ou_zh>**")
    assert parse(markup) == [
        Line((Bold((Text("R1"),)), Text(" 请 "), Mention("ou_li"), Text(" 看 "),
              Link((Text("监控"),), "https://m.example/?a=1&b=2"))),
        Line((Text("第二行 "), Bold((Mention("ou_zh"),))), bullet=True),
    ]  # fmt: skip
    assert mentions_in(markup) == ["ou_li", "ou_zh"]
    assert to_plain(markup, {"ou_li": "李娜"}) == "R1 请 @李娜 看 监控 (https://m.example/?a=1&b=2)\n- 第二行 @ou_zh"
    assert parse(Markup("[x](javascript:alert(1))")) == [Line((Text("[x](javascript:alert(1))"),))]


def test_formatting_escapes_every_plain_parameter_and_keeps_markup() -> None:
    topic = "**假** <@U1> [链](https://e.example)"
    sentence = md("**{}** {} 由 {} 负责", "R1", topic, mention("ou_li"))
    assert isinstance(sentence, Markup)
    assert to_plain(sentence, {"ou_li": "李娜"}) == f"R1 {topic} 由 @李娜 负责"
    assert mentions_in(sentence) == ["ou_li"], "only the mention we made"
    joined = Markup(" ").join([mention("a"), "<@b>"])
    assert mentions_in(joined) == ["a"] and mentions_in(Markup("x ") + "<@c>") == []
    assert mentions_in(t("summary.title", "zh-CN", ref="R1", topic="<@U9> **x**")) == []


def test_a_mention_is_made_only_of_a_user_id() -> None:
    for bad in ("", "a b", "a>b", "x" * 200):
        with pytest.raises(ValueError):
            mention(bad)


def test_cards_escape_plain_text_given_as_card_text_and_keep_markup_and_stored_cards() -> None:
    typed = "<@U0LI> **粗** [链](https://e.example)"
    card = Card(
        header=Header(title=t("summary.title", "zh-CN", ref="R1", topic=typed)),
        elements=[Markdown(text=typed), Note(text=typed), Fields(items=[Field(label="x", value=typed)]),
                  Markdown(text=md("**{}**", mention("ou_li")))],
    )  # fmt: skip
    assert card.header is not None and card.header.title == f"R1 {typed}", "titles are plain text"
    assert [to_plain(e.text) for e in card.elements[:2]] == [typed, typed]  # type: ignore[union-attr]
    stored = Card.load(card.model_dump(mode="json"))
    assert stored == card, "a card read back is not escaped twice"
    assert mentions_in(stored.elements[3].text) == ["ou_li"]  # type: ignore[union-attr]
