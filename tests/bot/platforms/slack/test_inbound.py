"""What Slack sends us, checked: signatures (slack_sdk as the judge), replays, malformed payloads, retries, mentions."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode

import pytest
from aiohttp.test_utils import TestClient, TestServer
from slack_sdk.signature import Clock as SlackClock
from slack_sdk.signature import SignatureVerifier
from sqlmodel import Session, select

from bot.app import create_app
from bot.platforms.slack.adapter import SlackPlatform
from bot.platforms.slack.inbound import command_line, neutral_text
from bot.platforms.slack.settings import SlackSettings
from bot.settings import load_settings
from storage.models import Group, InboundEvent, OutboxMessage, Person, ProcessedEvent
from tests.platforms.slack.fake import (
    APP_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    SlackSigner,
    app_mention,
    block_actions,
    interaction,
    slash_command,
)

from .conftest import Slack


def counts(slack: Slack) -> tuple[int, int, int, int]:
    """Events waiting in the inbox, events handled, messages queued, groups."""
    with Session(slack.engine) as session:
        return (len(session.exec(select(InboundEvent)).all()), len(session.exec(select(ProcessedEvent)).all()),
                len(session.exec(select(OutboxMessage)).all()), len(session.exec(select(Group)).all()))  # fmt: skip


class At(SlackClock):
    def __init__(self, epoch: float) -> None:
        self.epoch = epoch

    def now(self) -> float:
        return self.epoch


def test_our_test_signer_signs_as_slack_does_by_slack_sdks_verifier() -> None:
    body, stamp = slash_command("list", trigger_id="1.2.3"), 1_795_482_000
    headers = SlackSigner().headers(body, timestamp=stamp)
    assert SignatureVerifier(SIGNING_SECRET, clock=At(stamp + 10)).is_valid_request(body, headers)
    assert not SignatureVerifier(SIGNING_SECRET, clock=At(stamp + 301)).is_valid_request(body, headers)
    assert not SignatureVerifier("another-secret", clock=At(stamp)).is_valid_request(body, headers)
    assert not SignatureVerifier(SIGNING_SECRET, clock=At(stamp)).is_valid_request(body + b"x", headers)


async def test_forged_stale_tampered_and_malformed_requests_get_a_4xx_and_change_nothing(slack: Slack) -> None:
    good = slash_command("list", trigger_id=slack.fake.new_trigger())
    now = int(slack.clock.now().timestamp())
    cases = {
        "wrong secret": (good, SlackSigner("not-the-secret").headers(good, timestamp=now), 401),
        "stale": (good, slack.signer.headers(good, timestamp=now - 301), 401),
        "from the future": (good, slack.signer.headers(good, timestamp=now + 301), 401),
        "tampered": (good.replace(b"list", b"new+x"), slack.signer.headers(good, timestamp=now), 401),
        "no signature": (good, {"Content-Type": "application/x-www-form-urlencoded"}, 401),
        "timestamp not a number": (
            good,
            {**slack.signer.headers(good, timestamp=now), "X-Slack-Request-Timestamp": "soon"},
            401,
        ),
        "payload not JSON": (b"payload=%7Bnot+json", None, 400),
        "not UTF-8 (cannot be verified)": (b"payload=\xff\xfe", None, 401),
        "JSON body not an object": (b"[1, 2]", None, 400),
        "command without a channel": (
            urlencode(
                {"command": "/record", "text": "list", "user_id": "U1", "team_id": "T", "trigger_id": "1.2"}
            ).encode(),
            None,
            400,
        ),
        "button value not ours": (
            block_actions({"action_id": "x:0", "value": '{"a": 1'}, user="U0LI", message_ts="1.2", trigger_id="3.4"),
            None,
            400,
        ),
        "submission with foreign metadata": (
            interaction(
                {
                    "type": "view_submission",
                    "user": {"id": "U0LI"},
                    "team": {"id": "T"},
                    "view": {
                        "id": "V1",
                        "hash": "h",
                        "callback_id": "record.submit",
                        "private_metadata": "hello",
                        "state": {"values": {}},
                    },
                }
            ),
            None,
            400,
        ),
    }
    for name, (body, headers, status) in cases.items():
        if headers is None:
            content_type = "application/json" if body.startswith(b"[") else "application/x-www-form-urlencoded"
            headers = slack.signer.headers(body, timestamp=now, content_type=content_type)
        got, answer = await slack.send(body, headers=headers)
        assert got == status, (name, answer)
        assert counts(slack) == (0, 0, 0, 0), name
    assert slack.fake.opened == [] and slack.fake.posted == []


async def test_the_url_verification_challenge_is_answered(slack: Slack) -> None:
    body = json.dumps({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"}).encode()  # fmt: skip
    status, answer = await slack.send(body, content_type="application/json")
    assert status == 200 and answer == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


async def test_a_mention_is_stored_before_the_ack_and_retries_are_handled_once(slack: Slack) -> None:
    body = app_mention("<@UBOT> /record new 订单延迟 <@U0LI>", event_id="Ev0001")
    status, _ = await slack.send(body, content_type="application/json")
    assert status == 200 and counts(slack) == (1, 0, 0, 0), "acknowledged once stored, handled later"
    status, _ = await slack.send(body, content_type="application/json", retry=1)  # Slack retries what looked lost
    assert status == 200 and counts(slack) == (1, 0, 0, 0)
    await slack.work()
    status, _ = await slack.send(body, content_type="application/json", retry=2)  # and again, after it was handled
    await slack.work()
    assert status == 200 and counts(slack) == (0, 1, 1, 1)
    with Session(slack.engine) as session:
        form = session.exec(select(OutboxMessage)).one().payload["card"]
        topic = next(i for s in form["elements"][0]["sections"] for i in s["inputs"] if i["name"] == "topic")
        assert topic["value"] == "订单延迟 @U0LI", "the bot's own mention is removed; a person in free text is text"
        assert {p.user_id for p in session.exec(select(Person))} == {"U0ZHANG", "U0LI"}


async def test_a_form_answered_to_a_mention_is_posted_with_a_button_that_opens_it(slack: Slack) -> None:
    await slack.send(app_mention("<@UBOT> /record new 订单延迟"), content_type="application/json")
    await slack.work()
    (posted,) = slack.fake.posted
    (opener,) = [e for b in posted.blocks if b["type"] == "actions" for e in b["elements"]]
    assert opener["action_id"] == "form.open"
    body = block_actions(opener, user="U0ZHANG", message_ts=posted.ts, trigger_id=slack.fake.new_trigger())
    status, _ = await slack.send(body)
    assert status == 200
    (view,) = slack.fake.opened
    assert view["callback_id"] == "record.submit"
    assert json.loads(view["private_metadata"])["m"] == posted.ts, "the result will replace the form's message"
    topic = next(b for b in view["blocks"] if b.get("block_id") == "topic")
    assert topic["element"]["initial_value"] == "订单延迟"


async def test_an_expired_trigger_posts_the_form_instead(slack: Slack) -> None:
    trigger = slack.fake.new_trigger()
    slack.clock.advance(timedelta(seconds=4))  # the command took too long to reach us
    status, _ = await slack.send(slash_command("new 订单延迟", trigger_id=trigger))
    assert status == 200 and slack.fake.opened == []
    await slack.work()
    (posted,) = slack.fake.posted
    assert any(e["action_id"] == "form.open" for b in posted.blocks if b["type"] == "actions" for e in b["elements"])


async def test_a_usage_error_answers_the_person_who_typed_it_not_the_channel(slack: Slack) -> None:
    status, answer = await slack.send(slash_command("frobnicate", trigger_id=slack.fake.new_trigger()))
    assert status == 200 and "frobnicate" in answer, "the person who typed it sees why at once (ephemeral)"
    await slack.work()
    assert slack.fake.posted == [] and slack.fake.ephemeral == [], "nothing for the whole channel"


async def test_the_umbrella_command(slack: Slack) -> None:
    status, _ = await slack.send(
        slash_command("departments", command="/closeloop", trigger_id=slack.fake.new_trigger())
    )
    assert status == 200
    await slack.work()
    assert slack.fake.posted and "部门" in slack.fake.posted[0].text


@pytest.mark.parametrize(("command", "text", "line"), [
    ("/record", "new 订单延迟", "/record new 订单延迟"),
    ("/progress", "R1-1 60%", "/progress R1-1 60%"),
    ("/closeloop", "", "/help"),
    ("/closeloop", "help", "/help"),
    ("/closeloop", "settings timezone Asia/Tokyo", "/settings timezone Asia/Tokyo"),
    ("/closeloop", "departments", "/dept list"),
    ("/closeloop", "departments set 技术部 lead <@U1>", "/dept set 技术部 lead <@U1>"),
])  # fmt: skip
def test_slash_commands_become_the_common_grammar(command: str, text: str, line: str) -> None:
    assert command_line(command, text) == line


def test_mentions_become_neutral_with_the_names_slack_gave() -> None:
    text, people = neutral_text("<@UBOT> 请 <@U0LI|lina> 和 <@W0WANG> 看一下", bot_user_id="UBOT")
    assert text == "请 <@U0LI> 和 <@W0WANG> 看一下"
    assert [(p.user_id, p.display_name) for p in people] == [("U0LI", "lina"), ("W0WANG", None)]


async def test_socket_mode_takes_commands_over_the_websocket(engine, clock, fake_slack) -> None:
    settings = SlackSettings(_env_file=None, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                             SLACK_APP_TOKEN=APP_TOKEN, SLACK_API_BASE=fake_slack.base)  # fmt: skip
    app = create_app(load_settings(_env_file=None), engine=engine, clock=clock, platforms=[SlackPlatform(settings, clock=clock)],
                     run_sender=False, run_inbox=False, run_scheduler=False)  # fmt: skip
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()  # connects to the fake's Socket Mode server on start-up
    try:
        await asyncio.wait_for(fake_slack.connected.wait(), 5)
        command = dict(parse_qsl(slash_command("new 订单延迟", trigger_id=fake_slack.new_trigger()).decode()))
        ack = await fake_slack.push("slash_commands", command)
        assert "envelope_id" in ack
        (view,) = fake_slack.opened
        assert view["callback_id"] == "record.submit"
        mention = json.loads(app_mention("<@UBOT> /help", event_id="Ev0SOCKET"))
        await fake_slack.push("events_api", mention)
        with Session(engine) as session:
            assert [e.event_id for e in session.exec(select(InboundEvent))] == ["Ev0SOCKET"]
    finally:
        await client.close()


async def test_the_server_comes_up_while_socket_mode_cannot_reach_slack(engine, clock) -> None:
    settings = SlackSettings(_env_file=None, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                             SLACK_APP_TOKEN=APP_TOKEN, SLACK_API_BASE="http://127.0.0.1:9/api/")  # fmt: skip
    app = create_app(load_settings(_env_file=None), engine=engine, clock=clock, platforms=[SlackPlatform(settings, clock=clock)],
                     run_sender=False, run_inbox=False, run_scheduler=False)  # fmt: skip
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        response = await client.get("/healthz")
        assert response.status == 200 and (await response.json())["platforms"] == ["slack"]
    finally:
        await client.close()


def test_what_a_person_typed_arrives_unescaped_and_slacks_own_tokens_as_text() -> None:
    typed = "a &lt; b &amp; &lt;@U0EVIL&gt; <#C1|general> <!here> <https://x.example|点我> <https://y.example> <@U0LI|李&lt;娜>"
    text, people = neutral_text(typed)
    assert text == "a < b & <@U0EVIL> #general @here 点我 https://y.example <@U0LI>"
    assert [(p.user_id, p.display_name) for p in people] == [("U0LI", "李<娜")], "only the real mention is a person"
