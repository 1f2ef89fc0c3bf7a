"""Volume against the subject's own baseline: an abrupt onset."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distillguard.detectors.account import AccountSignal, ramp
from distillguard.detectors.spec import DetectorSpec

SPEC = DetectorSpec(
    "account.volume_jump",
    "Volume against own baseline",
    "account",
    "Peak daily volume far above the subject's own earlier daily average: an operation switched on.",
    ("product launches", "deadline weeks"),
    {"jump_low": 3.0, "jump_high": 10.0, "weight": 0.4},
    why={
        "jump_low": "a busy day at three times the usual is ordinary",
        "jump_high": "ten times its own average is a new workload",
        "weight": "launches and deadlines do the same, so it only supports other evidence",
    },
)


def score(p: Mapping[str, Any]) -> str:
    return ramp("volume_jump", p["jump_low"], p["jump_high"])


SIGNAL = AccountSignal(
    SPEC,
    "s_volume",
    score,
    "volume_jump",
    "peak day {peak_day_events} requests, {volume_jump:.1f}x its own earlier daily average",
    group="context",
)
