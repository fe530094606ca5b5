"""Helpers for the sandbox stories: what the bot said, its buttons, the clock, the database."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from storage.models import AuditEntry, Record
from storage.types import AuditAction

from .conftest import SandboxChat


def cards(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """Every card in an answer: posted to the chat, then the inline update, reply and form."""
    return [m["card"] for m in answer["posted"]] + [answer[k] for k in ("update", "reply", "form") if answer.get(k)]


def text_of(card: dict[str, Any]) -> str:
    parts = [card.get("header", {}).get("title", "")]
    for element in card["elements"]:
        parts.append(element.get("text", ""))
        parts.extend(
            f"{i['label']}:{i['value']}" for i in element.get("items", []) if isinstance(i, dict) and "label" in i
        )
    return "\n".join(parts)


def texts(answer: dict[str, Any]) -> str:
    return "\n".join([answer.get("toast") or "", *(text_of(card) for card in cards(answer))])


def posted_texts(answer: dict[str, Any]) -> str:
    """Only what went to the group (not the presser's inline answer)."""
    return "\n".join(text_of(m["card"]) for m in answer["posted"])


def buttons(card: dict[str, Any]) -> list[dict[str, Any]]:
    found = [b for e in card["elements"] if e["kind"] == "actions" for b in e["buttons"]]
    found += [e["submit"] for e in card["elements"] if e["kind"] == "form"]
    return found


def button(card: dict[str, Any], action: str, **payload: Any) -> dict[str, Any]:
    """The button with ``action`` whose payload has ``payload``'s entries (``item_id=3``, ``extra={...}``)."""
    for candidate in buttons(card):
        if candidate.get("action") == action and all(candidate["payload"].get(k) == v for k, v in payload.items()):
            return candidate
    raise AssertionError(f"no {action} button {payload} in {[b.get('action') for b in buttons(card)]}")


def the_form(answer: dict[str, Any]) -> dict[str, Any]:
    """The form card an answer opened (inline, or posted as the sandbox does)."""
    found = [c for c in cards(answer) if any(e["kind"] == "form" for e in c["elements"])]
    assert found, texts(answer)
    return found[-1]


def submit_of(card: dict[str, Any]) -> dict[str, Any]:
    return next(e for e in card["elements"] if e["kind"] == "form")["submit"]


async def press(chat: SandboxChat, user: str, control: dict[str, Any], form: dict[str, Any] | None = None) -> dict:
    return await chat.act(user, control["action"], control["payload"], form)


async def jump(chat: SandboxChat, at: str) -> dict[str, Any]:
    """Run every scheduler job as of ``at`` (the sandbox clock control); what arrived."""
    response = await chat.client.post("/sandbox/api/clock", json={"group": chat.group, "at": at})
    assert response.status == 200, await response.text()
    return await response.json()


def titles(answer: dict[str, Any]) -> list[str]:
    return [m["card"]["header"]["title"] for m in answer["posted"]]


def record(chat: SandboxChat, record_id: int = 1) -> Record:
    with Session(chat.engine) as session:
        return session.get(Record, record_id)


def audit(chat: SandboxChat, action: AuditAction) -> list[AuditEntry]:
    with Session(chat.engine) as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def field_errors(card: dict[str, Any], kind: str = "error") -> dict[str, str]:
    """The errors (or ``kind="warning"``) a form card shows, by input name (``items.0.measure`` for rows)."""
    found: dict[str, str] = {}
    for element in card["elements"]:
        if element["kind"] != "form":
            continue
        for section in element["sections"]:
            for item in section["inputs"]:
                if item.get(kind):
                    found[item["name"]] = item[kind]
                for key, value in (item.get(f"row_{kind}s") or {}).items():
                    found[f"{item['name']}.{key}"] = value
    return found
