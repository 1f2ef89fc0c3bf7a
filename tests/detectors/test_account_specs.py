"""Every detector the scan runs has a spec: every number it uses is a parameter with a reason."""

from __future__ import annotations

from distillguard.detectors.campaigns import CAMPAIGN_DETECTORS
from distillguard.scan.registry import ACCOUNT_SIGNALS, catalogue


def test_every_scored_signal_has_a_spec_with_false_positives_and_reasons() -> None:
    for signal in ACCOUNT_SIGNALS:
        spec = signal.spec
        assert spec.known_false_positives, spec.id
        assert "weight" in spec.parameters or signal.shown_only, spec.id
        missing = set(spec.parameters) - set(spec.why)
        assert not missing, f"{spec.id}: parameters without a reason: {sorted(missing)}"


def test_business_context_counts_against_risk_and_harvest_for_it() -> None:
    weights = {s.id: s.weight for s in ACCOUNT_SIGNALS}
    assert weights["account.harvest_volume"] > 0 and weights["account.training_shaped"] > 0
    for context in ("account.end_user_breadth", "account.product_system_prompt", "account.established"):
        assert weights[context] < 0, context
        # context offsets evidence; it never outweighs harvest volume and content together
        assert -weights[context] < weights["account.harvest_volume"] + weights["account.training_shaped"]


def test_detector_ids_are_unique_and_levelled() -> None:
    every = [spec for _, specs in catalogue() for spec in specs] + list(CAMPAIGN_DETECTORS)
    assert len({s.id for s in every}) == len(every)
    for spec in every:
        if spec.level in ("account", "cluster", "cohort", "campaign", "end_user"):
            assert spec.id.split(".")[0] in (spec.level, "graph"), spec.id


def test_every_parameter_of_every_detector_the_scan_runs_has_a_reason() -> None:
    for _, specs in catalogue():
        for spec in specs:
            missing = set(spec.parameters) - set(spec.why)
            assert not missing, f"{spec.id}: parameters without a reason: {sorted(missing)}"
