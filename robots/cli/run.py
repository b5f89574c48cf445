"""The robots' own cycle: ``validate``, ``migrate``, ``sync``, ``tick``, ``plan``, ``run`` (the daemon), ``status``."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

from robots.cli.args import day, positive
from robots.cli.command import EXIT_OK, EXIT_RUNTIME, Context, add_command


def add(sub: Any) -> None:
    """Add the cycle's commands."""
    add_command(sub, "validate", summary="check schedules.yaml and the scenarios; report every problem",
                description="Load schedules.yaml and every scenario it names and check them; print every problem "
                            "with its file, line and path. Nothing is opened or changed.",
                example="run_robots.py --config schedules.yaml validate", handler=_validate)
    add_command(sub, "migrate", summary="create or upgrade the database schema",
                description="Create the database schema, or upgrade it to the newest revision (every command that "
                            "opens the store does this too).",
                example="run_robots.py migrate", handler=_migrate)
    t = add_command(sub, "tick", summary="one cycle: sync, age, run what is due (repeatable: a rerun adds nothing)",
                    description="One cycle for a business day: sync the ledger, age the debts, record the columns "
                                "they cross and run the scenarios that are due. A second tick for the same day "
                                "adds nothing; a day before the last evaluated one is refused.",
                    example="run_robots.py tick --as-of 2026-03-31", failure="a scenario run failed",
                    handler=_tick)
    t.add_argument("--as-of", type=day, required=True, metavar="DAY",
                   help="the business day: 2026-03-31 or 31.03.2026")
    sy = add_command(sub, "sync", summary="read the ledger from the connectors and swap it in (all or nothing)",
                     description="Read the ledger from every connector, validate it and swap it in whole: one bad "
                                 "record rejects the snapshot and nothing is applied. A snapshot that lost many "
                                 "invoices or payments is refused by the sanity guard unless --accept-loss.",
                     example="run_robots.py sync\nrun_robots.py sync --accept-loss", handler=_sync)
    sy.add_argument("--accept-loss", action="store_true",
                    help="apply a snapshot the sanity guard refuses (it lost many invoices or payments), once")
    pl = add_command(sub, "plan", summary="what the robots would do on each coming day; changes nothing",
                     description="Each coming letter by day: column, scenario, amount, counterparty and contract, "
                                 "officers and penalties, assuming no new payments. It continues from the recorded "
                                 "history and changes nothing (it does not even create the database).",
                     example="run_robots.py plan --as-of 2026-03-31 --days 30", handler=_plan)
    pl.add_argument("--as-of", type=day, required=True, metavar="DAY",
                    help="the first day planned: 2026-03-31 or 31.03.2026")
    pl.add_argument("--days", type=positive, default=14, metavar="N", help="how many days to plan (default: 14)")
    add_command(sub, "run", summary="the daemon: ticks on the crontab lines of daemon.ticks; stops on SIGTERM",
                description="The daemon: the leader fires each crontab line of daemon.ticks (a missed window "
                            "once, at start-up or takeover) and the housekeeping jobs; every daemon runs a runner "
                            "pass every daemon.poll_minutes. Several daemons may share one PostgreSQL database; "
                            "SQLite takes one. Serves /healthz, /readyz and /metrics on daemon.http.\n\n"
                            "SIGTERM or Ctrl-C stop it after the run under way; SIGHUP reloads the config (a "
                            "broken one is refused and logged, the old one keeps running).",
                example="run_robots.py --log-json run", handler=_daemon)
    add_command(sub, "status", summary="what the robots have done so far",
                description="The daemons running (host, pid, leader, last heartbeat; STALE when it stopped "
                            "beating), the last good sync (and the last failed one, with its reason), crossings per "
                            "column, runs, documents, tasks, waiting runs, approvals, blocks, promises, "
                            "disputes, open and overdue totals.",
                example="run_robots.py status", handler=_status)


def _validate(args: argparse.Namespace, ctx: Context) -> int:
    groups = ", ".join(f"{g} ({len(s.columns)} columns)" for g, s in ctx.config.settings.groups.items())
    print(f"{args.config}: OK. Groups: {groups}. Scenarios: {', '.join(sorted(ctx.config.scenarios))}.")
    return EXIT_OK


def _migrate(_args: argparse.Namespace, ctx: Context) -> int:
    ctx.store.migrate()
    print("database schema is up to date")
    return EXIT_OK


def _tick(args: argparse.Namespace, ctx: Context) -> int:
    from rich.progress import Progress

    from robots.engine.services import services_for
    from robots.engine.tick import tick
    from robots.support.clock import SystemClock

    services = services_for(ctx.config, ctx.store, SystemClock())
    with Progress(disable=not sys.stderr.isatty(), transient=True) as bar:
        running = bar.add_task("running scenarios", total=None)
        report = tick(services, args.as_of, ctx.now(),
                      progress=lambda run: bar.update(running, advance=1, description=run.run_key))
    r = report.runner
    print(f"{args.as_of}: {sum(report.crossings.values())} crossings ({sum(report.skipped.values())} skipped "
          f"by catch-up), {report.new_runs} new runs; runs done {len(r.done)}, failed {len(r.failed)}, "
          f"to retry {len(r.retry)}")
    return EXIT_RUNTIME if r.failed else EXIT_OK


def _sync(args: argparse.Namespace, ctx: Context) -> int:
    from robots.engine.sync import sync

    ledger = sync(ctx.config, ctx.store, ctx.now(), accept_loss=args.accept_loss)
    print("synced: " + ", ".join(f"{n} {k}" for k, n in ledger.counts().items()))
    return EXIT_OK


def _plan(args: argparse.Namespace, ctx: Context) -> int:
    from robots.engine.plan import plan, print_plan

    print_plan(plan(ctx.config, args.as_of, args.days), args.as_of, args.days)
    return EXIT_OK


def _daemon(_args: argparse.Namespace, ctx: Context) -> int:
    from robots.engine.daemon import run_daemon
    from robots.engine.services import services_for
    from robots.support.clock import SystemClock

    clock = SystemClock()  # the edge: the only wall clock of the daemon
    return run_daemon(services_for(ctx.config, ctx.store, clock), clock=clock, config_path=ctx.config_path,
                      bi_job=_bi_job)


def _bi_job(config: Any, store: Any, folder: Path, as_of: date) -> None:
    """The daemon's BI housekeeping job: what ``export bi`` and ``export report`` write, into ``folder``."""
    from bi.export import export_bi
    from bi.inputs import load_inputs
    from bi.report import write_report

    folder.mkdir(parents=True, exist_ok=True)
    export_bi(config, store, folder / "bi", as_of)
    write_report(load_inputs(config, store, as_of), config, folder / "report.html", "html")


def _status(_args: argparse.Namespace, ctx: Context) -> int:
    from datetime import timedelta

    from robots.engine.summary import render_summary, summarize

    stale = timedelta(seconds=ctx.config.settings.daemon.stale_after_seconds)
    print(render_summary(summarize(ctx.store, now=ctx.now(), stale_after=stale)))
    return EXIT_OK
