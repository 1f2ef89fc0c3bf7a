"""`distillguard ingest`, `stats` and `export`: logs into the warehouse and back out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from distillguard.cli.common import config_for, console, fail, user_errors
from distillguard.engine import sql_string

FORMAT_HELP = (
    "Force the input format (litellm | otel | openai | langfuse | canonical | distillguard-audit) "
    "instead of detecting it."
)
DB_HELP = "DuckDB warehouse file (default: the db_path setting, distillguard.duckdb)."


def register(app: typer.Typer) -> None:
    """Add this group's commands to the main app."""
    app.command("ingest")(ingest_command)
    app.command("stats")(stats_command)
    app.command("export")(export_command)


def ingest_command(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Log files, directories (read recursively) or glob patterns. Plain, gzip or zstd; "
            "JSON lines, OTLP/JSON or Parquet.",
            show_default=False,
        ),
    ],
    accounts: Annotated[
        Path | None, typer.Option(help="Account records (CSV, JSONL or Parquet) to upsert.")
    ] = None,
    db: Annotated[Path | None, typer.Option(help=DB_HELP)] = None,
    fmt: Annotated[str | None, typer.Option("--format", help=FORMAT_HELP)] = None,
    strict: Annotated[bool, typer.Option(help="Exit with status 1 if any record was quarantined.")] = False,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            help="Keep reading as the files grow (new files, rotation, truncation, gzip segments) "
            "until SIGTERM/SIGINT; offsets persist, so a restart resumes where it stopped.",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar and no summary table.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON on stdout.")] = False,
    config_file: Annotated[Path | None, typer.Option("--config", help="Settings file (TOML).")] = None,
) -> None:
    """Read gateway logs and account records into the warehouse.

    Every record is stored, recognised as a duplicate (same event id, so re-running
    is safe), or quarantined with file, line and reason: read = stored + duplicates
    + quarantined. See `distillguard stats` for what is stored.
    """
    from distillguard.ingest import ingest_paths
    from distillguard.ingest.sniff import expand_paths
    from distillguard.warehouse import Warehouse

    config = config_for(db, config_file)
    if follow:
        _follow(config, paths, fmt, accounts=accounts, quiet=quiet or as_json)
        return
    with user_errors():
        expand_paths(paths)  # a missing path is one line naming it, before the warehouse is touched
        if accounts is not None and not accounts.is_file():
            raise FileNotFoundError(f"{accounts}: no such accounts file")
    with user_errors(), Warehouse.open(config.db_path) as warehouse:
        report = ingest_paths(
            warehouse,
            paths,
            config=config,
            source_format=fmt,
            accounts=accounts,
            strict=strict,
            progress=not quiet and not as_json,
        )
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    elif not quiet:
        _print_report(report)
    if strict and report.quarantined:
        raise fail(f"--strict: {report.quarantined:,} records quarantined (see `distillguard stats`)", 1)


def _follow(config: Any, paths: list[Path], fmt: str | None, *, accounts: Path | None, quiet: bool) -> None:
    """`ingest --follow`: tail the paths until a signal; a path that does not exist yet may appear."""
    from distillguard.config import memory_limit
    from distillguard.ingest.follow import Follower, stop_on_signals
    from distillguard.ingest.follow_state import follow_totals
    from distillguard.warehouse import Warehouse

    stop = stop_on_signals()
    with user_errors(), Warehouse.open(config.db_path) as warehouse:
        if accounts is not None:
            from distillguard.ingest.accounts import load_accounts

            load_accounts(warehouse, accounts, config=config)
        follower = Follower(warehouse, paths, config=config, source_format=fmt)
        if not quiet:
            console.print(f"following {', '.join(map(str, paths))} into {config.db_path}", highlight=False)
        with warehouse.engine.memory_limit(memory_limit(config, "ingest_memory_limit")):
            follower.run(stop)
        totals = follow_totals(warehouse)
    if not quiet:
        console.print(
            f"stopped; followed files so far: read {totals.read:,} · stored {totals.stored:,} · "
            f"duplicates {totals.duplicates:,} · quarantined {totals.quarantined:,}",
            highlight=False,
        )


def _print_report(report: Any) -> None:
    table = Table("file", "format", "read", "stored", "duplicates", "quarantined", title="ingest")
    for f in report.files:
        table.add_row(
            f.file,
            f.source_format or "unknown",
            *(f"{n:,}" for n in (f.read, f.stored, f.duplicates, f.quarantined)),
        )
    if report.accounts_read:
        table.add_row(
            "(accounts)",
            "accounts",
            f"{report.accounts_read:,}",
            f"{report.accounts_stored:,}",
            "0",
            f"{report.accounts_quarantined:,}",
        )
    console.print(table)
    console.print(
        f"read {report.read:,} · stored {report.stored:,} · duplicates {report.duplicates:,} · "
        f"quarantined {report.quarantined:,}",
        highlight=False,
    )


STATS_QUERIES = {
    "events_by_day": "SELECT CAST(date_trunc('day', ts_start) AS DATE)::VARCHAR AS day, count(*) AS events "
    "FROM events GROUP BY 1 ORDER BY 1",
    "events_by_model": "SELECT coalesce(model_requested, '(none)') AS model, count(*) AS events "
    "FROM events GROUP BY 1 ORDER BY 2 DESC, 1",
    "events_by_source_format": "SELECT source_format, count(*) AS events "
    "FROM events GROUP BY 1 ORDER BY 2 DESC",
    "top_quarantine_reasons": "SELECT regexp_replace(reason, '(: .*)$', '') AS reason, count(*) AS records "
    "FROM quarantine GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
}


def stats_command(
    db: Annotated[Path | None, typer.Option(help=DB_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the statistics as JSON on stdout.")] = False,
    config_file: Annotated[Path | None, typer.Option("--config", help="Settings file (TOML).")] = None,
) -> None:
    """What the warehouse holds: events by day, model and source format, accounts, quarantine."""
    from distillguard.warehouse import Warehouse

    config = config_for(db, config_file)
    if not Path(config.db_path).exists():
        raise fail(f"{config.db_path}: no warehouse here yet (run `distillguard ingest` first)")
    with user_errors(), Warehouse.open(config.db_path, read_only=True) as warehouse:
        stats: dict[str, Any] = {
            "events": warehouse.count("events"),
            "accounts_with_events": warehouse.engine.scalar("SELECT count(DISTINCT account_id) FROM events"),
            "account_records": warehouse.count("accounts"),
            "quarantined": warehouse.count("quarantine"),
        }
        for name, sql in STATS_QUERIES.items():
            stats[name] = warehouse.engine.to_arrow(sql).to_pylist()
    if as_json:
        typer.echo(json.dumps(stats, indent=2, default=str))
        return
    summary = Table("what", "count", title=f"warehouse {config.db_path}")
    for key in ("events", "accounts_with_events", "account_records", "quarantined"):
        summary.add_row(key.replace("_", " "), f"{stats[key]:,}")
    console.print(summary)
    for name in STATS_QUERIES:
        rows = stats[name]
        if not rows:
            continue
        table = Table(*rows[0].keys(), title=name.replace("_", " "))
        for row in rows[:31]:
            table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row.values()))
        console.print(table)


def export_command(
    out: Annotated[Path, typer.Option(help="File to write.", show_default=False)],
    fmt: Annotated[str, typer.Option("--format", help="parquet | jsonl")] = "parquet",
    db: Annotated[Path | None, typer.Option(help=DB_HELP)] = None,
    config_file: Annotated[Path | None, typer.Option("--config", help="Settings file (TOML).")] = None,
) -> None:
    """Write every stored event in the canonical layout (ingest reads it back as-is).

    Keys and addresses stay as keyed hashes; text follows the text_storage setting
    it was ingested with.
    """
    from distillguard.warehouse import Warehouse

    if fmt not in ("parquet", "jsonl"):
        raise fail(f"--format {fmt!r}: choose parquet or jsonl")
    config = config_for(db, config_file)
    if not Path(config.db_path).exists():
        raise fail(f"{config.db_path}: no warehouse here yet (run `distillguard ingest` first)")
    out.parent.mkdir(parents=True, exist_ok=True)
    target = sql_string(out)
    options = "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT json"
    with user_errors(), Warehouse.open(config.db_path, read_only=True) as warehouse:
        count = warehouse.count("events")
        warehouse.engine.execute(
            f"COPY (SELECT * FROM events ORDER BY ts_start, event_id) TO {target} ({options})"
        )
    console.print(f"exported {count:,} events to {out}", highlight=False)
