"""`distillguard watch`: follow the logs and re-scan as data arrives (thin wiring; see watch.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from distillguard.cli.common import config_for, console, user_errors


def watch_command(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Log files, directories or glob patterns to follow (as `ingest --follow`).",
            show_default=False,
        ),
    ],
    every: Annotated[
        float | None,
        typer.Option(
            "--every",
            help="Seconds between detection passes (setting watch_every_seconds); a pass runs only "
            "when new records arrived.",
        ),
    ] = None,
    publish: Annotated[
        str | None,
        typer.Option(
            "--publish",
            help="After each pass: redis://host:port/db (shared state) or http(s)://host:port "
            "(a running distillguard serve reloads).",
        ),
    ] = None,
    passes_log: Annotated[
        Path | None,
        typer.Option(
            "--passes-log", help="Append one JSON line per pass (cost, verdicts, flagged accounts)."
        ),
    ] = None,
    accounts: Annotated[
        Path | None, typer.Option(help="Account records (CSV, JSONL or Parquet) to upsert at start.")
    ] = None,
    db: Annotated[
        Path | None, typer.Option(help="DuckDB warehouse file (default: the db_path setting).")
    ] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="Force the input format.")] = None,
    quiet: Annotated[bool, typer.Option(help="No line per pass on the terminal.")] = False,
    config_file: Annotated[Path | None, typer.Option("--config", help="Settings file (TOML).")] = None,
) -> None:
    """Follow gateway logs, re-scan as data arrives, and publish new verdicts (until SIGTERM/SIGINT)."""
    from distillguard.ingest.follow import stop_on_signals
    from distillguard.watch import PassReport, Watcher, pass_line

    config = config_for(db, config_file)

    def on_pass(report: PassReport) -> None:
        if passes_log is not None:
            with passes_log.open("a", encoding="utf-8") as handle:
                handle.write(pass_line(report) + "\n")
        if not quiet:
            note = report.published or (
                f"publish failed: {report.publish_error}" if report.publish_error else ""
            )
            console.print(
                f"pass: {report.new_records:,} new records, {report.events:,} events, "
                f"{len(report.flagged_accounts):,} flagged accounts; scan {report.scan_s:.1f} s, "
                f"publish {report.publish_s:.1f} s" + (f"; {note}" if note else ""),
                highlight=False,
                soft_wrap=True,
            )

    stop = stop_on_signals()
    with user_errors():
        watcher = Watcher(
            config,
            paths,
            every_s=every,
            publish=publish,
            source_format=fmt,
            accounts=accounts,
            on_pass=on_pass,
        )
        if not quiet:
            console.print(
                f"watching {', '.join(map(str, paths))} into {config.db_path}; a pass every "
                f"{watcher.every_s:g} s when new records arrived",
                highlight=False,
            )
        watcher.run(stop)


def register(app: typer.Typer) -> None:
    """Add this group's commands to the main app."""
    app.command("watch")(watch_command)
