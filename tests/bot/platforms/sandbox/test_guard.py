"""The sandbox lets anyone speak as anyone, so it keeps to itself: its host, its own pages, its own groups."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from scheduler.jobs import run_jobs
from storage.models import OutboxMessage
from storage.timekeeping import ManualClock
from tests.scheduler.conftest import build

from .conftest import SandboxChat


def queued(engine: sa.Engine, platform: str) -> int:
    with Session(engine) as session:
        return len(session.exec(select(OutboxMessage).where(OutboxMessage.platform == platform)).all())


async def test_the_clock_moves_the_sandboxs_groups_only(chat: SandboxChat, clock: ManualClock) -> None:
    """A real platform's group in the same database gets nothing from the sandbox's clock."""
    created = datetime.fromisoformat("2026-11-23T10:00+08:00")
    build(chat.engine, created=created, dues=[("复核盘点", datetime.fromisoformat("2026-11-26T18:00+08:00"))],
          platform="feishu", chat="oc_real")  # fmt: skip
    answer = await chat.client.post("/sandbox/api/clock", json={"group": chat.group, "at": "2026-11-24T17:30+08:00"})
    assert answer.status == 200 and queued(chat.engine, "feishu") == 0
    run_jobs(chat.engine, as_of=datetime.fromisoformat("2026-11-24T17:30+08:00"))  # the real scheduler would
    assert queued(chat.engine, "feishu") == 1


async def test_only_its_own_host_its_own_pages_and_security_headers(chat: SandboxChat) -> None:
    page = await chat.client.get("/?group=demo&as=lina")
    assert page.status == 200
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"
    rebound = await chat.client.get("/?group=demo", headers={"Host": "evil.example"})
    assert rebound.status == 421, "a page reached through DNS rebinding is refused"
    api = await chat.client.post("/sandbox/api/messages", headers={"Host": "evil.example:8080"},
                                 json={"group": "g", "user": "lina", "text": "/record list"})  # fmt: skip
    assert api.status == 421 and queued(chat.engine, "sandbox") == 0
    foreign = await chat.client.post("/sandbox/say", data={"group": "g", "as": "lina", "text": "/help", "csrf": "x"},
                                     headers={"Origin": "https://evil.example"}, allow_redirects=False)  # fmt: skip
    stale = await chat.client.post("/sandbox/say", data={"group": "g", "as": "lina", "text": "/help", "csrf": "x"},
                                   allow_redirects=False)  # fmt: skip
    assert (foreign.status, stale.status) == (403, 403) and queued(chat.engine, "sandbox") == 0
