"""Typed text stays text in every renderer: no @all, @channel, @here, mention, tag or link comes from what a person typed.

The cards are the bot's own templates filled with a person's text (a topic, a key
point, an item, a progress note, a verification result, a display name); each
renderer's output is searched for the markup that text would make if it leaked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from bot.platforms.feishu import cards as feishu
from bot.platforms.slack import blocks as slack
from cards import templates
from cards.html import render_card_html
from cards.markup import mention
from cards.model import Card, Field, Fields, Header, Markdown
from cards.templates import t

INJECTIONS = {
    "feishu_all": "<at id=all></at>",
    "feishu_user_all": '<at user_id="all">所有人</at>',
    "feishu_font": "<font color='red'>红</font>",
    "slack_channel": "<!channel>",
    "slack_here": "<!here>",
    "slack_everyone": "<!everyone>",
    "slack_user": "<@U0EVIL>",
    "slack_link": "<https://evil.example|点我>",
    "markdown_link": "[点我](https://evil.example)",
    "bold": "**加粗**",
    "html": "<script>alert(1)</script>",
    "neutral_mention": "<@ou_evil>",
}
EVIL = " ".join(INJECTIONS.values())
REAL = "ou_li"  # the one person the bot mentions on purpose


def cards_with_typed_text() -> list[Card]:
    """Templates a person's text reaches, with that text everywhere it can go."""
    lang = "zh-CN"
    return [
        templates.notice(
            t("summary.title", lang, ref="R1", topic=EVIL),
            t("progress.posted", lang, owner=mention(REAL), ref="R1-1", percent=" 60%", text=EVIL, blocked=""),
        ),
        templates.notice(t("closed.title", lang, ref="R1"), t("closed.text", lang, topic=EVIL, verification=EVIL)),
        Card(
            header=Header(title=EVIL, subtitle=EVIL),
            elements=[
                Markdown(text=EVIL),
                Fields(items=[Field(label=EVIL, value=EVIL), Field(label="记录人", value=mention(REAL))]),
            ],
        ),
        templates.error_card(EVIL, lang=lang),
    ]


def parsed_parts(rendered: Any, markup_tags: set[str]) -> list[str]:
    """The strings a platform parses as markup: dicts whose tag/type is one of ``markup_tags`` (plain text is not)."""
    found: list[str] = []
    if isinstance(rendered, dict):
        kind = rendered.get("tag") or rendered.get("type")
        if kind in markup_tags:
            found.extend(v for k, v in rendered.items() if k in ("content", "text") and isinstance(v, str))
        for value in rendered.values():
            found.extend(parsed_parts(value, markup_tags))
    elif isinstance(rendered, list):
        for value in rendered:
            found.extend(parsed_parts(value, markup_tags))
    return found


def feishu_card_text(card: Card) -> str:
    """What Feishu reads as markdown (``plain_text`` it shows as it is)."""
    return "\n".join(parsed_parts(feishu.render_pages(card), {"markdown", "lark_md"}))


def feishu_text_message(card: Card) -> str:
    return feishu.text_message(card, {REAL: "李娜", "ou_evil": EVIL})


def slack_message(card: Card) -> str:
    """What Slack reads as mrkdwn: ``mrkdwn`` objects and the notification ``text`` (``plain_text`` is shown as is)."""
    messages = slack.render_messages(card)
    return "\n".join([m["text"] for m in messages] + parsed_parts(messages, {"mrkdwn"}))


def html(card: Card) -> str:
    return render_card_html(card, names={REAL: "李娜", "ou_evil": EVIL})


# what each output must not contain (the markup a leak would make), and how a real mention looks in it
LEAKS: dict[str, tuple[Callable[[Card], str], list[str], str]] = {
    "feishu card": (feishu_card_text, ["<at id=all", '<at user_id="all"', "<font color='red'>红", "](https://evil",
                                       "**加粗**", "<at id=ou_evil", "<script"], f"<at id={REAL}></at>"),
    "feishu text": (feishu_text_message, ['<at user_id="all"', "<at id=all", "](https://evil", '<at user_id="ou_evil"'],
                    f'<at user_id="{REAL}">李娜</at>'),
    "slack": (slack_message, ["<!channel>", "<!here>", "<!everyone>", "<@U0EVIL>", "<https://evil", "<script"], ""),
    "html": (html, ["<at ", "<script", "<font", 'href="https://evil', "<strong>加粗"], '<span class="mention">@李娜</span>'),
}  # fmt: skip


@pytest.mark.parametrize("renderer", sorted(LEAKS))
def test_no_renderer_lets_typed_text_become_markup_or_a_mention(renderer: str) -> None:
    render, leaks, real_mention = LEAKS[renderer]
    for card in cards_with_typed_text():
        output = render(card)
        found = [leak for leak in leaks if leak in output]
        assert found == [], f"{renderer} let typed text through as markup: {found}"
    if real_mention:
        assert real_mention in render(cards_with_typed_text()[0]), "the mention the bot made is still real"


def test_slack_mentions_only_its_own_user_ids_and_escapes_the_notification_text() -> None:
    card = templates.notice("x", t("progress.posted", "zh-CN", owner=mention("U0LI"), ref="R1-1", percent="",
                                  text=EVIL, blocked=""))  # fmt: skip
    (message,) = slack.render_messages(card)
    assert "<@U0LI>" in message["text"] and "<@U0LI>" in json.dumps(message["blocks"])
    assert not re.search(r"<[!@#](?!U0LI>)", message["text"]), message["text"]


def test_what_a_person_typed_is_shown_as_typed() -> None:
    """Escaped, not removed: the HTML shows the text; Feishu's markdown holds it as entities."""
    card = templates.notice("x", t("closed.text", "zh-CN", topic=EVIL, verification="ok"))
    assert "<at id=all></at>" in re.sub(r"<[^>]+>", "", html(card)).replace("&lt;", "<").replace("&gt;", ">")
    content: Any = feishu.render(card)["body"]["elements"][0]["content"]
    assert "&lt;at id=all&gt;&lt;/at&gt;" in content and "&#42;&#42;加粗&#42;&#42;" in content
