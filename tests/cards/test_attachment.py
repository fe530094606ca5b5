"""A stored file in a card: an image or a download link in HTML; on Feishu an uploaded image is an ``img``, and
anything else (a file sent after the card, one shared before it on Slack) shows its name as plain text — never
markup, whatever the name holds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.platforms.feishu.cards import render as feishu_render
from bot.platforms.slack.blocks import render_blocks
from cards.html import render_card_html
from cards.model import Attachment, Card, Header, plain_text

NAME = "R1-<b>[链接](https://x.example)<@lina>.xlsx"


def card(image: bool = False, filename: str = NAME) -> Card:
    mime = "image/png" if image else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Card(
        header=Header(title="导出"), elements=[Attachment(file_id=7, filename=filename, mime=mime, image=image)]
    )


def test_round_trips_through_json() -> None:
    original = card(image=True)
    assert Card.model_validate(original.model_dump(mode="json")) == original
    with pytest.raises(ValidationError):
        Attachment(file_id=0, filename="x", mime="image/png")


def test_html_shows_an_image_or_a_download_link_with_the_name_escaped() -> None:
    image = render_card_html(card(image=True, filename="复盘图表-2026-11.png"), file_url="/sandbox/files/{file_id}")
    assert '<img class="attachment" src="/sandbox/files/7" alt="复盘图表-2026-11.png">' in image
    link = render_card_html(card(), file_url="/sandbox/files/{file_id}")
    assert 'href="/sandbox/files/7"' in link and "&lt;b&gt;[链接](https://x.example)&lt;@lina&gt;.xlsx</a>" in link
    assert "<b>" not in link and 'href="https://x.example"' not in link and "mention" not in link


def test_feishu_and_slack_show_the_file_name_as_plain_text() -> None:
    (element,) = feishu_render(card())["body"]["elements"]
    assert element == {"tag": "div", "text": {"tag": "plain_text", "content": f"📎 {NAME}"}}
    blocks = render_blocks(card())
    assert blocks[-1] == {"type": "context", "elements": [{"type": "plain_text", "text": f"📎 {NAME}"}]}
    assert plain_text(card()).splitlines()[-1].startswith("📎 R1-<b>")


def test_feishu_shows_an_uploaded_image_in_the_card_with_its_name_as_plain_alt_text() -> None:
    (element,) = feishu_render(card(image=True), images={7: "img_v3_0001"})["body"]["elements"]
    assert element == {"tag": "img", "img_key": "img_v3_0001", "alt": {"tag": "plain_text", "content": NAME},
                       "scale_type": "fit_horizontal", "preview": True}  # fmt: skip
    (named,) = feishu_render(card(), images={8: "img_v3_0002"})["body"]["elements"]
    assert named["tag"] == "div", "only the image that was uploaded becomes an img"
