"""The learned-combination check keeps risk monotone and scores as the matrix does."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import learned_combination as lc  # noqa: E402


def _scenario(rng: np.random.Generator, n: int = 400) -> lc.Scenario:
    attacker = rng.random(n) < 0.2
    features = rng.random((n, len(lc.NAMES))) * 0.2
    first_positive = int(np.argmax(lc.HAND > 0))
    first_negative = int(np.argmax(lc.HAND < 0))
    features[attacker, first_positive] += 0.8  # real evidence
    features[attacker, first_negative] += 0.8  # business context that happens to go with attackers here
    return features, attacker


def test_fit_keeps_each_weight_on_its_side() -> None:
    """A counter-evidence signal that correlates with attackers in the training data must not
    turn into evidence: a learned weight never changes sign, so risk stays monotone."""
    rng = np.random.default_rng(7)
    params = lc.fit([_scenario(rng), _scenario(rng)], l2=0.0)
    weights = params[1:]
    assert np.all(weights[lc.HAND > 0] >= 0)
    assert np.all(weights[lc.HAND < 0] <= 0)
    assert weights[int(np.argmax(lc.HAND > 0))] > lc.HAND[int(np.argmax(lc.HAND > 0))]  # it did learn


def test_tpr_at_fpr_counts_ties_against_the_combination() -> None:
    z = np.array([0.9, 0.5, 0.5, 0.1, 0.1])
    attacker = np.array([True, True, False, False, False])
    assert lc.tpr_at_fpr(z, attacker, fpr=0.0) == 0.5  # the attacker tied with a benign account is missed
    assert lc.tpr_at_fpr(z, attacker, fpr=0.34) == 1.0  # one benign account of three may pass
