"""Detectors: specs plus pure builders that return SQL steps.

The prompt level is ``prompt_steps`` (batch, SQL) and ``prompt_matcher.match_prompt``
(real time, Python), both compiled from the YAML lexicons in ``patterns/``.
"""

from distillguard.detectors.prompt_level import prompt_steps
from distillguard.detectors.spec import DetectorSpec

__all__ = ["DetectorSpec", "prompt_steps"]
