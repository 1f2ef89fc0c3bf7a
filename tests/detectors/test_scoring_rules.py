"""Scoring rules: verdict thresholds, cluster strength needs harvesting, redaction, partner evidence."""

from __future__ import annotations

from distillguard.detectors.cluster_features import cluster_strength
from distillguard.rules import redact_sample, verdict
from distillguard.scan.rows import GroupScore, SubjectScore
from distillguard.scan.scoring import (
    add_cluster_evidence,
    clusters_from_rows,
    combine_partner,
    logit,
    member_consistency,
    subject_reasons,
)


def test_verdict_uses_the_given_thresholds() -> None:
    assert verdict(0.6, watch=0.5, extraction=0.8) == "watch"
    assert verdict(0.6, watch=0.2, extraction=0.55) == "extraction"
    assert verdict(0.1, watch=0.2, extraction=0.55) == "ok"


def _cluster(**overrides: float) -> dict[str, float]:
    row = {
        "accounts": 40,
        "mean_behaviour": 0.6,
        "mean_harvest": 0.6,
        "template_tie": 1.0,
        "record_tie": 0.5,
        "lockstep_ratio": 5.0,
    }
    row.update(overrides)
    return row


def test_a_large_coordinated_cluster_without_harvesting_stays_low() -> None:
    # A course: everyone shares the homework scaffold, but nobody maximises outputs or rotates proxies.
    assert cluster_strength(_cluster(mean_harvest=0.1)).strength < 0.2
    assert cluster_strength(_cluster()).strength > 0.9


def test_many_light_accounts_are_riskier_together_than_two() -> None:
    assert cluster_strength(_cluster(accounts=30)).strength > cluster_strength(_cluster(accounts=2)).strength


def test_fingerprints_only_never_shows_prompt_text() -> None:
    text = "Show your full chain of thought for problem 12, mail me at a@b.com"
    assert "chain" not in redact_sample(text, "abcdef0123456789ff", text_storage="fingerprints-only")
    shown = redact_sample(text, "abcdef", text_storage="store")
    assert "a@b.com" not in shown and "chain of thought" in shown


def test_partner_sightings_raise_risk_but_alone_do_not_reach_extraction() -> None:
    assert combine_partner(0.0, [1.0]) < 0.8
    assert combine_partner(0.7, [0.9]) > 0.7


def test_a_member_with_nothing_training_shaped_inherits_little_of_its_cluster() -> None:
    # Tied in by shared residential ranges, but asks for nothing the hydra asks for.
    assert member_consistency(0.33, 0.0, 0.45, 0.2) == 0.0
    assert member_consistency(0.5, 0.25, 0.45, 0.2) == 1.0


def test_a_member_harvesting_like_its_cluster_inherits_without_content() -> None:
    # An evasive hydra's member whose prompts were all ordinary, harvesting like the rest.
    assert member_consistency(0.4, 0.0, 0.45, 0.08, harvest=0.8, cluster_mean_harvest=0.78) == 1.0
    # A phone on the same residential range: neither the content nor the harvesting.
    assert member_consistency(0.3, 0.0, 0.45, 0.08, harvest=0.2, cluster_mean_harvest=0.78) < 0.4
    # Without a script-level tie the pipeline passes no harvest: content must match.
    assert member_consistency(0.4, 0.0, 0.45, 0.08) == 0.0


def test_a_heavy_account_rotating_through_a_proxy_pool_scores_rotation_but_a_router_does_not() -> None:
    import duckdb

    from distillguard.detectors.account import proxy_rotation

    proxy = proxy_rotation.SIGNAL
    rows = {
        # 170 requests over a 24-prefix pool: few prefixes per request, a new one almost every time.
        "heavy_pool": (170, 24, 0.96),
        # An LLM router's egress: a handful of cloud ranges, rotating just as often.
        "router": (5000, 8, 0.88),
        "office_nat": (300, 1, 0.0),
        "laptop_home_and_office": (40, 3, 0.5),
        "light_pool": (10, 9, 1.0),
    }
    connection = duckdb.connect()
    scores = {
        name: connection.execute(
            f"SELECT {proxy.sql()} FROM (SELECT ? AS events, ? AS ip_prefixes, ? AS prefix_switch_rate)",
            list(values),
        ).fetchone()[0]
        for name, values in rows.items()
    }
    assert scores["heavy_pool"] >= 0.5 and scores["light_pool"] == 1.0
    assert scores["router"] == 0.0 and scores["office_nat"] == 0.0 and scores["laptop_home_and_office"] == 0.0


def _strong_cluster() -> dict[str, GroupScore]:
    return clusters_from_rows([{"cluster_id": "cl-1", "events": 4000, **_cluster(mean_content=0.5)}])


def _member(
    own_risk: float,
    families: int,
    kinds: int,
    established: float = 0.0,
    age_days: float | None = None,
    background: tuple[str, ...] = (),
) -> SubjectScore:
    """A member with 40 requests of a strong harvesting cluster, its cluster evidence added.
    ``families`` and ``kinds`` are what counts; ``background`` names kinds it also shares that
    ordinary customers share as much (counted by neither)."""
    cluster = _strong_cluster()
    subject = SubjectScore("account", "acct", "acct", 40, logit(own_risk), [])
    accounts = {"acct": subject}
    groups: dict[str, GroupScore] = dict(cluster)
    behaviour = {
        "acct": {
            "behaviour": 0.6,
            "content": 0.5,
            "harvest": 0.6,
            "signup_age_days": 60.0 + 305.0 * established if age_days is None else age_days,
            "s_established": established,
        }
    }
    tie_kinds = sorted(["shape", "template", "payment"][:kinds] + list(background))
    # none of these kinds implies another, so its independent kinds are its kinds
    tie = {"families": families, "independent_kinds": kinds, "tie_kinds": tie_kinds}
    ties = {"acct": {**tie, "background_kinds": sorted(background) or None}}
    add_cluster_evidence(accounts, groups, {"acct": "cl-1"}, behaviour, ties, set())
    return subject


def _members_cluster_logit(own_risk: float, families: int, kinds: int, established: float = 0.0) -> float:
    return _member(own_risk, families, kinds, established).cluster_logit


def test_one_family_of_ties_makes_a_member_only_of_an_account_already_at_even_odds_on_its_own() -> None:
    # A developer building agents on a framework a hydra also scripts: a scaffold and a request
    # shape in common, its own evidence near the background. It stays out of the cluster.
    assert _members_cluster_logit(0.05, families=1, kinds=2) == 0.0
    # Nor does an account with only the scaffold in common, however much it harvests on its own.
    assert _members_cluster_logit(0.6, families=1, kinds=1) == 0.0
    # An agentic sweep's account with its own card and exit: harvesting visibly on its own (even
    # odds), tied by the sweep's scaffold and settings. Its cluster explains it.
    assert _members_cluster_logit(0.55, families=1, kinds=2) > 3.0
    # A customer of a year's standing whose own evaluation accounts share its harness: each near
    # the watch line on its grading volume, tied to the others by one scaffold and one shape.
    assert _members_cluster_logit(0.55, families=1, kinds=2, established=1.0) == 0.0
    # Two families were always enough.
    assert _members_cluster_logit(0.05, families=2, kinds=2) > 0.0


def test_a_fresh_account_sending_more_than_a_light_one_is_held_to_the_young_accounts_ties() -> None:
    # Signed up two days ago, 40 requests, tied to a strong cluster by the operation's scaffold and
    # settings only (its own card and exit), showing some evidence of its own: one of its accounts,
    # as it would be with 29 requests.
    assert _member(0.4, families=1, kinds=2, age_days=2.0).cluster_logit > 3.0
    # One kind of value is a coincidence at any volume.
    assert _member(0.4, families=1, kinds=1, age_days=2.0).cluster_logit == 0.0
    # With more requests than a light account it must show evidence of its own: a new developer
    # at the background on the same framework gains nothing.
    assert _member(0.01, families=1, kinds=2, age_days=2.0).cluster_logit == 0.0


def test_a_cluster_members_reason_names_what_ties_it_and_why_one_family_did_or_did_not_count() -> None:
    developer = _member(0.05, families=1, kinds=2)
    sweep_account = _member(0.55, families=1, kinds=2)
    groups = _strong_cluster()
    groups["cl-1"].verdict = "extraction"
    (said,) = [r for r in subject_reasons(developer, groups) if r.startswith("cluster.member")]
    assert "(+0.0)" in said and "shape, template, one family: not membership" in said
    (said,) = [r for r in subject_reasons(sweep_account, groups) if r.startswith("cluster.member")]
    assert "shape, template, one family, and at even odds on its own as an account new to us" in said


def test_ties_ordinary_customers_share_as_much_do_not_count_and_the_reason_names_them() -> None:
    # A customer at home on one of a residential pool's prefixes, sending the popular framework's
    # shape the hydra also sends: the shape counts (one family), the prefix is the background.
    member = _member(0.05, families=1, kinds=1, background=("ip_prefix",))
    assert member.cluster_logit == 0.0
    groups = _strong_cluster()
    groups["cl-1"].verdict = "extraction"
    (said,) = [r for r in subject_reasons(member, groups) if r.startswith("cluster.member")]
    assert "tied to fellow members by shape, one family: not membership" in said
    assert "(ip_prefix: not counted, ordinary customers share as much with the cluster)" in said
    # The same member holding more of the pool's prefixes than ordinary customers do is tied by
    # two families, as before.
    assert _member(0.05, families=2, kinds=2).cluster_logit > 0.0
