"""The benchmark run: simulate (or take) a data set, ingest it, run baselines and distillguard, score.

Order of work, each phase timed and its peak resident memory sampled:

1. ``distillguard simulate`` in a child process (with ``--preset``), unless ``--data`` is given;
2. DuckDB reading the raw traffic once (the yardstick of issue 4's "5x a plain read" target);
3. ingest into a fresh warehouse (``<out>/bench.duckdb``);
4. the three baselines, then distillguard's batch scan when the pipeline exists;
5. the streaming replay (distillguard at checkpoints; baselines report their own
   crossing times, since each is a per-query rule);
6. metrics against ``truth/`` (read only here, never by any detector).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from distillguard.bench import baselines
from distillguard.bench.evaluate import evaluate
from distillguard.bench.outputs import DetectorOutput
from distillguard.bench.replay import (
    checkpoints,
    distillguard_batch,
    distillguard_replay,
    load_scan,
    onset_probes,
)
from distillguard.bench.resources import children_peak_mb, lifetime_peak_mb, measured
from distillguard.bench.truth import Truth, load_truth
from distillguard.config import Config, load_config
from distillguard.warehouse import Warehouse

Progress = Callable[[str], None]
TRAFFIC_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson", ".ndjson.gz", ".parquet")


class BenchError(ValueError):
    """A benchmark input is unusable; the message names it."""


@dataclass
class BenchOptions:
    preset: str | None = None
    data: Path | None = None
    out: Path | None = None
    scale: float | None = None
    corpus: Path | None = None
    checkpoint_hours: float = 6.0  # 0 skips the streaming replay
    max_checkpoints: int = 48
    target_fpr: float = 0.001
    seed: int | None = None
    command: str = ""
    # Off for runs whose question is only distillguard's own time and memory (the large preset):
    # PRADA and MMD embed every account's first queries, which would dominate that run's clock.
    baselines: bool = True


def _silent(_: str) -> None:
    return None


def simulate(options: BenchOptions, target: Path, progress: Progress) -> float:
    """Run ``distillguard simulate`` in a child process; returns its wall time."""
    args = [sys.executable, "-c", "from distillguard.cli import main; main()", "simulate"]
    args += ["--preset", str(options.preset), "--out", str(target)]
    if options.scale is not None:
        args += ["--scale", str(options.scale)]
    if options.corpus is not None:
        args += ["--corpus", str(options.corpus)]
    if options.seed is not None:
        args += ["--seed", str(options.seed)]
    progress("simulating: " + " ".join(args[3:]))
    with measured() as phase:
        done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise BenchError(f"distillguard simulate --preset {options.preset} failed: {tail[0]}")
    return phase.seconds


def traffic_files(data_dir: Path) -> list[Path]:
    traffic = data_dir / "traffic"
    if not traffic.is_dir():
        raise BenchError(f"{traffic}: missing (is {data_dir} a data set written by `distillguard simulate`?)")
    files = sorted(p for p in traffic.iterdir() if p.is_file() and p.name.endswith(TRAFFIC_SUFFIXES))
    if not files:
        raise BenchError(f"{traffic}: no traffic files")
    return files


def raw_read_seconds(files: list[Path]) -> tuple[float, int]:
    """Time for DuckDB to read (decompress and parse) the same input once; returns (seconds, records)."""
    json_files = [str(p) for p in files if not p.name.endswith(".parquet")]
    parquet_files = [str(p) for p in files if p.name.endswith(".parquet")]
    records = 0
    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")
    with measured() as phase:
        if json_files:
            row = connection.execute(
                "SELECT count(*), sum(length(json)) FROM read_json_objects(?, format='newline_delimited')",
                [json_files],
            ).fetchone()
            records += int(row[0]) if row else 0
        if parquet_files:
            row = connection.execute("SELECT count(*) FROM read_parquet(?)", [parquet_files]).fetchone()
            records += int(row[0]) if row else 0
    connection.close()
    return phase.seconds, records


def ingest(warehouse: Warehouse, config: Config, data_dir: Path, files: list[Path]) -> Any:
    try:
        from distillguard.ingest import ingest_paths  # type: ignore[attr-defined,unused-ignore]
    except ImportError as exc:
        raise BenchError(f"ingest is not available yet, cannot load the data set ({exc})") from None
    accounts = data_dir / "accounts.csv"
    return ingest_paths(
        warehouse, files, config=config, accounts=accounts if accounts.is_file() else None, progress=False
    )


def _machine() -> dict[str, Any]:
    memory_gb = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "memory_gb": memory_gb,
        "duckdb": duckdb.__version__,
    }


def _dataset_summary(truth: Truth, data_dir: Path) -> dict[str, Any]:
    accounts = truth.accounts
    attackers = sum(truth.label(a) for a in accounts)
    return {
        "path": str(data_dir),
        "preset": truth.manifest.get("preset"),
        "seed": truth.manifest.get("seed"),
        "events": sum(truth.events_per_account.values()),
        "accounts_with_events": len(accounts),
        "attacker_accounts": attackers,
        "benign_accounts": len(accounts) - attackers,
        "campaigns": len(truth.campaigns),
        "campaign_events": sum(truth.campaign_events.values()),
    }


def _run_baselines(
    warehouse: Warehouse, truth: Truth, options: BenchOptions, progress: Progress
) -> list[DetectorOutput]:
    benign = [a for a in truth.accounts if not truth.label(a)]
    calibration = baselines.calibration_split(benign)
    outputs = []
    progress("baseline: per-account rate limit")
    with measured() as phase:
        out = baselines.rate_limit(warehouse.engine, calibration=calibration, target_fpr=options.target_fpr)
    out.peak_rss_mb = round(phase.peak_rss_mb, 1)
    outputs.append(out)
    progress("baselines: embedding each account's first queries (hashed n-grams)")
    with measured() as phase:
        sample = baselines.query_sample(warehouse.engine, cap=100)
        progress("baseline: PRADA query-distance test")
        prada = baselines.prada(sample, calibration=calibration, target_fpr=options.target_fpr)
        progress("baseline: MMD window test against reference traffic")
        mmd = baselines.mmd_window_test(sample, target_fpr=options.target_fpr)
    del sample
    for out in (prada, mmd):
        out.peak_rss_mb = round(phase.peak_rss_mb, 1)
        outputs.append(out)
    return outputs


def run_bench(options: BenchOptions, progress: Progress = _silent) -> dict[str, Any]:
    """Run the whole benchmark and write ``results.json`` and ``results.md`` to ``options.out``."""
    if (options.preset is None) == (options.data is None):
        raise BenchError("give exactly one of --preset or --data")
    out = options.out or Path(tempfile.mkdtemp(prefix="distillguard-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, Any] = {}
    if options.preset is not None:
        data_dir = out / "data"
        if data_dir.exists():
            shutil.rmtree(data_dir)
        timings["simulate_seconds"] = round(simulate(options, data_dir, progress), 2)
        timings["simulate_peak_rss_mb"] = round(children_peak_mb(), 1)
    else:
        assert options.data is not None
        data_dir = options.data
        if not data_dir.is_dir():
            raise BenchError(f"{data_dir}: no such data set directory")
    truth = load_truth(data_dir)
    files = traffic_files(data_dir)

    progress("timing a plain DuckDB read of the raw traffic")
    read_seconds, raw_records = raw_read_seconds(files)
    db_path = out / "bench.duckdb"
    for stale in (db_path, db_path.with_suffix(".duckdb.wal"), db_path.with_suffix(".secret")):
        stale.unlink(missing_ok=True)
    config = load_config(db_path=str(db_path), hmac_secret="distillguard-bench")
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": options.command,
        "machine": _machine(),
        "dataset": _dataset_summary(truth, data_dir),
        "notes": [],
    }
    with Warehouse.open(db_path) as warehouse:
        progress(f"ingesting {len(files)} traffic files")
        with measured() as phase:
            report = ingest(warehouse, config, data_dir, files)
        stored = warehouse.count("events")
        timings.update(
            {
                "raw_records": raw_records,
                "raw_read_seconds": round(read_seconds, 3),
                "ingest_seconds": round(phase.seconds, 3),
                "ingest_events_per_s": round(stored / phase.seconds, 1) if phase.seconds else None,
                "ingest_peak_rss_mb": round(phase.peak_rss_mb, 1),
                "events_stored": stored,
                "events_quarantined": int(getattr(report, "quarantined", 0)),
            }
        )
        if options.baselines:
            outputs = _run_baselines(warehouse, truth, options, progress)
        else:
            outputs = []
            results["notes"].append("baselines skipped (--no-baselines)")
        scan, missing = load_scan()
        if scan is None:
            progress(missing)
            results["notes"].append(missing)
        else:
            progress("distillguard: batch scan")
            with measured() as phase:
                ours = distillguard_batch(warehouse, config, scan)
            ours.peak_rss_mb = round(phase.peak_rss_mb, 1)
            timings.update(
                {
                    "scan_seconds": round(phase.seconds, 3),
                    "scan_events_per_s": round(stored / phase.seconds, 1) if phase.seconds else None,
                    "scan_peak_rss_mb": round(phase.peak_rss_mb, 1),
                    "scan_over_raw_read": round(phase.seconds / read_seconds, 2) if read_seconds else None,
                    "ingest_plus_scan_over_raw_read": (
                        round((phase.seconds + timings["ingest_seconds"]) / read_seconds, 2)
                        if read_seconds
                        else None
                    ),
                }
            )
            if options.checkpoint_hours > 0:
                start, end = _span(warehouse)
                probes = onset_probes([c.onset for c in truth.campaigns.values()])
                grid = checkpoints(
                    start,
                    end,
                    options.checkpoint_hours,
                    max_checkpoints=options.max_checkpoints,
                    probes=probes,
                )
                with measured() as phase:
                    ours.first_flag = distillguard_replay(warehouse, config, scan, grid, progress)
                timings["replay_checkpoints"] = len(grid)
                timings["replay_onset_probes"] = sum(1 for t in probes if start < t < end)
                timings["replay_seconds"] = round(phase.seconds, 2)
            else:
                ours.replayed = False
                results["notes"].append("streaming replay skipped (--checkpoint-hours 0)")
            outputs.append(ours)
    timings["process_peak_rss_mb"] = round(lifetime_peak_mb(), 1)
    progress("scoring against ground truth")
    results["performance"] = timings
    results["detectors"] = [evaluate(output, truth) for output in outputs]
    from distillguard.bench.tables import markdown_report

    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    (out / "results.md").write_text(markdown_report(results), encoding="utf-8")
    results["out"] = str(out)
    return results


def _span(warehouse: Warehouse) -> tuple[datetime, datetime]:
    sql = "SELECT min(ts_start) AS a, max(ts_start) AS b FROM events"
    row = warehouse.engine.to_arrow(sql).to_pylist()[0]
    if row["a"] is None:
        raise BenchError("the warehouse holds no events after ingest")
    start, end = row["a"], row["b"]
    return (
        start if start.tzinfo else start.replace(tzinfo=UTC),
        end if end.tzinfo else end.replace(tzinfo=UTC),
    )
