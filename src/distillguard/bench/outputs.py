"""What every detector under test hands to the metrics: scores, verdicts, clusters, flag times."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class DetectorOutput:
    """One detector's view of every account it saw.

    ``scores`` are "higher is more suspicious" (used for AUROC and TPR at a fixed
    FPR); ``flagged`` are the accounts at the ``extraction`` verdict; ``clusters``
    maps flagged accounts to a cluster id (None for per-account detectors, which
    cannot group accounts at all); ``first_flag`` is, for the streaming replay, when
    each account was first flagged with only the traffic seen up to then.
    """

    name: str
    scores: dict[str, float]
    flagged: set[str]
    clusters: dict[str, str | None] | None = None
    first_flag: dict[str, datetime] = field(default_factory=dict)
    replayed: bool = True  # False when no streaming replay ran: timings are then unknown, not "never"
    threshold: str = ""
    seconds: float = 0.0
    peak_rss_mb: float | None = None
    notes: list[str] = field(default_factory=list)
