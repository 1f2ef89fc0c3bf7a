"""A detector is a spec (data a reviewer can read) plus a builder that returns SQL.

Every number a detector uses is one of its spec's ``parameters``, with the reason for
its value in ``why``: docs/detectors.md is generated from the specs, so the catalogue a
provider reads is the configuration the code runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DetectorSpec:
    id: str
    title: str
    level: str  # prompt | account | end_user | cluster | cohort | campaign
    description: str
    known_false_positives: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    references: tuple[str, ...] = ()
    # parameter name -> why it has this value, in words a provider would accept
    why: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        """A parameter's value (KeyError names the detector, so a typo is found at import)."""
        try:
            return self.parameters[name]
        except KeyError:
            raise KeyError(f"{self.id}: no parameter {name!r}") from None
