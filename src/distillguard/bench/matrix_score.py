"""Score one scan's per-account verdicts against per-account labels, the way the external scorer does.

Both kinds of matrix run end here: randomised scenarios (labels from ``truth/``) and the
external generator (``labels.csv`` and ``account_requests.csv``, read with the external
scorer's own loaders, see ``matrix.external_labels``). The conventions follow
``../shared/eval/score_accounts.py`` so the two kinds of row can be compared:

* the scored universe is the accounts that sent at least one request;
* an account missing from the tool's output is ``ok`` with risk 0;
* only ``verdict == extraction`` counts as flagged;
* TPR at an FPR bound lets at most ``floor(bound x benign)`` benign accounts score strictly
  above the threshold, ties at the threshold counted against the tool.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distillguard.bench import metrics


@dataclass(frozen=True)
class Label:
    attacker: bool
    campaign: str  # campaign name or id; "" for benign accounts
    population: str  # benign population; "attacker" for attackers


@dataclass(frozen=True)
class Verdict:
    verdict: str
    risk: float


def read_verdicts(path: Path) -> dict[str, Verdict]:
    """``accounts.csv`` written by ``distillguard scan`` (account_id, risk, verdict, ...)."""
    out: dict[str, Verdict] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            risk = row.get("risk") or ""
            try:
                value = float(risk) if risk else 0.0
            except ValueError:
                value = 0.0
            out[row["account_id"]] = Verdict((row.get("verdict") or "ok").strip().lower(), value)
    return out


def tpr_at_fpr(positives: list[float], negatives: list[float], bound: float) -> float | None:
    """Largest TPR with at most floor(bound x |negatives|) benign scores strictly above the threshold."""
    if not positives or not negatives:
        return None
    allowed = math.floor(bound * len(negatives) + 1e-9)
    ranked = sorted(negatives, reverse=True)
    threshold = ranked[allowed] if allowed < len(ranked) else float("-inf")
    return sum(1 for v in positives if v > threshold) / len(positives)


def score(
    labels: dict[str, Label],
    requests: dict[str, int],
    verdicts: dict[str, Verdict],
    exchanges: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Recall, FPR (overall and worst population), exchange-weighted recall, TPR@0.1% FPR, AUROC.

    ``exchanges`` (successful request/response pairs) weight the recall when known;
    otherwise every request counts.
    """
    weights = exchanges if exchanges is not None else requests
    universe = sorted(a for a in labels if requests.get(a, 0) > 0)
    positives = [a for a in universe if labels[a].attacker]
    negatives = [a for a in universe if not labels[a].attacker]
    missing = Verdict("ok", 0.0)
    flagged = {a for a in universe if verdicts.get(a, missing).verdict == "extraction"}

    def rate(accounts: list[str]) -> float | None:
        return sum(1 for a in accounts if a in flagged) / len(accounts) if accounts else None

    by_population: dict[str, list[str]] = defaultdict(list)
    for a in negatives:
        by_population[labels[a].population].append(a)
    population_fpr = {p: {"accounts": len(v), "rate": rate(v)} for p, v in sorted(by_population.items())}
    worst = max(population_fpr.items(), key=lambda kv: kv[1]["rate"] or 0.0, default=None)
    by_campaign: dict[str, list[str]] = defaultdict(list)
    for a in positives:
        by_campaign[labels[a].campaign].append(a)
    campaign_recall = {c: {"accounts": len(v), "recall": rate(v)} for c, v in sorted(by_campaign.items())}
    weakest = min(campaign_recall.items(), key=lambda kv: kv[1]["recall"] or 0.0, default=None)
    risk = [verdicts.get(a, missing).risk for a in universe]
    label_bits = [1 if labels[a].attacker else 0 for a in universe]
    pos_risk = [verdicts.get(a, missing).risk for a in positives]
    neg_risk = [verdicts.get(a, missing).risk for a in negatives]
    return {
        "attackers": len(positives),
        "benign": len(negatives),
        "attackers_flagged": sum(1 for a in positives if a in flagged),
        "benign_flagged": sum(1 for a in negatives if a in flagged),
        "recall_at_extraction": rate(positives),
        "false_positive_rate": rate(negatives),
        "worst_population": worst[0] if worst else None,
        "worst_population_fpr": worst[1]["rate"] if worst else None,
        "exchange_weighted_recall": metrics.exchange_weighted_recall(
            {a: weights.get(a, 0) for a in positives}, flagged
        )
        if positives
        else None,
        "tpr_at_0.1%_fpr": tpr_at_fpr(pos_risk, neg_risk, 0.001),
        "tpr_at_1%_fpr": tpr_at_fpr(pos_risk, neg_risk, 0.01),
        "auroc": metrics.auroc(label_bits, risk),
        "weakest_campaign": weakest[0] if weakest else None,
        "weakest_campaign_recall": weakest[1]["recall"] if weakest else None,
        "campaigns": campaign_recall,
        "populations": population_fpr,
    }


# Candidate thresholds at which each randomised run records its benign flag rate: the
# table scan calibration reads (bench/calibrate_thresholds.py -> data/calibration.json).
CALIBRATION_GRID: tuple[float, ...] = (
    0.5,
    0.55,
    0.6,
    0.65,
    0.7,
    0.75,
    0.8,
    0.85,
    0.9,
    0.925,
    0.95,
    0.97,
    0.98,
    0.99,
    0.995,
    0.999,
)


def benign_rate_at(
    labels: dict[str, Label], verdicts: dict[str, Verdict], requests: dict[str, int]
) -> dict[str, float]:
    """Share of benign accounts with traffic (as ``score`` counts them) at or above each threshold."""
    risks = [
        verdicts[a].risk if a in verdicts else 0.0
        for a, label in labels.items()
        if not label.attacker and requests.get(a, 0) > 0
    ]
    if not risks:
        return {}
    return {f"{t:g}": sum(1 for r in risks if r >= t) / len(risks) for t in CALIBRATION_GRID}
