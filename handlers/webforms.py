"""Forms as web pages behind signed links, and the link to the group's board.

Why: some platforms' cards cannot hold the record form (no person picker, no
repeated rows, or no inputs at all), and a long form is cramped in a modal. The
same neutral form is then *published*: stored exactly as it was, for one person
in one group, and opened from a signed link that expires. The runtime serves
the page and feeds what is submitted back to the dispatcher as the action event
the form's button would have sent, so validation, storage and what is posted
to the group stay exactly as for a card.

A link's signature (itsdangerous, keyed by ``CLOSELOOP_SECRET_KEY``) covers the
form, the group and the person, and its age is measured by the injected clock.
A link that was edited, has expired, was used for a submission, or is opened
by someone else (where the platform can tell who opens it) is refused; nothing
is stored then.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode
from sqlmodel import Session

from cards.markup import md, mention
from cards.model import Actions, ButtonStyle, Card, Form, Header, LinkButton, Markdown, Tone
from cards.templates import notice, t
from handlers import grammar
from handlers.capabilities import Source
from handlers.events import ActionEvent, Event
from handlers.router import RESULT_CARD, Outcome, Router
from storage.errors import DomainError
from storage.models import Group, Person, WebForm
from storage.timekeeping import Clock

router = Router("webforms")
PUBLISHED_URL = "web_form_url"  # Outcome.extra: where the answer's form was published
Viewer = Callable[[str], str | None]  # the group's platform → the user id it proves opens the page, or None


class LinkKind(StrEnum):
    FORM = "form"
    BOARD = "board"
    PAGE = "page"  # the per-page token a form page posts back (CSRF), bound to its link
    FILE = "file"  # a file the bot made, for a platform that cannot take it (``handlers.downloads``)


class Refusal(StrEnum):
    INVALID = "invalid"  # forged, edited or cut short: the signature does not match
    EXPIRED = "expired"
    USED = "used"
    WRONG_PERSON = "wrong_person"


class LinkRefused(Exception):
    """A link the page must refuse; ``owner`` is whose link it is, when that is known and safe to say."""

    def __init__(self, reason: Refusal, *, owner: Person | None = None, form: WebForm | None = None) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.owner = owner
        self.form = form


class ClockSigner(TimestampSigner):
    """Timestamps from the injected clock, so tests and the sandbox decide what "now" is."""

    def __init__(self, *args: Any, clock: Clock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock

    def get_timestamp(self) -> int:
        return int(self.clock.now().timestamp())


class LinkSigner:
    """Signs a link's claims and reads them back; each kind has its own salt, so no token passes for another."""

    def __init__(self, secret_key: str, clock: Clock) -> None:
        if len(secret_key) < 32:
            raise ValueError("the link signing key must be at least 32 characters")
        self._serializers = {
            kind: URLSafeTimedSerializer(
                secret_key,
                salt=f"closeloop.{kind.value}",
                signer=ClockSigner,
                signer_kwargs={"clock": clock, "digest_method": hashlib.sha256, "key_derivation": "hmac"},
            )
            for kind in LinkKind
        }

    def sign(self, kind: LinkKind, claims: dict[str, Any]) -> str:
        return str(self._serializers[kind].dumps(claims))

    def read(self, kind: LinkKind, token: str, *, max_age: int | None) -> dict[str, Any]:
        """The claims, if the signature holds and (with ``max_age``) the link is younger than that many seconds."""
        if not _canonical(token):
            raise LinkRefused(Refusal.INVALID)
        try:
            claims = self._serializers[kind].loads(token, max_age=max_age)
        except SignatureExpired:
            raise LinkRefused(Refusal.EXPIRED) from None
        except (BadData, UnicodeError, ValueError):
            raise LinkRefused(Refusal.INVALID) from None
        if not isinstance(claims, dict):
            raise LinkRefused(Refusal.INVALID)
        return claims


@dataclass(frozen=True)
class WebLinks:
    """Where links point (the public HTTPS base) and how long they live."""

    base_url: str
    signer: LinkSigner
    form_minutes: int = 30
    board_hours: int = 24

    @classmethod
    def create(cls, *, base_url: str, secret_key: str, clock: Clock, form_minutes: int = 30) -> WebLinks:
        return cls(base_url.rstrip("/"), LinkSigner(secret_key, clock), form_minutes)

    @property
    def form_seconds(self) -> int:
        return self.form_minutes * 60

    @property
    def board_seconds(self) -> int:
        return self.board_hours * 3600


# ---------------------------------------------------------------- publishing


def publish(session: Session, *, group: Group, person: Person, card: Card, now: datetime, links: WebLinks) -> str:
    """Store the form card for this person in this group and return its signed URL (valid ``form_minutes``)."""
    row = WebForm(
        group_id=group.id or 0, person_id=person.id or 0, card=card.model_dump(mode="json"), created_at=now,
        expires_at=now + timedelta(minutes=links.form_minutes),
    )  # fmt: skip
    session.add(row)
    session.flush()
    token = links.signer.sign(LinkKind.FORM, {"f": row.id, "g": group.id, "p": person.id})
    return f"{links.base_url}/f/{token}"


def board_link(*, group: Group, person: Person, links: WebLinks) -> str:
    """The group's board for this person (their "mine" filter and their forms), valid ``board_hours``."""
    return f"{links.base_url}/board/{links.signer.sign(LinkKind.BOARD, {'g': group.id, 'p': person.id})}"


def with_link(card: Card, url: str, lang: str) -> Card:
    """The form card with a button that opens it as a web page."""
    button = LinkButton(label=t("webform.open", lang), url=url, style=ButtonStyle.DEFAULT)
    return card.model_copy(update={"elements": [*card.elements, Actions(buttons=[button])]})


def link_only(card: Card, url: str, lang: str, *, for_user: str | None) -> Card:
    """For a platform whose cards hold no inputs: the form's title and a button that opens it as a web page."""
    title = card.header.title if card.header else t("webform.open", lang)
    text = md("{} {}", mention(for_user), t("webform.invite", lang)) if for_user else t("webform.invite", lang)
    button = LinkButton(label=t("webform.open", lang), url=url, style=ButtonStyle.PRIMARY)
    return Card(header=Header(title=title, tone=Tone.INFO), elements=[Markdown(text=text), Actions(buttons=[button])])


# ---------------------------------------------------------------- opening


@dataclass(frozen=True)
class OpenedForm:
    form: WebForm
    group: Group
    person: Person

    @property
    def card(self) -> Card:
        return Card.load(self.form.card)


def open_form(
    session: Session, token: str, *, now: datetime, links: WebLinks, viewer: Viewer | None = None
) -> OpenedForm:
    """The published form behind a link, or ``LinkRefused``. ``viewer``: who the group's platform says opens it."""
    claims = links.signer.read(LinkKind.FORM, token, max_age=None)  # its age is checked below, after "used"
    row = session.get(WebForm, _int(claims.get("f")))
    if row is None or row.group_id != claims.get("g") or row.person_id != claims.get("p"):
        raise LinkRefused(Refusal.INVALID)
    group, person = session.get(Group, row.group_id), session.get(Person, row.person_id)
    if group is None or person is None:
        raise LinkRefused(Refusal.INVALID)
    _check_viewer(viewer, group, person)
    if row.submitted_at is not None:
        raise LinkRefused(Refusal.USED, form=row)
    if now >= row.expires_at:
        raise LinkRefused(Refusal.EXPIRED)
    links.signer.read(LinkKind.FORM, token, max_age=links.form_seconds)  # a shorter lifetime configured since
    return OpenedForm(row, group, person)


@dataclass(frozen=True)
class BoardAccess:
    group: Group
    person: Person


def open_board(session: Session, token: str, *, links: WebLinks, viewer: Viewer | None = None) -> BoardAccess:
    claims = links.signer.read(LinkKind.BOARD, token, max_age=links.board_seconds)
    group, person = session.get(Group, _int(claims.get("g"))), session.get(Person, _int(claims.get("p")))
    if group is None or person is None:
        raise LinkRefused(Refusal.INVALID)
    _check_viewer(viewer, group, person)
    return BoardAccess(group, person)


def _check_viewer(viewer: Viewer | None, group: Group, person: Person) -> None:
    """Where the platform can prove who opens the page, the link is for that person only."""
    seen = viewer(group.platform) if viewer is not None else None
    if seen is not None and seen != person.user_id:
        raise LinkRefused(Refusal.WRONG_PERSON, owner=person)


@dataclass(frozen=True)
class PageToken:
    """The token a page posts back: bound to its link (kind, id, person) and naming this rendering of it,
    so a cross-site post is refused and a resend of the same page is one submission."""

    token: str
    nonce: str


def page_token(links: WebLinks, *, kind: LinkKind, target: int, person_id: int) -> PageToken:
    nonce = secrets.token_urlsafe(12)
    return PageToken(
        links.signer.sign(LinkKind.PAGE, {"k": kind.value, "t": target, "p": person_id, "n": nonce}), nonce
    )


def check_page_token(links: WebLinks, token: str, *, kind: LinkKind, target: int, person_id: int) -> str:
    """The page's nonce, if ``token`` was made for this link; ``LinkRefused(INVALID)`` otherwise."""
    claims = links.signer.read(LinkKind.PAGE, token, max_age=links.board_seconds)
    if (claims.get("k"), claims.get("t"), claims.get("p")) != (kind.value, target, person_id):
        raise LinkRefused(Refusal.INVALID)
    nonce = claims.get("n")
    if not isinstance(nonce, str) or not nonce:
        raise LinkRefused(Refusal.INVALID)
    return nonce


def _canonical(token: str) -> bool:
    """Every part is base64 exactly as we write it: a last character differing only in its unused bits
    decodes to the same bytes, and would otherwise let a changed byte pass."""
    try:
        return all(base64_encode(base64_decode(part)).decode() == part for part in token.split(".") if part)
    except (BadData, ValueError):
        return False


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


# ---------------------------------------------------------------- the dispatcher's step


@dataclass(frozen=True)
class WebFormEvent(ActionEvent):
    """What a published form's page sends: the card's own action, plus which form it was and whether it was
    the form's submit button (a draft does not use the link up)."""

    source: Source = Source.WEB
    web_form: int = 0
    final: bool = False


def settle(session: Session, *, event: Event, group: Group, person: Person, outcome: Outcome, now: datetime,
           lang: str, links: WebLinks) -> Outcome:  # fmt: skip
    """What web forms add to an event's transaction (called by the dispatcher when links are configured).

    - An event sent by a web form page is checked against its form, and a final
      submission that was accepted uses the link up in the same commit as what it
      stored; if another submission got there first, everything rolls back.
    - A form the bot answers with is published, and gets a button that opens it.
    """
    if isinstance(event, WebFormEvent):
        _use_up(session, event=event, group=group, person=person, outcome=outcome, now=now)
    elif outcome.form is not None:
        url = publish(session, group=group, person=person, card=outcome.form, now=now, links=links)
        extra = {**outcome.extra, PUBLISHED_URL: url}
        if event.source is Source.WEB:  # asked for from a page (the board): the page goes to the form itself
            return replace(outcome, form=None, extra=extra)
        outcome = replace(outcome, form=with_link(outcome.form, url, lang), extra=extra)
    return outcome


def _use_up(session: Session, *, event: WebFormEvent, group: Group, person: Person, outcome: Outcome,
            now: datetime) -> None:  # fmt: skip
    row = session.get(WebForm, event.web_form)
    if row is None or row.group_id != group.id or row.person_id != person.id:
        raise DomainError("webform.invalid")
    row.values = event.form
    session.add(row)
    shown_again = any(
        isinstance(e, Form) for c in (outcome.update, outcome.reply, outcome.form) if c for e in c.elements
    )
    if not event.final or shown_again:
        return
    produced = outcome.extra.get(RESULT_CARD) or outcome.update or outcome.reply  # the page shows the result
    result = {
        "toast": outcome.toast,
        "record_id": produced.payload.record_id if produced and produced.payload else None,
        "card": produced.model_dump(mode="json") if produced else None,
    }
    used = session.execute(
        sa.update(WebForm)
        .where(WebForm.id == row.id, WebForm.submitted_at.is_(None))  # type: ignore[union-attr]
        .values(submitted_at=now, result=result)
    )
    if used.rowcount != 1:
        raise DomainError("webform.used")


# ---------------------------------------------------------------- /board


@router.command(grammar.Board)
def board(group: Group, person: Person, lang: str, links: WebLinks | None = None) -> Outcome:
    """看板: a link to the group's board, for the person who asked (valid a day)."""
    if links is None:
        raise DomainError("webform.off")
    url = board_link(group=group, person=person, links=links)
    card = notice(t("board.title", lang), t("board.text", lang, name=person.display_name or person.user_id,
                                            hours=links.board_hours))  # fmt: skip
    button = LinkButton(label=t("board.open", lang), url=url, style=ButtonStyle.PRIMARY)
    return Outcome(
        reply=card.model_copy(update={"elements": [*card.elements, Actions(buttons=[button])]}), private=True
    )  # a link that works for them alone: not a message for the whole group
