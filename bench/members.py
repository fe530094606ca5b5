"""What remembering a group's members costs the dispatcher: one statement per event, against the whole event.

    .venv/bin/python bench/members.py            # 1000 events, SQLite in a temporary directory
    .venv/bin/python bench/members.py --events 5000

The dispatcher notes every sender (and everyone mentioned) as a member of the group
(``storage.directory.note_members``), so that web forms can offer them on platforms that
do not list a chat's members. It writes a (group, person) pair once per process: later
events of the same person in the same group skip the statement. Measured in the same
run: ``Dispatcher.handle`` of a ``/record list`` command from the same person (the
baseline: a whole event, its transaction included, the pair already known), and the
statement alone inside an open transaction (what a person's first event in a group, or
the first after a restart, pays on top).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from handlers import root_router
from handlers.dispatcher import Dispatcher
from handlers.events import Chat, CommandEvent, Sender
from storage.db import make_engine, unit_of_work
from storage.directory import note_members
from storage.migrate import upgrade
from storage.timekeeping import ManualClock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with TemporaryDirectory() as directory:
        engine = make_engine(f"sqlite:///{directory}/bench.db")
        upgrade(engine)
        clock = ManualClock(datetime(2026, 11, 24, 9, tzinfo=ZoneInfo("Asia/Shanghai")))
        core = Dispatcher(engine=engine, clock=clock, router=root_router())
        chat = Chat("wecom", "wrkGroup", "aib-1")
        core.handle(CommandEvent(event_id="warm-up", chat=chat, sender=Sender("ZhangWei"), text="/record list"))
        handles, statements = [], []
        for round_ in range(args.rounds):
            start = time.perf_counter()
            for n in range(args.events):
                core.handle(CommandEvent(event_id=f"{round_}-{n}", chat=chat, sender=Sender("ZhangWei"),
                                         text="/record list"))  # fmt: skip
            handles.append((time.perf_counter() - start) / args.events)
            with unit_of_work(engine) as session:
                start = time.perf_counter()
                for _ in range(args.events):
                    note_members(session=session, group_id=1, person_ids=[1], now=clock.now())
                statements.append((time.perf_counter() - start) / args.events)
    handle, statement = statistics.median(handles), statistics.median(statements)
    print(f"dispatcher.handle (/record list)   {handle * 1e3:7.3f} ms per event")
    print(f"note_members, in the transaction  {statement * 1e3:7.3f} ms per event")
    print(f"note_members / handle: ×{statement / handle:.3f} (median of {args.rounds} rounds of {args.events})")


if __name__ == "__main__":
    main()
