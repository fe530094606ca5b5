"""The card behind a posted message is its latest state: an update carries the id of the message it replaced."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, select

from storage.models import OutboxMessage
from storage.outbox import enqueue, posted_card
from storage.timekeeping import ManualClock


def test_the_card_behind_a_message_is_its_latest_state(engine: sa.Engine, clock: ManualClock) -> None:
    with Session(engine) as session:
        for key, title in (("k:1", "first"), ("k:2", "updated")):
            enqueue(session, platform="slack", target="C1", card={"header": {"title": title}}, key=key, now=clock.now())
        for row in session.exec(select(OutboxMessage)).all():
            row.platform_message_id = "1700.01"  # the update was delivered onto the same message
        session.commit()
        card = posted_card(session, platform="slack", target="C1", platform_message_id="1700.01")
    assert card == {"header": {"title": "updated"}}
