"""kill -9 of a replica mid-send, on PostgreSQL: its message goes again after the short lease, and only that one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from bot.outbox import OutboxSender
from storage.models import OutboxMessage
from storage.timekeeping import ManualClock
from storage.types import OutboxStatus

from .test_outbox_pace import CountingPlatform, queue

ROOT = Path(__file__).resolve().parents[2]
REPLICA = """
import asyncio, sys
from datetime import datetime
from bot.outbox import Delivered, OutboxSender, RateLimit
from storage.db import make_engine
from storage.timekeeping import ManualClock

class Platform:
    name = "fake"
    rate_limit = RateLimit(per_target=5, per_app=50)

    async def deliver(self, message):
        if message.key == "k2":
            print("sending k2", flush=True)
            await asyncio.Event().wait()  # the platform never answers: the process is killed here
        return Delivered(message.key)

sender = OutboxSender(make_engine(sys.argv[1]), {"fake": Platform()}, ManualClock(datetime.fromisoformat(sys.argv[2])),
                      concurrency=1)
asyncio.run(sender.run_once())
"""


def kill_a_replica_while_it_sends_k2(database: str, clock: ManualClock) -> None:
    """Another process sends the queue as of ``clock``; kill -9 it once it is inside the call for k2."""
    replica = subprocess.Popen(
        [sys.executable, "-c", REPLICA, database, clock.now().isoformat()], cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert replica.stdout is not None
        line = replica.stdout.readline()  # blocks until the replica is inside the call for k2
        assert line.strip() == "sending k2", replica.stderr.read() if replica.stderr else line
    finally:
        os.kill(replica.pid, signal.SIGKILL)
        replica.wait(timeout=10)


@pytest.mark.postgres
async def test_a_replica_killed_mid_send_loses_nothing_and_sends_nothing_twice(
    postgres_engine: sa.Engine, postgres_database: str, clock: ManualClock
) -> None:
    from tests.conftest import _truncate_all

    _truncate_all(postgres_engine)
    queue(postgres_engine, clock, [("C0", "k0"), ("C1", "k1"), ("C2", "k2"), ("C3", "k3")])
    kill_a_replica_while_it_sends_k2(postgres_database, clock)
    platform = CountingPlatform(clock)
    survivor = OutboxSender(postgres_engine, {"fake": platform}, clock)
    await survivor.run_once()
    assert "k2" not in platform.sent_keys(), "still leased to the replica that died"
    clock.advance(timedelta(seconds=11))  # the lease (10 s) has lapsed: seconds, not a minute
    await survivor.run_once()
    with Session(postgres_engine) as session:
        rows = {row.idempotency_key: row.status for row in session.exec(select(OutboxMessage))}
    assert rows == dict.fromkeys(["k0", "k1", "k2", "k3"], OutboxStatus.SENT)
    assert "k2" in platform.sent_keys() and "k0" not in platform.sent_keys() and "k1" not in platform.sent_keys()
