"""The sandbox chat page: server-rendered, JavaScript only to add form rows; cards through the shared HTML renderer."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any
from urllib.parse import quote

from bot.platforms.sandbox.personas import BY_ID, PERSONAS
from bot.web import SCRIPT
from cards.html import page_css, render_card_html
from cards.model import Card

PEOPLE = tuple((p.user_id, f"{p.name}（{p.department}）") for p in PERSONAS)
NAMES = {p.user_id: p.name for p in PERSONAS}

STYLE = """
body { font: 15px/1.5 system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 0; background: #f3f4f6; }
header { background: #1f2937; color: #fff; padding: .6rem 1rem; display: flex; flex-wrap: wrap; gap: .4rem 1rem;
  align-items: center; } header .people { display: flex; flex-wrap: wrap; gap: .2rem .5rem; }
header a { color: #cbd5e1; margin-right: .5rem; } header a.me { color: #fff; font-weight: bold; }
main { max-width: 860px; margin: 0 auto; padding: 1rem; }
.said { display: flex; flex-direction: column; align-items: flex-start; margin: .6rem 0; }
.said.mine { align-items: flex-end; } .said .who { font-size: .75rem; color: #6b7280; }
.said .bubble { background: #fff; border: 1px solid #d1d5db; padding: .35rem .7rem; border-radius: 12px; max-width: 80%;
  white-space: pre-wrap; word-break: break-word; } .said.mine .bubble { background: #dbeafe; border-color: #bfdbfe; }
.bot { margin: .75rem 0; } .bot .private { margin: 0; font-size: .75rem; color: #6b7280; }
.toast { font-weight: bold; color: #1d4ed8; background: #eff6ff; border: 1px solid #bfdbfe; border-radius: 8px;
  padding: .4rem .7rem; } .toast ul { margin: .2rem 0 .2rem 1.2rem; font-weight: normal; }
.toast .jobs { font-weight: normal; color: #4b5563; }
header form.group { display: inline-flex; gap: .3rem; align-items: center; } header form.group input { width: 9rem; }
form.clock { margin: 1rem 0; color: #374151; }
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
    csrf: str, groups: Sequence[str] = (),
) -> str:  # fmt: skip
    """The chat: the bot's messages (each in its latest state) and what people typed as bubbles, in order."""
    hidden = {"group": group, "as": user, "csrf": csrf}
    fields = "".join(f'<input type="hidden" name="{k}" value="{escape(v)}">' for k, v in hidden.items())
    people = " ".join(
        f'<a class="{"me" if p.user_id == user else ""}" href="/?group={quote(group)}&amp;as={p.user_id}">'
        f"{escape(p.name)}·{escape(p.department)}</a>"
        for p in PERSONAS
    )
    timeline: list[tuple[int, int, str]] = []  # (after message id, order, html): bubbles go after what preceded them
    for number, typed in enumerate(said[-50:]):
        mine = " mine" if typed.user == user else ""
        name = BY_ID[typed.user].name if typed.user in BY_ID else typed.user
        timeline.append((typed.after, number, f'<div class="said{mine}"><span class="who">{escape(name)}</span>'
                                              f'<span class="bubble">{escape(typed.text)}</span></div>'))  # fmt: skip
    for message in history:
        card = _card(message["card"], message["names"], {**hidden, "message": message["message"]})
        private = '<p class="private">仅你可见 · only you see this</p>' if message.get("visible_to") else ""
        timeline.append((message["id"] - 1, 1_000_000, f'<div class="bot">{private}{card}</div>'))
    timeline.sort(key=lambda entry: (entry[0], entry[1]))
    flash_html = ""
    if flash and flash.get("toast"):
        flash_html = f'<p class="toast" role="status">{escape(flash["toast"])}</p>'
    if flash and flash.get("update") and not flash.get("update_kept"):  # a card that is in no message: shown here
        flash_html += f'<div class="bot">{_card(flash["update"], flash.get("names", {}), hidden)}</div>'
    if flash and flash.get("clock"):
        clock = flash["clock"]
        posted = "".join(f"<li>{escape(title)}</li>" for title in clock["posted"]) or "<li>（无 / nothing）</li>"
        jobs = " · ".join(f"{escape(k)}: {v}" for k, v in clock["jobs"].items())
        flash_html = (f'<section class="toast" role="status"><p>{escape(clock["at"])}：本群收到 / this group got '
                      f'{len(clock["posted"])}</p><ul>{posted}</ul><p class="jobs">{jobs}</p></section>')  # fmt: skip
    options = "".join(f'<option value="{escape(name)}">' for name in groups)
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Closeloop sandbox · {escape(group)}</title>
<style>{page_css()}{STYLE}</style><script src="{SCRIPT.url}" defer></script></head>
<body><header><strong>Closeloop 沙盒</strong>
<form method="get" action="/" class="group"><input type="hidden" name="as" value="{escape(user)}">
<label for="group">群 / group</label> <input id="group" name="group" value="{escape(group)}" list="groups" size="14">
<datalist id="groups">{options}</datalist><button>进入 / open</button></form>
<span class="people">我是：{people}</span></header>
<main>
{"".join(entry[2] for entry in timeline)}
{flash_html}
<form method="post" action="/sandbox/clock" class="clock">
{fields}
<label for="at">模拟时间 / simulate time</label> <input type="text" id="at" name="at" placeholder="2026-11-27T17:30+08:00" size="26">
<button>运行提醒 / run reminders</button></form>
<form class="say" method="post" action="/sandbox/say">
{fields}
<input type="text" name="text" aria-label="消息 / message" placeholder="/record new 订单系统数据延迟 · 新建记录 … · /help" autofocus>
<button>发送</button></form>
</main></body></html>"""
