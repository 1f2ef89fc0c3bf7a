"""Metric functions against small cases worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from distillguard.bench import metrics
from distillguard.bench.replay import campaign_timings, checkpoints
from distillguard.bench.truth import TruthError, load_truth

from .synthetic import plant, write_dataset


def test_auroc_counts_correctly_ordered_pairs() -> None:
    # Pairs (attacker, benign): 0.9>0.5, 0.9>0.1, 0.4<0.5, 0.4>0.1 -> 3 of 4.
    assert metrics.auroc([1, 1, 0, 0], [0.9, 0.4, 0.5, 0.1]) == pytest.approx(0.75)


def test_auroc_is_undefined_with_one_class() -> None:
    assert metrics.auroc([0, 0, 0], [0.1, 0.2, 0.3]) is None


def test_tpr_at_fpr_takes_the_best_threshold_within_the_budget() -> None:
    labels = [1, 1] + [0] * 10
    scores = [0.95, 0.5, 0.9, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05, 0.0]
    # No false positive allowed: only the 0.95 attacker is above every benign score.
    assert metrics.tpr_at_fpr(labels, scores, 0.05) == pytest.approx(0.5)
    # One benign of ten may be flagged: threshold 0.5 flags both attackers and the 0.9 benign.
    assert metrics.tpr_at_fpr(labels, scores, 0.1) == pytest.approx(1.0)


def test_tied_scores_cannot_be_separated() -> None:
    assert metrics.tpr_at_fpr([1, 0], [0.5, 0.5], 0.0) == pytest.approx(0.0)


def test_verdict_rates_and_population_breakdown() -> None:
    labels = [1, 1, 0, 0, 0, 0]
    flagged = [True, False, True, False, False, False]
    rates = metrics.verdict_rates(labels, flagged)
    assert (rates.recall, rates.false_positive_rate) == (0.5, 0.25)
    pops = metrics.false_positives_by_population(["x", "x", "uni", "uni", "bot", "bot"], labels, flagged)
    assert pops == {
        "bot": {"accounts": 2, "flagged": 0, "rate": 0.0},
        "uni": {"accounts": 2, "flagged": 1, "rate": 0.5},
    }


def test_exchange_weighted_recall_weights_accounts_by_their_exchanges() -> None:
    assert metrics.exchange_weighted_recall({"heavy": 90, "light": 10}, {"light"}) == pytest.approx(0.1)
    assert metrics.exchange_weighted_recall({}, {"light"}) is None


CAMPAIGNS = {"a1": "A", "a2": "A", "b1": "B", "b2": "B", "d": None, "e": None}


def test_ari_is_one_when_clusters_match_campaigns() -> None:
    clusters = {"a1": "X", "a2": "X", "b1": "Y", "b2": "Y"}
    # Every scored account enters; d and e (benign, unflagged) are singletons on both sides.
    assert metrics.cluster_ari(CAMPAIGNS, clusters, clusters) == (pytest.approx(1.0), 6)


def test_ari_is_low_when_two_campaigns_are_one_cluster() -> None:
    clusters = dict.fromkeys(["a1", "a2", "b1", "b2"], "X")
    # truth A A B B d e vs X X X X d e: index 2, expected 2*6/15 = 0.8, max 4 -> 1.2/3.2.
    assert metrics.cluster_ari(CAMPAIGNS, clusters, clusters)[0] == pytest.approx(0.375)
    assert metrics.cluster_ari(CAMPAIGNS, clusters, clusters, benign_singletons=False)[0] == pytest.approx(0)


def test_ari_penalises_a_missed_attacker() -> None:
    clusters = {"a1": "X", "a2": "X", "b1": "Y"}
    # Over attackers only: truth A A B B vs X X Y b2 -> (1 - 1/3) / (3/2 - 1/3) = 4/7.
    only = metrics.cluster_ari(CAMPAIGNS, clusters, clusters, benign_singletons=False)
    assert only == (pytest.approx(4 / 7), 4)
    # Over all six: index 1, expected 2*1/15, max 3/2.
    assert metrics.cluster_ari(CAMPAIGNS, clusters, clusters)[0] == pytest.approx(
        (1 - 2 / 15) / (1.5 - 2 / 15)
    )


def test_ari_penalises_a_benign_account_dragged_into_a_cluster() -> None:
    clusters = {"a1": "X", "a2": "X", "b1": "Y", "b2": "Y", "d": "X"}
    # truth A A B B d vs X X Y Y X (e unflagged stays out): (2 - 0.8) / (3 - 0.8) = 6/11.
    only = metrics.cluster_ari(CAMPAIGNS, clusters, clusters, benign_singletons=False)
    assert only == (pytest.approx(6 / 11), 5)
    # All six: index 2, expected 2*4/15, max 3.
    assert metrics.cluster_ari(CAMPAIGNS, clusters, clusters)[0] == pytest.approx((2 - 8 / 15) / (3 - 8 / 15))


def test_one_campaign_with_one_missed_account_is_not_scored_zero() -> None:
    """With a single campaign, an attackers-only index is 0 for any split; over all accounts it is not."""
    campaign = {f"h{i}": "H" for i in range(100)} | {f"u{i}": None for i in range(100)}
    clusters = {f"h{i}": "K" for i in range(99)}  # h99 missed
    assert metrics.cluster_ari(campaign, clusters, clusters, benign_singletons=False)[0] == pytest.approx(0)
    assert metrics.cluster_ari(campaign, clusters, clusters)[0] > 0.97
    # Splitting the campaign in two halves still fails the 0.9 target.
    halves = {f"h{i}": "K" if i < 50 else "L" for i in range(100)}
    assert metrics.cluster_ari(campaign, halves, halves)[0] < 0.9


def test_share_caught_once_one_is() -> None:
    assert metrics.share_caught_once_one_is(["a", "b", "c", "d"], {"b", "z"}) == pytest.approx(0.25)
    assert metrics.share_caught_once_one_is(["a", "b"], {"z"}) is None


def test_harvested_before_and_hours_to_flag() -> None:
    times = np.array([f"2026-02-01T{h:02d}:00" for h in range(10)], dtype="datetime64[us]")
    assert metrics.harvested_before(times, np.datetime64("2026-02-01T02:00", "us")) == pytest.approx(0.3)
    assert metrics.harvested_before(times, None) == 1.0
    start = datetime(2026, 2, 1, tzinfo=UTC)
    assert metrics.hours_between(start, start + timedelta(hours=7.5)) == pytest.approx(7.5)
    assert metrics.hours_between(start, None) is None


def test_threshold_at_fpr_lets_exactly_the_budget_through() -> None:
    benign = list(range(1, 11))
    assert metrics.threshold_at_fpr(benign, 0.1) == 9  # only the 10 lies above
    assert metrics.threshold_at_fpr(benign, 0.0) == 10
    assert metrics.threshold_at_fpr([], 0.1) == float("inf")


def test_campaign_timings_from_a_written_data_set(tmp_path: Path) -> None:
    planted = plant()
    truth = load_truth(write_dataset(planted, tmp_path / "data"))
    onset = truth.campaigns["c-hydra"].onset
    flag = onset + timedelta(days=1)
    timings = campaign_timings(truth, {"hydra-003": flag, "hydra-004": flag + timedelta(days=1)})
    hydra = timings["c-hydra"]
    hydra_times = [e["ts_start"] for e in planted.events if e["account_id"].startswith("hydra")]
    assert hydra.hours_to_first_flag == pytest.approx(24.0)
    assert hydra.harvested_before_first_flag == pytest.approx(
        sum(t <= flag for t in hydra_times) / len(hydra_times)
    )
    assert hydra.share_caught_at_first_flag == pytest.approx(1 / 12)
    # Exchanges of never-flagged accounts all count as harvested.
    assert hydra.harvested_while_unflagged > hydra.harvested_before_first_flag
    assert timings["c-greedy"].first_flag is None
    assert timings["c-greedy"].harvested_before_first_flag == 1.0


def test_checkpoints_cover_the_span_and_are_capped() -> None:
    start = datetime(2026, 2, 1, tzinfo=UTC)
    grid = checkpoints(start, start + timedelta(hours=30), 6)
    assert grid[0] == start + timedelta(hours=6) and grid[-1] >= start + timedelta(hours=30)
    assert len(checkpoints(start, start + timedelta(days=365), 1)) <= 48


def test_missing_truth_is_a_one_line_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(TruthError, match=r"truth/accounts\.csv"):
        load_truth(tmp_path)
