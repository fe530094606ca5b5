"""The outer middleware: redeliveries dropped, people created on first contact, errors answered, nothing half-written."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, select

from cards.model import CardPayload
from handlers import root_router
from handlers.capabilities import Capabilities, FormStyle, Private, Respond, Source
from handlers.dispatcher import Dispatcher, GroupDefaults
from handlers.events import ActionEvent, Chat, CommandEvent, MentionedUser, Sender
from handlers.grammar import RecordNew
from handlers.router import Outcome, Router
from handlers.webforms import WebLinks
from storage.board import group_members
from storage.models import Group, OutboxMessage, Person, ProcessedEvent, Record
from storage.timekeeping import ManualClock

CHAT = Chat(platform="feishu", chat_id="oc_1", workspace="tenant-1", name="订单项目群")


# a platform whose button answers show a toast and the updated card, and whose notices can be private
PRIVATE = {"feishu": Capabilities(forms=FormStyle.CARD, respond={Source.BUTTON: Respond.TOAST | Respond.UPDATE},
                                  private=Private.EPHEMERAL)}  # fmt: skip


def dispatcher(engine: sa.Engine, clock: ManualClock, router: Router | None = None, *, capabilities=None,
               **defaults) -> Dispatcher:  # fmt: skip
    return Dispatcher(engine=engine, clock=clock, router=router or root_router(), defaults=GroupDefaults(**defaults),
                      capabilities=capabilities)  # fmt: skip


def command(text: str, event_id: str = "ev-1", user: str = "ou_zhang", **kwargs) -> CommandEvent:
    return CommandEvent(event_id=event_id, chat=CHAT, sender=Sender(user, "张伟"), text=text, **kwargs)


def count(engine: sa.Engine, model: type) -> int:
    with Session(engine) as session:
        return len(session.exec(select(model)).all())


async def test_a_redelivered_event_is_processed_once(engine: sa.Engine, clock: ManualClock) -> None:
    core = dispatcher(engine, clock)
    first = await core.feed(command("/record new 订单系统数据延迟"))
    again = await core.feed(command("/record new 订单系统数据延迟"))
    assert not first.duplicate and again.duplicate and again.enqueued == 0
    assert count(engine, OutboxMessage) == 1 and count(engine, ProcessedEvent) == 1


async def test_group_sender_and_mentioned_people_are_created_on_first_contact(
    engine: sa.Engine, clock: ManualClock
) -> None:
    core = dispatcher(engine, clock, timezone="Europe/Berlin", language="en", admins=frozenset({"feishu:ou_zhang"}))
    event = command("/dept set IT lead <@ou_li>", mentions=(MentionedUser("ou_li", "李娜"),))
    result = await core.feed(event)
    assert result.lang == "en"
    with Session(engine) as session:
        group = session.exec(select(Group)).one()
        assert (group.platform, group.chat_id, group.workspace, group.name, group.timezone, group.language) == (
            "feishu", "oc_1", "tenant-1", "订单项目群", "Europe/Berlin", "en")  # fmt: skip
        people = {p.user_id: p for p in session.exec(select(Person))}
        assert people["ou_zhang"].is_admin and people["ou_li"].display_name == "李娜"


async def test_whoever_speaks_or_is_mentioned_in_a_group_is_offered_by_its_person_pickers(
    engine: sa.Engine, clock: ManualClock
) -> None:
    """Platforms do not list a chat's members (WeCom tells nothing): the group remembers whom it has seen."""
    core = dispatcher(engine, clock)
    await core.feed(command("/record list", mentions=(MentionedUser("ou_li", "李娜"),)))
    await core.feed(command("/record list", event_id="ev-2", user="ou_wang"))
    await core.feed(command("/record list", event_id="ev-3"))  # seen again: still once
    await core.feed(command("/record close R5 已验证", event_id="ev-5", user="ou_chen"))  # refused: rolled back
    await core.feed(command("/record list", event_id="ev-6", user="ou_chen"))  # so written now
    other = CommandEvent(
        event_id="ev-4", chat=Chat("feishu", "oc_2", "tenant-1"), sender=Sender("ou_zhao"), text="/help"
    )
    await core.feed(other)
    with Session(engine) as session:
        group = session.exec(select(Group).where(Group.chat_id == "oc_1")).one()
        assert [p.user_id for p in group_members(session, group)] == ["ou_zhang", "ou_li", "ou_wang", "ou_chen"]


async def test_a_refusal_goes_to_the_person_privately_and_writes_nothing_else(
    engine: sa.Engine, clock: ManualClock
) -> None:
    core = dispatcher(engine, clock, capabilities=PRIVATE)
    result = await core.feed(command("/record close R5 已验证"))
    assert result.outcome.toast is None, "the answer to a text command shows nothing on this platform"
    with Session(engine) as session:
        (answer,) = session.exec(select(OutboxMessage)).all()
        assert answer.payload["card"]["elements"][0]["text"] == "找不到记录 R5。"
        assert answer.payload["visible_to"] == "ou_zhang", "only the sender sees it"
        assert answer.idempotency_key == "feishu:oc_1:event:ev-1:error"
    again = await core.feed(command("/record close R5 已验证"))
    assert again.duplicate and count(engine, OutboxMessage) == 1


async def test_without_private_messages_a_refusal_is_addressed_to_the_person_in_the_group(
    engine: sa.Engine, clock: ManualClock
) -> None:
    result = await dispatcher(engine, clock).feed(command("/record close R5 已验证"))
    assert result.outcome.toast is None
    with Session(engine) as session:
        (answer,) = session.exec(select(OutboxMessage)).all()
        assert answer.payload["visible_to"] is None
        assert answer.payload["card"]["elements"][0]["text"] == "<@ou_zhang> 找不到记录 R5。"


async def test_an_unexpected_failure_rolls_back_and_apologises(engine: sa.Engine, clock: ManualClock) -> None:
    broken = Router("broken")

    @broken.command(RecordNew)
    def explode(session: Session, group: Group, person: Person, now) -> Outcome:
        session.add(Record(group_id=group.id, recorder_id=person.id, topic="half", created_at=now, updated_at=now))
        session.flush()
        raise ZeroDivisionError("bug")

    await dispatcher(engine, clock, broken, capabilities=PRIVATE).feed(command("/record new x"))
    with Session(engine) as session:
        (apology,) = session.exec(select(OutboxMessage)).all()
        assert (
            apology.payload["card"]["elements"][0]["text"]
            == ("出了点问题，操作没有完成，已记录日志。请稍后再试或联系管理员。")
            and apology.payload["visible_to"] == "ou_zhang"
        )
    assert count(engine, Record) == 0, "no partial write"
    assert count(engine, ProcessedEvent) == 0, "a platform retry may try again"


async def test_what_the_answer_can_show_stays_out_of_the_outbox(engine: sa.Engine, clock: ManualClock) -> None:
    core = dispatcher(engine, clock, capabilities=PRIVATE)
    action = ActionEvent(event_id="a1", chat=CHAT, sender=Sender("ou_zhang"), action="record.show",
                         payload=CardPayload(record_id=77))  # fmt: skip
    failed = await core.feed(action)
    assert failed.outcome.toast == "找不到记录 R77。" and count(engine, OutboxMessage) == 0, "a toast, not a message"
    result = await core.feed(CommandEvent(event_id="s1", chat=CHAT, sender=Sender("ou_zhang"), text="/help"))
    assert result.outcome.reply is None and count(engine, OutboxMessage) == 1, "a reply is posted"


async def test_where_cards_hold_no_inputs_the_form_opens_as_a_web_page_for_the_asker(
    engine: sa.Engine, clock: ManualClock
) -> None:
    web_only = {"feishu": Capabilities(forms=FormStyle.WEB)}  # and nothing private: said in the group, to them
    links = WebLinks.create(base_url="https://closeloop.example.com", secret_key="k" * 32, clock=clock)
    core = Dispatcher(engine=engine, clock=clock, router=root_router(), capabilities=web_only, links=links)
    await core.feed(command("/record new 订单系统数据延迟"))
    with Session(engine) as session:
        (posted,) = session.exec(select(OutboxMessage)).all()
    card = posted.payload["card"]
    assert [e["kind"] for e in card["elements"]] == ["markdown", "actions"], "no inputs in the card"
    assert card["elements"][0]["text"].startswith("<@ou_zhang> "), "addressed to the one who asked"
    (button,) = card["elements"][1]["buttons"]
    assert button["url"].startswith("https://closeloop.example.com/") and "action" not in button
