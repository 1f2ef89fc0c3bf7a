"""Every account-level signal scoring uses is a documented detector spec."""

from __future__ import annotations

from distillguard.detectors.account_level import ACCOUNT_DETECTORS
from distillguard.detectors.campaigns import CAMPAIGN_DETECTORS
from distillguard.detectors.graph_edges import GRAPH_DETECTORS
from distillguard.scoring import AUX_SIGNALS, SIGNALS


def test_every_scored_signal_has_a_spec_with_false_positives() -> None:
    specs = {spec.id: spec for spec in ACCOUNT_DETECTORS}
    for signal in (*SIGNALS, *AUX_SIGNALS):
        assert signal.detector_id in specs, signal.detector_id
        assert specs[signal.detector_id].known_false_positives, signal.detector_id


def test_detector_ids_are_unique_and_levelled() -> None:
    every = [*ACCOUNT_DETECTORS, *GRAPH_DETECTORS, *CAMPAIGN_DETECTORS]
    assert len({s.id for s in every}) == len(every)
    for spec in every:
        assert spec.id.split(".")[0] == spec.level
