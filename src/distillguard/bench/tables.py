"""Results as tables: rich for the terminal, Markdown for results.md and docs/BENCHMARKS.md.

Both renderings come from the same rows (``summary_rows`` and friends), so the
terminal and the file can never disagree.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

SUMMARY_COLUMNS = (
    "detector",
    "recall@extraction",
    "FPR",
    "TPR@0.1%FPR",
    "TPR@1%FPR",
    "AUROC",
    "exch-weighted recall",
    "cluster ARI",
    "worst pop. FPR",
    "worst harvested before 1st flag",
    "fails where",
)
CAMPAIGN_COLUMNS = (
    "detector",
    "campaign",
    "accounts",
    "events",
    "recall",
    "exch recall",
    "caught once one is",
    "h to 1st flag",
    "harvested before 1st flag",
    "harvested while unflagged",
)


def pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{100 * value:.{digits}f}%"


def num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def summary_rows(results: dict[str, Any]) -> list[list[str]]:
    rows = []
    for d in results["detectors"]:
        rows.append(
            [
                d["detector"],
                pct(d["recall_at_extraction"]),
                pct(d["false_positive_rate"], 2),
                pct(d["tpr_at_0.1%_fpr"]),
                pct(d["tpr_at_1%_fpr"]),
                num(d["auroc"]),
                pct(d["exchange_weighted_recall"], 2),
                num(d["cluster_ari"]),
                pct(d["worst_population_fpr"], 2),
                pct(d["worst_harvested_before_first_flag"], 2),
                "; ".join(d["fails_where"]) or "-",
            ]
        )
    return rows


def campaign_rows(results: dict[str, Any]) -> list[list[str]]:
    rows = []
    for d in results["detectors"]:
        for c in d["campaigns"]:
            rows.append(
                [
                    d["detector"],
                    c["name"],
                    str(c["accounts"]),
                    str(c["events"]),
                    pct(c["recall"]),
                    pct(c["exchange_weighted_recall"], 2),
                    pct(c["share_caught_once_one_is"]),
                    num(c["hours_to_first_flag"], 1),
                    pct(c["harvested_before_first_flag"], 2),
                    pct(c["harvested_while_unflagged"], 2),
                ]
            )
    return rows


def population_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    populations = sorted({p for d in results["detectors"] for p in d["false_positives_by_population"]})
    rows = []
    for d in results["detectors"]:
        by_pop = d["false_positives_by_population"]
        rows.append(
            [d["detector"]]
            + [f"{by_pop[p]['flagged']}/{by_pop[p]['accounts']}" if p in by_pop else "-" for p in populations]
        )
    return ["detector", *populations], rows


def performance_rows(results: dict[str, Any]) -> list[list[str]]:
    perf = results.get("performance", {})
    rows = [[key, str(value)] for key, value in perf.items()]
    for d in results["detectors"]:
        rows.append([f"{d['detector']} seconds / peak RSS MB", f"{d['seconds']} / {d['peak_rss_mb']}"])
    return rows


def threshold_rows(results: dict[str, Any]) -> list[list[str]]:
    return [[d["detector"], d["threshold"]] for d in results["detectors"]]


def _rich(title: str, header: list[str] | tuple[str, ...], rows: list[list[str]]) -> Table:
    table = Table(*header, title=title, title_justify="left", show_lines=False)
    for row in rows:
        table.add_row(*row)
    return table


def print_report(results: dict[str, Any], console: Console) -> None:
    ds = results["dataset"]
    console.print(
        f"[bold]data set[/] {ds['path']}: {ds['events']} events, {ds['accounts_with_events']} accounts "
        f"({ds['attacker_accounts']} attackers in {ds['campaigns']} campaigns)"
    )
    for note in results.get("notes", []):
        console.print(f"[yellow]note:[/] {note}")
    console.print(_rich("Account, exchange and cluster level", SUMMARY_COLUMNS, summary_rows(results)))
    header, rows = population_rows(results)
    console.print(_rich("Benign accounts flagged, by population (flagged/accounts)", header, rows))
    title = "Per campaign (timings from the streaming replay)"
    console.print(_rich(title, CAMPAIGN_COLUMNS, campaign_rows(results)))
    console.print(_rich("Throughput and memory", ["measure", "value"], performance_rows(results)))
    console.print(_rich("Thresholds", ["detector", "rule"], threshold_rows(results)))


def _md(header: list[str] | tuple[str, ...], rows: list[list[str]]) -> str:
    def line(cells: list[str] | tuple[str, ...]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), line(["---"] * len(header)), *(line(r) for r in rows)])


def markdown_tables(results: dict[str, Any]) -> str:
    """The tables alone (for docs/BENCHMARKS.md, under a heading naming the run)."""
    header, pop_rows = population_rows(results)
    parts = [
        _md(SUMMARY_COLUMNS, summary_rows(results)),
        "Benign accounts flagged, by population (flagged/accounts):\n\n" + _md(header, pop_rows),
        "Per campaign (timings from the streaming replay):\n\n"
        + _md(CAMPAIGN_COLUMNS, campaign_rows(results)),
        "Throughput and memory:\n\n" + _md(["measure", "value"], performance_rows(results)),
        "Thresholds:\n\n" + _md(["detector", "rule"], threshold_rows(results)),
    ]
    return "\n\n".join(parts) + "\n"


def markdown_report(results: dict[str, Any]) -> str:
    ds = results["dataset"]
    machine = results["machine"]
    lines = [
        "# distillguard bench results",
        "",
        f"- date: {results['date']}",
        f"- command: `{results['command']}`",
        f"- machine: {machine['platform']}, {machine['cpus']} CPUs, {machine['memory_gb']} GB, "
        f"Python {machine['python']}, DuckDB {machine['duckdb']}",
        f"- data set: {ds['path']} (preset {ds['preset']}, seed {ds['seed']}): {ds['events']} events, "
        f"{ds['accounts_with_events']} accounts, {ds['attacker_accounts']} attackers in "
        f"{ds['campaigns']} campaigns",
        *[f"- note: {n}" for n in results.get("notes", [])],
        "",
        markdown_tables(results),
    ]
    return "\n".join(lines)
