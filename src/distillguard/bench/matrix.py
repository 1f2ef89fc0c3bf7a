"""The scenario matrix: N randomised scenarios plus the external generator, each scanned and scored.

Tuning on a few fixed presets scored 99-100% on them and far less on traffic written by
others; the matrix measures what matters instead: the WORST scenario among many drawn
at random, and an independent generator at three seeds. Each run:

1. writes its data (``simulate --randomize`` in process, or ``external_traffic.py`` in a
   child process: it is not ours and must not share our interpreter state);
2. scans it with ``distillguard scan`` in a child process, the entry point a provider
   uses, so the matrix follows the pipeline wherever the lead moves it;
3. scores the scan's ``accounts.csv`` against the run's labels (``matrix_score``).

Warehouses and data are deleted after each run unless ``keep`` is set (disk: a small
scenario's warehouse is tens of MB, the external set at scale 1.0 over a GB).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb

from distillguard.bench.matrix_report import summarise, write_reports
from distillguard.bench.matrix_score import Label, benign_rate_at, read_verdicts, score
from distillguard.simulate import simulate
from distillguard.simulate.randomize import draw_scenario, dump_scenario

Progress = Callable[[str], None]
DEFAULT_SHARED_EVAL = Path(__file__).resolve().parents[3] / ".." / "shared" / "eval"


class MatrixError(RuntimeError):
    """A matrix run could not be produced or scanned (the message names the run)."""


@dataclass
class MatrixOptions:
    out: Path
    scenarios: int = 4
    base_seed: int = 1
    size: str = "small"
    external_scale: float = 1.0
    external_seeds: list[int] = field(default_factory=lambda: [7, 8, 9])
    shared_eval: Path | None = None  # None: <repo>/../shared/eval
    keep: bool = False
    scan_timeout_s: float = 3600.0


def _cli() -> list[str]:
    return [sys.executable, "-c", "from distillguard.cli import main; main()"]


def scan(paths: list[Path], accounts: Path, work: Path, timeout_s: float) -> tuple[Path, float]:
    """Run ``distillguard scan`` on ``paths``; returns (its accounts.csv, seconds)."""
    out = work / "scan"
    args = [*_cli(), "scan", *map(str, paths), "--accounts", str(accounts)]
    args += ["--db", str(work / "warehouse.duckdb"), "--out", str(out), "--json"]
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=timeout_s)
    seconds = time.perf_counter() - started
    verdicts = out / "accounts.csv"
    if done.returncode != 0 or not verdicts.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:] or ["(no output)"]
        raise MatrixError(f"distillguard scan failed ({done.returncode}): {' | '.join(tail)}")
    return verdicts, seconds


# ------------------------------------------------------------------- randomised scenarios
def scenario_labels(data: Path) -> tuple[dict[str, Label], dict[str, int]]:
    """Labels from ``truth/accounts.csv`` (campaigns by name) and requests per account from events."""
    names = {c["campaign_id"]: c["name"] for c in json.loads((data / "truth" / "campaigns.json").read_text())}
    labels: dict[str, Label] = {}
    with (data / "truth" / "accounts.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            campaign = row["campaign_id"]
            labels[row["account_id"]] = Label(
                bool(campaign), names.get(campaign, campaign), row["population"]
            )
    rows = duckdb.sql(
        f"SELECT account_id, count(*) FROM read_parquet('{data / 'truth' / 'events.parquet'}') GROUP BY 1"
    ).fetchall()
    return labels, {str(a): int(n) for a, n in rows}


def run_scenario(seed: int, options: MatrixOptions, progress: Progress) -> dict[str, Any]:
    work = options.out / "runs" / f"random-{seed}"
    shutil.rmtree(work, ignore_errors=True)
    data = work / "data"
    data.mkdir(parents=True)
    scenario = draw_scenario(seed, options.size)
    (options.out / "scenarios").mkdir(parents=True, exist_ok=True)
    dump_scenario(scenario, options.out / "scenarios" / f"random-{seed}.yaml")
    started = time.perf_counter()
    manifest = simulate(scenario, data)
    sim_seconds = time.perf_counter() - started
    progress(f"random-{seed}: {manifest['events']:,} events, {len(scenario.campaigns)} campaigns; scanning")
    verdicts_path, scan_seconds = scan(
        [data / "traffic"], data / "accounts.csv", work, options.scan_timeout_s
    )
    labels, requests = scenario_labels(data)
    row = {
        "run": f"random-{seed}",
        "kind": "randomised",
        "seed": seed,
        "events": manifest["events"],
        "shapes": sorted({c.name.rsplit("-", 1)[0] for c in scenario.campaigns}),
        "lookalikes": sorted(p.label() for p in scenario.populations if p.name),
        "simulate_seconds": round(sim_seconds, 1),
        "scan_seconds": round(scan_seconds, 1),
        **score(labels, requests, verdicts := read_verdicts(verdicts_path)),
        "benign_rate_at": benign_rate_at(labels, verdicts, requests),
    }
    _clean(work, options.keep)
    return row


# -------------------------------------------------------------------------- external
def load_external_scorer(shared_eval: Path) -> ModuleType:
    """The external scorer's module, imported from its file (its loaders define the scoring)."""
    spec = importlib.util.spec_from_file_location("score_accounts", shared_eval / "score_accounts.py")
    if spec is None or spec.loader is None:
        raise MatrixError(f"{shared_eval / 'score_accounts.py'}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def external_labels(
    scorer: ModuleType, data: Path
) -> tuple[dict[str, Label], dict[str, int], dict[str, int]]:
    """Labels and (requests, exchanges) per account, read by the external scorer's own loaders."""
    raw = scorer.load_labels(str(data / "labels.csv"))
    labels = {a: Label(bool(att), str(camp), str(pop)) for a, (att, camp, pop) in raw.items()}
    counts, _ = scorer.load_counts(str(data / "labels.csv"), None, None)
    counts = counts or {}
    return labels, {a: int(c[0]) for a, c in counts.items()}, {a: int(c[1]) for a, c in counts.items()}


def run_external(seed: int, options: MatrixOptions, shared_eval: Path, progress: Progress) -> dict[str, Any]:
    work = options.out / "runs" / f"external-{seed}"
    shutil.rmtree(work, ignore_errors=True)
    data = work / "data"
    data.mkdir(parents=True)
    args = [sys.executable, str(shared_eval / "external_traffic.py"), "--out", str(data)]
    args += ["--seed", str(seed), "--scale", str(options.external_scale), "-q"]
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise MatrixError(f"external_traffic.py --seed {seed} failed: {(done.stderr or done.stdout)[-300:]}")
    sim_seconds = time.perf_counter() - started
    progress(f"external-{seed}: generated (scale {options.external_scale}); scanning")
    traffic = sorted(data.glob("gateway.*.jsonl"))
    verdicts_path, scan_seconds = scan(traffic, data / "accounts.csv", work, options.scan_timeout_s)
    scorer = load_external_scorer(shared_eval)
    labels, requests, exchanges = external_labels(scorer, data)
    row = {
        "run": f"external-{seed}",
        "kind": "external",
        "seed": seed,
        "events": sum(requests.values()),
        "shapes": [],
        "lookalikes": [],
        "simulate_seconds": round(sim_seconds, 1),
        "scan_seconds": round(scan_seconds, 1),
        **score(labels, requests, read_verdicts(verdicts_path), exchanges),
    }
    row["external_scorer_summary"] = _external_summary(shared_eval, data, verdicts_path)
    _clean(work, options.keep)
    return row


def _external_summary(shared_eval: Path, data: Path, verdicts: Path) -> str:
    """The external scorer's own last line (recall=... fpr=... ewr=...), kept as a cross-check."""
    args = [sys.executable, str(shared_eval / "score_accounts.py"), str(data / "labels.csv"), str(verdicts)]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else f"(score_accounts.py exited {done.returncode})"


def _clean(work: Path, keep: bool) -> None:
    if not keep:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------- matrix
def run_matrix(options: MatrixOptions, progress: Progress = lambda _m: None) -> dict[str, Any]:
    """Run every scenario and external seed, write ``results.json`` and ``matrix.md``; return the results."""
    options.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for seed in range(options.base_seed, options.base_seed + options.scenarios):
        rows.append(
            _guarded(f"random-{seed}", partial(run_scenario, seed, options, progress), notes, progress)
        )
    shared = (options.shared_eval or DEFAULT_SHARED_EVAL).resolve()
    if not options.external_seeds:
        pass
    elif not (shared / "external_traffic.py").is_file():
        notes.append(f"external generator skipped: {shared / 'external_traffic.py'} not found")
        progress(notes[-1])
    else:
        for seed in options.external_seeds:
            rows.append(
                _guarded(
                    f"external-{seed}",
                    partial(run_external, seed, options, shared, progress),
                    notes,
                    progress,
                )
            )
    results = {
        "options": {
            "scenarios": options.scenarios,
            "base_seed": options.base_seed,
            "size": options.size,
            "external_scale": options.external_scale,
            "external_seeds": options.external_seeds,
            "shared_eval": str(shared),
        },
        "runs": rows,
        "summary": summarise(rows),
        "notes": notes,
    }
    write_reports(results, options.out)
    return results


def _guarded(
    name: str, run: Callable[[], dict[str, Any]], notes: list[str], progress: Progress
) -> dict[str, Any]:
    """One run; a failure becomes a row that says so (the worst case must not hide a crash)."""
    try:
        return run()
    except (MatrixError, OSError, ValueError, subprocess.TimeoutExpired) as exc:  # ScenarioError too
        notes.append(f"{name}: {exc}")
        progress(f"{name} FAILED: {exc}")
        return {
            "run": name,
            "kind": "external" if name.startswith("external") else "randomised",
            "error": str(exc),
        }
