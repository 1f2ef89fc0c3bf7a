"""Run `distillguard bench` on several presets and record the results in docs/BENCHMARKS.md.

Usage (from the repository root):

    .venv/bin/python bench/detection_bench.py tiny medium [--scale campaign-preset=0.1 ...]
        [--out /tmp/dg-bench] [--checkpoint-hours 6] [--corpus ../shared/corpus] [--no-docs]

Each preset runs in its own `distillguard bench` process (so its peak memory is
its own) writing to ``<out>/<preset>/``; then the ``detection`` section of
docs/BENCHMARKS.md is rewritten from the ``results.json`` files, with machine,
date and the exact commands. Only that section is touched.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "BENCHMARKS.md"
SECTION = re.compile(r"(<!-- section:detection -->\n)(.*?)(<!-- /section:detection -->)", re.DOTALL)

TARGET_TEXT = {
    "recall_at_extraction": "attacker accounts at `extraction` >= 99%",
    "false_positive_rate": "benign accounts at `extraction` <= 0.1%",
    "worst_population_fpr": "no benign population above 1%",
    "exchange_weighted_recall": "exchange-weighted recall >= 99.5%",
    "cluster_ari": "adjusted Rand index >= 0.9",
    "worst_harvested_before_first_flag": "every campaign flagged before 1% harvested (replay)",
}

METHOD = """\
How to read these tables (definitions used by `src/distillguard/bench/`):

- Accounts scored are those that sent at least one event; labels come from `truth/accounts.csv`
  (read by the benchmark only, never by a detector). *recall@extraction* / *FPR*: attacker /
  benign accounts at the `extraction` verdict. *TPR@x%FPR*: best recall of any threshold on the
  detector's score whose FPR is at most x% (threshold-free, so baselines are not hurt by a badly
  placed threshold). *AUROC*: scikit-learn.
- *Exchange-weighted recall*: share of events labelled with a campaign whose account is flagged.
- *Cluster ARI*: adjusted Rand index over every scored account. Truth label = campaign id (benign
  accounts: each its own label); predicted label = the detector's cluster id for a flagged account, a
  singleton for an unflagged one. Missed attackers split campaigns, benign accounts dragged into a
  cluster and merged campaigns all lower it; benign accounts nobody flagged are singletons on both
  sides and add no agreeing pair. results.json also keeps the index over attackers and flagged
  accounts only (`cluster_ari_attackers_and_flagged_only`, the definition used before 2026-11-25):
  on a one-campaign data set it is 0 for any split at all, even one missed account in thousands.
  Per-account baselines produce no clusters: "n/a".
- *Streaming replay*: distillguard's `scan(until=checkpoint)` on the same warehouse at regular
  checkpoints (`--checkpoint-hours`, at most `--max-checkpoints`) plus probes 0.5, 1, 2, 3, 4, 6, 8,
  12, 16, 24 and 32 h after each campaign's onset (the harness's choice of *when* to look; each scan
  still sees only traffic up to its moment). First flag = first checkpoint with `extraction`, so times
  are rounded up to the grid, never flattered.
  Baselines are per-query rules and report the exact moment their rule first fires with only past
  traffic (rate limit: the first request over the limit; PRADA: prefixes of the distance list every
  5 queries; MMD: the end of the first window over the threshold). *h to 1st flag*: hours from the
  campaign's onset to its first flagged account; *harvested before 1st flag*: share of the campaign's
  exchanges up to that moment; *harvested while unflagged*: share of exchanges whose own account was
  not flagged yet (never-flagged accounts count fully).
- Baseline thresholds: rate limit and PRADA take the threshold hitting the target FPR (0.1%; two rate
  tests share it) on a calibration half of the benign accounts (stable hash of the id), the best an
  operator with labelled history could do; their reported FPR includes that half. PRADA (Juuti et al.
  2019) uses each account's first 100 queries with text, hashed word 1-2-gram vectors, cosine distance,
  the growing-set rule, and Shapiro-Wilk W on the min-distance list (>= 20 queries needed, so lighter
  accounts are never tested). The MMD window test needs no labels: the first 20% of the time span is
  the reference (a provider's history); half the accounts active then (stable hash) supply 300
  reference queries, the other half's reference-period windows give the benign-vs-benign null;
  statistic sqrt(window size) x unbiased MMD^2 (RBF kernel on the same vectors) over windows of 25
  queries (at least 5); threshold = the 99.9% quantile of the null.
- Throughput: `raw_read_seconds` is DuckDB reading the same traffic files once
  (`read_json_objects`, decompress + parse) in the same run; `scan_over_raw_read` is issue 4's ratio
  (target <= 5); `ingest_plus_scan_over_raw_read` counts ingest too. Peak memory is the resident set
  sampled every 50 ms during each phase (DuckDB included).
"""


def run_preset(preset: str, args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    out = Path(args.out) / preset
    command = [str(Path(sys.executable).parent / "distillguard"), "bench", "--preset", preset]
    command += ["--out", str(out), "--checkpoint-hours", str(args.checkpoint_hours)]
    scale = dict(item.split("=", 1) for item in args.scale)
    if preset in scale:
        command += ["--scale", scale[preset]]
    if args.corpus:
        command += ["--corpus", args.corpus]
    printable = "distillguard " + shlex.join(command[1:])
    print(f"$ {printable}", flush=True)
    subprocess.run(command, check=True)
    return printable, json.loads((out / "results.json").read_text(encoding="utf-8"))


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def target_lines(results: dict[str, Any]) -> list[str]:
    ours = next((d for d in results["detectors"] if d["detector"] == "distillguard"), None)
    if ours is None:
        return ["- distillguard: detection pipeline not available in this run (baselines only)."]
    lines = []
    for key, text in TARGET_TEXT.items():
        met = ours["targets"].get(key)
        verdict = "n/a" if met is None else ("met" if met else "NOT MET")
        lines.append(f"- {text}: {_fmt(ours.get(key))} -> **{verdict}**")
    ratio = results["performance"].get("scan_over_raw_read")
    if results["dataset"].get("preset") != "medium":
        # The issue sets this target on the medium preset: on a data set read in well under a
        # second the fixed cost of its dozens of SQL steps dominates the ratio.
        lines.append(f"- scan / plain DuckDB read: {_fmt(ratio)}x (the 5x target is set on medium)")
        return lines
    verdict = "n/a" if ratio is None else ("met" if ratio <= 5 else "NOT MET")
    lines.append(f"- scan within 5x a plain DuckDB read: {_fmt(ratio)}x -> **{verdict}**")
    return lines


def glance(runs: list[tuple[str, dict[str, Any]]]) -> str:
    """One row per run and detector: the figures that say who catches hydras and who does not."""
    header = "| data set | detector | recall@extraction | FPR | TPR@0.1%FPR | AUROC | cluster ARI |"
    lines = [
        "At a glance (details per run below):",
        "",
        header,
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for _, results in runs:
        ds = results["dataset"]
        label = f"{ds['preset']} ({ds['events']} events)"
        for d in results["detectors"]:
            cells = [d["recall_at_extraction"], d["false_positive_rate"], d["tpr_at_0.1%_fpr"]]
            pcts = [("n/a" if v is None else f"{100 * v:.1f}%") for v in cells]
            auroc = "n/a" if d["auroc"] is None else f"{d['auroc']:.3f}"
            ari = "n/a" if d["cluster_ari"] is None else f"{d['cluster_ari']:.2f}"
            lines.append(f"| {label} | {d['detector']} | {' | '.join(pcts)} | {auroc} | {ari} |")
    return "\n".join(lines)


def section(runs: list[tuple[str, dict[str, Any]]]) -> str:
    sys.path.insert(0, str(ROOT / "src"))
    from distillguard.bench.tables import markdown_tables

    parts = ["## Detection quality against ground truth and baselines", "", METHOD, glance(runs), ""]
    for command, results in runs:
        ds, machine = results["dataset"], results["machine"]
        parts += [
            f"### {ds['preset']}: {ds['events']} events, {ds['accounts_with_events']} accounts, "
            f"{ds['attacker_accounts']} attackers in {ds['campaigns']} campaigns",
            "",
            f"- date: {results['date']}",
            f"- machine: {machine['platform']}, {machine['cpus']} CPUs, {machine['memory_gb']} GB RAM, "
            f"Python {machine['python']}, DuckDB {machine['duckdb']}",
            f"- command: `{command}`",
            *[f"- note: {n}" for n in results.get("notes", [])],
            "",
            "Issue 4 targets for distillguard on this run:",
            "",
            *target_lines(results),
            "",
            markdown_tables(results),
        ]
    return "\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("presets", nargs="*")
    parser.add_argument(
        "--from-results",
        action="append",
        default=[],
        metavar="DIR",
        help="Also record an earlier run's DIR/results.json (its own command is quoted).",
    )
    parser.add_argument("--out", default="/tmp/distillguard-bench")
    parser.add_argument("--scale", action="append", default=[], metavar="PRESET=F")
    parser.add_argument("--checkpoint-hours", type=float, default=6.0)
    parser.add_argument("--corpus", default=None)
    parser.add_argument("--no-docs", action="store_true", help="Do not rewrite docs/BENCHMARKS.md.")
    args = parser.parse_args()
    runs = [run_preset(preset, args) for preset in args.presets]
    for directory in args.from_results:
        results = json.loads((Path(directory) / "results.json").read_text(encoding="utf-8"))
        runs.append((results["command"], results))
    if args.no_docs:
        return
    text = DOC.read_text(encoding="utf-8")
    if not SECTION.search(text):
        raise SystemExit(f"{DOC}: no <!-- section:detection --> markers")
    DOC.write_text(SECTION.sub(lambda m: m.group(1) + section(runs) + m.group(3), text), encoding="utf-8")
    print(f"updated the detection section of {DOC}")


if __name__ == "__main__":
    main()
