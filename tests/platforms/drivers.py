"""One driver per platform, so the conformance kit runs the same flows on every platform's fake.

A driver speaks the platform's real protocol to the bot (signed, encrypted
webhooks; the sandbox's HTTP API) and reads what arrived at the platform's fake
server back as ``Seen`` messages: the text a person reads, the people really
@-mentioned, the buttons, whether a form came, and who alone may see it. People
are named by role (``tests.platforms.seed``); each driver maps a role to its
platform's user id.

Adding a platform to the kit means one more driver here and one line in
``DRIVERS`` (see docs/adding-a-platform.md).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any, ClassVar
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer, unused_port
from sqlmodel import Session, col, select

from bot.app import GATEWAY, create_app
from bot.platforms.dingtalk import cards as dingtalk_cards
from bot.platforms.dingtalk.adapter import DingTalkPlatform
from bot.platforms.dingtalk.settings import DingTalkSettings
from bot.platforms.feishu import cards as feishu_cards
from bot.platforms.feishu.adapter import FeishuPlatform
from bot.platforms.feishu.settings import FeishuSettings
from bot.platforms.slack import blocks as slack_blocks
from bot.platforms.slack.adapter import SlackPlatform
from bot.platforms.slack.settings import SlackSettings
from bot.platforms.wecom import cards as wecom_cards
from bot.settings import load_settings
from cards.html import render_card_html
from cards.markup import mentions_in
from cards.model import Card, Fields, Markdown, Note, collect_form_values, iter_inputs, plain_text
from handlers.capabilities import Capabilities
from scheduler.jobs import run_jobs
from storage.models import OutboxMessage
from storage.timekeeping import ManualClock
from storage.types import OutboxStatus
from tests.platforms.dingtalk import peer as dingtalk
from tests.platforms.dingtalk.fake import MESSAGES, FakeDingTalk, Sent
from tests.platforms.feishu.fake import FakeFeishu
from tests.platforms.feishu.peer import APP, BOT, Feishu
from tests.platforms.seed import NAMES, flat
from tests.platforms.slack.fake import (
    BOT_TOKEN,
    BOT_USER,
    SIGNING_SECRET,
    FakeSlack,
    SlackSigner,
    app_mention,
    block_actions,
    slash_command,
    view_submission,
)
from tests.platforms.slack.peer import Slack
from tests.platforms.wecom import bot as wecom_bot
from tests.platforms.wecom.fake import Got
from tests.platforms.wecom.peer import message as wecom_message

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass
class SeenButton:
    label: str
    action: str
    raw: Any  # the button as the platform holds it, to press it
    message: Any = None  # the message it is on


@dataclass(frozen=True)
class Arrived:
    """A file the bot made, as it arrived at the platform: its name, its bytes, and whether it is shown as an image."""

    filename: str
    content: bytes
    image: bool


@dataclass
class Seen:
    """A message as it arrived at the platform."""

    text: str  # what a person reads (mentions as @id)
    markup: str  # every string the platform parses as markup, for leak checks
    mentions: set[str]  # user ids really @-mentioned
    buttons: list[SeenButton] = field(default_factory=list)
    form: Any = None  # the platform's form, when the message is one (or opens one)
    visible_to: str | None = None


class Driver:
    name: ClassVar[str]
    gives_names: ClassVar[bool] = True  # the platform sends display names with mentions
    mentions_in_commands: ClassVar[bool] = True  # an @ typed in a command reaches the bot as a person
    capabilities: ClassVar[Capabilities]
    ids: ClassVar[dict[str, str]]
    # the markup a leak of typed text would make in what this platform parses, and how a real mention looks
    leaks: ClassVar[tuple[str, ...]]

    def __init__(self, client: TestClient, engine: sa.Engine, clock: ManualClock) -> None:
        self.client, self.engine, self.clock = client, engine, clock

    @property
    def gateway(self) -> Any:
        return self.client.server.app[GATEWAY]

    async def settle(self, rounds: int = 30) -> None:
        """Handle what waits in the inbox and deliver the outbox, a second at a time, until nothing is pending."""
        for _ in range(rounds):
            await self.gateway.inbox.run_once()
            await self.gateway.sender.run_once()
            with Session(self.engine) as session:
                pending = session.exec(
                    select(sa.func.count()).select_from(OutboxMessage).where(
                        OutboxMessage.status == OutboxStatus.PENDING)
                ).one()  # fmt: skip
            if not pending:
                return
            self.clock.advance(timedelta(seconds=1))
        raise AssertionError("the outbox did not drain")

    async def jobs(self, at: str) -> dict[str, int]:
        instant = datetime.fromisoformat(at)
        self.clock.set(instant)
        counts = run_jobs(self.engine, as_of=instant, now=self.clock.now())
        await self.settle()
        return counts

    def everything(self) -> list[Seen]:
        raise NotImplementedError

    def find(self, needle: str, *, first: bool = False) -> Seen:
        """The latest message (or the first) whose text holds ``needle``."""
        messages = self.everything()
        return next(seen for seen in (messages if first else reversed(messages)) if needle in seen.text)

    def button(self, action: str) -> SeenButton:
        for seen in reversed(self.everything()):
            for button in seen.buttons:
                if button.action == action:
                    return button
        raise AssertionError(f"no {action} button was posted")

    async def arrived(self) -> list[Arrived]:
        """The files that reached the chat (exports, charts), in the order they came."""
        raise NotImplementedError

    # each driver: command, press, open_form, submit, forged, stale, duplicate, render, round_trip, arrived


# ---------------------------------------------------------------- the sandbox


class _Inputs(HTMLParser):
    """The values an HTML form posts as it stands (what a browser sends when nothing is changed)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None
        self._template = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "template":
            self._template += 1
        if self._template:
            return
        if tag == "input" and a.get("type") in ("text", "number", "hidden", None) and a.get("name"):
            self.values.setdefault(a["name"], []).append(a.get("value", ""))
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self.values.setdefault(self._select, []).append(a.get("value", ""))
        elif tag == "textarea":
            self._textarea = a.get("name")
            self.values.setdefault(self._textarea or "", []).append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "template":
            self._template -= 1
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea and not self._template:
            self.values[self._textarea][-1] += data


class SandboxDriver(Driver):
    name = "sandbox"
    gives_names = False
    ids: ClassVar[dict[str, str]] = {
        "zhang": "zhangwei",
        "li": "lina",
        "wang": "wangfang",
        "zhao": "zhaoqiang",
        "liu": "liuyang",
    }
    leaks = ("<at ", "<script", "<font", 'href="https://evil', "<strong>加粗")
    group = "kit"

    @classmethod
    async def start(cls, engine: sa.Engine, clock: ManualClock) -> SandboxDriver:
        app = create_app(load_settings(_env_file=None), engine=engine, clock=clock, run_sender=False,
                         run_inbox=False, run_scheduler=False)  # fmt: skip
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        from bot.platforms.sandbox.adapter import CAPABILITIES

        cls.capabilities = CAPABILITIES
        return cls(client, engine, clock)

    def _text(self, text: str) -> str:
        return re.sub(r"@(\w+)", lambda m: "@" + self.ids.get(m.group(1), m.group(1)), text)

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(path, json={"group": self.group, **body})
        assert response.status == 200, await response.text()
        return await response.json()

    async def command(self, who: str, text: str, **names: str) -> Any:
        """``names`` are ignored: the sandbox's people have the names of its cast."""
        return await self._post("/sandbox/api/messages", {"user": self.ids[who], "text": self._text(text)})

    async def press(self, who: str, button: SeenButton, form: Mapping[str, Any] | None = None) -> Any:
        raw = button.raw
        return await self._post("/sandbox/api/actions", {"user": self.ids[who], "action": raw["action"],
                                                         "payload": raw.get("payload", {}), "form": form or {}})  # fmt: skip

    async def open_form(self, who: str, text: str) -> Any:
        await self.command(who, text)
        return next(seen.form for seen in reversed(self.everything()) if seen.form is not None)

    async def submit(self, who: str, form: Any, values: Mapping[str, Any]) -> Any:
        submit = form["submit"]
        return await self.press(who, SeenButton(submit["label"], submit["action"], submit), values)

    def everything(self) -> list[Seen]:
        seen = []
        for row in self._sent_rows():
            card, names = Card.load(row.payload["card"]), row.payload.get("names") or {}
            data = row.payload["card"]
            buttons = [SeenButton(b["label"], b["action"], b, row) for e in data.get("elements", [])
                       if e["kind"] == "actions" for b in e["buttons"] if "action" in b]  # fmt: skip
            form = next((e for e in data.get("elements", []) if e["kind"] == "form"), None)
            seen.append(Seen(text=plain_text(card, {}), markup=render_card_html(card, names=names),
                             mentions=set().union(*(mentions_in(t) for t in _markup_texts(card))),
                             buttons=buttons, form=form, visible_to=row.payload.get("visible_to")))  # fmt: skip
        return seen

    async def arrived(self) -> list[Arrived]:
        """Each attachment of a posted card, fetched as the page's browser fetches it."""
        found = []
        for row in self._sent_rows():
            for element in row.payload["card"].get("elements", []):
                if element["kind"] == "attachment":
                    response = await self.client.get(f"/sandbox/files/{element['file_id']}")
                    assert response.status == 200
                    found.append(Arrived(element["filename"], await response.read(), element["image"]))
        return found

    def _sent_rows(self) -> list[OutboxMessage]:
        with Session(self.engine) as session:
            return list(session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.platform == self.name, OutboxMessage.status == OutboxStatus.SENT)
                .order_by(col(OutboxMessage.id))
            ))  # fmt: skip

    async def forged(self) -> int:
        """A post from another site's page (its Origin), with a guessed token."""
        response = await self.client.post("/sandbox/say", data={"group": self.group, "as": "zhangwei",
                                          "text": "/record new 伪造", "csrf": "guess"},
                                          headers={"Origin": "https://evil.example"}, allow_redirects=False)  # fmt: skip
        return response.status

    async def stale(self) -> int:
        """A page's form posted with the token of an earlier run of the bot."""
        response = await self.client.post("/sandbox/say", data={"group": self.group, "as": "zhangwei",
                                          "text": "/record new 过期", "csrf": "token-of-a-previous-process"},
                                          allow_redirects=False)  # fmt: skip
        return response.status

    async def duplicate(self) -> tuple[int, int] | None:
        return None  # the sandbox mints its own event ids: there is no redelivery to drop

    async def stop(self) -> None:
        return None

    def render(self, card: Card) -> list[Any]:
        return [render_card_html(card)]

    def submitted(self, card: Card) -> dict[str, Any]:
        """The HTML form posted as it stands."""
        parser = _Inputs()
        parser.feed(render_card_html(card))
        posted = {k: (v if len(v) > 1 else v[0]) for k, v in parser.values.items() if k not in ("payload",)}
        return collect_form_values(posted)


def _markup_texts(card: Card) -> list[str]:
    texts: list[str] = []
    for element in card.elements:
        if isinstance(element, Markdown | Note):
            texts.append(element.text)
        elif isinstance(element, Fields):
            texts.extend(f.value for f in element.items)
    return texts


# ---------------------------------------------------------------- Feishu


def _find(element: Any, tag: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(element, dict):
        if element.get("tag") == tag:
            found.append(element)
        for value in element.values():
            found.extend(_find(value, tag))
    elif isinstance(element, list):
        for value in element:
            found.extend(_find(value, tag))
    return found


def _parsed_by(rendered: Any, kinds: set[str], keys: tuple[str, ...] = ("content", "text")) -> list[str]:
    found: list[str] = []
    if isinstance(rendered, dict):
        if (rendered.get("tag") or rendered.get("type")) in kinds:
            found.extend(v for k, v in rendered.items() if k in keys and isinstance(v, str))
        for value in rendered.values():
            found.extend(_parsed_by(value, kinds, keys))
    elif isinstance(rendered, list):
        for value in rendered:
            found.extend(_parsed_by(value, kinds, keys))
    return found


class FeishuDriver(Driver):
    name = "feishu"
    ids: ClassVar[dict[str, str]] = {
        "zhang": "ou_zhang",
        "li": "ou_li",
        "wang": "ou_wang",
        "zhao": "ou_zhao",
        "liu": "ou_liu",
    }
    leaks = ("<at id=all", '<at user_id="all"', "<font color='red'>红", "](https://evil", "**加粗**", "<at id=ou_evil",
             "<script")  # fmt: skip

    def __init__(self, peer: Feishu, fake: FakeFeishu, server: TestServer) -> None:
        super().__init__(peer.client, peer.engine, peer.clock)
        self.peer, self.fake, self.fake_server = peer, fake, server

    @classmethod
    async def start(cls, engine: sa.Engine, clock: ManualClock) -> FeishuDriver:
        fake = FakeFeishu(clock)
        server = TestServer(fake.app(), host="127.0.0.1")
        await server.start_server()
        fake.server = server
        platform = FeishuPlatform(FeishuSettings(_env_file=None, **APP, FEISHU_API_BASE=fake.base), clock=clock)
        cls.capabilities = platform.capabilities
        app = create_app(load_settings(_env_file=None), engine=engine, clock=clock, platforms=[platform],
                         run_sender=False, run_inbox=False, run_scheduler=False)  # fmt: skip
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        return cls(Feishu(client, engine, clock, fake=fake), fake, server)

    async def stop(self) -> None:
        await self.fake_server.close()

    async def command(self, who: str, text: str, **names: str) -> Any:
        """``@li`` in ``text`` becomes a Feishu mention (``@_user_N`` and its entry, with the name Feishu gives)."""
        mentions = [("@_user_1", BOT, "Closeloop")]

        def mention(match: re.Match[str]) -> str:
            key = f"@_user_{len(mentions) + 1}"
            role = match.group(1)
            mentions.append((key, self.ids[role], names.get(role, NAMES[role])))
            return key

        typed = re.sub(r"@(zhang|li|wang|zhao|liu)\b", mention, text)
        status, answer = await self.peer.push(self.peer.message(f"@_user_1 {typed}", mentions=mentions,
                                                                sender=self.ids[who]))  # fmt: skip
        assert status == 200, answer
        await self.settle()
        return answer

    async def press(self, who: str, button: SeenButton, form: Mapping[str, Any] | None = None) -> Any:
        message_id = button.message.message_id if button.message is not None else "om_x"
        status, answer = await self.peer.push(self.peer.card_action(button.raw, operator=self.ids[who],
                                                                    form=dict(form) if form is not None else None,
                                                                    message_id=message_id))  # fmt: skip
        assert status == 200, answer
        await self.settle()
        return answer

    async def open_form(self, who: str, text: str) -> Any:
        await self.command(who, text)
        return next(seen.form for seen in reversed(self.everything()) if seen.form is not None)

    async def submit(self, who: str, form: Any, values: Mapping[str, Any]) -> Any:
        submit = next(e for e in form["elements"] if e.get("form_action_type") == "submit")
        return await self.press(who, SeenButton("submit", "submit", submit), self.fill(form, values))

    @staticmethod
    def fill(form: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
        """``form_value`` as Feishu sends it for ``form`` filled with ``values``: pickers give their own formats."""
        given = flat(values)
        filled: dict[str, Any] = {}
        for element in _find(form, "input") + _find(form, "date_picker") + _find(form, "picker_datetime") + _find(
            form, "select_static") + _find(form, "multi_select_static") + _find(form, "select_person") + _find(
                form, "multi_select_person"):  # fmt: skip
            name = element["name"]
            value = given.get(name.replace("__", "."))
            if value is None:
                continue
            if element["tag"] in ("date_picker", "picker_datetime"):
                value = f"{value} +0800"
            filled[name] = value
        return filled

    def everything(self) -> list[Seen]:
        seen = []
        for sent in self.fake.sent:
            if "text" in sent.card and "schema" not in sent.card:  # a text message (a card refused)
                text = sent.card["text"]
                seen.append(Seen(text=text, markup=text, mentions=set(re.findall(r'<at user_id="([^"]+)">', text))))
                continue
            markdown = _parsed_by(sent.card, {"markdown", "lark_md"})
            readable = html.unescape(re.sub(r"<at id=([^>]+)></at>", r"@\1", "\n".join(markdown)))
            titles = _parsed_by(sent.card, {"plain_text"}, ("content",))
            buttons = [SeenButton(b["text"]["content"], b["behaviors"][0]["value"]["a"], b, sent)
                       for b in _find(sent.card, "button") if b["behaviors"][0].get("type") == "callback"]  # fmt: skip
            forms = _find(sent.card, "form")
            seen.append(Seen(text="\n".join([*titles, readable]), markup="\n".join(markdown),
                             mentions=set(re.findall(r"<at id=([^>]+)></at>", "\n".join(markdown))),
                             buttons=buttons, form=forms[0] if forms else None, visible_to=sent.visible_to))  # fmt: skip
        return seen

    async def arrived(self) -> list[Arrived]:
        """Images shown in cards (``img``) and files sent as file messages, with what was uploaded for them."""
        uploads = {upload.key: upload for upload in self.fake.uploads}
        found = []
        for sent in self.fake.messages:
            if "file_key" in sent.card:
                upload = uploads[sent.card["file_key"]]
                found.append(Arrived(upload.file_name or "", upload.content, image=False))
            for image in _find(sent.card, "img"):
                found.append(Arrived(image["alt"]["content"], uploads[image["img_key"]].content, image=True))
        return found

    async def forged(self) -> int:
        raw = self.peer.encrypted(self.peer.message("@_user_1 /record new 伪造", mentions=[("@_user_1", BOT, "x")]))
        status, _ = await self.peer.push(raw, headers=self.peer.signed(raw, key="not-our-key"))
        return status

    async def stale(self) -> int:
        raw = self.peer.encrypted(self.peer.message("@_user_1 /record new 过期", mentions=[("@_user_1", BOT, "x")]))
        old = int((self.clock.now() - timedelta(minutes=10)).timestamp())
        status, _ = await self.peer.push(raw, headers=self.peer.signed(raw, timestamp=old))
        return status

    async def duplicate(self) -> tuple[int, int]:
        body = self.peer.message("@_user_1 /record list", mentions=[("@_user_1", BOT, "x")], event_id="ev-dup")
        first, _ = await self.peer.push(body)
        await self.settle()
        again, _ = await self.peer.push(body)
        await self.settle()
        return first, again

    def render(self, card: Card) -> list[Any]:
        return feishu_cards.render_pages(card)

    def submitted(self, card: Card) -> dict[str, Any]:
        """The form's callback when submitted as rendered: each input's initial value, as Feishu sends it."""
        (form,) = _find(feishu_cards.render(card), "form")
        values: dict[str, Any] = {}
        for element in form["elements"]:
            name = element.get("name")
            if not name or element.get("tag") == "button":
                continue
            for key in ("default_value", "initial_option", "initial_date", "initial_datetime", "selected_values"):
                if key in element:
                    value = element[key]
                    values[name] = f"{value} +0800" if key in ("initial_date", "initial_datetime") else value
        return feishu_cards.form_values(values)


# ---------------------------------------------------------------- Slack


class SlackDriver(Driver):
    name = "slack"
    ids: ClassVar[dict[str, str]] = {
        "zhang": "U0ZHANG",
        "li": "U0LI",
        "wang": "U0WANG",
        "zhao": "U0ZHAO",
        "liu": "U0LIU",
    }
    leaks = ("<!channel>", "<!here>", "<!everyone>", "<@U0EVIL>", "<https://evil", "<script")

    def __init__(self, peer: Slack, fake: FakeSlack, server: TestServer) -> None:
        super().__init__(peer.client, peer.engine, peer.clock)
        self.peer, self.fake, self.fake_server = peer, fake, server

    @classmethod
    async def start(cls, engine: sa.Engine, clock: ManualClock) -> SlackDriver:
        fake = FakeSlack(clock)
        server = TestServer(fake.app(), host="127.0.0.1")
        await server.start_server()
        fake.server = server
        settings = SlackSettings(_env_file=None, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                                 SLACK_API_BASE=fake.base)  # fmt: skip
        platform = SlackPlatform(settings, clock=clock)
        cls.capabilities = platform.capabilities
        app = create_app(load_settings(_env_file=None), engine=engine, clock=clock, platforms=[platform],
                         run_sender=False, run_inbox=False, run_scheduler=False)  # fmt: skip
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        return cls(Slack(client, engine, clock, fake, SlackSigner()), fake, server)

    async def stop(self) -> None:
        await self.fake_server.close()

    def _text(self, text: str, names: Mapping[str, str] | None = None) -> str:
        """The text as Slack sends it: what was typed with ``& < >`` escaped, ``@li`` as ``<@U0LI|name>``."""

        def escape(plain: str) -> str:
            return plain.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

        def mention(match: re.Match[str]) -> str:
            role = match.group(1)
            return f"<@{self.ids[role]}|{escape(names[role])}>" if names and role in names else f"<@{self.ids[role]}>"

        parts = re.split(r"(@(?:zhang|li|wang|zhao|liu)\b)", text)
        return "".join(mention(re.match(r"@(\w+)", p)) if p.startswith("@") and p[1:] in self.ids else escape(p)
                       for p in parts)  # type: ignore[arg-type]  # fmt: skip

    async def command(self, who: str, text: str, **names: str) -> Any:
        """A slash command (``/record …``, ``/closeloop …``); anything else is ``@bot`` text (``app_mention``)."""
        typed = self._text(re.sub(r"^/(dept|settings|help)\b", r"/closeloop \1", text), names)
        match = re.match(r"/(record|action|progress|escalate|report|closeloop)\b\s*(.*)", typed, re.S)
        if match:
            status, answer = await self.peer.send(slash_command(match.group(2), command=f"/{match.group(1)}",
                                                                user=self.ids[who], user_name=who,
                                                                trigger_id=self.fake.new_trigger()))  # fmt: skip
        else:
            status, answer = await self.peer.send(app_mention(f"<@{BOT_USER}> {typed}", user=self.ids[who]),
                                                  content_type="application/json")  # fmt: skip
        assert status == 200, answer
        await self.settle()
        return answer

    async def press(self, who: str, button: SeenButton, form: Mapping[str, Any] | None = None) -> Any:
        status, answer = await self.peer.send(block_actions(button.raw, user=self.ids[who], message_ts=button.message.ts,
                                                            trigger_id=self.fake.new_trigger()))  # fmt: skip
        assert status == 200, answer
        await self.settle()
        return answer

    async def open_form(self, who: str, text: str) -> Any:
        opened = len(self.fake.opened)
        await self.command(who, text)
        assert len(self.fake.opened) == opened + 1, "the form opens as a modal"
        return self.fake.opened[-1]

    async def submit(self, who: str, form: Any, values: Mapping[str, Any]) -> Any:
        status, answer = await self.peer.send(view_submission(form, self.state(form, flat(values)), user=self.ids[who]))
        assert status == 200, answer
        await self.settle()
        return answer

    @staticmethod
    def state(view: dict[str, Any], values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """``view.state.values`` as Slack sends them for ``view`` filled with ``values``."""
        state: dict[str, dict[str, Any]] = {}
        for block in view["blocks"]:
            if block["type"] != "input":
                continue
            element, value = block["element"], values.get(block["block_id"])
            kind = element["type"]
            if kind == "datetimepicker":
                stamp = datetime.fromisoformat(value).replace(tzinfo=SHANGHAI).timestamp() if value else None
                cell: dict[str, Any] = {"selected_date_time": int(stamp) if stamp else None}
            elif kind == "datepicker":
                cell = {"selected_date": value}
            elif kind == "users_select":
                cell = {"selected_user": value}
            elif kind == "multi_users_select":
                cell = {"selected_users": value or []}
            elif kind == "static_select":
                cell = {"selected_option": next((o for o in element["options"] if o["value"] == value), None)}
            elif kind == "multi_static_select":
                cell = {"selected_options": [o for o in element["options"] if o["value"] in (value or [])]}
            else:
                cell = {"value": value}
            state[block["block_id"]] = {"value": {"type": kind, **cell}}
        return state

    def everything(self) -> list[Seen]:
        seen = []
        for posted in [*self.fake.posted, *self.fake.updated, *self.fake.ephemeral_posts]:
            parsed = [posted.text, *_parsed_by(posted.blocks, {"mrkdwn"}, ("text",))]
            readable = html.unescape(re.sub(r"<@(\w+)>", r"@\1", "\n".join(parsed)))
            titles = _parsed_by(posted.blocks, {"plain_text"}, ("text",))
            buttons = [SeenButton(e["text"]["text"], json.loads(e["value"])["a"] if e.get("value") else e["action_id"],
                                  e, posted)
                       for b in posted.blocks if b["type"] == "actions" for e in b["elements"]]  # fmt: skip
            form = next((b for b in buttons if b.raw["action_id"] == slack_blocks.OPEN_FORM), None)
            seen.append(Seen(text="\n".join([*titles, readable]), markup="\n".join(parsed),
                             mentions=set(re.findall(r"<@(\w+)>", "\n".join(parsed))), buttons=buttons, form=form,
                             visible_to=posted.visible_to))  # fmt: skip
        return seen

    async def arrived(self) -> list[Arrived]:
        """The files shared into the channel; Slack shows an image file inline."""
        return [Arrived(f.filename, f.content or b"", image=f.mimetype.startswith("image/")) for f in self.fake.shared]

    async def forged(self) -> int:
        body = slash_command("new 伪造", trigger_id=self.fake.new_trigger())
        status, _ = await self.peer.send(body, headers=SlackSigner("not-our-secret").headers(
            body, timestamp=int(self.clock.now().timestamp())))  # fmt: skip
        return status

    async def stale(self) -> int:
        body = slash_command("new 过期", trigger_id=self.fake.new_trigger())
        old = int((self.clock.now() - timedelta(minutes=10)).timestamp())
        status, _ = await self.peer.send(body, headers=self.peer.signer.headers(body, timestamp=old))
        return status

    async def duplicate(self) -> tuple[int, int]:
        body = app_mention(f"<@{BOT_USER}> /record list", event_id="Ev0DUP")
        first, _ = await self.peer.send(body, content_type="application/json")
        await self.settle()
        again, _ = await self.peer.send(body, content_type="application/json", retry=1)
        await self.settle()
        return first, again

    def render(self, card: Card) -> list[Any]:
        return slack_blocks.render_messages(card)

    def submitted(self, card: Card) -> dict[str, Any]:
        """The modal submitted as it opened: each input's initial value, as Slack sends it in ``state.values``."""
        form = next(e for e in card.elements if e.kind == "form")
        view = slack_blocks.render_modal(form, title="x", private_metadata="{}", tz=SHANGHAI)
        state: dict[str, dict[str, Any]] = {}
        for block in view["blocks"]:
            if block["type"] != "input":
                continue
            element, kind = block["element"], block["element"]["type"]
            if "initial_date_time" in element:
                cell: dict[str, Any] = {"selected_date_time": element["initial_date_time"]}
            elif "initial_date" in element:
                cell = {"selected_date": element["initial_date"]}
            elif "initial_user" in element:
                cell = {"selected_user": element["initial_user"]}
            elif "initial_users" in element:
                cell = {"selected_users": element["initial_users"]}
            elif "initial_option" in element:
                cell = {"selected_option": element["initial_option"]}
            elif "initial_options" in element:
                cell = {"selected_options": element["initial_options"]}
            else:
                cell = {"value": element.get("initial_value")}
            state[block["block_id"]] = {"value": {"type": kind, **cell}}
        return slack_blocks.form_values(state, tz=SHANGHAI)


# ---------------------------------------------------------------- DingTalk

WEB_KEY = "kit-signing-key-0123456789abcdefghijklmnop"


def _readable(markdown: str) -> str:
    """What a person reads in DingTalk markdown: backslash escapes and zero-width spaces gone."""
    return re.sub(r"\\(.)", r"\1", markdown).replace(dingtalk_cards.ZWSP, "")


FORM_PAGES = ("/f/", "/dingtalk/signin?next=%2Ff%2F")  # a form's page, or the sign-in that leads to it


def _web_path(url: str) -> str | None:
    """The hosted page's path behind an in-app link (``dingtalk://…?url=…``)."""
    match = re.match(r"dingtalk://dingtalkclient/page/link\?pc_slide=true&url=(.+)$", url)
    if match is None:
        return None
    return re.sub(r"^https?://[^/]+", "", unquote(match.group(1)))


class DingTalkDriver(Driver):
    """The bot in Stream mode: commands and presses are pushed over the fake's gateway; forged, stale and
    duplicate requests come over HTTP (``POST /dingtalk/events``), the channel that carries signatures."""

    name = "dingtalk"
    gives_names = False  # atUsers carries staff ids only; names are read from the text's @Nick when they line up
    ids: ClassVar[dict[str, str]] = {
        "zhang": "0111zhang",
        "li": "0222li",
        "wang": "0333wang",
        "zhao": "0444zhao",
        "liu": "0555liu",
    }
    leaks = ("**加粗**", "](https://evil", "<font color='red'>红", "https://evil", "@ou_evil", "@U0EVIL", "<script")

    def __init__(self, client: TestClient, engine: sa.Engine, clock: ManualClock, fake: FakeDingTalk,
                 server: TestServer) -> None:  # fmt: skip
        super().__init__(client, engine, clock)
        self.fake, self.fake_server = fake, server

    @classmethod
    async def start(cls, engine: sa.Engine, clock: ManualClock, *, mode: str = "stream", signin: bool = False,
                    **stream_options: Any) -> DingTalkDriver:  # fmt: skip
        fake = FakeDingTalk(clock)
        server = TestServer(fake.app(), host="127.0.0.1")
        await server.start_server()
        fake.server = server
        bases = {f"DINGTALK_{name}_BASE": fake.base for name in ("API", "STREAM", "OAPI", "LOGIN")}
        settings = DingTalkSettings(_env_file=None, **dingtalk.SETTINGS, **bases, DINGTALK_MODE=mode,
                                    DINGTALK_WEB_SIGNIN=signin)  # fmt: skip
        port = unused_port()
        platform = DingTalkPlatform(settings, clock=clock, public_url=f"http://127.0.0.1:{port}", secret_key=WEB_KEY,
                                    **stream_options)  # fmt: skip
        cls.capabilities = platform.capabilities
        core = load_settings(_env_file=None, CLOSELOOP_PORT=str(port), CLOSELOOP_SECRET_KEY=WEB_KEY,
                             CLOSELOOP_PUBLIC_URL=f"http://127.0.0.1:{port}",
                             CLOSELOOP_ADMINS=f"dingtalk:{cls.ids['zhang']}")  # fmt: skip
        app = create_app(core, engine=engine, clock=clock, platforms=[platform], run_sender=False, run_inbox=False,
                         run_scheduler=False)  # fmt: skip
        client = TestClient(TestServer(app, host="127.0.0.1", port=port))
        await client.start_server()
        if mode == "stream":
            await fake.connected()
        driver = cls(client, engine, clock, fake, server)
        await driver.directory()
        return driver

    async def directory(self) -> None:
        """The admin names each department's lead, as a DingTalk group does first: the web form's person
        picker offers the people the workspace knows (DingTalk does not tell a robot a group's members)."""
        for department, role in (("运营部", "zhang"), ("技术部", "li"), ("财务部", "wang"), ("运维部", "zhao"),
                                 ("总经办", "liu")):  # fmt: skip
            await self.command("zhang", f"/dept set {department} lead @{role}")

    async def stop(self) -> None:
        await self.fake_server.close()

    @property
    def platform(self) -> DingTalkPlatform:
        return self.gateway.sender.deliverers["dingtalk"]

    async def command(self, who: str, text: str, *, session: bool = True, **names: str) -> Any:
        """``@机器人 …`` in the group: ``@li`` becomes ``@李娜`` (or ``names["li"]``) in the text and an
        ``atUsers`` entry (which carries the staff id only, no name)."""
        shown = {**NAMES, **names}
        at = [(shown[m], self.ids[m]) for m in re.findall(r"@(zhang|li|wang|zhao|liu)\b", text)]
        typed = re.sub(r"@(zhang|li|wang|zhao|liu)\b", lambda m: "@" + shown[m.group(1)], text)
        data = dingtalk.robot_message(self.fake, typed, sender=self.ids[who], nick=NAMES[who], at=at, session=session)
        if self.platform.settings.dingtalk_mode == "http":
            assert await self._post(data, dingtalk.signed(self.clock)) == 200
            await self.settle()
            return None
        ack = await self.fake.push(MESSAGES, data)
        assert ack["code"] == 200 and self.fake.problems == [], (ack, self.fake.problems)
        await self.settle()
        return ack

    async def press(self, who: str, button: SeenButton, form: Mapping[str, Any] | None = None) -> Any:
        sent: Sent = button.message
        assert sent.card is not None, "only cards call back"
        params: dict[str, Any] = {"action": button.raw["action"], "payload": button.raw["payload"]}
        if form is not None:
            params["form"] = dict(form)
        data = dingtalk.card_callback(sent.card.track, user=self.ids[who], params=params,
                                      action_ids=["form" if form is not None else "button"])  # fmt: skip
        ack = await self.fake.push(dingtalk.CARD_CALLBACKS, data)
        assert ack["code"] == 200 and self.fake.problems == [], (ack, self.fake.problems)
        response = json.loads(ack["data"])["response"] or {}
        self.fake.apply(sent.card, response, user=self.ids[who])
        await self.settle()
        return response

    async def open_form(self, who: str, text: str) -> Any:
        await self.command(who, text)
        return next(seen.form for seen in reversed(self.everything()) if seen.form is not None)

    async def submit(self, who: str, form: Any, values: Mapping[str, Any]) -> Any:
        if isinstance(form, str):  # the hosted web form, opened from its link
            if form.startswith("/dingtalk/signin"):  # through DingTalk's sign-in, as ``who`` in their own browser
                self.client.session.cookie_jar.clear()
                self.fake.browser_user = self.ids[who]
            page = await self.client.get(form)
            form = page.url.path_qs if page.url.host == "127.0.0.1" else form  # where the sign-in led
            html_page = await page.text()
            assert page.status == 200, html_page
            csrf = html.unescape(re.search(r'name="csrf" value="([^"]+)"', html_page).group(1))
            action = re.search(r'<button type="submit" name="action" value="([^"]+)"', html_page).group(1)
            posted = [("csrf", csrf), ("action", action)]
            for name, value in flat(values).items():
                posted.extend((name, v) for v in (value if isinstance(value, list) else [value]))
            response = await self.client.post(form, data=posted)
            assert response.status == 200, await response.text()
            await self.settle()
            return await response.text()
        sent: Sent = form  # a card form: the template's Form component calls back with its values
        params = sent.card.params if sent.card else {}
        fields = json.loads(params["form"])["fields"]
        button = SeenButton(params["form_btn_text"], params["form_action"],
                            {"action": params["form_action"], "payload": params["form_payload"]}, sent)  # fmt: skip
        return await self.press(who, button, self.fill(fields, values))

    @staticmethod
    def fill(fields: list[dict[str, Any]], values: Mapping[str, Any]) -> dict[str, Any]:
        """The Form component's values as DingTalk sends them: selects as ``{index, value}``."""
        filled: dict[str, Any] = {}
        for spec in fields:
            value = values.get(spec["name"])
            if value is None:
                continue
            values_of = [o["value"] for o in spec.get("options", [])]
            if spec["type"] == "SELECT":
                filled[spec["name"]] = {"index": values_of.index(value), "value": value}
            elif spec["type"] == "MULTI_SELECT":
                filled[spec["name"]] = {"index": [values_of.index(v) for v in value], "value": list(value)}
            else:
                filled[spec["name"]] = str(value)
        return filled

    def _seen_card(self, sent: Sent, params: dict[str, str], *, first: bool) -> Seen:
        markdown = params.get("markdown", "")
        buttons, form = [], None
        for item in json.loads(params.get("buttons") or "[]"):
            if item.get("action"):
                buttons.append(SeenButton(item["text"], item["action"], item, sent))
            elif form is None and (path := _web_path(item.get("url", ""))) and path.startswith(FORM_PAGES):
                form = path
        if params.get("has_form") == "true":
            form = sent
        return Seen(text="\n".join([params.get("title", ""), _readable(markdown)]), markup=markdown,
                    mentions=set(sent.at) if first else set(), buttons=buttons, form=form)  # fmt: skip

    def everything(self) -> list[Seen]:
        seen = []
        for sent in self.fake.sent:
            if sent.card is not None:
                seen.extend(self._seen_card(sent, v, first=i == 0) for i, v in enumerate(sent.card.versions))
                continue
            path = _web_path(sent.button[1]) if sent.button else None
            seen.append(Seen(text="\n".join([sent.title, _readable(sent.text)]), markup=sent.text,
                             mentions=set(sent.at), form=path if path and path.startswith(FORM_PAGES) else None,
                             visible_to=sent.target if sent.kind == "direct" else None))  # fmt: skip
        return seen

    async def _post(self, body: dict[str, Any], headers: dict[str, str]) -> int:
        response = await self.client.post("/dingtalk/events", data=json.dumps(body).encode(), headers=headers)
        return response.status

    async def forged(self) -> int:
        body = dingtalk.robot_message(self.fake, "/record new 伪造", sender=self.ids["zhang"])
        return await self._post(body, dingtalk.signed(self.clock, secret="not-our-secret"))

    async def stale(self) -> int:
        body = dingtalk.robot_message(self.fake, "/record new 过期", sender=self.ids["zhang"])
        return await self._post(body, dingtalk.signed(self.clock, offset_ms=-2 * 3600 * 1000))

    async def duplicate(self) -> tuple[int, int]:
        """A captured request replayed within the hour (only the timestamp is signed): the msgId catches it."""
        body = dingtalk.robot_message(self.fake, "/record list", sender=self.ids["zhang"], msg_id="msgDUP1")
        first = await self._post(body, dingtalk.signed(self.clock))
        await self.settle()
        again = await self._post(body, dingtalk.signed(self.clock))
        await self.settle()
        return first, again

    def render(self, card: Card) -> list[Any]:
        return dingtalk_cards.render_pages(card, {})

    async def arrived(self) -> list[Arrived]:
        """None: DingTalk declares neither files nor images yet; its cards carry a download link instead."""
        return []

    def submitted(self, card: Card) -> dict[str, Any]:
        """A card form comes back as its Form component's defaults; a form a card cannot hold, from its web page."""
        if {item.kind for item in iter_inputs(card)} - dingtalk_cards.CARD_INPUTS:
            return SandboxDriver.submitted(self, card)  # type: ignore[arg-type]
        form = next(e for e in card.elements if e.kind == "form")
        values: dict[str, Any] = {}
        for spec in dingtalk_cards.form_fields(form)["fields"]:
            if "defaultValue" in spec:
                values[spec["name"]] = spec["defaultValue"]
        return dingtalk_cards.form_values(values)


# ---------------------------------------------------------------- WeCom


class WeComDriver(Driver):
    """The intelligent robot over its long connection; forged, stale and duplicate requests at its callback URL.

    Before the kit's stories, the group is set up as a WeCom group must be: an admin registers the
    group's message-push robot (the only way to real @-mentions), and everyone says something to the
    bot once (WeCom tells the bot nobody's membership; the web form's person picker offers those seen).
    A message as people see it is every part of one delivery (a markdown text, its cards) with the
    message-push robot's ping after it, whose ``mentioned_list`` is who was really @-mentioned.
    """

    mentions_in_commands = False  # the robot hears "@李娜" as text: people are picked on the web form

    name = "wecom"
    gives_names = False  # a message's text says "@李娜"; WeCom sends no mention list, so no id and no name with it
    ids: ClassVar[dict[str, str]] = {
        "zhang": "ZhangWei",
        "li": "LiNa",
        "wang": "WangFang",
        "zhao": "ZhaoQiang",
        "liu": "LiuYang",
    }
    leaks = ("**加粗**", "](https://evil", "<@ou_evil", "<@U0EVIL", "<font", "<at ", "<script")

    def __init__(self, running: wecom_bot.WeComBot) -> None:
        super().__init__(running.client, running.engine, running.clock)
        self.running, self.fake, self.peer = running, running.fake, running.peer

    @classmethod
    async def start(cls, engine: sa.Engine, clock: ManualClock) -> WeComDriver:
        running = await wecom_bot.start(engine, clock, CLOSELOOP_ADMINS=f"wecom:{cls.ids['zhang']}")
        cls.capabilities = running.platform.capabilities
        driver = cls(running)
        await running.say(cls.ids["zhang"], f"设置 企微推送 {running.fake.add_robot(wecom_bot.GROUP)}")
        for role in ("li", "wang", "zhao", "liu"):
            await running.say(cls.ids[role], "记录列表")
        return driver

    async def stop(self) -> None:
        await self.running.stop()

    async def command(self, who: str, text: str, **names: str) -> Any:
        """``@li`` in ``text`` is typed as ``@李娜`` (or ``names["li"]``): the name WeCom shows, and only text."""
        shown = {**NAMES, **names}
        await self.running.say(self.ids[who], re.sub(r"@(zhang|li|wang|zhao|liu)\b", lambda m: "@" + shown[m.group(1)],
                                                      text))  # fmt: skip

    async def press(self, who: str, button: SeenButton, form: Mapping[str, Any] | None = None) -> Any:
        before = self.running.received()
        await self.fake.push_card_event(button.raw["key"], button.message["task_id"], sender=self.ids[who],
                                        chat=button.message["chat"])  # fmt: skip
        await wecom_bot.until(lambda: self.running.received() > before)
        await self.settle()

    async def open_form(self, who: str, text: str) -> Any:
        await self.command(who, text)
        return next(seen.form for seen in reversed(self.everything()) if seen.form is not None)

    async def submit(self, who: str, form: Any, values: Mapping[str, Any]) -> Any:
        """The web page behind the card's link, filled in and posted as a browser does."""
        await self.running.submit_form(re.sub(r"^https?://[^/]+", "", form), values)

    # ---- what reached WeCom

    @staticmethod
    def _readable(content: str) -> str:
        """Markdown as a person reads it: our bold markers gone, escapes resolved, zero-width spaces unseen."""
        text = re.sub(r"(?<!\\)\*\*", "", content)
        return re.sub(r"\\(.)", r"\1", text).replace(wecom_cards.ZWSP, "")

    def _seen(self, got: Got) -> Seen:
        body = got.body
        kind = body.get("msgtype")
        if kind in ("markdown", "stream"):
            content = body[kind]["content"]
            links = re.findall(r"\]\((https?://[^)\s]+/f/[^)\s]+)\)", content)
            return Seen(text=self._readable(content), markup=content, mentions=set(got.mentions),
                        form=links[0] if links else None)  # fmt: skip
        if kind == "text":  # the message-push robot's ping
            content = body["text"]["content"]
            return Seen(text=content.replace(wecom_cards.ZWSP, ""), markup=content, mentions=set(got.mentions))
        card = body.get("template_card") or body
        texts = [
            card.get("main_title", {}).get("title", ""),
            card.get("main_title", {}).get("desc", ""),
            card.get("sub_title_text", ""),
            *(f"{h.get('keyname', '')}：{h.get('value', '')}" for h in card.get("horizontal_content_list", [])),
            *(b["text"] for b in card.get("button_list", [])),
            *(j["title"] for j in card.get("jump_list", [])),
        ]
        message = {"chat": got.chat, "task_id": card.get("task_id")}
        buttons = [SeenButton(b["text"], wecom_cards.read_key(b["key"])[0], b, message)
                   for b in card.get("button_list", []) if b["key"] != wecom_cards.NOOP]  # fmt: skip
        links = [j["url"] for j in card.get("jump_list", []) if "/f/" in j.get("url", "")]
        return Seen(text="\n".join(t for t in texts if t).replace(wecom_cards.ZWSP, ""), markup="", mentions=set(),
                    buttons=buttons, form=links[0] if links else None,
                    visible_to=(got.userids or [None])[0] if got.channel == "update" else None)  # fmt: skip

    def everything(self) -> list[Seen]:
        seen: list[Seen] = []
        deliveries: dict[str, Seen] = {}
        last: dict[str | None, Seen] = {}
        for got in self.fake.got:
            part = self._seen(got)
            marker = re.search(r"(cl\d+x[0-9a-f]+)p", json.dumps(got.body) + (got.req_id or ""))
            if got.channel == "robot" and got.chat in last and got.body.get("msgtype") == "text":
                whole = last[got.chat]  # the ping after a card: its @-mentions are the card's
            elif got.channel != "update" and marker and marker.group(1) in deliveries:
                whole = deliveries[marker.group(1)]
            else:
                seen.append(part)
                last[got.chat] = part
                if marker and got.channel != "update":
                    deliveries[marker.group(1)] = part
                continue
            whole.text, whole.markup = f"{whole.text}\n{part.text}", f"{whole.markup}\n{part.markup}"
            whole.mentions |= part.mentions
            whole.buttons += part.buttons
            whole.form = whole.form or part.form
        return seen

    async def arrived(self) -> list[Arrived]:
        """WeCom declares no files or images yet: exports and charts come as download links in the cards."""
        return []

    # ---- the callback URL

    def _message(self, text: str, msgid: str | None = None) -> dict[str, Any]:
        return wecom_message(f"@Closeloop {text}", sender=self.ids["zhang"], chat=wecom_bot.GROUP,
                             response_url=self.fake.response_url(wecom_bot.GROUP), msgid=msgid)  # fmt: skip

    async def forged(self) -> int:
        status, _ = await self.peer.send(self._message("/record new 伪造"), token="not-our-token")
        return status

    async def stale(self) -> int:
        old = int((self.clock.now() - timedelta(minutes=10)).timestamp())
        status, _ = await self.peer.send(self._message("/record new 过期"), timestamp=old)
        return status

    async def duplicate(self) -> tuple[int, int]:
        body = self._message("/record list", msgid="msg-dup-1")
        first, _ = await self.peer.send(body)
        await self.settle()
        again, _ = await self.peer.send(body)
        await self.settle()
        return first, again

    def render(self, card: Card) -> list[Any]:
        return wecom_cards.render(card, {}, task_id="cl1x0")

    def submitted(self, card: Card) -> dict[str, Any]:
        """The hosted web form posted as it stands (WeCom's cards hold no inputs)."""
        return SandboxDriver.submitted(self, card)  # type: ignore[arg-type]


class DingTalkSignedInDriver(DingTalkDriver):
    """DingTalk with ``DINGTALK_WEB_SIGNIN``: each web page is opened through DingTalk's OAuth sign-in, as its person."""

    @classmethod
    async def start(cls, engine: sa.Engine, clock: ManualClock, **options: Any) -> DingTalkDriver:  # type: ignore[override]
        return await super().start(engine, clock, signin=True, **options)


DRIVERS: dict[str, type[Any]] = {
    "sandbox": SandboxDriver,
    "feishu": FeishuDriver,
    "slack": SlackDriver,
    "dingtalk": DingTalkDriver,
    "dingtalk-signin": DingTalkSignedInDriver,
    "wecom": WeComDriver,
}
