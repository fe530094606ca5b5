"""Feishu inbound: encrypted, signed command events against the real bot vs a bare aiohttp handler.

    .venv/bin/python bench/inbound.py                 # 200 requests/s for 10 s, then flat out
    .venv/bin/python bench/inbound.py --rate 200 --seconds 5
    .venv/bin/python bench/inbound.py --database postgresql   # the local server, a database of its own

Both servers run in their own process on 127.0.0.1, on the event loop
``closeloop serve`` runs (uvloop where installed; the bot: ``create_app`` with
Feishu configured, SQLite in a temporary directory or a new PostgreSQL database,
the scheduler off; the
baseline: an aiohttp handler that reads the body and answers 200), and the same
load generator, in this process, sends them the same kind of request: an
encrypted, signed ``im.message.receive_v1`` with ``@bot /record list``, each with
a new event id, from one of 5,000 people in one of 500 group chats (at random: the
first contact with a group or a person is part of the load, as in a new deployment). Reported, for each: the acknowledgement latency
(p50/p99) at a fixed rate, and the throughput when sent as fast as 16 concurrent
clients can, with the server's CPU time per request in that run (the throughput
of a server that needs little is bounded by the load generator sharing the
machine); the bot's figures also as ratios against the baseline's. The bot
acknowledges once the event is in its durable inbox and handles it after, so
the report also says how soon after the fixed-rate run every command had been
handled (its ``processed_events``): acknowledging fast is only worth it if the
work keeps up.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import multiprocessing
import os
import random
import socket
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import aiohttp
import sqlalchemy as sa
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scratch import postgres_database

ENCRYPT_KEY, TOKEN = "bench-encrypt-key", "bench-token"
CHATS, PEOPLE = 500, 5000  # each request from a random person in a random group chat


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_bot(port: int, database_url: str) -> None:
    from aiohttp import web

    from bot.app import create_app, new_event_loop
    from bot.platforms.feishu.adapter import FeishuPlatform
    from bot.platforms.feishu.settings import FeishuSettings
    from bot.settings import load_settings
    from storage.db import make_engine
    from storage.migrate import upgrade

    settings = load_settings(_env_file=None, CLOSELOOP_DATABASE_URL=database_url, CLOSELOOP_SCHEDULER="0")
    feishu = FeishuPlatform(FeishuSettings(
        _env_file=None, FEISHU_APP_ID="cli_bench", FEISHU_APP_SECRET="s", FEISHU_VERIFICATION_TOKEN=TOKEN,
        FEISHU_ENCRYPT_KEY=ENCRYPT_KEY, FEISHU_API_BASE="http://127.0.0.1:9",
    ))  # fmt: skip
    feishu._bot_open_id = "ou_bot"  # there is no Feishu API to ask here
    engine = make_engine(settings.database_url)
    upgrade(engine)
    # the inbox worker runs, as in ``closeloop serve``
    app = create_app(settings, engine=engine, platforms=[feishu], run_sender=False)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, loop=new_event_loop(settings))


def serve_bare(port: int) -> None:
    from aiohttp import web

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({})

    from bot.app import new_event_loop
    from bot.settings import load_settings

    app = web.Application()
    app.router.add_post("/feishu/events", handler)
    loop = new_event_loop(load_settings(_env_file=None))  # the bot's loop: the comparison is of what runs on it
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, loop=loop)


def request_body() -> tuple[bytes, dict[str, str]]:
    chat, person = random.randrange(CHATS), random.randrange(PEOPLE)
    event = {"schema": "2.0", "header": {"event_id": uuid.uuid4().hex, "token": TOKEN, "event_type": "im.message.receive_v1",
                                         "tenant_key": "t", "app_id": "cli_bench", "create_time": "0"},
             "event": {"sender": {"sender_id": {"open_id": f"ou_{person}"}},
                       "message": {"message_id": "om_1", "chat_id": f"oc_{chat}", "chat_type": "group", "message_type": "text",
                                   "content": json.dumps({"text": "@_user_1 /record list"}),
                                   "mentions": [{"key": "@_user_1", "id": {"open_id": "ou_bot"}, "name": "bot"}]}}}  # fmt: skip
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(hashlib.sha256(ENCRYPT_KEY.encode()).digest()), modes.CBC(iv)).encryptor()
    plain = json.dumps(event).encode()
    encrypted = base64.b64encode(iv + encryptor.update(padder.update(plain) + padder.finalize()) + encryptor.finalize())
    raw = json.dumps({"encrypt": encrypted.decode()}).encode()
    stamp, nonce = str(int(time.time())), uuid.uuid4().hex
    signature = hashlib.sha256((stamp + nonce + ENCRYPT_KEY).encode() + raw).hexdigest()
    return raw, {"X-Lark-Request-Timestamp": stamp, "X-Lark-Request-Nonce": nonce, "X-Lark-Signature": signature,
                 "Content-Type": "application/json"}  # fmt: skip


async def wait_ready(session: aiohttp.ClientSession, url: str) -> None:
    for _ in range(200):
        try:
            async with session.post(url, data=b"{}") as response:
                await response.read()
                return
        except aiohttp.ClientError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


async def one(session: aiohttp.ClientSession, url: str) -> float:
    raw, headers = request_body()
    start = time.perf_counter()
    async with session.post(url, data=raw, headers=headers) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: HTTP {response.status}")
    return time.perf_counter() - start


async def at_rate(url: str, rate: int, seconds: float) -> list[float]:
    async with aiohttp.ClientSession() as session:
        await wait_ready(session, url)
        tasks, start = [], time.perf_counter()
        for n in range(int(rate * seconds)):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing the load generator, not a test
            tasks.append(asyncio.create_task(one(session, url)))
        return list(await asyncio.gather(*tasks))


async def flat_out(url: str, seconds: float, clients: int = 16) -> float:
    async with aiohttp.ClientSession() as session:
        await wait_ready(session, url)
        done, stop = 0, time.perf_counter() + seconds

        async def client() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                await one(session, url)
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return done / (time.perf_counter() - start)


def handled(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT count(*) FROM processed_events")).scalar_one()


def handled_after(engine: sa.Engine, expected: int, timeout: float = 60) -> float | None:
    """Seconds until the bot has handled ``expected`` commands (its processed_events), or None."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if handled(engine) >= expected:
            return time.perf_counter() - start
        time.sleep(0.05)  # polling the bot from outside; not a test
    return None


def drain_rate(engine: sa.Engine, seconds: float = 3) -> float:
    """Commands the bot handles per second with nothing else to do (the backlog the flood left)."""
    before = handled(engine)
    time.sleep(seconds)
    return (handled(engine) - before) / seconds


@contextmanager
def database(kind: str) -> Iterator[str]:
    """A new, empty database for the bot: an SQLite file in a temporary directory, or one on the PostgreSQL server."""
    if kind == "sqlite":
        with TemporaryDirectory() as directory:
            yield f"sqlite:///{directory}/bench.db"
        return
    with postgres_database(f"closeloop_bench_inbound_{os.getpid()}") as url:
        yield url


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a server process has used so far (Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    results: dict[str, dict[str, Any]] = {}
    with database(args.database) as database_url:
        from storage.db import make_engine

        engine = make_engine(database_url)  # to count what the bot handled, from outside
        for name, target, extra in (("bare aiohttp", serve_bare, ()), ("closeloop", serve_bot, (database_url,))):
            port = free_port()
            process = context.Process(target=target, args=(port, *extra), daemon=True)
            process.start()
            try:
                url = f"http://127.0.0.1:{port}/feishu/events"
                latencies = asyncio.run(at_rate(url, args.rate, args.seconds))
                lag = handled_after(engine, len(latencies)) if name == "closeloop" else 0.0
                cpu_before, started = cpu_seconds(process.pid), time.perf_counter()
                throughput = asyncio.run(flat_out(url, min(args.seconds, 5)))
                cpu = cpu_seconds(process.pid) - cpu_before
                per_request = cpu / (throughput * (time.perf_counter() - started)) * 1e6
                drained = drain_rate(engine) if name == "closeloop" else 0.0
            finally:
                process.terminate()
                process.join(5)
            results[name] = {"p50": percentile(latencies, 50) * 1000, "p99": percentile(latencies, 99) * 1000,
                             "throughput": throughput, "n": len(latencies), "lag": lag,
                             "drained": drained, "cpu": per_request}  # fmt: skip
        engine.dispose()
    bare = results["bare aiohttp"]
    print(f"database: {args.database}")
    print(f"{'server':14} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'max req/s':>10} {'CPU µs/req':>10}")
    for name, r in results.items():
        print(f"{name:14} {r['n']:>8} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['throughput']:>10.0f} {r['cpu']:>10.0f}")
    bot = results["closeloop"]
    print(f"closeloop / bare: throughput ×{bot['throughput'] / bare['throughput']:.2f}, "
          f"p50 ×{bot['p50'] / bare['p50']:.1f}, p99 ×{bot['p99'] / bare['p99']:.1f} at {args.rate} requests/s, "
          f"server CPU per request ×{bot['cpu'] / bare['cpu']:.1f}")  # fmt: skip
    lag = "not all within 60 s" if bot["lag"] is None else f"all within {bot['lag']:.2f} s of the last acknowledgement"
    print(f"closeloop handled the {bot['n']} commands sent at {args.rate} requests/s: {lag}; "
          f"after the flood it handled {bot['drained']:.0f} commands/s from the backlog")  # fmt: skip


if __name__ == "__main__":
    main()
