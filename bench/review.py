"""How long a month's review takes for one group and for a whole workspace of 10,000 groups × 100 records.

    .venv/bin/python bench/review.py                          # 10,000 groups × 100 records, both backends
    .venv/bin/python bench/review.py --groups 1000 --backends sqlite

The data (bulk inserts): one workspace, N groups in Asia/Shanghai, 100 records per group spread over the
twelve months to November 2026 (8 problem types, most closed), two action items per record (done on time,
done late, open, overdue or cancelled), a resource request on every fourth record, and audit rows for
reschedules (every tenth item) and the overdue ladder (every twentieth).

Timed, as of 2 December 2026, for the month of November 2026 (``storage.review.review``):

- ``group``     one group's month (median over 7 groups), the figures behind ``/report``;
- ``workspace`` every group's month at once, ``/report all``;
- ``chart``     drawing the review's PNG (``cards.chart``), the same for both.

Ratios are against baselines measured in the same run: a plain ``SELECT count(*)`` of the month's records
(of the group, and of the workspace).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from tempfile import TemporaryDirectory
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scratch import postgres_database
from cards.chart import review_chart
from storage.db import make_engine
from storage.migrate import upgrade
from storage.review import Month, Scope, review

RECORDS_PER_GROUP = 100
DEPARTMENTS = 20
CATEGORIES = ("resource_conflict", "process_bottleneck", "unclear_responsibility", "information_gap", "technical",
              "requirement_change", "quality", None)  # fmt: skip
FIRST = datetime(2025, 12, 1, 1, 0, tzinfo=UTC)
NOW = datetime.fromisoformat("2026-12-02T10:00+08:00")
MONTH = Month(2026, 11)
CHUNK = 20_000


def populate(engine: sa.Engine, groups: int) -> None:
    meta = sa.MetaData()
    meta.reflect(engine)
    t = meta.tables
    with engine.begin() as connection:
        connection.execute(t["groups"].insert(), [
            {"id": g, "platform": "sandbox", "chat_id": f"chat-{g}", "workspace": "bench", "name": f"群{g}",
             "timezone": "Asia/Shanghai", "holiday_country": "CN", "language": "zh-CN", "prompt_time": time_of_day(17, 30),
             "warning_time": time_of_day(10, 0), "warning_days": 2, "meeting_reminder_minutes": 60, "created_at": FIRST}
            for g in range(1, groups + 1)])  # fmt: skip
        connection.execute(t["departments"].insert(), [
            {"id": d, "workspace": "bench", "name": f"部门{d}"} for d in range(1, DEPARTMENTS + 1)])  # fmt: skip
        connection.execute(t["people"].insert(), [
            {"id": g, "platform": "sandbox", "user_id": f"u{g}", "display_name": f"成员{g}", "is_admin": False,
             "department_id": g % DEPARTMENTS + 1} for g in range(1, groups + 1)])  # fmt: skip
        records, items, requests, audit = [], [], [], []
        for g in range(1, groups + 1):
            for r in range(RECORDS_PER_GROUP):
                rid = (g - 1) * RECORDS_PER_GROUP + r + 1
                created = FIRST + timedelta(days=r * 365 // RECORDS_PER_GROUP, hours=(g * 7 + r) % 10)
                closed = created + timedelta(days=1 + (g * r) % 25) if (g + r) % 5 else None
                closed = closed if closed and closed < NOW else None
                records.append({
                    "id": rid, "group_id": g, "version": 1, "status": "closed" if closed else "in_progress",
                    "topic": f"问题{rid}", "category": CATEGORIES[(g + r) % len(CATEGORIES)], "recorder_id": g,
                    "problem": "延迟", "created_at": created, "updated_at": created, "closed_at": closed,
                    "verification": "已验证" if closed else None})  # fmt: skip
                for seq in (1, 2):
                    iid = rid * 2 + seq - 2
                    due = created + timedelta(days=5 + (rid * seq) % 20)
                    kind = (rid + seq) % 6
                    status = "done" if closed or kind < 3 else ("cancelled" if kind == 5 else "open")
                    done = due + timedelta(days=kind - 1) if status == "done" else None
                    items.append({
                        "id": iid, "record_id": rid, "seq": seq, "description": f"任务{seq}", "owner_id": g,
                        "department_id": g % DEPARTMENTS + 1, "due_at": due, "term": "short", "status": status,
                        "done_at": done, "created_at": created, "updated_at": created})  # fmt: skip
                    if iid % 10 == 0:
                        audit.append({"record_id": rid, "action_item_id": iid, "action": "item.rescheduled",
                                      "detail": {}, "at": due - timedelta(days=1)})  # fmt: skip
                    if iid % 20 == 1:
                        audit.append({"record_id": rid, "action_item_id": iid, "action": "record.escalated",
                                      "detail": {"level": 1 + iid % 2}, "at": due + timedelta(days=1)})  # fmt: skip
                if r % 4 == 0:
                    requests.append({"record_id": rid, "what": "扩容", "amount": 1000 + r, "unit": "元",
                                     "status": ("pending", "approved", "rejected")[rid % 3]})  # fmt: skip
        for table, rows in (("records", records), ("action_items", items), ("resource_requests", requests),
                            ("audit_trail", audit)):  # fmt: skip
            for start in range(0, len(rows), CHUNK):
                connection.execute(t[table].insert(), rows[start : start + CHUNK])
        connection.execute(sa.text("ANALYZE"))


def timed(work: Callable[[], object], repeat: int = 1) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(engine: sa.Engine, groups: int) -> dict[str, float]:
    upgrade(engine)
    started = time.perf_counter()
    populate(engine, groups)
    built = time.perf_counter() - started
    start, end = MONTH.bounds(ZoneInfo("Asia/Shanghai"))
    count = sa.text("SELECT count(*) FROM records WHERE created_at >= :s AND created_at < :e")
    count_group = sa.text("SELECT count(*) FROM records WHERE group_id = :g AND created_at >= :s AND created_at < :e")
    bind = {"s": start, "e": end} if engine.dialect.name == "postgresql" else {
        "s": start.replace(tzinfo=None), "e": end.replace(tzinfo=None)}  # fmt: skip
    sample = [1 + g * (groups // 7) for g in range(7)]
    with engine.connect() as connection:
        base_all = timed(lambda: connection.execute(count, bind).scalar_one(), repeat=5)
        base_group = statistics.median(
            timed(lambda g=g: connection.execute(count_group, {**bind, "g": g}).scalar_one(), repeat=3) for g in sample
        )
    with Session(engine) as session:
        one = statistics.median(
            timed(lambda g=g: review(session, scope=Scope("bench", g), month=MONTH, now=NOW)) for g in sample
        )
        figures = review(session, scope=Scope("bench"), month=MONTH, now=NOW)
        everything = timed(lambda: review(session, scope=Scope("bench"), month=MONTH, now=NOW), repeat=2)
    assert figures.records_opened > 0 and figures.items_due > 0 and figures.departments, figures
    review_chart(figures, lang="zh-CN")  # the first drawing loads matplotlib's font cache
    chart = timed(lambda: review_chart(figures, lang="zh-CN"), repeat=3)
    return {"built": built, "base_group": base_group, "group": one, "base_all": base_all, "workspace": everything,
            "chart": chart, "opened": figures.records_opened, "due": figures.items_due}  # fmt: skip


def sqlite_engine(directory: str, groups: int) -> sa.Engine:
    return make_engine(f"sqlite:///{directory}/bench-review-{groups}.db")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, nargs="+", default=[10000])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    print(f"{'backend':10} {'groups':>7} {'records':>9} {'month':>7} {'group base':>10} {'group review':>20} "
          f"{'ws base':>8} {'workspace review':>20} {'chart':>7} {'build':>7}")  # fmt: skip
    for backend in args.backends:
        for groups in args.groups:
            if backend == "sqlite":
                with TemporaryDirectory() as directory:
                    engine = sqlite_engine(directory, groups)
                    f = measure(engine, groups)
                    engine.dispose()
            else:
                with postgres_database(f"closeloop_bench_review_{os.getpid()}_{groups}") as url:
                    engine = make_engine(url)
                    try:
                        f = measure(engine, groups)
                    finally:
                        engine.dispose()
            print(f"{backend:10} {groups:>7} {groups * RECORDS_PER_GROUP:>9} {f['opened']:>7.0f} "
                  f"{f['base_group'] * 1000:>8.2f}ms {f['group'] * 1000:>9.1f}ms ({f['group'] / f['base_group']:>6.0f}x) "
                  f"{f['base_all'] * 1000:>6.0f}ms {f['workspace']:>9.2f}s ({f['workspace'] / f['base_all']:>6.0f}x) "
                  f"{f['chart']:>6.2f}s {f['built']:>6.0f}s", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
