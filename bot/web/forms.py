"""A published form as a page: GET shows it, POST feeds it to the dispatcher as the card's own submission.

What the page posts is checked before anything runs: the link (signature, age,
not used, the right person where the platform can tell), the page token bound
to that link (no cross-site post), the button (one of the form's own), the
field names (the form's own) and the people chosen (members of the group).
Then it becomes the ``ActionEvent`` the form's button would have sent — the
group's chat, the person as sender, an event id per rendering of the page so a
resend is one submission — and the dispatcher stores it, posts the result to
the group through the outbox and uses the link up, in one transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from sqlmodel import Session, select

from bot.platforms.gateway import Gateway
from bot.web.pages import html_response, message_page, page, people_choices, refused_page
from cards.forms import refill
from cards.html import PlainNames, render_card_html
from cards.model import Actions, Card, Form, LinkButton, PersonPicker, Repeat, collect_form_values, iter_inputs
from cards.templates import t
from handlers.events import Chat, Sender
from handlers.webforms import LinkKind, LinkRefused, OpenedForm, WebFormEvent, WebLinks, open_form, page_token
from handlers.webforms import check_page_token as check_token
from storage.board import group_members
from storage.db import in_db
from storage.i18n import LANGUAGES, normalize_language
from storage.models import Department, Group, WebForm
from storage.timekeeping import format_local, zone

Identify = Callable[[web.Request, str], str | None]  # (request, platform) → who the platform proves opens the page


@dataclass(frozen=True)
class Loaded:
    opened: OpenedForm
    people: list[tuple[str, str, str]]
    names: dict[str, str]


class FormPages:
    def __init__(self, services: Gateway, links: WebLinks, identify: Identify) -> None:
        self.services = services
        self.links = links
        self.identify = identify

    def mount(self, app: web.Application) -> None:
        app.router.add_get("/f/{token}", self.show)
        app.router.add_post("/f/{token}", self.submit)

    # ------------------------------------------------------------ reading

    def _load(self, token: str, request: web.Request) -> Loaded:
        with Session(self.services.engine) as session:
            opened = open_form(session, token, now=self.services.clock.now(), links=self.links,
                               viewer=lambda platform: self.identify(request, platform))  # fmt: skip
            members = group_members(session, opened.group)
            departments = {
                d.id: d for d in session.exec(select(Department).where(Department.workspace == opened.group.workspace))
            }
            people = people_choices(members, departments)  # type: ignore[arg-type]
            names = {p.user_id: p.display_name or p.user_id for p in members}
            return Loaded(opened, people, names)

    async def show(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        try:
            loaded = await in_db(self.services.engine, self._load, token, request)
        except LinkRefused as refused:
            return await self._refused(request, refused)
        values = loaded.opened.form.values
        card = loaded.opened.card
        if values:
            card = refill(card, values=values, errors={}, warnings={}, lang=_lang(request, loaded.opened))
        return self._render(request, loaded, card, toast=None)

    def _render(self, request: web.Request, loaded: Loaded, card: Card, *, toast: str | None,
                status: int = 200) -> web.Response:  # fmt: skip
        opened, lang = loaded.opened, _lang(request, loaded.opened)
        csrf = page_token(self.links, kind=LinkKind.FORM, target=opened.form.id or 0, person_id=opened.person.id or 0)
        until = format_local(opened.form.expires_at, zone(opened.group.timezone))
        meta = t("web.for_person", lang, name=opened.person.display_name or opened.person.user_id,
                 group=opened.group.name or opened.group.chat_id, until=until)  # fmt: skip
        html = render_card_html(
            card, names=PlainNames(loaded.names), people=loaded.people, action_url=_here(request),
            hidden={"csrf": csrf.token}, id_prefix="f", search_label=t("web.search_people", lang),
        )  # fmt: skip
        notice = f'<p class="toast" role="status">{escape(toast)}</p>' if toast else ""
        body = f'<p class="meta">{escape(meta)}</p>{notice}{html}'
        title = card.header.title if card.header else t("webform.open", lang)
        return html_response(page(title=title, body=body, lang=lang, switch_to=_switch(request, lang)), status=status)

    async def _refused(self, request: web.Request, refused: LinkRefused) -> web.Response:
        lang = normalize_language(request.query.get("lang")) if request.query.get("lang") else "zh-CN"
        extra = ""
        if refused.form is not None and refused.form.result and refused.form.result.get("card"):
            names = await in_db(self.services.engine, self._names_of, refused.form)
            extra = render_card_html(
                read_only(Card.load(refused.form.result["card"])), names=PlainNames(names), id_prefix="r"
            )
            lang = await in_db(self.services.engine, self._lang_of, refused.form, request)
        return refused_page(refused, lang=lang, links=self.links, extra=extra)

    def _names_of(self, row: WebForm) -> dict[str, str]:
        with Session(self.services.engine) as session:
            group = session.get(Group, row.group_id)
            return {p.user_id: p.display_name or p.user_id for p in group_members(session, group)} if group else {}

    def _lang_of(self, row: WebForm, request: web.Request) -> str:
        with Session(self.services.engine) as session:
            group = session.get(Group, row.group_id)
            asked = request.query.get("lang")
            return normalize_language(asked if asked else group.language if group else None)

    # ------------------------------------------------------------ submitting

    async def submit(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        try:
            loaded = await in_db(self.services.engine, self._load, token, request)
        except LinkRefused as refused:
            return await self._refused(request, refused)
        opened, lang = loaded.opened, _lang(request, loaded.opened)
        if not same_origin(request, self.links):
            return message_page(title=t("web.refused.title", lang), text=t("web.refused.invalid", lang), lang=lang,
                                status=403)  # fmt: skip
        data = await request.post()
        try:
            nonce = check_token(self.links, str(data.get("csrf", "")), kind=LinkKind.FORM,
                                target=opened.form.id or 0, person_id=opened.person.id or 0)  # fmt: skip
        except LinkRefused:
            return message_page(title=t("web.refused.title", lang), text=t("web.refused.invalid", lang), lang=lang,
                                status=403)  # fmt: skip
        card = opened.card
        form = next((e for e in card.elements if isinstance(e, Form)), None)
        buttons = {b.action: b for b in (form.submit, form.cancel) if b is not None} if form else {}
        button = buttons.get(str(data.get("action", "")))
        if form is None or button is None:
            return self._bad(lang, "action")
        flat = {key: _posted(data.getall(key)) for key in dict.fromkeys(data.keys()) if _is_input_of(form, key)}
        stranger = _not_a_member(form, flat, set(loaded.names))
        if stranger is not None:
            return self._bad(lang, t("web.not_a_member", lang, value=stranger))
        group, person = opened.group, opened.person
        event = WebFormEvent(
            event_id=f"webform:{opened.form.id}:{nonce}",
            chat=Chat(platform=group.platform, chat_id=group.chat_id, workspace=group.workspace, name=group.name or None),
            sender=Sender(user_id=person.user_id, display_name=person.display_name or None),
            action=button.action, payload=button.payload, form=collect_form_values(flat),
            web_form=opened.form.id or 0, final=button == form.submit,
        )  # fmt: skip
        result = await self.services.dispatcher.feed(event)
        if result.duplicate:  # the same page sent twice: show where things stand
            return await self.show(request)
        outcome = result.outcome
        shown = next((c for c in (outcome.update, outcome.reply, outcome.form) if c and _has_form(c)), None)
        if shown is not None:
            return self._render(request, loaded, shown, toast=outcome.toast)
        if button != form.submit:  # a draft: the same form with what was typed
            return self._render(request, loaded, refill(card, values=event.form, errors={}, warnings={}, lang=lang),
                                toast=outcome.toast)  # fmt: skip
        return self._answer(lang, outcome, result.names, request)

    def _answer(self, lang: str, outcome: Any, names: dict[str, str], request: web.Request) -> web.Response:
        cards = [read_only(c) for c in (outcome.update, outcome.reply) if c is not None]
        rendered = "".join(render_card_html(c, names=PlainNames(names), id_prefix=f"a{i}") for i, c in enumerate(cards))
        toast = f'<p class="toast" role="status">{escape(outcome.toast)}</p>' if outcome.toast else ""
        body = (
            f'<section class="submitted"><h1>{escape(t("web.submitted.title", lang))}</h1>'
            f"<p>{escape(t('web.submitted.text', lang))}</p></section>{toast}{rendered}"
        )
        return html_response(page(title=t("web.submitted.title", lang), body=body, lang=lang))

    def _bad(self, lang: str, reason: str) -> web.Response:
        title = t("web.refused.title", lang)
        return message_page(title=title, text=t("web.bad_request", lang, reason=reason), lang=lang, status=400)


# ---------------------------------------------------------------- helpers


def _lang(request: web.Request, opened: OpenedForm) -> str:
    asked = request.query.get("lang")
    return (
        normalize_language(asked) if asked in LANGUAGES or asked == "zh" else normalize_language(opened.group.language)
    )


def _here(request: web.Request) -> str:
    return request.rel_url.path + (f"?lang={request.query['lang']}" if request.query.get("lang") in LANGUAGES else "")


def _switch(request: web.Request, lang: str) -> str:
    other = "en" if lang != "en" else "zh-CN"
    return f"{request.rel_url.path}?lang={other}"


def same_origin(request: web.Request, links: WebLinks) -> bool:
    """A browser names the page a post comes from; it must be ours (the public address, or this host)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser's cross-site post (those carry Origin); the page token still has to match
    base = urlsplit(links.base_url)
    return origin in (f"{base.scheme}://{base.netloc}", f"{request.scheme}://{request.host}")


def _posted(values: list[Any]) -> str | list[str]:
    texts = [v for v in values if isinstance(v, str)]
    return texts if len(texts) > 1 else (texts[0] if texts else "")


def _is_input_of(form: Form, key: str) -> bool:
    """Only the form's own inputs are taken: ``topic``, or ``items.2.owner`` within the group's row limit."""
    for item in iter_inputs(form):
        if isinstance(item, Repeat):
            match = re.fullmatch(rf"{item.name}\.([0-9]{{1,3}})\.([A-Za-z0-9_]+)", key)
            if match and int(match.group(1)) < item.max_rows and any(f.name == match.group(2) for f in item.template):
                return True
        elif key == item.name:
            return True
    return False


def _not_a_member(form: Form, flat: dict[str, Any], members: set[str]) -> str | None:
    """The first person chosen who is not in the group (nor already in the form), if any."""
    pickers, already = set(), set()
    for item in iter_inputs(form):
        if isinstance(item, PersonPicker):
            pickers.add(item.name)
            already.update(item.values)
        elif isinstance(item, Repeat):
            for field in item.template:
                if isinstance(field, PersonPicker):
                    pickers.add(f"{item.name}.*.{field.name}")
                    already.update(v for row in item.rows for v in _as_list(row.get(field.name)))
    for key, value in flat.items():
        parts = key.split(".")
        pattern = key if len(parts) == 1 else f"{parts[0]}.*.{parts[-1]}"
        if pattern in pickers:
            for chosen in _as_list(value):
                if chosen and chosen not in members and chosen not in already:
                    return chosen
    return None


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def read_only(card: Card) -> Card:
    """The card without the buttons that act in the chat (a page shows the result; links stay)."""
    elements = []
    for element in card.elements:
        if isinstance(element, Actions):
            links = [b for b in element.buttons if isinstance(b, LinkButton)]
            element = element.model_copy(update={"buttons": links}) if links else None
        if element is not None:
            elements.append(element)
    return card.model_copy(update={"elements": elements})


def _has_form(card: Card) -> bool:
    return any(isinstance(e, Form) for e in card.elements)
