"""The ordered registry of detectors the scan runs.

Add an account-level signal by writing its module under ``detectors/account/`` and
adding one line to ``ACCOUNT_SIGNALS``: its score joins every subject's evidence, its
weight joins the risk, its explanation joins the reasons, and its spec joins
docs/detectors.md. The other levels are listed here in the order they run.
"""

from __future__ import annotations

from distillguard.detectors import cohort
from distillguard.detectors.account import (
    AccountSignal,
    capability_focus,
    coverage,
    end_user_breadth,
    established,
    harvest_breadth,
    harvest_volume,
    model_pivot,
    nothing_collected,
    product_system_prompt,
    proxy_rotation,
    repetition,
    signup,
    single_turn,
    templated,
    timing,
    token_max,
    training_shaped,
    volume_onset,
)
from distillguard.detectors.account.evidence import MEMBERSHIP, OWN_RISK
from distillguard.detectors.catalogue import prompt_level_specs
from distillguard.detectors.cluster_features import CLUSTER_RISK
from distillguard.detectors.graph_edges import GRAPH_DETECTORS, GRAPH_LINKS
from distillguard.detectors.lifecycle_ties import LIFECYCLE_TIES
from distillguard.detectors.spec import DetectorSpec
from distillguard.scan.calibration import CALIBRATION
from distillguard.scan.subjects import END_USERS

ACCOUNT_SIGNALS: tuple[AccountSignal, ...] = (
    training_shaped.SIGNAL,
    harvest_volume.SIGNAL,
    coverage.SIGNAL,
    harvest_breadth.SIGNAL,
    templated.SIGNAL,
    capability_focus.SIGNAL,
    token_max.SIGNAL,
    single_turn.SIGNAL,
    proxy_rotation.SIGNAL,
    signup.SIGNAL,
    volume_onset.SIGNAL,
    model_pivot.SIGNAL,
    timing.SIGNAL,
    end_user_breadth.SIGNAL,
    product_system_prompt.SIGNAL,
    established.SIGNAL,
    repetition.SIGNAL,
    nothing_collected.SIGNAL,
)


def signal_aggregates() -> tuple[str, ...]:
    """Every registered signal's own per-subject aggregates, each once."""
    seen: dict[str, None] = {}
    for signal in ACCOUNT_SIGNALS:
        for aggregate in signal.aggregates:
            seen.setdefault(aggregate, None)
    return tuple(seen)


def catalogue() -> list[tuple[str, list[DetectorSpec]]]:
    """Every detector's spec by level, in the order the scan runs them (docs/detectors.md)."""
    return [
        ("Prompt level", prompt_level_specs()),
        ("Subject level: accounts and end users", [OWN_RISK, *(s.spec for s in ACCOUNT_SIGNALS), END_USERS]),
        ("Cluster level", [MEMBERSHIP, GRAPH_LINKS, LIFECYCLE_TIES, *GRAPH_DETECTORS, CLUSTER_RISK]),
        ("Cohort level", [cohort.SPEC]),
        ("Verdicts", [CALIBRATION]),
    ]
