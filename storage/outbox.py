"""The outbox's enqueue half: a message that must arrive is written as a row in the caller's transaction.

A handler's change, its audit rows and the messages it causes commit together or
not at all. Each row is keyed by an idempotency key: a second enqueue with the
same key is a no-op, so a scheduler running twice or on two replicas posts once.
The runtime's sender (``bot.outbox``) delivers the rows.

Cards are stored as their JSON; storage knows nothing of the card model, so a
card is taken as anything with pydantic's ``model_dump`` or as JSON already.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from storage.models import OutboxMessage
from storage.types import OutboxStatus


class _Dumpable(Protocol):
    def model_dump(self, *, mode: str = ..., exclude_none: bool = ...) -> dict[str, Any]: ...


CardLike = _Dumpable | Mapping[str, Any]


def card_json(card: CardLike) -> dict[str, Any]:
    if isinstance(card, Mapping):
        return dict(card)
    return card.model_dump(mode="json", exclude_none=True)


@dataclass(frozen=True)
class QueuedCard:
    """One message for ``enqueue_many``."""

    platform: str
    target: str
    card: CardLike
    key: str
    names: Mapping[str, str] = field(default_factory=dict)
    reply_to: str | None = None  # a platform message id to answer in thread
    update_of: str | None = None  # a platform message id whose card this replaces
    visible_to: str | None = None  # a user id: only they see it (an ephemeral message, or a direct one)


def enqueue(
    session: Session,
    *,
    platform: str,
    target: str,
    card: CardLike,
    key: str,
    now: datetime,
    names: Mapping[str, str] | None = None,
    reply_to: str | None = None,
    update_of: str | None = None,
    visible_to: str | None = None,
) -> bool:
    """Queue a card in the caller's transaction. False when ``key`` was queued before."""
    message = QueuedCard(platform, target, card, key, names or {}, reply_to, update_of, visible_to)
    return bool(enqueue_many(session, [message], now=now))


def enqueue_many(session: Session, messages: list[QueuedCard], *, now: datetime, chunk: int = 500) -> set[str]:
    """Queue many cards in a few statements (the scheduler's bursts); returns the keys that were new."""
    inserted: set[str] = set()
    messages = sorted(messages, key=lambda m: m.key)  # one lock order for every replica: no deadlocks between them
    statement = _insert_statement(session.get_bind().dialect.name)
    connection = session.connection()
    for start in range(0, len(messages), chunk):
        values = [
            {
                "idempotency_key": m.key[:200], "platform": m.platform, "target": m.target,
                "payload": {"card": card_json(m.card), "names": dict(m.names), "reply_to": m.reply_to,
                            "update_of": m.update_of, "visible_to": m.visible_to},
                "status": OutboxStatus.PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now,
            }
            for m in messages[start : start + chunk]
        ]  # fmt: skip
        inserted.update(connection.execute(statement, values).scalars())
    return inserted


@functools.cache
def _insert_statement(dialect: str) -> Any:
    """Built once per backend (each handled event queues at least one message)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(OutboxMessage)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(OutboxMessage.idempotency_key)  # rowcount is not reliable through every driver; this is
    )


def posted_card(session: Session, *, platform: str, target: str, platform_message_id: str) -> dict[str, Any] | None:
    """The card JSON of a message the bot posted, by the platform's message id (a button on it was pressed):
    its latest state, when it was updated since (an update carries the id of the message it replaced)."""
    row = session.exec(
        select(OutboxMessage.payload)
        .where(
            OutboxMessage.platform == platform,
            OutboxMessage.target == target,
            OutboxMessage.platform_message_id == platform_message_id,
        )
        .order_by(col(OutboxMessage.id).desc())
    ).first()
    return row["card"] if row is not None else None
