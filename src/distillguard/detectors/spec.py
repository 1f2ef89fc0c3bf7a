"""A detector is a spec (data a reviewer can read) plus a builder that returns SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DetectorSpec:
    id: str
    title: str
    level: str  # prompt | account | cluster | campaign
    description: str
    known_false_positives: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    references: tuple[str, ...] = ()
