"""Verdict thresholds from a target benign flag rate, not from constants.

Each subject's risk is read as the probability that it is a distillation operation.
Then a threshold ``t`` flags, in expectation, ``sum(1 - risk)`` benign subjects over
those at or above ``t``, out of ``sum(1 - risk)`` benign subjects in all. The scan picks
the lowest ``t`` (never below the floor setting) whose expected benign flag rate stays
within the target, and reports the rate it expects. A deployment with a few risky
accounts among many ordinary ones gets a threshold near the floor; one with many
borderline accounts gets a stricter one, so the same setting travels between providers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from distillguard.config import SETTINGS
from distillguard.detectors.spec import DetectorSpec

# The rates and floors are settings (config.py); the spec shows their defaults.
_DEFAULTS = {s.name: s.default for s in SETTINGS}

CALIBRATION = DetectorSpec(
    "scan.calibration",
    "Verdict thresholds from a target benign flag rate",
    "scan",
    "The extraction threshold is the lowest risk (never below the extraction floor) at which the "
    "expected share of benign subjects flagged, reading risks as probabilities, stays within "
    "target_benign_flag_rate; the watch threshold likewise with target_benign_watch_rate. Both rates "
    "and floors are settings; the scan reports the thresholds and the rates it expects.",
    (),
    {
        "target_benign_flag_rate": _DEFAULTS["target_benign_flag_rate"],
        "target_benign_watch_rate": _DEFAULTS["target_benign_watch_rate"],
        "extraction_floor": _DEFAULTS["risk_extraction_threshold"],
        "watch_floor": _DEFAULTS["risk_watch_threshold"],
        "min_expected_benign": 0.5,
    },
    why={
        "target_benign_flag_rate": "one customer in a thousand wrongly called extraction is the most a "
        "provider can review by hand (a setting)",
        "target_benign_watch_rate": "watch only adds review, so ten times as many may be watched (a setting)",
        "extraction_floor": "never call extraction what is more likely than about one in three to be "
        "benign, however few risky subjects there are (a setting)",
        "watch_floor": "below this a subject is not worth an analyst's time (a setting)",
        "min_expected_benign": "in a small deployment a rate is finer than one customer: half an "
        "expected wrong flag is allowed however few subjects there are",
    },
)


@dataclass(frozen=True)
class Thresholds:
    watch: float
    extraction: float
    expected_benign_flag_rate: float
    expected_benign_watch_rate: float


def threshold_for(
    risks: Sequence[float], *, target_rate: float, floor: float, min_expected_benign: float = 0.0
) -> tuple[float, float]:
    """The lowest threshold >= ``floor`` whose expected benign flag rate is within ``target_rate``.

    Returns (threshold, expected rate at it). With no subject above the floor the floor stands.
    """
    ordered = sorted((min(1.0, max(0.0, r)) for r in risks), reverse=True)
    benign_total = sum(1.0 - r for r in ordered)
    if benign_total <= 0:
        return floor, 0.0
    budget = max(target_rate * benign_total, min_expected_benign)
    threshold, spent, expected = 1.0, 0.0, 0.0
    i = 0
    while i < len(ordered) and ordered[i] >= floor:
        # subjects with equal risk are flagged together or not at all
        j = i
        group = 0.0
        while j < len(ordered) and ordered[j] == ordered[i]:
            group += 1.0 - ordered[j]
            j += 1
        if spent + group > budget:
            break
        spent += group
        threshold = ordered[i]
        expected = spent / benign_total
        i = j
    if i == 0:  # not even the riskiest subject fits the budget
        return max(floor, min(1.0, ordered[0] + 1e-9) if ordered else floor), 0.0
    return max(floor, threshold), expected


def calibrate(
    risks: Sequence[float],
    *,
    target_benign_flag_rate: float,
    target_benign_watch_rate: float,
    extraction_floor: float,
    watch_floor: float,
) -> Thresholds:
    minimum = float(CALIBRATION["min_expected_benign"])
    extraction, flag_rate = threshold_for(
        risks, target_rate=target_benign_flag_rate, floor=extraction_floor, min_expected_benign=minimum
    )
    watch, watch_rate = threshold_for(
        risks, target_rate=target_benign_watch_rate, floor=watch_floor, min_expected_benign=minimum
    )
    return Thresholds(min(watch, extraction), extraction, flag_rate, watch_rate)
