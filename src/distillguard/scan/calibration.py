"""Verdict thresholds from a target benign flag rate, not from constants.

A risk means the same thing in every deployment because the scale is fixed by the
detectors' specs. What a threshold on it costs in wrongly flagged customers is measured
once, on randomised scenarios (``distillguard bench --matrix``): for each candidate
threshold, the share of benign accounts at or above it in the worst scenario. That table
ships with the package (``data/calibration.json``, with the command and date that made
it). A scan takes the lowest threshold, never below the floor setting, whose worst-case
benign flag rate is within ``target_benign_flag_rate`` (watch: within
``target_benign_watch_rate``), and reports the rate the table expects at it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from distillguard.config import SETTINGS
from distillguard.detectors.spec import DetectorSpec

# The rates and floors are settings (config.py); the spec shows their defaults.
_DEFAULTS = {s.name: s.default for s in SETTINGS}

CALIBRATION = DetectorSpec(
    "scan.calibration",
    "Verdict thresholds from a target benign flag rate",
    "scan",
    "The extraction threshold is the lowest risk (never below the extraction floor) at which the "
    "benign flag rate measured on randomised scenarios, worst scenario, stays within "
    "target_benign_flag_rate at that threshold and every higher one; the watch threshold likewise "
    "with target_benign_watch_rate. The rates and floors are settings; the measured table is package "
    "data (data/calibration.json) written by bench/calibrate_thresholds.py.",
    (),
    {
        "target_benign_flag_rate": _DEFAULTS["target_benign_flag_rate"],
        "target_benign_watch_rate": _DEFAULTS["target_benign_watch_rate"],
        "extraction_floor": _DEFAULTS["risk_extraction_threshold"],
        "watch_floor": _DEFAULTS["risk_watch_threshold"],
    },
    why={
        "target_benign_flag_rate": "one customer in a thousand wrongly called extraction is the most a "
        "provider can review by hand (a setting)",
        "target_benign_watch_rate": "watch only adds review, so ten times as many may be watched "
        "(a setting)",
        "extraction_floor": "never call extraction what the evidence does not make more likely than not, "
        "with a margin, whatever the measurements say: on 20 randomised scenarios the worst benign flag "
        "rate at 0.6 was 0.079%, within the 0.1% target (a setting)",
        "watch_floor": "below this a subject is not worth an analyst's time (a setting)",
    },
)


@dataclass(frozen=True)
class CalibrationPoint:
    threshold: float
    worst_benign_rate: float
    median_benign_rate: float


@dataclass(frozen=True)
class Thresholds:
    watch: float
    extraction: float
    expected_benign_flag_rate: float | None  # worst-case rate measured at the threshold, if known
    expected_benign_watch_rate: float | None


@cache
def measured_points() -> tuple[CalibrationPoint, ...]:
    """The shipped table (empty when the package has none: the floors then stand)."""
    try:
        text = resources.files("distillguard").joinpath("data/calibration.json").read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return ()
    document = json.loads(text)
    return tuple(
        CalibrationPoint(float(p["threshold"]), float(p["worst_benign_rate"]), float(p["median_benign_rate"]))
        for p in document["points"]
    )


def threshold_for(
    points: Sequence[CalibrationPoint], *, target_rate: float, floor: float
) -> tuple[float, float | None]:
    """The lowest threshold >= ``floor`` whose measured rate, and every higher one's, is within target."""
    ordered = sorted(points, key=lambda p: p.threshold)
    chosen: CalibrationPoint | None = None
    for point in reversed(ordered):
        if point.worst_benign_rate > target_rate:
            break
        chosen = point
    if not ordered:
        return floor, None
    if chosen is None:  # even the strictest measured threshold flags too many: stricter than all
        top = ordered[-1]
        return max(floor, top.threshold), top.worst_benign_rate
    if chosen.threshold <= floor:
        at_floor = [p for p in ordered if p.threshold <= floor]
        return floor, at_floor[-1].worst_benign_rate if at_floor else chosen.worst_benign_rate
    return chosen.threshold, chosen.worst_benign_rate


def calibrate(
    *,
    target_benign_flag_rate: float,
    target_benign_watch_rate: float,
    extraction_floor: float,
    watch_floor: float,
    points: Sequence[CalibrationPoint] | None = None,
) -> Thresholds:
    table = measured_points() if points is None else tuple(points)
    extraction, flag_rate = threshold_for(table, target_rate=target_benign_flag_rate, floor=extraction_floor)
    watch, watch_rate = threshold_for(table, target_rate=target_benign_watch_rate, floor=watch_floor)
    return Thresholds(min(watch, extraction), extraction, flag_rate, watch_rate)
