"""Rotating network origin: commercial proxy pools."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distillguard.detectors.account import AccountSignal, ramp
from distillguard.detectors.spec import DetectorSpec

SPEC = DetectorSpec(
    "account.proxy_rotation",
    "Rotating network origin",
    "account",
    "Many network prefixes per request, or a new prefix on most consecutive requests across dozens "
    "of prefixes: a commercial proxy pool. A router or a cloud service rotates too, but through a "
    "handful of egress ranges.",
    ("mobile users", "LLM routers"),
    {
        "prefixes_per_request_low": 0.15,
        "prefixes_per_request_high": 0.5,
        "prefixes_low": 2,
        "prefixes_high": 8,
        "switch_low": 0.6,
        "switch_high": 0.9,
        "pool_low": 8,
        "pool_high": 32,
        "weight": 1.5,
        "group_weight": 0.3,
    },
    why={
        "prefixes_per_request_low": "a laptop and a phone give a person a few prefixes per dozens of "
        "requests",
        "prefixes_per_request_high": "a new network every other request is a rotating pool",
        "prefixes_low": "an account cannot use more prefixes than it sent requests",
        "prefixes_high": "eight requests are enough to show rotation",
        "switch_low": "mobile users switch between home and cell now and then",
        "switch_high": "switching on nearly every request is rotation by design",
        "pool_low": "a heavy account drawing from a finite pool has a low ratio but many prefixes",
        "pool_high": "dozens of prefixes in rotation is a commercial pool",
        "weight": "hiding behind residential proxies has few benign reasons among API customers",
        "group_weight": "part of the harvest summary",
    },
)


def score(p: Mapping[str, Any]) -> str:
    ratio = ramp("ip_prefixes / events", p["prefixes_per_request_low"], p["prefixes_per_request_high"])
    few = ramp("ip_prefixes", p["prefixes_low"], p["prefixes_high"])
    switch = ramp("prefix_switch_rate", p["switch_low"], p["switch_high"])
    pool = ramp("ip_prefixes", p["pool_low"], p["pool_high"])
    return f"greatest({ratio} * {few}, {switch} * {pool})"


def ceiling(events: int) -> float:
    """The highest proxy-rotation score an account with this many requests can reach."""
    low, high = SPEC["prefixes_low"], SPEC["prefixes_high"]
    return min(1.0, max(0.0, (events - low) / (high - low)))


SIGNAL = AccountSignal(
    SPEC,
    "s_proxy",
    score,
    "ip_prefixes",
    "{ip_prefixes} network prefixes and {asns} ASNs for {events} requests, "
    "{prefix_switch_rate:.0%} of consecutive requests on another prefix",
    group="harvest",
)
