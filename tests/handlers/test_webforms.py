"""The dispatcher's web-form step: forms it answers with are published and linked; without links, /board says so."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, select

from cards.model import Card, Form, LinkButton
from handlers import root_router
from handlers.capabilities import Source
from handlers.dispatcher import Dispatcher
from handlers.events import Chat, CommandEvent, Sender
from handlers.webforms import PUBLISHED_URL, WebLinks
from storage.models import OutboxMessage, Person, WebForm
from storage.timekeeping import ManualClock

CHAT = Chat(platform="chat", chat_id="c1", workspace="w1", name="订单项目群")


def command(text: str, event_id: str, **kwargs) -> CommandEvent:
    return CommandEvent(event_id=event_id, chat=CHAT, sender=Sender("u_zhang", "张伟"), text=text, **kwargs)


def links(clock: ManualClock) -> WebLinks:
    return WebLinks.create(base_url="https://closeloop.example.com/", secret_key="s" * 32, clock=clock)


async def test_a_form_posted_to_the_group_is_published_for_the_sender_and_linked(
    engine: sa.Engine, clock: ManualClock
) -> None:
    core = Dispatcher(engine=engine, clock=clock, router=root_router(), links=links(clock))
    await core.feed(command("/record new 订单系统数据延迟", "e1"))
    with Session(engine) as session:
        posted = Card.load(session.exec(select(OutboxMessage)).one().payload["card"])
        (form,) = session.exec(select(WebForm)).all()
        person = session.exec(select(Person)).one()
    (button,) = [b for e in posted.elements if e.kind == "actions" for b in e.buttons]
    assert isinstance(button, LinkButton) and button.label == "在网页中填写"
    assert button.url.startswith("https://closeloop.example.com/f/")
    assert form.person_id == person.id and form.submitted_at is None
    assert (form.expires_at - form.created_at).total_seconds() == 30 * 60
    stored = Card.load(form.card)
    assert [e.kind for e in stored.elements] == ["form"], "the page shows the form, not a link to itself"
    assert isinstance(stored.elements[0], Form)


async def test_a_form_asked_for_from_a_page_is_published_not_posted(engine: sa.Engine, clock: ManualClock) -> None:
    core = Dispatcher(engine=engine, clock=clock, router=root_router(), links=links(clock))
    result = await core.feed(command("/record new 订单系统数据延迟", "e1", source=Source.WEB))
    assert result.outcome.extra[PUBLISHED_URL].startswith("https://closeloop.example.com/f/")
    assert result.outcome.form is None
    with Session(engine) as session:
        assert session.exec(select(OutboxMessage)).all() == [] and len(session.exec(select(WebForm)).all()) == 1


async def test_without_links_forms_stay_as_they_were_and_board_says_what_is_missing(
    engine: sa.Engine, clock: ManualClock
) -> None:
    core = Dispatcher(engine=engine, clock=clock, router=root_router())
    await core.feed(command("/record new 订单系统数据延迟", "e1"))
    await core.feed(command("/board", "e2"))
    with Session(engine) as session:
        form_card, board_card = (Card.load(m.payload["card"]) for m in session.exec(select(OutboxMessage)))
        assert session.exec(select(WebForm)).all() == []
    assert [e.kind for e in form_card.elements] == ["form"]
    assert "CLOSELOOP_PUBLIC_URL" in board_card.elements[0].text and "尚未开启" in board_card.elements[0].text
