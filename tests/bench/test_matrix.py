"""The scenario matrix: scoring conventions on a hand example, and two tiny scenarios end to end."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from distillguard.bench.matrix import DEFAULT_SHARED_EVAL, MatrixOptions, load_external_scorer, run_matrix
from distillguard.bench.matrix_report import summarise
from distillguard.bench.matrix_score import Label, Verdict, read_verdicts, score, tpr_at_fpr

ATT = Label(True, "camp-a", "attacker")


def _benign(population: str) -> Label:
    return Label(False, "", population)


def test_scoring_counts_only_accounts_with_traffic_and_missing_accounts_as_ok() -> None:
    labels = {
        "a1": ATT,
        "a2": ATT,
        "a3": ATT,
        "b1": _benign("devs"),
        "b2": _benign("devs"),
        "b3": _benign("apps"),
    }
    requests = {"a1": 10, "a2": 30, "b1": 5, "b2": 5, "b3": 5}  # a3 never sent anything
    verdicts = {
        "a1": Verdict("extraction", 0.9),
        "b3": Verdict("extraction", 0.95),
        "b1": Verdict("watch", 0.5),
    }
    row = score(labels, requests, verdicts)
    assert (row["attackers"], row["benign"]) == (2, 3)
    assert row["recall_at_extraction"] == 0.5  # a2 is missing from the output: ok
    assert row["false_positive_rate"] == pytest.approx(1 / 3)
    assert (row["worst_population"], row["worst_population_fpr"]) == ("apps", 1.0)
    assert row["exchange_weighted_recall"] == pytest.approx(10 / 40)
    assert row["weakest_campaign"] == "camp-a"


def test_tpr_at_fpr_counts_ties_at_the_threshold_against_the_tool() -> None:
    assert tpr_at_fpr([0.9, 0.8], [0.8, 0.1], 0.0) == 0.5  # 0.8 ties the top benign score: not separable
    assert tpr_at_fpr([0.9, 0.8], [0.7, 0.1], 0.0) == 1.0
    assert tpr_at_fpr([0.9], [0.95] + [0.0] * 999, 0.001) == 1.0  # one benign in 1,000 may sit above
    assert tpr_at_fpr([], [0.1], 0.001) is None


def test_summary_reports_the_median_and_the_worst_run() -> None:
    rows: list[dict[str, Any]] = [
        {"run": "r1", "kind": "randomised", "tpr_at_0.1%_fpr": 0.99, "false_positive_rate": 0.0},
        {"run": "r2", "kind": "randomised", "tpr_at_0.1%_fpr": 0.40, "false_positive_rate": 0.002},
        {"run": "r3", "kind": "randomised", "tpr_at_0.1%_fpr": 0.90, "false_positive_rate": 0.0005},
        {"run": "x7", "kind": "external", "error": "scan failed"},
    ]
    s = summarise(rows)
    assert s["randomised"]["median"]["tpr_at_0.1%_fpr"] == 0.90
    assert s["randomised"]["worst"]["tpr_at_0.1%_fpr"]["run"] == "r2"
    assert s["randomised"]["worst"]["false_positive_rate"]["run"] == "r2"
    assert s["external"]["failed"] == ["x7"]


@pytest.mark.skipif(not (DEFAULT_SHARED_EVAL / "score_accounts.py").is_file(), reason="no ../shared/eval")
def test_scoring_agrees_with_the_external_scorer(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    with labels.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["account_id", "is_attacker", "campaign", "population"])
        out.writerows(
            [[f"a{i}", 1, "A", ""] for i in range(6)] + [[f"b{i}", 0, "", "devs"] for i in range(20)]
        )
    accounts = [f"a{i}" for i in range(6)] + [f"b{i}" for i in range(20)]
    (tmp_path / "account_requests.csv").write_text(
        "account_id,requests,exchanges\n" + "".join(f"{a},4,3\n" for a in accounts)
    )
    verdicts = tmp_path / "out.csv"
    with verdicts.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["account_id", "risk", "verdict"])
        out.writerows([[f"a{i}", 0.9 if i < 4 else 0.2, "extraction" if i < 4 else "ok"] for i in range(6)])
        out.writerows([["b0", 0.95, "extraction"], ["b1", 0.1, "ok"]])
    done = subprocess.run(
        [sys.executable, str(DEFAULT_SHARED_EVAL / "score_accounts.py"), str(labels), str(verdicts)],
        capture_output=True,
        text=True,
        check=False,
    )
    summary = dict(part.split("=") for part in done.stdout.strip().splitlines()[-1].split())
    scorer = load_external_scorer(DEFAULT_SHARED_EVAL)
    raw = scorer.load_labels(str(labels))
    counts, _ = scorer.load_counts(str(labels), None, None)
    mine = score(
        {a: Label(bool(t), c, p) for a, (t, c, p) in raw.items()},
        {a: r for a, (r, _) in counts.items()},
        read_verdicts(verdicts),
        {a: x for a, (_, x) in counts.items()},
    )
    assert float(summary["recall"]) == pytest.approx(mine["recall_at_extraction"], abs=1e-4)
    assert float(summary["fpr"]) == pytest.approx(mine["false_positive_rate"], abs=1e-4)
    assert float(summary["ewr"]) == pytest.approx(mine["exchange_weighted_recall"], abs=1e-4)


def test_two_tiny_scenarios_run_end_to_end_and_report_median_and_worst(tmp_path: Path) -> None:
    options = MatrixOptions(
        out=tmp_path, scenarios=2, base_seed=1, size="tiny", shared_eval=tmp_path / "absent"
    )
    results = run_matrix(options)
    runs = results["runs"]
    assert [r["run"] for r in runs] == ["random-1", "random-2"]
    assert all("error" not in r for r in runs), runs
    for r in runs:
        assert r["benign"] > 0 and r["events"] > 0
        assert r["false_positive_rate"] is not None
    summary = results["summary"]["randomised"]
    assert summary["runs"] == 2 and set(summary["worst"]) >= {"false_positive_rate"}
    assert any("external generator skipped" in n for n in results["notes"])
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["summary"]["randomised"]["median"].keys() == summary["median"].keys()
    report = (tmp_path / "matrix.md").read_text()
    assert "## Median and worst" in report and "random-2" in report
    assert not (tmp_path / "runs" / "random-1").exists()  # warehouses deleted without --keep
    assert (tmp_path / "scenarios" / "random-1.yaml").is_file()  # but the scenario is kept to re-run
