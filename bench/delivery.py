"""Delivering a backlog at the platform's own rate limit: how close to it, and with how many refusals.

    .venv/bin/python bench/delivery.py                                   # 100,000 prompts, limit 500/s, PostgreSQL
    .venv/bin/python bench/delivery.py --messages 10000 --limit 50       # Feishu's own 50/s (same 200 s)
    .venv/bin/python bench/delivery.py --replicas 2                      # two senders sharing the limit

A fake platform runs in its own process on 127.0.0.1: it counts every request in
sliding one-second windows, as platforms do, and answers HTTP 429 to what goes over
the limit (per app, and 5 per chat). The backlog — one prompt per group chat, as the
17:30 burst queues them — sits in the outbox on PostgreSQL, and ``OutboxSender.run``
(one per replica, each with its own engine) sends it over HTTP.

Reported: the rate the platform saw after its first second (the limit lets N go at
once, then N per second) as a ratio of the limit; the refusals it answered; and, as
the baseline measured in the same run, how many requests a second the same client
and fake manage with no limit at all (so the limit, not the machine, is what paces).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import time
from collections import defaultdict, deque
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import sqlalchemy as sa
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scratch import postgres_database
from bot.outbox import Delivered, DeliveryError, OutboxSender, OutgoingMessage, RateLimit
from storage.db import make_engine, unit_of_work
from storage.migrate import upgrade
from storage.outbox import QueuedCard, enqueue_many
from storage.timekeeping import SystemClock

CARD = {"header": {"title": "今日进展"}, "elements": [{"kind": "markdown", "text": "请 <@u1> 更新今天的进展。"}]}


# ---------------------------------------------------------------- the fake platform (its own process)


def serve_fake(port: int, limit: int, per_chat: int) -> None:
    app_window: deque[float] = deque()
    chats: dict[str, deque[float]] = defaultdict(deque)
    stats = {"received": 0, "refusals": 0, "first": 0.0, "last": 0.0, "free": 0}

    def over(window: deque[float], allowed: int, now: float) -> bool:
        while window and window[0] <= now - 1.0:
            window.popleft()
        return len(window) >= allowed

    async def send(request: web.Request) -> web.Response:
        body = await request.json()
        now = time.monotonic()
        if over(app_window, limit, now) or over(chats[body["chat"]], per_chat, now):
            stats["refusals"] += 1
            return web.json_response({"error": "ratelimited"}, status=429, headers={"Retry-After": "1"})
        app_window.append(now)
        chats[body["chat"]].append(now)
        if len(chats) > 200_000:
            chats.clear()
        stats["received"] += 1
        stats["first"] = stats["first"] or now
        stats["last"] = now
        return web.json_response({"id": f"m{stats['received']}"})

    async def free(request: web.Request) -> web.Response:
        await request.read()
        stats["free"] += 1
        return web.json_response({"id": "x"})

    async def report(request: web.Request) -> web.Response:
        return web.json_response(stats)

    app = web.Application()
    app.router.add_post("/send", send)
    app.router.add_post("/free", free)
    app.router.add_get("/stats", report)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


class HttpPlatform:
    """A deliverer like the real ones: one HTTP call per message, 429 → retry after the platform's word."""

    name = "bench"

    def __init__(self, base: str, limit: int, per_chat: int) -> None:
        self.base = base
        self.rate_limit = RateLimit(per_target=per_chat, per_app=limit)
        self.session: aiohttp.ClientSession | None = None

    async def deliver(self, message: OutgoingMessage) -> Delivered:
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        async with self.session.post(f"{self.base}/send", json={"chat": message.target, "key": message.key}) as answer:
            if answer.status == 429:
                raise DeliveryError("HTTP 429", retry_after=float(answer.headers.get("Retry-After", "1")))
            if answer.status != 200:
                raise DeliveryError(f"HTTP {answer.status}")
            return Delivered(str((await answer.json())["id"]))


async def stats_of(base: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/stats") as answer:
        return await answer.json()


async def wait_until_up(base: str) -> None:
    for _ in range(200):
        try:
            await stats_of(base)
            return
        except aiohttp.ClientError:
            await asyncio.sleep(0.05)
    raise RuntimeError("the fake platform did not start")


async def flat_out(base: str, seconds: float = 5.0, concurrency: int = 32) -> float:
    """The baseline: requests a second through the same client and fake with no limit and no database."""
    deadline = time.perf_counter() + seconds
    count = 0
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            nonlocal count
            while time.perf_counter() < deadline:
                async with session.post(f"{base}/free", json={"chat": "c", "key": "k"}) as answer:
                    await answer.read()
                count += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / seconds


# ---------------------------------------------------------------- the run


def queue_backlog(engine: sa.Engine, messages: int) -> None:
    now = datetime.now(UTC)
    with unit_of_work(engine) as session:
        for start in range(0, messages, 5000):
            batch = [QueuedCard("bench", f"oc_group_{n}", CARD, f"bench:oc_group_{n}:prompt:2026-11-24")
                     for n in range(start, min(messages, start + 5000))]  # fmt: skip
            enqueue_many(session, batch, now=now)


async def deliver_all(url: str, base: str, messages: int, limit: int, per_chat: int, replicas: int) -> float:
    engines = [make_engine(url) for _ in range(replicas)]
    platforms = [HttpPlatform(base, limit, per_chat) for _ in range(replicas)]
    senders = [OutboxSender(engine, {"bench": p}, SystemClock()) for engine, p in zip(engines, platforms, strict=True)]
    stop = asyncio.Event()
    started = time.perf_counter()
    workers = [asyncio.create_task(sender.run(stop)) for sender in senders]
    while (await stats_of(base))["received"] < messages:  # noqa: ASYNC110  (polling another process)
        await asyncio.sleep(0.5)
    elapsed = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*workers)
    for platform in platforms:
        if platform.session is not None:
            await platform.session.close()
    for engine in engines:
        engine.dispose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=500, help="the fake's app limit, messages per second")
    parser.add_argument("--per-chat", type=int, default=5)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--port", type=int, default=18_765)
    args = parser.parse_args()
    base = f"http://127.0.0.1:{args.port}"
    fake = multiprocessing.get_context("spawn").Process(
        target=serve_fake, args=(args.port, args.limit, args.per_chat), daemon=True
    )
    fake.start()
    try:
        with postgres_database(f"closeloop_bench_delivery_{os.getpid()}") as url:
            engine = make_engine(url)
            upgrade(engine)
            queue_backlog(engine, args.messages)
            with (
                engine.begin() as connection
            ):  # as autovacuum does soon after a burst: the claim's plan needs the counts
                connection.execute(sa.text("ANALYZE outbox"))
            engine.dispose()
            asyncio.run(wait_until_up(base))
            baseline = asyncio.run(flat_out(base))
            elapsed = asyncio.run(deliver_all(url, base, args.messages, args.limit, args.per_chat, args.replicas))
            stats = asyncio.run(stats_of(base))
    finally:
        fake.terminate()
    span = stats["last"] - stats["first"]
    rate = (stats["received"] - args.limit) / span
    print(f"messages {args.messages:,}  limit {args.limit}/s  replicas {args.replicas}  per chat {args.per_chat}/s")
    print(
        f"baseline: the client and fake with no limit: {baseline:,.0f} requests/s ({baseline / args.limit:.1f}× the limit)"
    )
    print(f"delivered {stats['received']:,.0f} in {elapsed:.1f} s; after the first second {rate:.1f}/s "
          f"= {rate / args.limit:.3f} of the limit; refusals {stats['refusals']:.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
