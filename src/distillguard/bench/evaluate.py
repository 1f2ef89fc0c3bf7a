"""Turn one detector's output plus the truth into the rows of the results table."""

from __future__ import annotations

from typing import Any

from distillguard.bench import metrics
from distillguard.bench.outputs import DetectorOutput
from distillguard.bench.replay import campaign_timings
from distillguard.bench.truth import Truth

# Issue 4's quality targets, checked for distillguard (and shown for every detector).
TARGETS = {
    "recall_at_extraction": (">=", 0.99),
    "false_positive_rate": ("<=", 0.001),
    "worst_population_fpr": ("<=", 0.01),
    "exchange_weighted_recall": (">=", 0.995),
    "cluster_ari": (">=", 0.9),
    "worst_harvested_before_first_flag": ("<", 0.01),
}


def evaluate(output: DetectorOutput, truth: Truth) -> dict[str, Any]:
    """All account-, exchange-, cluster- and campaign-level figures for one detector."""
    accounts = truth.accounts
    labels = [truth.label(a) for a in accounts]
    scores = [output.scores.get(a, 0.0) for a in accounts]
    flagged = [a in output.flagged for a in accounts]
    rates = metrics.verdict_rates(labels, flagged)
    populations = metrics.false_positives_by_population(
        [truth.population[a] for a in accounts], labels, flagged
    )
    flagged_set = {a for a, f in zip(accounts, flagged, strict=True) if f}
    ari, ari_accounts, ari_campaign_accounts = (None, 0, None)
    if output.clusters is not None:
        # Attacker accounts that never sent a request are invisible to every detector and
        # are left out of recall; counting them here split every campaign they belong to.
        seen = {a: truth.campaign_of.get(a) for a in accounts}
        ari, ari_accounts = metrics.cluster_ari(seen, output.clusters, flagged_set)
        ari_campaign_accounts = metrics.cluster_ari(
            seen, output.clusters, flagged_set, benign_singletons=False
        )[0]
    timings = campaign_timings(truth, output.first_flag)
    campaigns: list[dict[str, Any]] = []
    for campaign_id, campaign in truth.campaigns.items():
        members = [a for a in campaign.accounts if a in truth.events_per_account]
        timing = timings[campaign_id]
        replayed = output.replayed
        campaigns.append(
            {
                "campaign_id": campaign_id,
                "name": campaign.name,
                "accounts": len(members),
                "events": campaign.events,
                "recall": (sum(1 for a in members if a in flagged_set) / len(members)) if members else None,
                "exchange_weighted_recall": metrics.exchange_weighted_recall(
                    {a: truth.campaign_events.get(a, 0) for a in members}, flagged_set
                ),
                "share_caught_once_one_is": metrics.share_caught_once_one_is(members, flagged_set),
                "hours_to_first_flag": timing.hours_to_first_flag if replayed else None,
                "harvested_before_first_flag": timing.harvested_before_first_flag if replayed else None,
                "harvested_while_unflagged": timing.harvested_while_unflagged if replayed else None,
                "share_caught_at_first_flag": timing.share_caught_at_first_flag if replayed else None,
            }
        )
    result: dict[str, Any] = {
        "detector": output.name,
        "threshold": output.threshold,
        "seconds": round(output.seconds, 3),
        "peak_rss_mb": output.peak_rss_mb,
        "notes": output.notes,
        "accounts": {
            "attackers": rates.attackers,
            "attackers_flagged": rates.attackers_flagged,
            "benign": rates.benign,
            "benign_flagged": rates.benign_flagged,
        },
        "recall_at_extraction": rates.recall,
        "false_positive_rate": rates.false_positive_rate,
        "tpr_at_0.1%_fpr": metrics.tpr_at_fpr(labels, scores, 0.001),
        "tpr_at_1%_fpr": metrics.tpr_at_fpr(labels, scores, 0.01),
        "auroc": metrics.auroc(labels, scores),
        "false_positives_by_population": populations,
        "worst_population_fpr": max((p["rate"] for p in populations.values()), default=None),
        "exchange_weighted_recall": metrics.exchange_weighted_recall(truth.campaign_events, flagged_set),
        "cluster_ari": ari,
        "cluster_ari_accounts": ari_accounts,
        "cluster_ari_attackers_and_flagged_only": ari_campaign_accounts,
        "campaigns": campaigns,
        "worst_harvested_before_first_flag": max(
            (
                c["harvested_before_first_flag"]
                for c in campaigns
                if c["harvested_before_first_flag"] is not None
            ),
            default=None,
        ),
    }
    result["targets"] = check_targets(result)
    result["fails_where"] = failures(result)
    return result


def check_targets(result: dict[str, Any]) -> dict[str, bool | None]:
    checked: dict[str, bool | None] = {}
    for key, (op, bound) in TARGETS.items():
        value = result.get(key)
        if value is None:
            checked[key] = None
        elif op == ">=":
            checked[key] = value >= bound
        elif op == "<=":
            checked[key] = value <= bound
        else:
            checked[key] = value < bound
    return checked


def failures(result: dict[str, Any]) -> list[str]:
    """Plain-language places where the detector falls short (what the table must show)."""
    found: list[str] = []
    for campaign in result["campaigns"]:
        recall = campaign["recall"]
        if recall is not None and recall < 0.9:
            found.append(f"misses {campaign['name']} ({recall:.0%} of {campaign['accounts']} accounts)")
        elif (campaign["harvested_before_first_flag"] or 0.0) >= 0.01:
            found.append(
                f"late on {campaign['name']} ({campaign['harvested_before_first_flag']:.1%} harvested first)"
            )
    for population, row in result["false_positives_by_population"].items():
        if row["rate"] > 0.01:
            found.append(f"flags {row['rate']:.1%} of {population}")
    if result["cluster_ari"] is None:
        found.append("no clusters (per-account only)")
    elif result["cluster_ari"] < 0.9:
        found.append(f"clusters disagree with campaigns (ARI {result['cluster_ari']:.2f})")
    return found
