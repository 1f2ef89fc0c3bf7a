"""A broken policy file is refused with `<file>:<line>: <what is wrong>` pointing at the line to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillguard.decisions.policy import PolicyError, load_policy, parse_policy

GOOD_BAND = "thresholds:\n  - risk: 0.8\n    action: block\n"

CASES = [
    pytest.param(
        "mode: enforce\nthresholdz:\n  - {risk: 0.8, action: block}\n",
        2,
        "unknown key 'thresholdz'; did you mean 'thresholds'?",
        id="unknown-top-level-key",
    ),
    pytest.param(
        "thresholds:\n  - risk: 0.8\n    acton: block\n",
        3,
        "thresholds[0]: unknown key 'acton'; did you mean 'action'?",
        id="unknown-nested-key",
    ),
    pytest.param(
        "thresholds:\n  - risk: 0.8\n    action: blok\n",
        3,
        "unknown value 'blok'; did you mean 'block'?",
        id="unknown-action",
    ),
    pytest.param(
        "thresholds:\n  - risk: 1.5\n    action: block\n", 2, "must be in [0, 1], got 1.5", id="risk-above-1"
    ),
    pytest.param(
        "thresholds:\n  - risk: -0.1\n    action: block\n",
        2,
        "must be in [0, 1], got -0.1",
        id="risk-below-0",
    ),
    pytest.param(
        "thresholds:\n  - risk: high\n    action: block\n",
        2,
        "thresholds[0].risk must be a number, not 'high'",
        id="risk-wrong-type",
    ),
    pytest.param("thresholds:\n  risk: 0.8\n", 2, "thresholds must be a list", id="section-wrong-shape"),
    pytest.param("thresholds:\n  - action: block\n", 2, "'risk' is required", id="missing-required-key"),
    pytest.param(
        GOOD_BAND + "  - risk: 0.8\n    action: degrade\n",
        4,
        "0.8 is already used by thresholds[0]",
        id="duplicate-threshold",
    ),
    pytest.param(
        "thresholds:\n  - risk: 0.9\n    action: block\n    budget: {per_minute: 2}\n",
        4,
        "a budget only matters below throttle",
        id="budget-on-block",
    ),
    pytest.param(
        "thresholds:\n  - risk: 0.9\n    action: degrade\n    budget: {per_minute: 0}\n",
        4,
        "per_minute must be at least 1, got 0",
        id="budget-zero",
    ),
    pytest.param(
        "degrade: [reasoning, logprob]\n", 1, "unknown degrade item 'logprob'", id="unknown-degrade-item"
    ),
    pytest.param(
        'degrade:\n  - reasoning\n  - "max_tokens:lots"\n', 3, "needs a whole number", id="bad-degrade-cap"
    ),
    pytest.param(
        "thresholds:\n  - risk: 0.9\n    action: block\n    degrade: [logprobs]\n",
        4,
        "items only apply to action 'degrade'",
        id="degrade-items-on-block",
    ),
    pytest.param(
        "degrade: []\nthresholds:\n  - risk: 0.9\n    action: degrade\n",
        3,
        "action 'degrade' withholds nothing",
        id="degrade-without-items",
    ),
    pytest.param(
        "overrides:\n  - name: schools\n    when: {plan: [eduction]}\n    thresholds: []\n",
        3,
        "unknown value 'eduction'; did you mean 'education'?",
        id="unknown-plan",
    ),
    pytest.param(
        "overrides:\n  - name: weak\n    when: {verification: [emial]}\n    thresholds: []\n",
        3,
        "did you mean 'email'?",
        id="unknown-verification",
    ),
    pytest.param(
        "allowlists:\n  - name: lab\n    cidrs:\n      - 10.0.0.0/8\n      - 10.0.0.300/24\n",
        5,
        "'10.0.0.300/24' is not a valid CIDR",
        id="bad-cidr",
    ),
    pytest.param(
        "allowlists:\n  - name: lab\n    cidrs: [10.1.2.3/8]\n",
        3,
        "has host bits set); did you mean 10.0.0.0/8?",
        id="cidr-host-bits",
    ),
    pytest.param("allowlists:\n  - name: nobody\n", 2, "list accounts and/or cidrs", id="empty-allowlist"),
    pytest.param(
        "regions:\n  - name: r\n    countries: [Iran]\n",
        3,
        "'Iran' is not a two-letter ISO 3166 country code",
        id="bad-country",
    ),
    pytest.param(
        "regions:\n  - name: r\n    proxy_asns: [cloudflare]\n", 3, "is not an AS number", id="bad-asn"
    ),
    pytest.param(
        "regions:\n  - name: r\n    countries: [KP]\n    match: [origin]\n",
        4,
        "unknown value 'origin'",
        id="bad-match",
    ),
    pytest.param("mode: shadw\n", 1, "mode: unknown value 'shadw'; did you mean 'shadow'?", id="bad-mode"),
    pytest.param("on_error: open\n", 1, "(one of fail_open, fail_closed)", id="bad-on-error"),
    pytest.param("mode: enforce\nmode: shadow\n", 2, "'mode' is given twice", id="duplicate-key"),
    pytest.param(
        "rate_budgets:\n  plans:\n    gold: {per_minute: 5}\n",
        3,
        "unknown key 'gold'",
        id="unknown-plan-budget",
    ),
    pytest.param(
        "live_rules:\n  elicitation_share:\n    min_share: 60\n",
        3,
        "must be in [0, 1], got 60",
        id="share-as-percent",
    ),
    pytest.param(
        "live_rules:\n  new_account_burst:\n    enabled: yes please\n",
        3,
        "enabled must be true or false",
        id="bad-flag",
    ),
    pytest.param("mode: enforce\n  bad: indent\n", 2, "YAML syntax error", id="yaml-syntax"),
    pytest.param("thresholds: [\n  {risk: 0.8, action: block}\n", 3, "YAML syntax error", id="yaml-unclosed"),
    pytest.param("# nothing but a comment\n", 1, "the policy is empty", id="empty"),
    pytest.param("- mode: enforce\n", 1, "a policy is a mapping", id="list-at-top"),
]


@pytest.mark.parametrize(("text", "line", "message"), CASES)
def test_error_names_file_line_and_problem(text: str, line: int, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="policy.yaml")
    error = str(caught.value)
    assert error.startswith(f"policy.yaml:{line}: "), error
    assert message in error, error
    assert caught.value.line == line and caught.value.source == "policy.yaml"
    assert "\n" not in error


def test_unknown_key_lists_the_valid_ones() -> None:
    with pytest.raises(PolicyError, match=r"valid keys: risk, action, name, degrade, budget"):
        parse_policy("thresholds:\n  - risk: 0.8\n    colour: red\n", source="p.yaml")


def test_load_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("mode: enforce\nallowlists:\n  - name: x\n    accounts: [a]\n    cidrs: [300.1.1.1/32]\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(caught.value).startswith(f"{path}:5: ")


def test_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"missing\.yaml: cannot read the policy file"):
        load_policy(tmp_path / "missing.yaml")


def test_values_yaml_would_mangle_are_read_as_written() -> None:
    text = (
        "allowlists:\n  - name: numbers\n    accounts: [00123, 4e5]\n"
        "regions:\n  - name: n\n    countries: [NO, no]\n"
    )
    policy = parse_policy(text, source="p.yaml")
    assert policy.parts.allow_accounts.keys() == {"00123", "4e5"}
    assert policy.parts.regions[0].countries == {"NO"}
