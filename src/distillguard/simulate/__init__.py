"""Traffic simulator with ground truth: benign hard negatives and distillation campaigns.

``simulate(preset("tiny"), Path("data"))`` writes the data-set layout documented in
docs/simulator.md; the CLI is ``distillguard simulate``.
"""

from distillguard.simulate.presets import PRESETS, load_scenario, preset
from distillguard.simulate.run import run_scenario, simulate
from distillguard.simulate.scenario import Scenario, ScenarioError

__all__ = ["PRESETS", "Scenario", "ScenarioError", "load_scenario", "preset", "run_scenario", "simulate"]
