"""The bench end to end on a planted data set in the simulator's contract layout."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from distillguard.bench import BenchError, BenchOptions, run_bench
from distillguard.bench import run as bench_run
from distillguard.cli import app
from distillguard.config import Config
from distillguard.schema import ACCOUNT_SCORES
from distillguard.warehouse import Warehouse

from .synthetic import Planted, events_table, plant, write_dataset


@pytest.fixture(scope="module")
def planted() -> Planted:
    return plant()


def _load_directly(planted: Planted) -> Any:
    """Stand-in for ingest (its own room), so these tests do not wait on it."""

    def load(warehouse: Warehouse, config: Config, data_dir: Path, files: list[Path]) -> None:
        warehouse.insert_events(events_table(planted))

    return load


def _fake_scan(warehouse: Warehouse, config: Config, *, until: datetime | None = None) -> None:
    """A stand-in pipeline: accounts with 20+ reasoning-request prompts so far, all in one cluster."""
    rows = warehouse.engine.to_arrow(
        """
        SELECT account_id, count(*) FILTER (WHERE prompt_text LIKE '%full reasoning%') AS hits, count(*) AS n
        FROM events WHERE ts_start <= coalesce(CAST(? AS TIMESTAMPTZ), ts_start) GROUP BY 1
        """,
        [until],
    ).to_pylist()
    scores = [
        {
            "account_id": r["account_id"],
            "risk": 0.9 if r["hits"] >= 20 else 0.1,
            "verdict": "extraction" if r["hits"] >= 20 else "ok",
            "cluster_id": "k1" if r["hits"] >= 20 else None,
            "events": r["n"],
            "reasons": [],
        }
        for r in rows
    ]
    warehouse.replace_table("account_scores", pa.Table.from_pylist(scores, schema=ACCOUNT_SCORES))


def test_bench_reports_baselines_and_distillguard(
    tmp_path: Path, planted: Planted, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_dataset(planted, tmp_path / "data")
    monkeypatch.setattr(bench_run, "ingest", _load_directly(planted))
    monkeypatch.setattr(bench_run, "load_scan", lambda: (_fake_scan, ""))
    results = run_bench(BenchOptions(data=data, out=tmp_path / "out", checkpoint_hours=12))

    by_name = {d["detector"]: d for d in results["detectors"]}
    assert set(by_name) == {"rate-limit", "prada", "mmd", "distillguard"}
    ours = by_name["distillguard"]
    assert ours["recall_at_extraction"] == 1.0 and ours["false_positive_rate"] == 0.0
    # Both campaigns in one stand-in cluster: the lone greedy account is merged into the 12-account
    # hydra, 12 of its 78 pairs wrong: (66 - E) / (72 - E), E the chance agreement over every scored account.
    pairs = ours["cluster_ari_accounts"] * (ours["cluster_ari_accounts"] - 1) / 2
    chance = 66 * 78 / pairs
    assert ours["cluster_ari"] == pytest.approx((66 - chance) / (72 - chance))
    assert ours["cluster_ari_attackers_and_flagged_only"] == pytest.approx(0.0)
    assert by_name["rate-limit"]["cluster_ari"] is None
    assert "no clusters (per-account only)" in by_name["rate-limit"]["fails_where"]
    hydra = next(c for c in ours["campaigns"] if c["campaign_id"] == "c-hydra")
    # Replay at 12-hour checkpoints: the first flag lands on the grid, after the onset.
    assert hydra["hours_to_first_flag"] > 0
    assert 0 < hydra["harvested_before_first_flag"] < 1
    perf = results["performance"]
    assert perf["events_stored"] == len(planted.events)
    assert perf["raw_records"] == len(planted.events)
    # 20 regular 12-hour checkpoints over 10 days, plus 11 probes after each of the 2 onsets, one of
    # which coincides (hydra onset + 32 h = greedy onset + 8 h).
    assert perf["scan_over_raw_read"] > 0 and perf["replay_checkpoints"] == 20 + 22 - 1

    written = json.loads((tmp_path / "out" / "results.json").read_text())
    assert written["detectors"][3]["detector"] == "distillguard"
    markdown = (tmp_path / "out" / "results.md").read_text()
    assert "| distillguard |" in markdown and "TPR@0.1%FPR" in markdown


def test_bench_without_the_pipeline_reports_baselines_only(
    tmp_path: Path, planted: Planted, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_dataset(planted, tmp_path / "data")
    monkeypatch.setattr(bench_run, "ingest", _load_directly(planted))
    monkeypatch.setattr(bench_run, "load_scan", lambda: (None, "detection pipeline not available yet"))
    results = run_bench(BenchOptions(data=data, out=tmp_path / "out"))
    assert [d["detector"] for d in results["detectors"]] == ["rate-limit", "prada", "mmd"]
    assert any("not available yet" in n for n in results["notes"])


def test_bench_needs_exactly_one_data_source(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="exactly one"):
        run_bench(BenchOptions(out=tmp_path))


def test_cli_bench_runs_end_to_end_with_real_ingest(tmp_path: Path, planted: Planted) -> None:
    try:
        from distillguard.ingest import ingest_paths  # noqa: F401
    except ImportError:
        pytest.skip("distillguard.ingest.ingest_paths is not built yet (ingest issue)")
    data = write_dataset(planted, tmp_path / "data")
    result = CliRunner().invoke(
        app, ["bench", "--data", str(data), "--out", str(tmp_path / "out"), "--checkpoint-hours", "24"]
    )
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["performance"]["events_stored"] == len(planted.events)
    assert "rate-limit" in result.output and "prada" in result.output


def test_cli_bench_names_a_bad_data_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "--data", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "nope" in result.output and "Traceback" not in result.output


def test_without_replay_detection_times_are_unknown_not_never(
    tmp_path: Path, planted: Planted, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_dataset(planted, tmp_path / "data")
    monkeypatch.setattr(bench_run, "ingest", _load_directly(planted))
    monkeypatch.setattr(bench_run, "load_scan", lambda: (_fake_scan, ""))
    results = run_bench(BenchOptions(data=data, out=tmp_path / "out", checkpoint_hours=0))
    ours = results["detectors"][-1]
    assert ours["detector"] == "distillguard"
    assert all(c["hours_to_first_flag"] is None for c in ours["campaigns"])
    assert ours["worst_harvested_before_first_flag"] is None
    assert not any(reason.startswith("late on") for reason in ours["fails_where"])


def test_an_attacker_account_that_never_sent_a_request_is_not_a_missed_member(
    tmp_path: Path, planted: Planted, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recall leaves out accounts with no traffic; ARI and per-campaign recall must too."""
    silent = {"account_id": "hydra-never-active", "population": "attacker", "campaign_id": "c-hydra"}
    with_silent = Planted(
        planted.events, [*planted.truth_accounts, {**silent, "role": "attacker"}], planted.campaigns
    )
    results = {}
    for name, data_set in (("plain", planted), ("silent", with_silent)):
        data = write_dataset(data_set, tmp_path / name)
        monkeypatch.setattr(bench_run, "ingest", _load_directly(planted))
        monkeypatch.setattr(bench_run, "load_scan", lambda: (_fake_scan, ""))
        results[name] = run_bench(BenchOptions(data=data, out=tmp_path / f"out-{name}", checkpoint_hours=0))
    plain, quiet = (results[n]["detectors"][-1] for n in ("plain", "silent"))
    assert quiet["cluster_ari"] == pytest.approx(plain["cluster_ari"])
    recall = {
        n: next(c for c in r["detectors"][-1]["campaigns"] if c["campaign_id"] == "c-hydra")["recall"]
        for n, r in results.items()
    }
    assert recall["silent"] == pytest.approx(recall["plain"])


def test_no_baselines_times_distillguard_alone(
    tmp_path: Path, planted: Planted, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_dataset(planted, tmp_path / "data")
    monkeypatch.setattr(bench_run, "ingest", _load_directly(planted))
    monkeypatch.setattr(bench_run, "load_scan", lambda: (_fake_scan, ""))
    results = run_bench(BenchOptions(data=data, out=tmp_path / "out", checkpoint_hours=0, baselines=False))
    assert [d["detector"] for d in results["detectors"]] == ["distillguard"]
    assert any("baselines skipped" in n for n in results["notes"])
    assert "| distillguard |" in (tmp_path / "out" / "results.md").read_text()
