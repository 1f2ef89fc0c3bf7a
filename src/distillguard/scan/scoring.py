"""Evidence -> risk, verdict and reasons for every subject, cluster and cohort.

A subject's risk is ``sigmoid(own + cluster + cohort)`` on a log-odds scale:

* ``own`` is its own evidence (``account_behaviour.own_logit``): a background bias plus
  each registered signal's weight times its score. Harvest volume alone can carry a
  single account to ``extraction``; business context (many end users, a product
  system prompt, a long verified history) counts against it with a reason.
* ``cluster`` is its coordination graph cluster's strength times the cluster weight,
  scaled by how much the member behaves like its cluster, and only for members whose
  ties to fellow members make them one of it (``cluster_membership``: two kinds of pure
  shared value for a fresh account, two independent families for one with history, one
  common tie never).
* ``cohort`` is its swarm cohort's strength times the cohort weight, scaled by the
  member's own training-shaped share.

An account that serves many end users is at least as risky as its riskiest end user.
Partner sightings add like independent evidence. Verdict thresholds come from
``calibration``. Every number here is a spec parameter of the detector it belongs to.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from distillguard.detectors.account import AccountSignal, Evidence, proxy_rotation, ramp_py
from distillguard.detectors.cluster_features import (
    CLUSTER_RISK,
    TIE_FAMILIES,
    ClusterStrength,
    cluster_strength,
)
from distillguard.detectors.cohort import SPEC as COHORT
from distillguard.detectors.cohort import (
    cohort_kind_label,
    cohort_strength,
    member_fit,
    member_script_tied,
    shares_window_values,
    silent_fit,
    silent_window_purity,
    tied_to_members,
    used_like_cohort,
)
from distillguard.rules import verdict
from distillguard.scan.calibration import Thresholds
from distillguard.scan.registry import ACCOUNT_SIGNALS
from distillguard.scan.rows import GroupScore, SubjectScore
from distillguard.scan.subjects import END_USERS

# The proxy signal's share of the harvest summary: what a member with few requests
# structurally cannot show (see member_consistency).
PROXY_SHARE_OF_HARVEST = proxy_rotation.SIGNAL.share_weight / sum(
    s.share_weight for s in ACCOUNT_SIGNALS if s.group == "harvest"
)
# A signal's contribution (in log-odds) at or beyond which it is named in the reasons.
REASON_MIN_CONTRIBUTION = 0.3
# A shown-only signal is named when its score reaches this.
REASON_MIN_SCORE = 0.5


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def logit(p: float) -> float:
    p = min(1.0 - 1e-12, max(1e-12, p))
    return math.log(p / (1.0 - p))


# ----------------------------------------------------------------------- subjects
def subject_evidence(row: Mapping[str, Any], signals: Sequence[AccountSignal]) -> list[Evidence]:
    """What each signal contributed to this subject (the ones worth naming)."""
    values = {k: (v if v is not None else 0) for k, v in row.items()}
    found = []
    for signal in signals:
        score = float(row.get(signal.column) or 0.0)
        contribution = signal.weight * score
        worth = (
            score >= REASON_MIN_SCORE if signal.shown_only else abs(contribution) >= REASON_MIN_CONTRIBUTION
        )
        if not worth:
            continue
        try:
            text = signal.explain.format(**values)
        except (KeyError, ValueError, TypeError):
            text = signal.id
        found.append(
            Evidence(signal.id, score, contribution, float(row.get(signal.value_column) or 0.0), text)
        )
    return found


def subjects_from_rows(
    rows: Iterable[Mapping[str, Any]], signals: Sequence[AccountSignal], *, kind: str
) -> dict[str, SubjectScore]:
    """SubjectScores from rows of ``<prefix>features`` joined to ``<prefix>behaviour``."""
    found = {}
    for row in rows:
        subject = str(row["account_id"])
        found[subject] = SubjectScore(
            subject_kind=kind,
            subject_id=subject,
            account_id=str(row.get("parent_account_id") or subject),
            events=int(row.get("events") or 0),
            own_logit=float(row.get("own_logit") or 0.0),
            evidence=subject_evidence(row, signals),
        )
    return found


# ------------------------------------------------------------------------ groups
def clusters_from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, GroupScore]:
    found = {}
    for row in rows:
        scored: ClusterStrength = cluster_strength(row)
        found[str(row["cluster_id"])] = GroupScore(
            group_id=str(row["cluster_id"]),
            kind="cluster",
            accounts=int(row["accounts"] or 0),
            events=int(row["events"] or 0),
            strength=scored.strength,
            parts=scored.parts,
            features=dict(row),
            risk=scored.strength,
        )
    return found


def cohorts_from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, GroupScore]:
    found = {}
    for row in rows:
        strength = cohort_strength(row)
        found[str(row["cohort_id"])] = GroupScore(
            group_id=str(row["cohort_id"]),
            kind="cohort",
            accounts=int(row["accounts"] or 0),
            events=int(row["events"] or 0),
            strength=strength,
            parts={
                "harvest_share": float(row["harvest_share"] or 0.0),
                "distinct_share": float(row["distinct_share"] or 0.0),
                # what the cohort carries for an account tied to its fellow members
                "corroborated_strength": cohort_strength(row, corroborated=True),
            },
            features=dict(row),
            risk=strength,
        )
    return found


def member_consistency(
    behaviour: float,
    content: float,
    cluster_mean_behaviour: float,
    cluster_mean_content: float,
    *,
    harvest: float = 0.0,
    cluster_mean_harvest: float = 0.0,
    events: int | None = None,
    cluster_mean_proxy: float = 0.0,
    p: Mapping[str, Any] = CLUSTER_RISK.parameters,
) -> float:
    """How much of its cluster's strength a member takes: all of it when it behaves like the
    cluster, less when it is a milder account tied in by shared infrastructure.

    A member matches either in what it asks (content at least ``fit_content`` of the
    cluster's mean) or in how it collects (harvest at least ``fit_harvest`` of it). With
    ``events`` the comparison is on what the member's sample can show: proxy rotation
    scores at most ``proxy_rotation.ceiling(requests)``, so a two-request member of a
    rotating hydra is not held back for rotation it could not show.
    """
    if events is not None and cluster_mean_proxy > 0:
        unreachable = max(0.0, cluster_mean_proxy - proxy_rotation.ceiling(events)) * PROXY_SHARE_OF_HARVEST
        cluster_mean_harvest = max(0.0, cluster_mean_harvest - unreachable)
        cluster_mean_behaviour = max(0.0, cluster_mean_behaviour - 0.5 * unreachable)
    if cluster_mean_behaviour <= 0:
        return 0.0
    by_behaviour = min(1.0, behaviour / (p["fit_behaviour"] * cluster_mean_behaviour))
    by_content = (
        min(1.0, content / (p["fit_content"] * cluster_mean_content)) if cluster_mean_content > 0.02 else 1.0
    )
    by_harvest = (
        min(1.0, harvest / (p["fit_harvest"] * cluster_mean_harvest)) if cluster_mean_harvest > 0.02 else 0.0
    )
    return min(by_behaviour, max(by_content, by_harvest))


def cluster_membership(
    events: int, own_logit: float, row: Mapping[str, Any], tie: Mapping[str, Any]
) -> tuple[bool, bool, str]:
    """Whether a member's ties to fellow members make it one of its cluster's accounts, whether
    it must also show evidence of its own, and its ties in words for its reason.

    * A young, light account (created within ``young_member_days``, or unknown, and under
      ``light_member_events``) is judged by its cluster: two kinds of pure shared value.
    * A fresh account with more requests (created within ``young_member_days``) needs the same
      two kinds, and evidence of its own: an operation's account given its own card and exit
      shows only its script however much it sends.
    * An account with history needs two independent families, or one family of two kinds when
      its own evidence alone is at even odds and the provider has known it for less than about
      half a year (``single_family_*``).

    Kinds that are the cluster's background (``background_share``: no more of the cluster's
    values of a kind than many ordinary customers hold) are named but not counted. A young,
    light account can show one value of each kind at most, so only background exits are left
    out for it; any other member is judged on independent kinds and families.
    """
    p = CLUSTER_RISK.parameters
    age = row.get("signup_age_days")
    fresh = age is not None and float(age) <= p["young_member_days"]
    # without a sign-up record the window is all we know of the account: light is young
    young_and_light = events < p["light_member_events"] and (age is None or fresh)
    background = [
        k
        for k in tie.get("background_kinds") or ()
        if not young_and_light or k in TIE_FAMILIES["network"]
    ]
    counted = [k for k in tie.get("tie_kinds") or () if k not in background]
    tied = f"tied to fellow members by {', '.join(counted) or 'nothing of its own'}"

    def said(outcome: str = "") -> str:
        text = f"{tied}{outcome}"
        if background:
            shared = "ordinary customers share as much with the cluster"
            text += f" ({', '.join(background)}: not counted, {shared})"
        return text

    if young_and_light:
        if len(counted) < p["min_young_tie_kinds"]:
            # a fresh account sharing one popular setting with a hydra is not one of it
            return False, False, said(" alone: not membership")
        return True, False, said()
    kinds, families = int(tie.get("independent_kinds") or 0), int(tie.get("families") or 0)
    if fresh:
        if kinds < p["min_young_tie_kinds"]:
            return False, False, said(" alone: not membership")
        return True, True, said()
    if events < p["established_member_events"] or families >= p["min_tie_families"]:
        return True, True, said()
    if (
        kinds >= p["min_young_tie_kinds"]
        and own_logit >= logit(p["single_family_own_risk"])
        and float(row.get("s_established") or 0.0) < p["single_family_max_established"]
    ):
        return True, True, said(", one family, and at even odds on its own as an account new to us")
    # one family of common ties and little of its own: in the picture, not in the campaign
    return False, True, said(", one family: not membership")


def add_cluster_evidence(
    accounts: Mapping[str, SubjectScore],
    clusters: Mapping[str, GroupScore],
    members: Mapping[str, str],
    behaviour: Mapping[str, Mapping[str, Any]],
    ties: Mapping[str, Mapping[str, Any]],
    script_tied: set[str],
) -> None:
    """Each member's cluster log-odds: cluster strength x weight x how much it behaves like it."""
    p = CLUSTER_RISK.parameters
    for account_id, cluster_id in members.items():
        subject = accounts.get(account_id)
        cluster = clusters.get(cluster_id)
        if subject is None or cluster is None:
            continue
        subject.cluster_id = cluster_id
        cluster.members.append(account_id)
        row = behaviour.get(account_id, {})
        tie = ties.get(account_id, {})
        joins, needs_own, ties_said = cluster_membership(subject.events, subject.own_logit, row, tie)
        subject.cluster_ties = ties_said
        if not joins:
            continue
        f = cluster.features
        fit = member_consistency(
            float(row.get("behaviour") or 0.0),
            float(row.get("content") or 0.0),
            float(f.get("mean_behaviour") or 0.0),
            float(f.get("mean_content") or 0.0),
            harvest=float(row.get("harvest") or 0.0) if account_id in script_tied else 0.0,
            cluster_mean_harvest=float(f.get("mean_harvest") or 0.0),
            events=subject.events,
            cluster_mean_proxy=float(f.get("mean_proxy") or 0.0),
        )
        # Membership needs its own evidence: a member at background odds gains nothing. A young,
        # light member has had no chance to show any: its cluster (two kinds of pure shared value
        # at least) is the evidence.
        own = ramp_py(subject.own_logit, p["member_own_low"], p["member_own_high"]) if needs_own else 1.0
        # A member asking only what other accounts also ask (a hackathon team re-asking the
        # shared exercises) collects no new items, whatever cluster it fell into; judged from two
        # such requests (``class_min_items``), as one is a coincidence.
        unshared = tie.get("unshared")
        coverage = (
            ramp_py(float(unshared), p["coverage_low"], p["coverage_high"])
            if unshared is not None and int(tie.get("items") or 0) >= p["class_min_items"]
            else 1.0
        )
        # A member that received nothing worth training on (a CI job on the cluster's cloud
        # runners) collected nothing for it, whatever it shares with the others.
        collected = 1.0 - float(row.get("s_nothing_collected") or 0.0)
        subject.cluster_logit = float(p["weight"]) * cluster.parts["logit"] * fit * own * coverage * collected


def add_cohort_evidence(
    accounts: Mapping[str, SubjectScore],
    cohorts: Mapping[str, GroupScore],
    members: Iterable[Mapping[str, Any]],
) -> None:
    """Each swarm member's cohort log-odds: cohort strength x weight x how well it fits (its own
    share of the cohort's kind, used for a burst as the cohort uses its accounts)."""
    for row in members:
        subject = accounts.get(str(row["account_id"]))
        cohort = cohorts.get(str(row["cohort_id"]))
        if subject is None or cohort is None:
            continue
        cohort.members.append(subject.subject_id)
        subject.cohort_id = cohort.group_id
        script_kinds = int(row.get("script_kinds") or 0)
        corroborated = bool(row.get("corroborated"))
        subject.cohort_logit = (
            float(COHORT["weight"])
            * (cohort.parts["corroborated_strength"] if corroborated else cohort.strength)
            * member_fit(
                float(row["harvest_share"] or 0.0),
                float(row.get("active_hours") or 0.0),
                float(cohort.features.get("median_active_hours") or 0.0),
                kind=row.get("kind"),
                script_kinds=script_kinds,
            )
        )
        subject.cohort_script_tied = member_script_tied(script_kinds)
        subject.cohort_corroborated = corroborated


def add_silent_cohort_evidence(
    accounts: Mapping[str, SubjectScore],
    cohorts: Mapping[str, GroupScore],
    silent: Iterable[Mapping[str, Any]],
) -> None:
    """Accounts first seen in a harvesting cohort's window, used the same way, that sent nothing of
    its kind: the window's strongest cohort x how pure the window is, at ``silent_weight``."""
    strongest: dict[int, GroupScore] = {}
    for cohort in cohorts.values():
        window = int(cohort.features["window_no"])
        if window not in strongest or cohort.strength > strongest[window].strength:
            strongest[window] = cohort
    # Candidates used for a burst as their window's strongest cohort uses its accounts; the
    # window's purity is the share of such accounts (members and these) that are members.
    used_alike: dict[int, list[tuple[SubjectScore, Mapping[str, Any]]]] = {}
    for row in silent:
        subject = accounts.get(str(row["account_id"]))
        window = int(row["window_no"])
        window_cohort = strongest.get(window)
        if subject is None or window_cohort is None or subject.cohort_id is not None:
            continue
        median_hours = float(window_cohort.features.get("median_active_hours") or 0.0)
        if used_like_cohort(float(row.get("active_hours") or 0.0), median_hours):
            used_alike.setdefault(window, []).append((subject, row))
    for window, candidates in used_alike.items():
        strongest_cohort = strongest[window]
        members = float(candidates[0][1]["members"] or 0)
        tied = sum(1 for _, row in candidates if _shares_window_values(row))
        # sharing two independent kinds of the members' pure values makes it one of them, whatever
        # the window's purity: it takes a member's full weight
        by_script = float(COHORT["weight"]) * strongest_cohort.parts["corroborated_strength"]
        for subject, row in candidates:
            tie_kinds = int(row.get("tie_kinds") or 0)
            script_tied = tied_to_members(tie_kinds)
            shares_values = _shares_window_values(row)
            purity = silent_window_purity(members, len(candidates), tied, shares_values=shares_values)
            by_window = float(COHORT["silent_weight"]) * strongest_cohort.strength * silent_fit(purity)
            logit = by_script if script_tied else by_window
            if logit <= 0:
                continue
            strongest_cohort.members.append(subject.subject_id)
            subject.cohort_id = strongest_cohort.group_id
            subject.cohort_logit = logit
            subject.cohort_silent_purity = purity
            subject.cohort_script_tied = script_tied
            subject.cohort_tied_by = (
                tuple(str(k) for k in row.get("tied_by") or ()) if script_tied or shares_values else ()
            )


def _shares_window_values(row: Mapping[str, Any]) -> bool:
    asked_its_kind = bool(row.get("asked_its_kind"))
    return shares_window_values(int(row.get("tie_kinds") or 0), asked_its_kind=asked_its_kind)


def combine_partner(risk: float, confidences: Sequence[float]) -> float:
    """A partner sighting raises risk like independent evidence (noisy-or at half weight)."""
    for confidence in confidences:
        risk = 1.0 - (1.0 - risk) * (1.0 - 0.5 * max(0.0, min(1.0, confidence)))
    return risk


def settle_risk(
    accounts: Mapping[str, SubjectScore],
    end_users: Mapping[str, SubjectScore],
    partner: Mapping[str, list[tuple[float, str]]],
) -> None:
    """Risk for every subject: own + cluster + cohort, end-user roll-up, partner sightings."""
    for subject in end_users.values():
        subject.risk = sigmoid(subject.own_logit)
    worst: dict[str, SubjectScore] = {}
    for subject in end_users.values():
        best = worst.get(subject.account_id)
        # equal risks name the same end user whatever order the rows came in
        if best is None or (subject.risk, best.subject_id) > (best.risk, subject.subject_id):
            worst[subject.account_id] = subject
    for subject in accounts.values():
        subject.risk = sigmoid(subject.own_logit + subject.cluster_logit + subject.cohort_logit)
        end_user = worst.get(subject.subject_id)
        rolled = end_user.risk * float(END_USERS["rollup_share"]) if end_user is not None else 0.0
        if end_user is not None and rolled > subject.risk:
            subject.worst_end_user = end_user
            subject.risk = rolled
        subject.sightings = partner.get(subject.subject_id, [])
        subject.risk = combine_partner(subject.risk, [s[0] for s in subject.sightings])


def settle_verdicts(
    accounts: Mapping[str, SubjectScore],
    end_users: Mapping[str, SubjectScore],
    groups: Iterable[GroupScore],
    thresholds: Thresholds,
) -> None:
    """Verdicts under the calibrated thresholds, and each subject's reasons."""

    def judge(risk: float) -> str:
        return verdict(risk, watch=thresholds.watch, extraction=thresholds.extraction)

    group_list = list(groups)
    for group in group_list:
        group.verdict = judge(group.risk)
    by_id = {g.group_id: g for g in group_list}
    for subject in (*end_users.values(), *accounts.values()):
        subject.verdict = judge(subject.risk)
        subject.reasons = subject_reasons(subject, by_id)


def subject_reasons(subject: SubjectScore, groups: Mapping[str, GroupScore]) -> list[str]:
    reasons = [
        f"{e.detector_id} ({e.contribution:+.1f}): {e.text}"
        if e.contribution
        else f"{e.detector_id}: {e.text}"
        for e in sorted(subject.evidence, key=lambda e: -abs(e.contribution))
    ]
    cluster = groups.get(subject.cluster_id or "")
    if cluster is not None and (subject.cluster_logit > 0 or cluster.verdict != "ok"):
        reasons.append(
            f"cluster.member ({subject.cluster_logit:+.1f}): one of {cluster.accounts} coordinated accounts "
            f"in {cluster.group_id} (cluster strength {cluster.strength:.2f})"
            + (f"; {subject.cluster_ties}" if subject.cluster_ties else "")
        )
        reasons.extend(f"cluster.shared: {text}" for text in cluster.indicators[:3])
    cohort = groups.get(subject.cohort_id or "")
    if cohort is not None and subject.cohort_logit > REASON_MIN_CONTRIBUTION and subject.cohort_silent_purity:
        reasons.append(
            f"cohort.silent_member ({subject.cohort_logit:+.1f}): first seen in the window of "
            f"{cohort.group_id}, {cohort.accounts} new, light accounts collecting "
            f"{cohort_kind_label(cohort.features.get('kind'))}, and used the same way ({subject.events} "
            f"requests in a burst); {subject.cohort_silent_purity:.0%} of that window's such accounts "
            + (
                "are members or share the members' values, as it does. "
                if subject.cohort_tied_by and not subject.cohort_script_tied
                else "are members. "
            )
            + "Nothing it sent is of that kind"
            + (
                ", but it shares with the members values nearly only harvesters hold, of independent "
                f"kinds ({', '.join(subject.cohort_tied_by)}): one of the cohort's accounts"
                if subject.cohort_script_tied
                else (
                    f", but it shares with the members a value nearly only harvesters hold "
                    f"({', '.join(subject.cohort_tied_by)}): with its window, this asks it to verify"
                    if subject.cohort_tied_by
                    else ": alone, this asks it to verify"
                )
            )
        )
    elif cohort is not None and subject.cohort_logit > REASON_MIN_CONTRIBUTION:
        reasons.append(
            f"cohort.member ({subject.cohort_logit:+.1f}): one of {cohort.accounts} new, light accounts "
            f"first seen together collecting {cohort_kind_label(cohort.features.get('kind'))} "
            f"({cohort.parts['harvest_share']:.0%} of their requests, "
            f"{cohort.parts['distinct_share']:.0%} of items asked once)"
            + (
                "; it shares the members' script (a template family or card nearly only harvesters "
                "use)"
                if subject.cohort_script_tied
                else ""
            )
            + (
                "; tied to fellow members by two kinds of value nearly only harvesters hold, so the "
                "cohort's repeated items are a swarm's draws from public sets, not a class's exercises"
                if subject.cohort_corroborated and cohort.strength < cohort.parts["corroborated_strength"]
                else ""
            )
        )
    if subject.worst_end_user is not None:
        eu = subject.worst_end_user
        reasons.append(
            f"end_user.rollup: end user {eu.subject_id.split('/', 1)[-1]} of this account scores "
            f"{eu.risk:.2f} on its own ({len(eu.evidence)} signals)"
        )
        reasons.extend(f"end_user.{e.detector_id}: {e.text}" for e in eu.evidence[:3] if e.contribution > 0)
    reasons.extend(f"partner.match: {text}" for _, text in subject.sightings)
    return reasons
