"""`distillguard scan` (logs in, verdicts and a report out) and `distillguard demo`."""

from __future__ import annotations

import importlib
import json
import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from distillguard.cli.common import config_for, console, fail, user_errors
from distillguard.config import Config
from distillguard.engine.base import SqlError
from distillguard.warehouse import Warehouse

log = logging.getLogger("distillguard.scan")
DEMO_PRESETS = ("tiny", "small", "medium")  # tiny: a quick look, and the tests
# small (100k events) simulates and scans in a few minutes on a shared 2-core machine;
# medium (1M events) takes over ten minutes there, so it is opt-in (docs/report.md).
DEMO_DEFAULT_PRESET = "small"


@dataclass(frozen=True)
class ScanOutcome:
    out_dir: Path
    report: Path
    summary: dict[str, Any]
    campaigns: list[dict[str, Any]]
    seconds: float
    published: str | None = None  # what --publish did, one line
    publish_error: str | None = None  # why --publish failed (the outputs are written regardless)


def _component(module: str, name: str, missing: str) -> Any:
    """A piece another part of distillguard provides, imported only when used.

    A build without it (or an older one) then fails with one clear line instead
    of an ImportError traceback, and `distillguard --help` stays fast.
    """
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise fail(missing) from None


def _ingest(
    warehouse: Warehouse,
    config: Config,
    paths: list[Path],
    accounts: Path | None,
    fmt: str | None,
    *,
    progress: bool,
) -> None:
    ingest_paths = _component(
        "distillguard.ingest", "ingest_paths", "ingest (distillguard.ingest) is not available in this build"
    )
    report = ingest_paths(
        warehouse, paths, config=config, source_format=fmt, accounts=accounts, progress=progress
    )
    if progress:
        console.print(
            f"ingested {report.read:,} records: {report.stored:,} stored, {report.duplicates:,} duplicates, "
            f"{report.quarantined:,} quarantined"
        )


def _detect(warehouse: Warehouse, config: Config) -> None:
    run_pipeline = _component(
        "distillguard.scan", "scan", "the detection pipeline (distillguard.scan) is not available"
    )
    run_pipeline(warehouse, config)


def _publisher(target: str | None) -> Any:
    """distillguard.serve.publish when --publish is given, its target checked before the scan runs."""
    if not target:
        return None
    try:
        module = importlib.import_module("distillguard.serve.publish")
    except ImportError:
        raise fail(
            "--publish needs distillguard.serve.publish, which this build does not include; "
            "the verdicts are in the output files"
        ) from None
    module.target_scheme(target)  # a typo fails now, not after a long scan
    return module


def _describe_inputs(paths: list[Path], config: Config) -> str:
    """A short line for the report header naming what was scanned."""
    if not paths:
        return f"warehouse {config.db_path}"
    if len(paths) <= 2:
        return ", ".join(str(p) for p in paths)
    folders = sorted({str(p.parent) for p in paths})
    return f"{len(paths)} inputs in {folders[0]}" + (
        f" and {len(folders) - 1} more folders" if len(folders) > 1 else ""
    )


@contextmanager
def _sql_failures() -> Iterator[None]:
    """A failing statement becomes one line naming the cause (the SQL goes to the debug log)."""
    try:
        yield
    except SqlError as exc:
        log.debug("failed SQL:\n%s", exc.sql)
        cause = str(exc.cause).strip().splitlines()[0] if str(exc.cause).strip() else type(exc.cause).__name__
        raise fail(f"the scan stopped on a database error: {cause}") from None


def run_scan(
    config: Config,
    paths: list[Path],
    *,
    out_dir: Path,
    accounts: Path | None = None,
    source_format: str | None = None,
    publish: str | None = None,
    progress: bool = True,
) -> ScanOutcome:
    """Ingest ``paths`` (if any), detect, and write every output into ``out_dir``."""
    from distillguard.outputs import write_outputs
    from distillguard.report.data import collect
    from distillguard.report.render import render_html

    started = time.perf_counter()
    publisher = _publisher(publish)
    snapshot = None
    with Warehouse.open(config.db_path) as warehouse:
        if paths or accounts:
            _ingest(warehouse, config, paths, accounts, source_format, progress=progress)
        if warehouse.count("events") == 0:
            raise ValueError(
                f"{config.db_path}: the warehouse holds no events; give log files to scan "
                "(distillguard scan LOGS... --out DIR)"
            )
        _detect(warehouse, config)
        data = collect(warehouse, config, source=_describe_inputs(paths, config))
        write_outputs(
            warehouse,
            out_dir,
            watch=data.watch_threshold,
            extraction=data.extraction_threshold,
            campaigns=data.campaigns,
        )
        report = out_dir / "report.html"
        report.write_text(render_html(data), encoding="utf-8")
        if publisher is not None and publisher.target_scheme(publish) in publisher.REDIS_SCHEMES:
            snapshot = publisher.verdict_snapshot(warehouse, config)
    published = publish_error = None
    if publisher is not None and publish:
        # After the warehouse is closed: a service asked to reload opens it itself.
        try:
            published = publisher.push_verdicts(publish, config, snapshot)
        except publisher.PublishError as exc:
            publish_error = str(exc)
    summary = {
        "events": data.summary.events,
        "accounts": data.summary.accounts,
        "flagged": data.summary.flagged,
        "watch": data.summary.watch,
        "campaigns": data.summary.campaigns,
        "clusters": data.summary.clusters,
        "flagged_clusters": data.summary.flagged_clusters,
        "watch_threshold": data.watch_threshold,
        "extraction_threshold": data.extraction_threshold,
        "expected_benign_flag_rate": data.expected_benign_flag_rate,
    }
    campaigns = [
        {
            "campaign_id": c.campaign_id,
            "risk": c.risk,
            "verdict": c.verdict,
            "accounts": c.accounts,
            "events": c.events,
            "capability_focus": c.capability_focus,
            "model_switch": c.pivot.model if c.pivot else None,
        }
        for c in data.campaigns
    ]
    seconds = time.perf_counter() - started
    return ScanOutcome(out_dir, report, summary, campaigns, seconds, published, publish_error)


def _print_outcome(outcome: ScanOutcome) -> None:
    s = outcome.summary
    if outcome.campaigns:
        table = Table()
        widest = max(len(c["campaign_id"]) for c in outcome.campaigns[:15])
        table.add_column("campaign", no_wrap=True, min_width=widest)
        for name in ("verdict", "risk", "accounts", "events"):
            table.add_column(name, no_wrap=True, justify="left" if name == "verdict" else "right")
        table.add_column("capability focus")
        table.add_column("moved to")
        for c in outcome.campaigns[:15]:
            table.add_row(
                c["campaign_id"],
                c["verdict"],
                f"{c['risk']:.2f}",
                f"{c['accounts']:,}",
                f"{c['events']:,}",
                ", ".join(c["capability_focus"][:2]),
                c["model_switch"] or "",
            )
        console.print(table)
        if len(outcome.campaigns) > 15:
            console.print(f"… and {len(outcome.campaigns) - 15} more campaigns (campaigns.json)")
    console.print(
        f"{s['events']:,} events from {s['accounts']:,} accounts: "
        f"[bold red]{s['flagged']:,} at extraction[/], "
        f"{s['watch']:,} at watch, {s['campaigns']:,} campaign(s), {s['flagged_clusters']:,} of "
        f"{s['clusters']:,} clusters at extraction ({outcome.seconds:.1f} s)",
        highlight=False,
    )
    expected = s.get("expected_benign_flag_rate")
    console.print(
        f"thresholds: extraction at risk {s['extraction_threshold']:.3g}, watch at {s['watch_threshold']:.3g}"
        + (
            f" (benign flag rate expected at most {expected:.3%}, worst randomised scenario)"
            if expected is not None
            else " (the floor settings: no calibration table)"
        ),
        highlight=False,
    )
    console.print(
        f"outputs in {outcome.out_dir}/ (accounts.csv, clusters.csv, campaigns.json)", highlight=False
    )


def _outcome_json(outcome: ScanOutcome) -> str:
    return json.dumps(
        {
            **outcome.summary,
            "campaign_list": outcome.campaigns,
            "outputs": {
                name: str(outcome.out_dir / name)
                for name in ("accounts.csv", "clusters.csv", "campaigns.json", "report.html")
            },
            "seconds": round(outcome.seconds, 2),
            "published": outcome.published,
            "publish_error": outcome.publish_error,
        },
        indent=2,
    )


def scan_command(
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Directory for accounts.csv, clusters.csv, campaigns.json and report.html."
        ),
    ],
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Log files or directories, any mix of formats; none = scan the existing warehouse."
        ),
    ] = None,
    accounts: Annotated[
        Path | None, typer.Option("--accounts", help="Account records (CSV/JSONL) to load.")
    ] = None,
    db: Annotated[
        Path | None, typer.Option("--db", help="Warehouse file (default: setting db_path).")
    ] = None,
    source_format: Annotated[
        str | None, typer.Option("--format", help="Force one input format instead of sniffing each file.")
    ] = None,
    publish: Annotated[
        str | None,
        typer.Option(
            "--publish",
            help="After the scan, publish its verdicts: redis://host:port/db writes them to the state "
            "every `distillguard serve --state` replica loads; http(s)://host:port asks a running "
            "service to reload them (bearer token: setting serve_admin_token).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    config_file: Annotated[Path | None, typer.Option("--config", help="Settings file (TOML).")] = None,
) -> None:
    """Ingest logs, find distillation campaigns, and write verdicts plus an HTML report."""
    config = config_for(db, config_file)
    with user_errors(), _sql_failures():
        outcome = run_scan(
            config,
            list(paths or []),
            out_dir=out,
            accounts=accounts,
            source_format=source_format,
            publish=publish,
            progress=not as_json,
        )
    if as_json:
        typer.echo(_outcome_json(outcome))
    else:
        _print_outcome(outcome)
        console.print(f"report: [bold]{outcome.report}[/]", highlight=False)
        if outcome.published:
            console.print(outcome.published, highlight=False, soft_wrap=True)
    if outcome.publish_error:
        raise fail(f"--publish failed (the scan's outputs are written): {outcome.publish_error}", 1)


def _simulate(preset: str, seed: int, data_dir: Path) -> None:
    """Run the simulator through its command, the one stable contract it offers."""
    from typer.main import get_command

    from distillguard.cli import app

    manifest = data_dir / "manifest.json"
    if manifest.exists():
        try:
            existing = json.loads(manifest.read_text())
        except json.JSONDecodeError:
            existing = {}
        if existing.get("preset") == preset and existing.get("seed") == seed:
            console.print(f"reusing simulated data in {data_dir}")
            return
        shutil.rmtree(data_dir)
    console.print(f"simulating the {preset} preset (seed {seed}) into {data_dir} …")
    command = get_command(app)
    try:
        command.main(
            ["simulate", "--preset", preset, "--seed", str(seed), "--out", str(data_dir)],
            standalone_mode=False,
        )
    except typer.Exit as exc:
        if exc.exit_code:
            raise
    except Exception as exc:  # click usage errors when the simulator is missing or differs
        raise fail(f"could not simulate the demo data: {exc}") from None


def demo_command(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for the data, the warehouse and the report.")
    ] = Path("distillguard-demo"),
    preset: Annotated[
        str, typer.Option("--preset", help="Scenario size: tiny, small or medium.")
    ] = DEMO_DEFAULT_PRESET,
    seed: Annotated[int, typer.Option("--seed", help="Simulator seed (same seed, same traffic).")] = 7,
) -> None:
    """Simulate a scenario with planted distillation campaigns, scan it, and print the report's path."""
    if preset not in DEMO_PRESETS:
        raise fail(f"--preset must be one of {', '.join(DEMO_PRESETS)}")
    data_dir = out / "data"
    db = out / "demo.duckdb"
    _simulate(preset, seed, data_dir)
    # A fresh warehouse each time, so the demo shows one clean scan.
    for stale in (db, db.with_suffix(".duckdb.wal"), db.with_suffix(".tmp")):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    config = config_for(db, None, hmac_secret="distillguard-demo")
    traffic = sorted(
        p for p in (data_dir / "traffic").glob("*") if p.is_file() and not p.name.startswith(".")
    )
    if not traffic:
        raise fail(f"{data_dir / 'traffic'}: the simulator wrote no traffic files")
    accounts = data_dir / "accounts.csv"
    with user_errors(), _sql_failures():
        outcome = run_scan(
            config,
            traffic,
            out_dir=out / "report",
            accounts=accounts if accounts.exists() else None,
        )
    _print_outcome(outcome)
    typer.echo(str(outcome.report.resolve()))


def register(app: typer.Typer) -> None:
    """Add this group's commands to the main app."""
    app.command("scan")(scan_command)
    app.command("demo")(demo_command)
