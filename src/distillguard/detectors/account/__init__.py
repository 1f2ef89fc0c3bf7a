"""Account-level signals: one module each, a spec with every parameter plus pure SQL builders.

A signal turns one row of subject features (an account, or an end user inside an
account that serves many) into an evidence score in [0, 1], and says how much that
evidence moves the subject's log-odds of being a distillation operation (``weight``,
a spec parameter: positive for evidence of harvesting, negative for business context
that explains volume). Weights have a fixed sign, so risk is monotone in each piece of
evidence, and each subject's reasons list what each signal contributed.

A signal that needs a number the shared features do not have declares it in
``aggregates``: SQL aggregate expressions over the subject's events (``scan_events``
columns), computed in the same pass as the shared features. A new signal is therefore
one module plus one line in ``distillguard.scan.registry``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from distillguard.detectors.spec import DetectorSpec


def ramp(expr: str, low: float, high: float) -> str:
    """SQL: 0 at or below ``low``, 1 at or above ``high``, linear between (NULL counts as 0)."""
    return f"least(1.0, greatest(0.0, (coalesce(CAST({expr} AS DOUBLE), {low}) - {low}) / {high - low}))"


def ramp_py(x: float, low: float, high: float) -> float:
    """The same ramp in Python (cluster and cohort scoring over a few rows)."""
    return min(1.0, max(0.0, (x - low) / (high - low)))


@dataclass(frozen=True)
class AccountSignal:
    """One subject-level signal.

    ``score`` builds the SQL of the evidence score from the spec's parameters, over
    the feature row's columns. ``group`` places it in the behaviour summary the graph
    uses to choose its nodes: ``content`` (what is asked), ``harvest`` (how it is
    collected), or ``context`` (neither: timing, onsets, business context).
    """

    spec: DetectorSpec
    column: str
    score: Callable[[Mapping[str, Any]], str]
    value_column: str
    explain: str  # format string over the feature row, shown when the signal fires
    group: str = "content"
    aggregates: tuple[str, ...] = ()  # "expr AS name" over scan_events, grouped per subject
    shown_only: bool = False  # shown as evidence, never part of risk (each has a common benign twin)
    # The score the behaviour summary reads, where it differs from the risk score: the graph's
    # gate asks "does this look like harvesting?", which may count kinds of work that are too
    # common among customers to move risk on their own (None: the risk score's SQL).
    summary: Callable[[Mapping[str, Any]], str] | None = None

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def weight(self) -> float:
        """Change in log-odds at full evidence (0 for signals only shown)."""
        return 0.0 if self.shown_only else float(self.spec["weight"])

    @property
    def share_weight(self) -> float:
        """Weight inside its behaviour group (the graph's membership summary)."""
        return float(self.spec.parameters.get("group_weight", 0.0))

    def sql(self) -> str:
        return self.score(self.spec.parameters)

    def summary_sql(self) -> str:
        """The score's SQL as the behaviour summary reads it."""
        return (self.summary or self.score)(self.spec.parameters)


@dataclass(frozen=True)
class Evidence:
    """What one signal contributed to one subject's risk: shown in its reasons."""

    detector_id: str
    score: float
    contribution: float  # weight * score, in log-odds
    value: float
    text: str = field(default="")
