"""What handlers use to post durable messages, and the names behind ``<@id>`` mentions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session, col, select

from cards.model import Card, mentions_in_card
from storage.models import Group, Person
from storage.outbox import enqueue


class Poster:
    """Queues cards for a group's chat in the handler's transaction (see ``bot.outbox``).

    Keys are namespaced by platform and chat, so a handler only has to make its
    key unique within the group (``record:12:activated``).
    """

    def __init__(
        self, session: Session, group: Group, now: datetime, *, event_id: str | None = None, lang: str = "zh-CN"
    ) -> None:
        self.session = session
        self.group = group
        self.now = now
        self.event_id = event_id
        self.lang = lang
        self.count = 0

    def post(
        self, card: Card, *, key: str, reply_to: str | None = None, update_of: str | None = None,
        visible_to: str | None = None,
    ) -> bool:  # fmt: skip
        inserted = enqueue(
            self.session, platform=self.group.platform, target=self.group.chat_id, card=card,
            key=f"{self.group.platform}:{self.group.chat_id}:{key}", now=self.now,
            names=mention_names(self.session, self.group.platform, [card]), reply_to=reply_to, update_of=update_of,
            visible_to=visible_to,
        )  # fmt: skip
        self.count += int(inserted)
        return inserted


def mention_names(session: Session, platform: str, cards: Iterable[Card]) -> dict[str, str]:
    """Display names for every ``<@user_id>`` in the cards (renderers without native mentions need them)."""
    ids = {user_id for card in cards for user_id in mentions_in_card(card)}
    if not ids:
        return {}
    query = select(Person.user_id, Person.display_name).where(
        Person.platform == platform, col(Person.user_id).in_(sorted(ids))
    )
    return {user_id: name for user_id, name in session.exec(query)}
