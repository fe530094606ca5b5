"""``closeloop`` — the command line: serve, migrate, check-config."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from datetime import datetime

from bot.settings import ConfigError, Settings, load_settings

EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    overrides = {}
    if getattr(args, "host", None):
        overrides["CLOSELOOP_HOST"] = args.host
    if getattr(args, "port", None):
        overrides["CLOSELOOP_PORT"] = args.port
    try:
        settings = load_settings(**overrides)
        from bot.platforms import enabled_packages

        enabled = enabled_packages(settings)  # every platform's own settings checked, for every command
    except ConfigError as exc:
        print(f"closeloop: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    args.platforms = [package.name for package, _ in enabled]
    from bot import logs

    logs.configure(settings, [own for _, own in enabled])
    return int(args.run(settings, args) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="closeloop",
        description="Closeloop: cross-department problem records in your group chat (跨部门沟通记录闭环机器人).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="migrate the database, then run the bot's HTTP server")
    serve.add_argument("--host", help="listen address (default: CLOSELOOP_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: CLOSELOOP_PORT, 8080)")
    serve.set_defaults(run=run_serve)

    migrate = commands.add_parser("migrate", help="bring the database to the newest schema and exit")
    migrate.set_defaults(run=run_migrate)

    check = commands.add_parser("check-config", help="validate the settings, print a summary and exit")
    check.set_defaults(run=run_check_config)

    scheduler = commands.add_parser("scheduler", help="run only the reminder scheduler (no HTTP server)")
    scheduler.set_defaults(run=run_scheduler)

    jobs = commands.add_parser("jobs", help="list the scheduler's jobs, or run one now")
    jobs_commands = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    jobs_commands.add_parser("list", help="the jobs and when they fire").set_defaults(run=run_jobs_list)
    run = jobs_commands.add_parser("run", help="run a job once, as of now or of --now")
    run.add_argument("name", help="a job name from 'closeloop jobs list', or 'all'")
    run.add_argument("--now", type=_instant, help="reason as of this ISO-8601 instant, e.g. 2026-11-27T17:30+08:00")
    run.set_defaults(run=run_jobs_run)
    return parser


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 instant: {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("give the offset too, e.g. 2026-11-27T17:30+08:00")
    return value


def run_scheduler(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio

    from scheduler.runner import SchedulerRunner
    from storage.db import make_engine
    from storage.migrate import upgrade
    from storage.timekeeping import SystemClock

    engine = make_engine(settings.database_url)
    upgrade(engine)
    runner = SchedulerRunner(engine, SystemClock(), interval_seconds=settings.tick_seconds)

    async def forever() -> None:
        runner.start()
        print(f"closeloop: scheduler ticking every {settings.tick_seconds}s", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            runner.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(forever())
    return 0


def run_jobs_list(settings: Settings, args: argparse.Namespace) -> int:
    from scheduler.jobs import JOBS

    for job in JOBS.values():
        print(f"{job.name:24} {job.description}")
    return 0


def run_jobs_run(settings: Settings, args: argparse.Namespace) -> int:
    from scheduler.jobs import JOBS, run_jobs
    from storage.db import make_engine
    from storage.timekeeping import SystemClock

    names = list(JOBS) if args.name == "all" else [args.name]
    unknown = [n for n in names if n not in JOBS]
    if unknown:
        print(f"closeloop: no job {unknown[0]!r}; one of: {', '.join(JOBS)}, all", file=sys.stderr)
        return EXIT_CONFIG
    now = SystemClock().now()
    counts = run_jobs(make_engine(settings.database_url), as_of=args.now or now, now=now, names=names)
    for name, count in counts.items():
        print(f"{name:24} queued {count}")
    return 0


def run_serve(settings: Settings, args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.app import PLATFORMS, create_app, new_event_loop
    from storage.db import make_engine
    from storage.migrate import upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine)
    try:
        app = create_app(settings, engine=engine)
    except ConfigError as exc:  # a platform whose credentials are set but which cannot start
        print(f"closeloop: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    platforms = ", ".join(platform.name for platform in app[PLATFORMS]) or "none"
    loop = new_event_loop(settings)
    print(f"closeloop: serving on http://{settings.host}:{settings.port}  (platforms: {platforms}; "
          f"event loop: {type(loop).__module__.split('.')[0]})", flush=True)  # fmt: skip
    web.run_app(app, host=settings.host, port=settings.port, print=None, loop=loop)
    return 0


def run_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from storage.db import make_engine
    from storage.migrate import current_revision, upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine)
    print(f"closeloop: database at revision {current_revision(engine)}")
    return 0


def run_check_config(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    print("closeloop: configuration OK")
    print(f"  database:  {make_url(settings.database_url).render_as_string(hide_password=True)}")
    print(f"  listen:    {settings.host}:{settings.port}")
    print(f"  time zone: {settings.timezone}   language: {settings.language}   holidays: {settings.holiday_country}")
    real = [name for name in args.platforms if name != "sandbox"]
    sandbox = " + the local sandbox" if "sandbox" in args.platforms else ""
    print(f"  platforms: {', '.join(real) + sandbox if real else 'none (local sandbox)' if sandbox else 'none'}")
    from bot.platforms import load_platforms
    from bot.web import links_base, needing_web_forms

    try:  # created, not started: what they can do decides whether they need web forms
        links = links_base(settings, args.platforms, needing_web_forms(load_platforms(settings)))
    except ConfigError as exc:
        print(f"closeloop: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    key = "set" if settings.secret_key else "a random one per start (sandbox)"
    print(f"  web forms: {f'{links}  (form links {settings.form_link_minutes} min, key {key})' if links else 'off'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
