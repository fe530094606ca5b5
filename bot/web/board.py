"""The group's board: every record by status at a glance, and a record's page with its history. Read-only.

Columns 待确认 / 进行中 / 已延期 / 已闭环; each record with its items, owners,
deadlines (overdue in red, due within two days in amber) and last progress;
filters for mine, department, category and the month a record was opened. A
record's actions do not change anything here: each one asks the dispatcher for
the form it opens (as the button in the chat would), which is published for
the viewer, and the page goes there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from html import escape
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlmodel import Session, col, select

from bot.platforms.gateway import Gateway
from bot.web.forms import Identify, read_only, same_origin
from bot.web.pages import html_response, message_page, page, refused_page
from cards.actions import ActionId
from cards.html import PlainNames, render_card_html
from cards.templates import category_text, due_text, payload_of, record_summary, status_text, summary_buttons, t
from handlers.capabilities import Source
from handlers.common import record_in_group
from handlers.context import mention_names
from handlers.events import ActionEvent, Chat, Sender
from handlers.webforms import (
    PUBLISHED_URL,
    BoardAccess,
    LinkKind,
    LinkRefused,
    WebLinks,
    check_page_token,
    open_board,
    page_token,
)
from storage.board import BOARD_STATUSES, BoardFilter, BoardRecord, board_records, record_history
from storage.db import in_db
from storage.errors import DomainError
from storage.i18n import LANGUAGES, normalize_language
from storage.models import Department, Record
from storage.queries import ItemView, month_bounds, record_view
from storage.timekeeping import format_local, local_to_utc, to_local, zone
from storage.types import Category, ItemStatus

# The record buttons that open a form (the board changes nothing by itself).
FORM_OPENERS = (ActionId.ITEM_PROGRESS_OPEN, ActionId.ITEM_ADD_OPEN, ActionId.RECORD_EDIT, ActionId.RECORD_CLOSE_OPEN)
SOON = timedelta(days=2)


@dataclass(frozen=True)
class Filters:
    mine: bool = False
    department: int | None = None
    category: Category | None = None
    month: tuple[int, int] | None = None

    @classmethod
    def parse(cls, query: Any) -> Filters:
        """Anything unreadable in the query is ignored (a filter the page never offered)."""
        department = query.get("dept", "")
        category = query.get("category", "")
        month = query.get("month", "")
        parsed_month = None
        if len(month) == 7 and month[4] == "-" and month[:4].isdigit() and month[5:].isdigit():
            year, number = int(month[:4]), int(month[5:])
            parsed_month = (year, number) if 2000 <= year <= 2099 and 1 <= number <= 12 else None
        return cls(
            mine=query.get("mine") == "1",
            department=int(department) if department.isdigit() and len(department) < 10 else None,
            category=Category(category) if category in {c.value for c in Category} else None,
            month=parsed_month,
        )

    def board_filter(self, person_id: int, tz: ZoneInfo) -> BoardFilter:
        start = end = None
        if self.month:
            first, after = month_bounds(*self.month)
            start, end = local_to_utc(first, time(0), tz), local_to_utc(after, time(0), tz)
        return BoardFilter(person_id if self.mine else None, self.department, self.category, start, end)


class BoardPages:
    def __init__(self, services: Gateway, links: WebLinks, identify: Identify) -> None:
        self.services = services
        self.links = links
        self.identify = identify

    def mount(self, app: web.Application) -> None:
        app.router.add_get("/board/{token}", self.board)
        app.router.add_get("/board/{token}/r/{record_id:[0-9]{1,9}}", self.record)
        app.router.add_post("/board/{token}/r/{record_id:[0-9]{1,9}}", self.act)

    def _access(self, session: Session, request: web.Request) -> BoardAccess:
        viewer = lambda platform: self.identify(request, platform)  # noqa: E731
        return open_board(session, request.match_info["token"], links=self.links, viewer=viewer)

    # ------------------------------------------------------------ the board

    async def board(self, request: web.Request) -> web.Response:
        try:
            return await in_db(self.services.engine, self._board, request)
        except LinkRefused as refused:
            return refused_page(refused, lang=_asked_lang(request), links=self.links)

    def _board(self, request: web.Request) -> web.Response:
        with Session(self.services.engine) as session:
            access = self._access(session, request)
            group, lang, tz = access.group, _lang(request, access), zone(access.group.timezone)
            filters = Filters.parse(request.query)
            records = board_records(
                session, group_id=group.id or 0, which=filters.board_filter(access.person.id or 0, tz)
            )
            departments = list(
                session.exec(
                    select(Department).where(Department.workspace == group.workspace).order_by(col(Department.name))
                )
            )
            months = _months(session, group.id or 0, tz)
        now = self.services.clock.now()
        columns = []
        for status in BOARD_STATUSES:
            shown = [r for r in records if r.record.status is status]
            cards = "".join(self._record_card(request, r, lang, tz, now) for r in shown)
            empty = f'<p class="empty">{escape(t("board.empty", lang))}</p>' if not shown else ""
            columns.append(
                f'<section class="column status-{status.value}" data-status="{status.value}">'
                f'<h2>{escape(status_text(status, lang))}<span class="count">{len(shown)}</span></h2>{cards}{empty}</section>'
            )
        heading = t("board.heading", lang, group=group.name or group.chat_id)
        viewer = t("board.viewer", lang, name=access.person.display_name or access.person.user_id,
                   now=format_local(now, tz))  # fmt: skip
        body = (
            f'<h1>{escape(heading)}</h1><p class="meta">{escape(viewer)}</p>'
            f"{_filters_form(request, filters, departments, months, lang)}"
            f'<div class="columns">{"".join(columns)}</div>'
        )
        html = page(title=t("board.title", lang), body=body, lang=lang, switch_to=_switch(request, lang))
        return html_response(html.replace('<body class="web">', '<body class="web board">', 1))

    def _record_card(self, request: web.Request, board: BoardRecord, lang: str, tz: ZoneInfo, now: datetime) -> str:
        record = board.record
        link = _path(request, f"/r/{record.id}")
        meta = " · ".join([
            str(category_text(record.category.value if record.category else None, lang)),
            str(t("board.recorder", lang, name=board.recorder.display_name or board.recorder.user_id)),
        ])  # fmt: skip
        items = "".join(_item_line(record, i, lang, tz, now) for i in board.items)
        items_html = (
            f'<ul class="items">{items}</ul>' if items else f'<p class="meta">{escape(t("board.no_items", lang))}</p>'
        )
        return (
            f'<article class="record" data-ref="{record.ref}"><h3><a href="{escape(link)}">{record.ref} '
            f'{escape(record.topic)}</a></h3><p class="meta">{escape(meta)}</p>{items_html}</article>'
        )

    # ------------------------------------------------------------ one record

    async def record(self, request: web.Request, *, toast: str | None = None) -> web.Response:
        try:
            return await in_db(self.services.engine, self._record, request, toast)
        except LinkRefused as refused:
            return refused_page(refused, lang=_asked_lang(request), links=self.links)
        except DomainError as error:
            return message_page(title=t("error.title", "zh-CN"), text=error.message("zh-CN"), lang="zh-CN", status=404)

    def _record(self, request: web.Request, toast: str | None) -> web.Response:
        with Session(self.services.engine) as session:
            access = self._access(session, request)
            group, lang, tz = access.group, _lang(request, access), zone(access.group.timezone)
            record = record_in_group(session, group, int(request.match_info["record_id"]))
            view = record_view(session, record)
            summary = record_summary(view, lang=lang, zone=tz)
            summary = read_only(summary)
            names = mention_names(session, group.platform, [summary])
            history = record_history(session, record)
            actions = [b for b in summary_buttons(record, lang=lang) if b.action in FORM_OPENERS]
        csrf = page_token(self.links, kind=LinkKind.BOARD, target=group.id or 0, person_id=access.person.id or 0)
        buttons = "".join(
            f'<form method="post" action="{escape(request.rel_url.path)}"><input type="hidden" name="csrf" '
            f'value="{escape(csrf.token)}"><button type="submit" name="action" value="{escape(b.action)}">'
            f"{escape(b.label)}</button></form>"
            for b in actions
        )
        lines = "".join(
            f"<li><time>{escape(format_local(h.entry.at, tz))}</time>"
            f"{escape(h.actor.display_name or h.actor.user_id if h.actor else t('history.by_bot', lang))} "
            f"{escape(t(f'history.{h.entry.action.value}', lang))}"
            f"{escape(f' {record.ref}-{h.item_seq}') if h.item_seq else ''}"
            f"{escape('：' + h.progress.text) if h.progress else ''}</li>"
            for h in history
        )
        notice = f'<p class="toast" role="status">{escape(toast)}</p>' if toast else ""
        body = (
            f'<p><a href="{escape(_path(request, ""))}">← {escape(t("board.back", lang))}</a></p>{notice}'
            f"{render_card_html(summary, names=PlainNames(names), id_prefix='r')}"
            + (
                f'<h2>{escape(t("board.actions", lang))}</h2><div class="board-actions">{buttons}</div>'
                if buttons
                else ""
            )
            + f'<h2>{escape(t("board.history", lang))}</h2><ol class="history">{lines}</ol>'
        )
        return html_response(
            page(title=f"{record.ref} {record.topic}", body=body, lang=lang, switch_to=_switch(request, lang))
        )

    async def act(self, request: web.Request) -> web.Response:
        """A record's action: the form it opens, published for the viewer; the page goes there."""
        try:
            access, record = await in_db(self.services.engine, self._target, request)
        except LinkRefused as refused:
            return refused_page(refused, lang=_asked_lang(request), links=self.links)
        except DomainError as error:
            return message_page(title=t("error.title", "zh-CN"), text=error.message("zh-CN"), lang="zh-CN", status=404)
        lang = _lang(request, access)
        data = await request.post()
        action = str(data.get("action", ""))
        try:
            nonce = check_page_token(self.links, str(data.get("csrf", "")), kind=LinkKind.BOARD,
                                     target=access.group.id or 0, person_id=access.person.id or 0)  # fmt: skip
        except LinkRefused:
            nonce = ""
        if not nonce or not same_origin(request, self.links) or action not in FORM_OPENERS:
            return message_page(title=t("web.refused.title", lang), text=t("web.refused.invalid", lang), lang=lang,
                                status=403)  # fmt: skip
        group, person = access.group, access.person
        event = ActionEvent(
            event_id=f"board:{group.id}:{person.id}:{nonce}:{action}",
            chat=Chat(platform=group.platform, chat_id=group.chat_id, workspace=group.workspace, name=group.name or None),
            sender=Sender(user_id=person.user_id, display_name=person.display_name or None),
            source=Source.WEB, action=action,
            payload=payload_of(record),
        )  # fmt: skip
        result = await self.services.dispatcher.feed(event)
        url = result.outcome.extra.get(PUBLISHED_URL)
        if url:
            raise web.HTTPSeeOther(url)
        return await self.record(request, toast=result.outcome.toast or t("board.no_form", lang))

    def _target(self, request: web.Request) -> tuple[BoardAccess, Record]:
        with Session(self.services.engine) as session:
            access = self._access(session, request)
            return access, record_in_group(session, access.group, int(request.match_info["record_id"]))


# ---------------------------------------------------------------- pieces


def _item_line(record: Record, view: ItemView, lang: str, tz: ZoneInfo, now: datetime) -> str:
    item = view.item
    due_class = ""
    if item.status is ItemStatus.OPEN:
        due_class = " overdue" if item.due_at < now else " soon" if item.due_at - now <= SOON else ""
    flag = {" overdue": t("board.overdue", lang), " soon": t("board.due_soon", lang)}.get(due_class, "")
    due = f'<span class="due{due_class}">{escape(due_text(item.due_at, tz))}{escape(" " + flag) if flag else ""}</span>'
    state = "" if item.status is ItemStatus.OPEN else f" · {escape(status_text(item.status, lang))}"
    progress = ""
    if view.last_progress is not None:
        text = view.last_progress.text + (
            f" {view.last_progress.percent}%" if view.last_progress.percent is not None else ""
        )
        progress = f'<div class="progress">{escape(t("board.last_progress", lang, text=text))}</div>'
    owner = view.owner.display_name or view.owner.user_id
    return (
        f'<li class="item{"" if item.status is ItemStatus.OPEN else " done"}">{record.ref}-{item.seq} '
        f'{escape(item.description)} · <span class="person">{escape(owner)}</span> · {due}{state}{progress}</li>'
    )


def _filters_form(request: web.Request, filters: Filters, departments: list[Department], months: list[str],
                  lang: str) -> str:  # fmt: skip
    def select(name: str, label: str, options: list[tuple[str, str]], chosen: str) -> str:
        rendered = "".join(
            f'<option value="{escape(v)}"{" selected" if v == chosen else ""}>{escape(text)}</option>'
            for v, text in [("", t("board.filter.all", lang)), *options]
        )
        return f'<label>{escape(label)}<select name="{name}">{rendered}</select></label>'

    lang_field = f'<input type="hidden" name="lang" value="{escape(lang)}">' if request.query.get("lang") else ""
    month = f"{filters.month[0]:04d}-{filters.month[1]:02d}" if filters.month else ""
    return (
        f'<form class="filters" method="get" action="{escape(request.rel_url.path)}">{lang_field}'
        f'<label class="check"><input type="checkbox" name="mine" value="1"{" checked" if filters.mine else ""}>'
        f'{escape(t("board.filter.mine", lang))}</label>'
        + select("dept", t("board.filter.department", lang), [(str(d.id), d.name) for d in departments],
                 str(filters.department or ""))
        + select("category", t("board.filter.category", lang),
                 [(c.value, str(category_text(c.value, lang))) for c in Category], filters.category.value if filters.category else "")
        + select("month", t("board.filter.month", lang), [(m, m) for m in months], month)
        + f'<button type="submit">{escape(t("board.filter.apply", lang))}</button></form>'
    )  # fmt: skip


def _months(session: Session, group_id: int, tz: ZoneInfo) -> list[str]:
    created = session.exec(select(Record.created_at).where(Record.group_id == group_id))
    return sorted({to_local(at, tz).strftime("%Y-%m") for at in created}, reverse=True)


def _asked_lang(request: web.Request) -> str:
    return normalize_language(request.query.get("lang"))


def _lang(request: web.Request, access: BoardAccess) -> str:
    asked = request.query.get("lang")
    return normalize_language(asked) if asked in LANGUAGES else normalize_language(access.group.language)


def _switch(request: web.Request, lang: str) -> str:
    query = {k: v for k, v in request.query.items() if k != "lang"}
    query["lang"] = "en" if lang != "en" else "zh-CN"
    return f"{request.rel_url.path}?{urlencode(query)}"


def _path(request: web.Request, suffix: str) -> str:
    """A link within this board (same token), keeping the language asked for."""
    base = f"/board/{request.match_info['token']}{suffix}"
    asked = request.query.get("lang")
    return base + (f"?lang={asked}" if asked in LANGUAGES else "")
