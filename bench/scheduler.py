"""How long one scheduler tick takes over N groups × 10 open items, on SQLite and PostgreSQL.

    .venv/bin/python bench/scheduler.py                      # 1,000 and 10,000 groups, both backends
    .venv/bin/python bench/scheduler.py --groups 100000 --backends postgresql   # 10× today: 1,000,000 items

For each size it builds the data with bulk inserts, then — in a fresh process, so
that its peak RSS is the scheduler's — times ticks as of different instants of a
workday in Asia/Shanghai:

- ``quiet``  15:00 — nothing new is due (the day's deadline warnings, still within their grace, went out in
  the ticks before): the cost every minute of the day;
- ``burst``  17:30 — every group's end-of-day prompt is due at once: one tick queues up to
  ``MAX_PER_TICK`` (2,000) of them, 10 items each; ``slowest tick`` is the longest of the ticks that follow;
- ``drain``  the ticks (one a minute, 17:30, 17:31 …) until every group has its prompt, in total;
- ``again``  once all are queued: nothing is sent twice, the cost of every later tick.

Figures are reported as ratios against a baseline measured in the same run: one
plain ``SELECT`` of every open item with its group (the least a tick that read
everything would cost). ``py MB`` is Python's peak (tracemalloc) during a burst
tick, measured in a separate pass so tracing does not slow the timed one; ``RSS
MB`` is the timing process's peak resident memory.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from tempfile import TemporaryDirectory

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scratch import postgres_database
from scheduler.jobs import MAX_PER_TICK, run_jobs
from storage.db import make_engine
from storage.migrate import upgrade

ITEMS_PER_GROUP = 10
CREATED = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)
QUIET = datetime.fromisoformat("2026-11-24T15:00+08:00")
BURST = datetime.fromisoformat("2026-11-24T17:30+08:00")
AGAIN = datetime.fromisoformat("2026-11-24T18:30+08:00")


def populate(engine: sa.Engine, groups: int, chunk: int = 10_000) -> None:
    """N groups, one person each as recorder and owner, one active record, 10 open items due over the next 60 days.

    Inserted ``chunk`` groups at a time, so building 100,000 groups does not itself need gigabytes.
    """
    meta = sa.MetaData()
    meta.reflect(engine, only=["groups", "people", "records", "action_items"])
    g, p, r, a = (meta.tables[name] for name in ("groups", "people", "records", "action_items"))
    for first in range(1, groups + 1, chunk):
        ids = range(first, min(groups, first + chunk - 1) + 1)
        with engine.begin() as connection:
            connection.execute(g.insert(), [
                {"id": i, "platform": "sandbox", "chat_id": f"chat-{i}", "workspace": "bench", "name": f"群{i}",
                 "timezone": "Asia/Shanghai", "holiday_country": "CN", "language": "zh-CN", "prompt_time": BURST.time(),
                 "warning_time": time_of_day(10, 0), "warning_days": 2, "meeting_reminder_minutes": 60,
                 "created_at": CREATED} for i in ids])  # fmt: skip
            connection.execute(p.insert(), [
                {"id": i, "platform": "sandbox", "user_id": f"u{i}", "display_name": f"成员{i}", "is_admin": False}
                for i in ids])  # fmt: skip
            connection.execute(r.insert(), [
                {"id": i, "group_id": i, "version": 1, "status": "in_progress", "topic": f"问题{i}", "recorder_id": i,
                 "problem": "延迟", "created_at": CREATED, "updated_at": CREATED} for i in ids])  # fmt: skip
            connection.execute(a.insert(), [
                {"record_id": i, "seq": s, "description": f"任务{s}", "owner_id": i, "term": "short", "status": "open",
                 "due_at": BURST + timedelta(days=1 + (i * 7 + s * 5) % 60, hours=1), "created_at": CREATED,
                 "updated_at": CREATED}
                for i in ids for s in range(1, ITEMS_PER_GROUP + 1)
            ])  # fmt: skip
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            for table in ("groups", "people", "records"):
                connection.execute(sa.text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))
            connection.execute(sa.text("ANALYZE"))


def baseline(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        connection.execute(sa.text(
            "SELECT i.id, i.due_at, i.owner_id, r.group_id FROM action_items i JOIN records r ON r.id = i.record_id "
            "WHERE i.status = 'open' AND r.status IN ('in_progress', 'delayed')")).fetchall()  # fmt: skip


def timed(work: Callable[[], object], repeat: int = 1) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(engine: sa.Engine, groups: int) -> dict[str, float]:
    """Build the data here, time the ticks in a fresh process: its peak RSS is the scheduler's, not the loader's."""
    upgrade(engine)
    populate(engine, groups)
    url = engine.url.render_as_string(hide_password=False)
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(1) as pool:  # the baseline holds every open item in memory: not in the ticks' process
        base = pool.apply(baseline_of, (url,))
    with spawn.Pool(1) as pool:
        return {"baseline": base, **pool.apply(ticks_of, (url, groups))}


def baseline_of(url: str) -> float:
    engine = make_engine(url)
    took = timed(lambda: baseline(engine), repeat=5)
    engine.dispose()
    return took


def ticks_of(url: str, groups: int) -> dict[str, float]:
    engine = make_engine(url)
    settle, settled = 0, False
    while not settled:  # 15:00: the day's deadline warnings (within their grace) go out first, MAX_PER_TICK a tick
        settled = not any(run_jobs(engine, as_of=QUIET).values())
        settle += 1
    quiet = timed(lambda: run_jobs(engine, as_of=QUIET), repeat=3)
    burst_counts: dict[str, int] = {}
    burst = timed(lambda: burst_counts.update(run_jobs(engine, as_of=BURST)))
    assert burst_counts["daily_prompt"] == min(groups, MAX_PER_TICK), burst_counts
    drain, ticks, queued, slowest = burst, 1, burst_counts["daily_prompt"], burst
    while queued < groups:
        counts: dict[str, int] = {}
        took = timed(lambda: counts.update(run_jobs(engine, as_of=BURST + timedelta(minutes=ticks))))  # noqa: B023
        drain, slowest = drain + took, max(slowest, took)
        queued, ticks = queued + counts["daily_prompt"], ticks + 1
    again = timed(lambda: run_jobs(engine, as_of=AGAIN), repeat=3)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    with engine.begin() as connection:  # forget the burst, then measure its memory
        connection.execute(sa.text("DELETE FROM outbox"))
    tracemalloc.start()
    run_jobs(engine, as_of=BURST)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    engine.dispose()
    return {"quiet": quiet, "settle": settle, "burst": burst, "slowest": slowest, "drain": drain,
            "ticks": ticks, "again": again, "peak_mb": peak / 2**20, "rss_mb": rss}  # fmt: skip


def sqlite_engine(directory: str, groups: int) -> sa.Engine:
    return make_engine(f"sqlite:///{directory}/bench-{groups}.db")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    print(f"{'backend':10} {'groups':>7} {'items':>8} {'baseline':>9} {'quiet':>15} {'burst':>15} "
          f"{'slowest tick':>13} {'drain (ticks)':>22} {'again':>15} {'py MB':>6} {'RSS MB':>7}")  # fmt: skip
    results: dict[tuple[str, int], dict[str, float]] = {}
    for backend in args.backends:
        for groups in args.groups:
            if backend == "sqlite":
                with TemporaryDirectory() as directory:
                    engine = sqlite_engine(directory, groups)
                    results[(backend, groups)] = figures = measure(engine, groups)
                    engine.dispose()
            else:
                with postgres_database(f"closeloop_bench_{os.getpid()}_{groups}") as url:
                    engine = make_engine(url)
                    try:
                        results[(backend, groups)] = figures = measure(engine, groups)
                    finally:
                        engine.dispose()
            b = figures["baseline"]
            print(f"{backend:10} {groups:>7} {groups * ITEMS_PER_GROUP:>8} {b * 1000:>7.1f}ms "
                  f"{figures['quiet']:>6.3f}s ({figures['quiet'] / b:>5.2f}x) {figures['burst']:>6.3f}s ({figures['burst'] / b:>5.2f}x) "
                  f"{figures['slowest']:>12.3f}s "
                  f"{figures['drain']:>6.1f}s ({figures['drain'] / b:>5.1f}x, {figures['ticks']:>3.0f}) "
                  f"{figures['again']:>6.3f}s ({figures['again'] / b:>5.2f}x) {figures['peak_mb']:>6.1f} {figures['rss_mb']:>7.0f}",
                  flush=True)  # fmt: skip
        sizes = sorted(g for (name, g) in results if name == backend)
        if len(sizes) >= 2:
            small, large = results[(backend, sizes[0])], results[(backend, sizes[-1])]
            factor = sizes[-1] / sizes[0]
            growth = ", ".join(
                f"{k} ×{large[k] / small[k]:.1f}" for k in ("baseline", "quiet", "burst", "drain", "again", "rss_mb")
            )
            print(f"{backend:10} growth {sizes[0]} → {sizes[-1]} groups (×{factor:g} data): {growth}")


if __name__ == "__main__":
    main()
