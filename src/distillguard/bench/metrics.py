"""Detection-quality metrics against ground truth, as small pure functions.

Every function takes plain Python/numpy values (labels, scores, sets of flagged
accounts), so each can be checked by hand on a five-account example. The
orchestration in ``run.py`` gathers those values from the truth files and from a
detector's output.

Conventions used throughout:

* ``labels`` are 1 for attacker accounts and 0 for benign ones;
* ``scores`` are "higher is more suspicious";
* an account is *flagged* when its detector gave it the ``extraction`` verdict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sklearn.metrics import adjusted_rand_score, roc_auc_score, roc_curve


def _both_classes(labels: Sequence[int]) -> bool:
    present = set(int(v) for v in labels)
    return present == {0, 1}


def auroc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve; None when only one class is present (undefined)."""
    if not _both_classes(labels):
        return None
    return float(roc_auc_score(np.asarray(labels), np.asarray(scores, dtype=float)))


def tpr_at_fpr(labels: Sequence[int], scores: Sequence[float], max_fpr: float) -> float | None:
    """Best true-positive rate of any score threshold whose false-positive rate is <= ``max_fpr``.

    Thresholds are the scores themselves (flag ``score >= t``), so ties move
    together: two accounts with the same score cannot be separated by any rule.
    """
    if not _both_classes(labels):
        return None
    fpr, tpr, _ = roc_curve(np.asarray(labels), np.asarray(scores, dtype=float))
    allowed = fpr <= max_fpr + 1e-12
    return float(tpr[allowed].max()) if allowed.any() else 0.0


@dataclass(frozen=True)
class VerdictRates:
    attackers: int
    attackers_flagged: int
    benign: int
    benign_flagged: int

    @property
    def recall(self) -> float | None:
        return self.attackers_flagged / self.attackers if self.attackers else None

    @property
    def false_positive_rate(self) -> float | None:
        return self.benign_flagged / self.benign if self.benign else None


def verdict_rates(labels: Sequence[int], flagged: Sequence[bool]) -> VerdictRates:
    """Recall over attackers and false-positive rate over benign accounts at the verdict."""
    lab = np.asarray(labels, dtype=bool)
    flg = np.asarray(flagged, dtype=bool)
    return VerdictRates(
        attackers=int(lab.sum()),
        attackers_flagged=int((lab & flg).sum()),
        benign=int((~lab).sum()),
        benign_flagged=int((~lab & flg).sum()),
    )


def false_positives_by_population(
    populations: Sequence[str], labels: Sequence[int], flagged: Sequence[bool]
) -> dict[str, dict[str, float]]:
    """For each benign population: accounts, flagged accounts and the share flagged."""
    totals: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for population, label, flag in zip(populations, labels, flagged, strict=True):
        if label:
            continue
        totals[population] += 1
        hits[population] += int(bool(flag))
    return {
        population: {
            "accounts": totals[population],
            "flagged": hits[population],
            "rate": hits[population] / totals[population],
        }
        for population in sorted(totals)
    }


def exchange_weighted_recall(
    campaign_events_by_account: Mapping[str, int], flagged: Iterable[str]
) -> float | None:
    """Share of campaign exchanges issued by accounts that were flagged.

    ``campaign_events_by_account`` counts, per attacker account, the events the
    truth labels as part of a campaign. None when there are no campaign events.
    """
    total = sum(campaign_events_by_account.values())
    if total == 0:
        return None
    flagged_set = set(flagged)
    caught = sum(n for account, n in campaign_events_by_account.items() if account in flagged_set)
    return caught / total


def cluster_ari(
    true_campaign: Mapping[str, str | None],
    predicted_cluster: Mapping[str, str | None],
    flagged: Iterable[str],
    *,
    benign_singletons: bool = True,
) -> tuple[float | None, int]:
    """Adjusted Rand index of flagged clusters against campaigns, and how many accounts entered.

    True label: the account's campaign id, or a singleton for a benign account.
    Predicted label: the detector's cluster id for a flagged account (a singleton when
    it has none) and a singleton for an account that was not flagged. So a missed
    attacker splits its campaign, a benign account flagged into a hydra's cluster
    merges it with a stranger, and two campaigns put in one cluster are merged: each
    lowers the index.

    Which accounts enter: every account in ``true_campaign`` (all scored accounts;
    benign ones nobody flagged are singletons on both sides, so they add no agreeing
    pair and only shrink the chance correction). With ``benign_singletons=False`` only
    attackers and flagged accounts enter; on a data set with one campaign that index is
    degenerate (the truth is one block, so any split at all, even one missed account
    in thousands, scores 0), which is why it is not the headline figure.
    """
    flagged_set = set(flagged)
    if benign_singletons:
        entrants = sorted(set(true_campaign) | flagged_set)
    else:
        entrants = sorted({a for a, c in true_campaign.items() if c} | flagged_set)
    if not any(true_campaign.get(a) for a in entrants) and not flagged_set:
        return None, 0
    truth = [true_campaign.get(a) or f"benign:{a}" for a in entrants]
    predicted = []
    for account in entrants:
        if account in flagged_set:
            cluster = predicted_cluster.get(account)
            predicted.append(f"cluster:{cluster}" if cluster else f"alone:{account}")
        else:
            predicted.append(f"missed:{account}")
    return float(adjusted_rand_score(truth, predicted)), len(entrants)


def share_caught_once_one_is(campaign_accounts: Iterable[str], flagged: Iterable[str]) -> float | None:
    """Of a campaign's accounts, the share flagged, given at least one is; None if none is."""
    members = set(campaign_accounts)
    caught = members & set(flagged)
    if not members or not caught:
        return None
    return len(caught) / len(members)


def hours_between(start: datetime, end: datetime | None) -> float | None:
    """Hours from ``start`` to ``end`` (None when never flagged); negative means before onset."""
    if end is None:
        return None
    return (end - start).total_seconds() / 3600.0


def harvested_before(event_times: np.ndarray, flag_time: np.datetime64 | None) -> float:
    """Share of a campaign's exchanges that happened at or before the first flag.

    ``event_times`` are the campaign's event timestamps (any order). Never flagged
    means everything was harvested (1.0).
    """
    if event_times.size == 0:
        return 0.0
    if flag_time is None:
        return 1.0
    return float(np.count_nonzero(event_times <= flag_time) / event_times.size)


def threshold_at_fpr(benign_scores: Sequence[float], target_fpr: float) -> float:
    """Smallest threshold ``t`` such that at most ``target_fpr`` of ``benign_scores`` exceed it.

    A baseline flags ``score > t``. With few calibration accounts this is their
    maximum, i.e. the most generous rule that flags none of them.
    """
    values = np.sort(np.asarray(benign_scores, dtype=float))
    if values.size == 0:
        return float("inf")
    allowed = int(np.floor(target_fpr * values.size))  # how many may lie above t
    return float(values[values.size - 1 - allowed])
