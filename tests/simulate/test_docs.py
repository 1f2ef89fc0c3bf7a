"""Every scenario knob is documented, so a user can find what a field does."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from distillguard.simulate.scenario import CampaignConfig, ModelSpec, PivotConfig, PopulationConfig, Scenario

DOC = Path(__file__).resolve().parents[2] / "docs" / "simulator.md"


@pytest.mark.parametrize("cls", [Scenario, ModelSpec, PopulationConfig, CampaignConfig, PivotConfig])
def test_every_knob_is_in_docs(cls: type) -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [f.name for f in dataclasses.fields(cls) if f"`{f.name}`" not in text]
    assert not missing, f"{cls.__name__} knobs missing from {DOC.name}: {missing}"
