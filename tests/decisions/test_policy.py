"""What the policy decides for realistic requests (default policy and small custom ones)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from distillguard.decisions.facts import LiveCounters
from distillguard.decisions.model import Decision, Resolution, resolve
from distillguard.decisions.policy import Policy, default_policy, parse_policy
from distillguard.schema import ACCOUNT_PLANS, ACCOUNT_VERIFICATION

from .support import NO_RECORD, NOW, account, facts, verdict


def decide(policy: Policy, request_facts: object) -> Resolution:
    rows = policy.evaluate(request_facts)  # type: ignore[arg-type]
    for row in rows:  # every row explains itself; scores and counts come with their numbers
        assert row.source and row.reasons, row
        if row.source == "policy.threshold" or row.source.startswith("live."):
            assert any(re.search(r"\d", reason) for reason in row.reasons), row
    return resolve(rows, now=NOW)


def per_minute(n: int, per_hour: int | None = None) -> LiveCounters:
    return LiveCounters(
        account_requests_1m=n, account_requests_1h=per_hour if per_hour is not None else n * 5
    )


@pytest.mark.parametrize("plan", ACCOUNT_PLANS)
@pytest.mark.parametrize("verification", ACCOUNT_VERIFICATION)
def test_ordinary_traffic_passes_on_every_plan(plan: str, verification: str) -> None:
    request = facts(record=account(plan=plan, verification=verification), counters=per_minute(20, 400))
    assert default_policy().evaluate(request) == []
    assert decide(default_policy(), request).action == "allow"


def test_extraction_account_under_its_tight_budget_is_degraded() -> None:
    outcome = decide(
        default_policy(), facts(known=(verdict("account", "acct-1", 0.86),), counters=per_minute(1))
    )
    assert outcome.action == "degrade"
    assert outcome.source == "policy.threshold"
    assert set(outcome.degrade) >= {"reasoning", "logprobs"}
    assert any("0.86" in r and "within its flagged budget of 2 per minute" in r for r in outcome.reasons)


def test_extraction_account_over_its_tight_budget_is_throttled_for_a_minute() -> None:
    rows = default_policy().evaluate(
        facts(known=(verdict("account", "acct-1", 0.86),), counters=per_minute(3))
    )
    outcome = resolve(rows, now=NOW)
    assert outcome.action == "throttle"
    assert outcome.source == "live.rate_budget"
    assert outcome.subject_kind == "account" and outcome.subject_id == "acct-1"
    throttle = next(r for r in rows if r.action == "throttle")
    assert throttle.expires_at == NOW + timedelta(minutes=1)
    assert "3 requests in the last minute, over the 2 per minute" in throttle.reasons[0]


def test_flagged_cluster_budget_counts_the_hour_too() -> None:
    counters = LiveCounters(account_requests_1m=1, account_requests_1h=1, cluster_requests_1h=61)
    outcome = decide(default_policy(), facts(known=(verdict("cluster", "c-7", 0.83),), counters=counters))
    assert outcome.action == "throttle"
    assert "61 requests in the last hour, over the 60 per hour" in outcome.reasons[0]


def test_a_flagged_clusters_light_accounts_are_throttled_together() -> None:
    """Each hydra account makes one request a minute, well inside a per-account budget; the
    cluster's budget counts them as one, so the hydra as a whole is slowed."""
    cluster = (verdict("cluster", "c-7", 0.86),)
    light = LiveCounters(
        account_requests_1m=1, account_requests_1h=3, cluster_requests_1m=1, cluster_requests_1h=9
    )
    assert decide(default_policy(), facts(known=cluster, counters=light)).action == "degrade"
    together = LiveCounters(
        account_requests_1m=1, account_requests_1h=3, cluster_requests_1m=40, cluster_requests_1h=400
    )
    outcome = decide(default_policy(), facts(known=cluster, counters=together))
    assert (outcome.action, outcome.source) == ("throttle", "live.rate_budget")
    assert "cluster c-7's accounts together made 40 requests in the last minute" in outcome.reasons[0]
    # the same counts on an account verdict: its own light traffic stays inside the budget
    own = decide(default_policy(), facts(known=(verdict("account", "acct-1", 0.86),), counters=together))
    assert own.action == "degrade"


def test_near_certain_extraction_is_blocked() -> None:
    outcome = decide(default_policy(), facts(known=(verdict("account", "acct-1", 0.97),)))
    assert outcome.action == "block"
    assert any("0.97" in r and "0.95" in r for r in outcome.reasons)


@pytest.mark.parametrize(
    ("plan", "verification", "action"),
    [
        ("paygo", "phone", "degrade"),  # ordinary pathway: watch withholds reasoning and logprobs
        ("education", "email", "challenge"),  # abused pathway: ask for stronger verification
        ("startup", "none", "challenge"),
        ("education", "id", "degrade"),  # verified by id: not the weak pathway
        ("enterprise", "enterprise", "allow"),  # contract and verified organisation: looser
    ],
)
def test_watch_verdict_depends_on_plan_and_verification(plan: str, verification: str, action: str) -> None:
    record = account(plan=plan, verification=verification)
    outcome = decide(default_policy(), facts(record=record, known=(verdict("account", "acct-1", 0.62),)))
    assert outcome.action == action


def test_weakly_verified_pathway_gets_a_tighter_budget_at_lower_risk() -> None:
    record = account(plan="research", verification="email", age_days=3)
    first = decide(default_policy(), facts(record=record, known=(verdict("account", "acct-1", 0.74),)))
    assert first.action == "degrade"  # 0.74 is only "watch" on the default thresholds, extraction here
    second = decide(
        default_policy(),
        facts(record=record, known=(verdict("account", "acct-1", 0.74),), counters=per_minute(2)),
    )
    assert second.action == "throttle"
    assert "over the 1 per minute" in second.reasons[0]


def test_enterprise_verified_account_is_never_blocked_by_a_verdict() -> None:
    record = account(plan="enterprise", verification="enterprise")
    outcome = decide(default_policy(), facts(record=record, known=(verdict("cluster", "c-2", 0.99),)))
    assert outcome.action == "degrade"


ALLOWLIST = """
allowlists:
  - name: Acme Corp enterprise contract
    accounts: [acct-acme]
    reason: contract 2024-113 permits evaluation traffic at volume
  - name: approved research partner
    cidrs: [203.0.113.0/24, "2001:db8:42::/48"]
regions:
  - name: restricted regions
    countries: [KP]
"""


def test_allowlisted_enterprise_inside_a_flagged_cluster_is_allowed() -> None:
    policy = parse_policy(ALLOWLIST, source="policy.yaml")
    known = (
        verdict("cluster", "c-9", 0.91),
        verdict("api_key", "key-1", 0.88),
        Decision("account", "acct-acme", "block", 0.7, ("partner report 17",), "intel.partner_match"),
        Decision("account", "acct-acme", "throttle", 0.0, ("2 over budget",), "live.rate_budget", NOW),
    )
    outcome = decide(policy, facts("acct-acme", known=known, counters=per_minute(900, 30000)))
    assert outcome.action == "allow"
    assert outcome.source == "policy.allowlist"
    assert "account acct-acme is on the allowlist 'Acme Corp enterprise contract'" in outcome.reasons
    assert "contract 2024-113 permits evaluation traffic at volume" in outcome.reasons
    assert any("4 detection or live row(s)" in r for r in outcome.reasons)


def test_allowlist_keeps_a_person_s_decision_and_the_region_rules() -> None:
    policy = parse_policy(ALLOWLIST, source="policy.yaml")
    manual = Decision(
        "account", "acct-acme", "block", 1.0, ("suspended by trust & safety, ticket 4411",), "manual"
    )
    assert decide(policy, facts("acct-acme", known=(manual,))).action == "block"
    from_restricted = facts("acct-acme", country="KP")
    outcome = decide(policy, from_restricted)
    assert outcome.action == "block" and outcome.source == "policy.region"


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("203.0.113.9", True),
        ("::ffff:203.0.113.9", True),  # IPv4-mapped IPv6 from a dual-stack listener
        ("2001:db8:42:7::1", True),
        ("203.0.114.9", False),
        ("2001:db8:43::1", False),
        ("not-an-address", False),
    ],
)
def test_cidr_allowlist_matches_the_client_address(address: str, allowed: bool) -> None:
    policy = parse_policy(ALLOWLIST, source="policy.yaml")
    outcome = decide(
        policy, facts("acct-lab", client_ip=address, known=(verdict("account", "acct-lab", 0.9),))
    )
    assert (outcome.action == "allow") is allowed
    if allowed:
        assert outcome.source == "policy.allowlist"
        assert any(address in r for r in outcome.reasons)


REGIONS = """
regions:
  - name: export-restricted regions
    countries: [KP, IR, NO]
    proxy_asns: [AS64500, 64511]
    action: block
    proxy_action: challenge
  - name: end users only
    countries: [CU]
    match: [on_behalf_of]
"""


@pytest.mark.parametrize(
    ("where", "action", "words"),
    [
        ({"country": "ir"}, "block", "request comes from IR"),
        ({"country": "US", "on_behalf_of_country": "KP"}, "block", "on behalf of a user in KP"),
        ({"country": "US", "record": account(country="KP")}, "block", "account is registered in KP"),
        ({"country": "NO"}, "block", "request comes from NO"),  # Norway, not YAML's false
        ({"country": "US", "asn": "AS64500"}, "challenge", "arrived through AS64500, a proxy network"),
        ({"country": "SG", "asn": "as64511 Example Relay"}, "challenge", "arrived through AS64511"),
        ({"country": "US", "asn": "AS64500", "on_behalf_of_country": "IR"}, "block", "through AS64500"),
        ({"country": "US", "on_behalf_of_country": "CU"}, "block", "on behalf of a user in CU"),
    ],
)
def test_region_rules_see_origin_end_user_account_and_proxy(where: dict, action: str, words: str) -> None:
    outcome = decide(parse_policy(REGIONS, source="policy.yaml"), facts(**where))
    assert outcome.action == action
    assert outcome.source == "policy.region"
    assert any(words in r for r in outcome.reasons), outcome.reasons


def test_region_rule_limited_to_end_users_ignores_where_the_request_comes_from() -> None:
    policy = parse_policy(REGIONS, source="policy.yaml")
    assert decide(policy, facts(country="CU")).action == "allow"
    assert decide(policy, facts(country="US", asn="AS64499")).action == "allow"


def test_rate_budgets_follow_the_plan_and_the_prefix() -> None:
    policy = default_policy()
    free = decide(policy, facts(record=account(plan="free"), counters=per_minute(61)))
    assert free.action == "throttle" and free.source == "live.rate_budget"
    assert "61 requests in the last minute, over the free plan's budget of 60 per minute" in free.reasons[0]
    assert decide(policy, facts(record=account(plan="paygo"), counters=per_minute(61))).action == "allow"
    busy_prefix = LiveCounters(account_requests_1m=1, account_requests_1h=10, prefix_requests_1m=6001)
    outcome = decide(policy, facts(counters=busy_prefix))
    assert (outcome.action, outcome.subject_kind, outcome.subject_id) == ("throttle", "ip_prefix", "prefix-1")


def test_elicitation_share_catches_a_campaign_that_started_after_the_scan() -> None:
    counters = LiveCounters(account_requests_1m=2, account_requests_1h=40, account_elicitation_1h=30)
    rows = default_policy().evaluate(facts(counters=counters))
    [row] = rows
    assert (row.action, row.source, row.risk) == ("degrade", "live.elicitation_share", 0.75)
    assert row.expires_at == NOW + timedelta(minutes=15)
    assert "30 of the account's 40 requests in the last hour (75%)" in row.reasons[0]
    assert "reasoning" in row.degrade


@pytest.mark.parametrize(("elicited", "requests"), [(15, 19), (11, 20)])  # too few requests; share 55%
def test_elicitation_share_needs_enough_requests_and_share(elicited: int, requests: int) -> None:
    counters = LiveCounters(
        account_requests_1m=1, account_requests_1h=requests, account_elicitation_1h=elicited
    )
    assert default_policy().evaluate(facts(counters=counters)) == []


def test_new_account_burst_on_a_prefix_challenges_the_new_accounts_only() -> None:
    counters = LiveCounters(account_requests_1m=1, account_requests_1h=3, prefix_new_accounts_1h=12)
    fresh = decide(default_policy(), facts(record=account(age_days=0.5), counters=counters))
    assert (fresh.action, fresh.source) == ("challenge", "live.new_account_burst")
    assert "12 new accounts appeared on this IP prefix" in fresh.reasons[0]
    assert "0.5 days old" in fresh.reasons[0]
    unknown = default_policy().evaluate(facts("acct-new", record=NO_RECORD, counters=counters))
    assert [r.source for r in unknown] == ["live.new_account_burst"]
    assert unknown[0].expires_at == NOW + timedelta(minutes=30)
    # the campus regular on the same busy prefix is not part of the burst
    assert decide(default_policy(), facts(record=account(age_days=400), counters=counters)).action == "allow"


def test_fresh_accounts_eliciting_with_one_fingerprint_are_degraded_live() -> None:
    counters = LiveCounters(
        account_requests_1m=1, account_requests_1h=2, fingerprint_new_elicited_accounts_1h=7
    )
    fresh = decide(
        default_policy(), facts(record=account(age_days=1.2), counters=counters, cot_elicitation=0.9)
    )
    assert (fresh.action, fresh.source) == ("degrade", "live.fingerprint_burst")
    assert "7 new accounts asked for reasoning traces" in fresh.reasons[0]
    assert "1.2 days old" in fresh.reasons[0]
    assert "reasoning" in fresh.degrade
    # the same burst does not touch an established account, nor a fresh one asking something ordinary
    regular = facts(record=account(age_days=400), counters=counters, cot_elicitation=0.9)
    assert decide(default_policy(), regular).action == "allow"
    ordinary = facts(record=account(age_days=1.2), counters=counters, cot_elicitation=0.1)
    assert decide(default_policy(), ordinary).action == "allow"
    below = LiveCounters(account_requests_1m=1, account_requests_1h=2, fingerprint_new_elicited_accounts_1h=4)
    assert default_policy().evaluate(facts(record=NO_RECORD, counters=below, cot_elicitation=0.9)) == []


def test_rows_from_intel_and_manual_keep_their_action_and_expired_verdicts_drop() -> None:
    intel = Decision(
        "api_key", "key-9", "block", 0.7, ("partner indicator 3 matched",), "intel.partner_match"
    )
    stale = Decision(
        "account", "acct-1", "block", 0.99, ("old scan",), "scan.account", NOW - timedelta(seconds=1)
    )
    rows = default_policy().evaluate(facts(known=(intel, stale)))
    assert rows == [intel]


def test_enterprise_override_below_its_threshold_says_why_it_allows() -> None:
    record = account(plan="enterprise", verification="enterprise")
    [row] = default_policy().evaluate(facts(record=record, known=(verdict("cluster", "c-3", 0.85),)))
    assert row.action == "allow" and row.source == "policy.threshold"
    assert "below the lowest of the thresholds for enterprise-verified accounts (0.90)" in row.reasons[-1]


def test_shadow_mode_and_fail_closed_are_part_of_the_policy() -> None:
    policy = parse_policy("mode: shadow\non_error: fail_closed\n", source="policy.yaml")
    assert (policy.mode, policy.on_error, policy.shadow, policy.fail_closed) == (
        "shadow",
        "fail_closed",
        True,
        True,
    )
    # shadow still decides (the audit log records what would have happened); the service does not enforce
    assert decide(policy, facts(known=(verdict("account", "acct-1", 0.97),))).action == "block"
    default = default_policy()
    assert (default.mode, default.on_error) == ("enforce", "fail_open")


def test_left_out_sections_come_from_the_packaged_default() -> None:
    policy = parse_policy("mode: shadow\n", source="policy.yaml")
    assert policy.parts.inherited and "thresholds" in policy.parts.inherited
    assert policy.parts.thresholds == default_policy().parts.thresholds
    assert policy.version != default_policy().version
    assert policy.version == parse_policy("mode: shadow\n", source="other.yaml").version
    assert len(policy.version) == 12


def test_an_empty_section_turns_that_part_off() -> None:
    policy = parse_policy("thresholds: []\nrate_budgets: null\nlive_rules: {}\n", source="policy.yaml")
    counters = LiveCounters(account_requests_1m=9000, account_requests_1h=9000, account_elicitation_1h=9000)
    outcome = decide(policy, facts(known=(verdict("account", "acct-1", 0.99),), counters=counters))
    assert outcome.action == "allow"
