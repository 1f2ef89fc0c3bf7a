"""The matrix's summary (median and worst scenario) and its two outputs, results.json and matrix.md."""

from __future__ import annotations

import json
import statistics
from functools import partial
from pathlib import Path
from typing import Any

from distillguard.bench.tables import pct

METRICS = (
    "recall_at_extraction",
    "false_positive_rate",
    "worst_population_fpr",
    "exchange_weighted_recall",
    "tpr_at_0.1%_fpr",
    "auroc",
)
# (title, metric, which end is worse): the brief's two headline "worst" views plus recall.
WORST_BY = (
    ("lowest TPR at FPR <= 0.1%", "tpr_at_0.1%_fpr", min),
    ("highest false-positive rate", "false_positive_rate", max),
    ("highest worst-population FPR", "worst_population_fpr", max),
    ("lowest recall at extraction", "recall_at_extraction", min),
)
COLUMNS = (
    "run",
    "events",
    "attackers",
    "benign",
    "recall",
    "FPR",
    "worst pop. (FPR)",
    "EWR",
    "TPR@0.1%",
    "AUROC",
    "weakest campaign",
    "sim+scan s",
)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _value(metric: str, row: dict[str, Any]) -> float:
    return float(row[metric])


def _group_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in rows if "error" not in r]
    summary: dict[str, Any] = {"runs": len(rows), "failed": [r["run"] for r in rows if "error" in r]}
    summary["median"] = {m: _median([r[m] for r in ok if r.get(m) is not None]) for m in METRICS}
    worst: dict[str, Any] = {}
    for title, metric, pick in WORST_BY:
        candidates = [r for r in ok if r.get(metric) is not None]
        if candidates:
            row = pick(candidates, key=partial(_value, metric))
            worst[metric] = {"title": title, "run": row["run"], "value": row[metric]}
    summary["worst"] = worst
    return summary


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and worst per group: randomised scenarios, external seeds, and all runs together."""
    groups = {
        "randomised": [r for r in rows if r.get("kind") == "randomised"],
        "external": [r for r in rows if r.get("kind") == "external"],
        "all": rows,
    }
    return {name: _group_summary(group) for name, group in groups.items() if group}


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def table_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    out = []
    for r in rows:
        if "error" in r:
            out.append([r["run"], "FAILED", *[""] * (len(COLUMNS) - 3), r["error"][:60]])
            continue
        worst_pop = (
            f"{r['worst_population']} ({pct(r['worst_population_fpr'], 2)})"
            if r.get("worst_population")
            else "-"
        )
        weakest = (
            f"{r['weakest_campaign']} ({pct(r['weakest_campaign_recall'])})"
            if r.get("weakest_campaign")
            else "-"
        )
        out.append(
            [
                r["run"],
                f"{r['events']:,}",
                str(r["attackers"]),
                str(r["benign"]),
                pct(r["recall_at_extraction"]),
                pct(r["false_positive_rate"], 2),
                worst_pop,
                pct(r["exchange_weighted_recall"]),
                pct(r["tpr_at_0.1%_fpr"]),
                _num(r["auroc"]),
                weakest,
                f"{r['simulate_seconds'] + r['scan_seconds']:.0f}",
            ]
        )
    return out


def _md_table(header: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def summary_rows(summary: dict[str, Any]) -> list[list[str]]:
    rows = []
    for group, s in summary.items():
        med = s["median"]
        failed = f", {len(s['failed'])} failed" if s["failed"] else ""
        rows.append(
            [
                f"{group} median ({s['runs']} runs{failed})",
                pct(med["recall_at_extraction"]),
                pct(med["false_positive_rate"], 2),
                pct(med["worst_population_fpr"], 2),
                pct(med["exchange_weighted_recall"]),
                pct(med["tpr_at_0.1%_fpr"]),
                _num(med["auroc"]),
            ]
        )
    return rows


def worst_rows(summary: dict[str, Any]) -> list[list[str]]:
    rows = []
    for group, s in summary.items():
        for metric, w in s["worst"].items():
            digits = 2 if metric.endswith("fpr") or metric == "false_positive_rate" else 1
            rows.append(
                [
                    group,
                    w["title"],
                    w["run"],
                    pct(w["value"], digits) if metric != "auroc" else _num(w["value"]),
                ]
            )
    return rows


def markdown(results: dict[str, Any]) -> str:
    o = results["options"]
    parts = [
        "# Scenario matrix",
        "",
        f"{o['scenarios']} randomised scenarios (size {o['size']}, seeds {o['base_seed']}.."
        f"{o['base_seed'] + o['scenarios'] - 1}) and the external generator at seeds "
        f"{', '.join(map(str, o['external_seeds'])) or 'none'} (scale {o['external_scale']}).",
        "Recall and FPR count `extraction` verdicts; TPR@0.1% is the best recall of any risk threshold "
        "letting at most 0.1% of benign accounts above it (ties count against the tool); the scored "
        "accounts are those that sent traffic.",
        "",
        "## Median and worst",
        "",
        _md_table(
            ["group", "recall", "FPR", "worst-pop. FPR", "EWR", "TPR@0.1%", "AUROC"],
            summary_rows(results["summary"]),
        ),
        "",
        _md_table(["group", "worst by", "run", "value"], worst_rows(results["summary"])),
        "",
        "## Every run",
        "",
        _md_table(COLUMNS, table_rows(results["runs"])),
        "",
    ]
    shapes = [r for r in results["runs"] if r.get("kind") == "randomised" and "error" not in r]
    if shapes:
        parts += ["## What each randomised scenario held", ""]
        parts += [
            f"- {r['run']}: campaigns {', '.join(r['shapes']) or 'none (benign only)'}; "
            f"look-alikes {', '.join(r['lookalikes']) or 'none'}"
            for r in shapes
        ]
        parts.append("")
    external = [r for r in results["runs"] if r.get("external_scorer_summary")]
    if external:
        parts += ["## External scorer's own summary (cross-check)", ""]
        parts += [f"- {r['run']}: `{r['external_scorer_summary']}`" for r in external]
        parts.append("")
    if results["notes"]:
        parts += ["## Notes", "", *[f"- {n}" for n in results["notes"]], ""]
    return "\n".join(parts)


def write_reports(results: dict[str, Any], out: Path) -> None:
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    (out / "matrix.md").write_text(markdown(results), encoding="utf-8")
