"""The sandbox chat page: server-rendered, JavaScript only to add form rows; cards through the shared HTML renderer."""

from __future__ import annotations

from html import escape
from typing import Any

from bot.platforms.sandbox.personas import BY_ID, PERSONAS
from bot.web import SCRIPT
from cards.html import page_css, render_card_html
from cards.model import Card

PEOPLE = tuple((p.user_id, f"{p.name}（{p.department}）") for p in PERSONAS)
NAMES = {p.user_id: p.name for p in PERSONAS}

STYLE = """
body { font: 15px/1.5 system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 0; background: #f3f4f6; }
header { background: #1f2937; color: #fff; padding: .6rem 1rem; display: flex; gap: 1rem; align-items: center; }
header a { color: #cbd5e1; margin-right: .5rem; } header a.me { color: #fff; font-weight: bold; }
main { max-width: 860px; margin: 0 auto; padding: 1rem; }
.said { text-align: right; margin: .5rem 0; } .said span { background: #dbeafe; padding: .3rem .6rem; border-radius: 6px; }
.bot { margin: .75rem 0; } .flash { border: 2px solid #2563eb; border-radius: 8px; padding: .5rem; background: #eff6ff; }
.toast { font-weight: bold; color: #1d4ed8; }
form.say { position: sticky; bottom: 0; background: #f3f4f6; padding: .5rem 0; display: flex; gap: .5rem; }
form.say input[type=text] { flex: 1; padding: .5rem; font-size: 1rem; }
"""


def _card(card_json: dict[str, Any], names: dict[str, str], hidden: dict[str, str]) -> str:
    """A card from the history (its JSON as stored); its forms post back with the page's group, persona and token."""
    card = Card.load(card_json)
    return render_card_html(card, names={**NAMES, **names}, people=PEOPLE, action_url="/sandbox/act", hidden=hidden,
                            file_url="/sandbox/files/{file_id}")  # fmt: skip


def render(
    *, group: str, user: str, history: list[dict[str, Any]], said: list[Any], flash: dict[str, Any] | None,
    csrf: str,
) -> str:  # fmt: skip
    hidden = {"group": group, "as": user, "csrf": csrf}
    fields = "".join(f'<input type="hidden" name="{k}" value="{escape(v)}">' for k, v in hidden.items())
    people = " ".join(
        f'<a class="{"me" if p.user_id == user else ""}" href="/?group={escape(group)}&as={p.user_id}">'
        f"{escape(p.name)}·{escape(p.department)}</a>"
        for p in PERSONAS
    )
    parts = [f'<div class="bot">{_card(m["card"], m["names"], hidden)}</div>' for m in history]
    typed = "".join(
        f'<div class="said"><span>{escape(BY_ID[s.user].name if s.user in BY_ID else s.user)}：{escape(s.text)}</span></div>'
        for s in said[-20:]
    )
    flash_html = ""
    if flash:
        inline = [flash[k] for k in ("update", "form", "reply") if flash.get(k)]
        toast = f'<p class="toast">{escape(flash["toast"])}</p>' if flash.get("toast") else ""
        if inline or toast:
            cards = "".join(_card(c, flash.get("names", {}), hidden) for c in inline)
            flash_html = f'<section class="flash">{toast}{cards}</section>'
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>Closeloop sandbox · {escape(group)}</title>
<style>{page_css()}{STYLE}</style><script src="{SCRIPT.url}" defer></script></head>
<body><header><strong>Closeloop 沙盒</strong><span>群：{escape(group)}</span><span>我是：{people}</span></header>
<main>
<details><summary>最近输入</summary>{typed}</details>
{"".join(parts)}
{flash_html}
<form method="post" action="/sandbox/clock" class="clock">
{fields}
⏩ 模拟时间 / simulate time: <input type="text" name="at" placeholder="2026-11-27T17:30+08:00" size="26">
<button>运行提醒 / run reminders</button></form>
<form class="say" method="post" action="/sandbox/say">
{fields}
<input type="text" name="text" placeholder="/record new 订单系统数据延迟 · 新建记录 … · /help" autofocus>
<button>发送</button></form>
</main></body></html>"""
