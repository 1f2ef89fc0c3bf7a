"""Each baseline catches a planted obvious attacker and leaves a planted quiet benign account alone."""

from __future__ import annotations

import numpy as np
import pytest

from distillguard.bench import baselines
from distillguard.warehouse import Warehouse

from .synthetic import Planted, events_table, plant


@pytest.fixture(scope="module")
def planted() -> Planted:
    return plant()


@pytest.fixture
def loaded(warehouse: Warehouse, planted: Planted) -> Warehouse:
    warehouse.insert_events(events_table(planted))
    return warehouse


def _calibration(planted: Planted) -> set[str]:
    return baselines.calibration_split(
        a["account_id"] for a in planted.truth_accounts if a["role"] == "benign"
    )


def test_rate_limit_flags_a_flood_and_not_a_quiet_account(loaded: Warehouse, planted: Planted) -> None:
    out = baselines.rate_limit(loaded.engine, calibration=_calibration(planted), target_fpr=0.01)
    assert "greedy" in out.flagged
    assert "quiet-dev" not in out.flagged
    # The flood started at day 5, 00:00; the limit is crossed within its first hour.
    assert out.first_flag["greedy"].strftime("%Y-%m-%d %H") == "2026-02-06 00"


def test_prada_flags_templated_queries_and_not_varied_ones(loaded: Warehouse, planted: Planted) -> None:
    sample = baselines.query_sample(loaded.engine, cap=100)
    out = baselines.prada(sample, calibration=_calibration(planted), target_fpr=0.01)
    assert "greedy" in out.flagged
    assert "quiet-dev" not in out.flagged
    assert out.scores["greedy"] > out.scores["quiet-dev"]


def test_prada_distances_follow_the_growing_set_and_flat_ones_are_non_normal() -> None:
    distances = baselines.prada_distances(np.eye(3))
    assert distances.tolist() == [1.0, 1.0]
    assert baselines.shapiro_w(distances) == 0.0  # no spread: treated as maximally non-normal


def test_mmd_flags_off_distribution_windows_and_not_reference_like_ones(
    loaded: Warehouse, planted: Planted
) -> None:
    sample = baselines.query_sample(loaded.engine, cap=100)
    out = baselines.mmd_window_test(sample, target_fpr=0.01)
    assert "greedy" in out.flagged and "hydra-000" in out.flagged
    assert "quiet-dev" not in out.flagged
    # The first flagged window of the flood ends within the flood.
    assert out.first_flag["greedy"].strftime("%Y-%m-%d") == "2026-02-06"
