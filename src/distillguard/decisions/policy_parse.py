"""Policy YAML -> compiled rules, with errors that name the file and line.

The text is composed into YAML nodes (``yaml.compose``), not loaded into plain
values, so every value keeps the line it came from. Scalars are read from their
source text where a string is meant, which sidesteps YAML 1.1 surprises such as
``NO`` (Norway) turning into ``false``.
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import re
from collections.abc import Collection, Sequence
from datetime import timedelta
from typing import NoReturn

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from distillguard.decisions.degrade import parse_item
from distillguard.decisions.policy_rules import (
    Allowlist,
    Band,
    Budget,
    BurstRule,
    CidrIndex,
    ElicitationRule,
    Override,
    PolicyError,
    PolicyParts,
    RateBudgets,
    RegionRule,
    ThresholdTable,
)
from distillguard.schema import ACCOUNT_PLANS, ACCOUNT_VERIFICATION, DECISION_ACTIONS

TOP_LEVEL_KEYS = (
    "description",
    "mode",
    "on_error",
    "degrade",
    "thresholds",
    "overrides",
    "allowlists",
    "regions",
    "rate_budgets",
    "live_rules",
)
MODES = ("enforce", "shadow")
ON_ERROR = ("fail_open", "fail_closed")
REGION_MATCH = ("request", "on_behalf_of", "account")
_NULL = "tag:yaml.org,2002:null"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_ASN = re.compile(r"^(?:AS)?(\d{1,10})$", re.IGNORECASE)
_CONSTRUCT = yaml.constructor.SafeConstructor()


def compose(text: str, source: str) -> MappingNode:
    """The document's top-level mapping node; YAML syntax errors become PolicyError."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        context = exc.context or ""
        if (
            context
            and exc.context_mark is not None
            and mark is not None
            and exc.context_mark.line != mark.line
        ):
            context += f" (started on line {exc.context_mark.line + 1})"
        problem = ": ".join(part for part in (context, exc.problem) if part) or "invalid YAML"
        raise PolicyError(source, mark.line + 1 if mark else None, f"YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(source, None, f"YAML error: {exc}") from None
    if root is None or (isinstance(root, ScalarNode) and root.tag == _NULL):
        raise PolicyError(source, 1, "the policy is empty (write at least 'mode: enforce')")
    if not isinstance(root, MappingNode):
        raise PolicyError(
            source, root.start_mark.line + 1, "a policy is a mapping of keys (mode:, thresholds:, ...)"
        )
    return root


def _suggest(word: str, options: Collection[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == _NULL:
        return "empty"
    return repr(node.value)


class _Reader:
    """Typed access to YAML nodes; every failure names ``source:line``."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, node: Node, message: str) -> NoReturn:
        raise PolicyError(self.source, node.start_mark.line + 1, message)

    def mapping(
        self, node: Node, where: str, keys: Collection[str], required: Sequence[str] = ()
    ) -> dict[str, Node]:
        if not isinstance(node, MappingNode):
            self.fail(node, f"{where} must be a mapping (key: value), not {_kind(node)}")
        found: dict[str, Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.fail(key_node, f"{where}: keys must be plain words")
            key = str(key_node.value)
            if key in found:
                self.fail(key_node, f"{where}: {key!r} is given twice")
            if key not in keys:
                self.fail(
                    key_node,
                    f"{where}: unknown key {key!r}{_suggest(key, keys)} (valid keys: {', '.join(keys)})",
                )
            found[key] = value_node
        for key in required:
            if key not in found:
                self.fail(node, f"{where}: {key!r} is required")
        return found

    def seq(self, node: Node, where: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            self.fail(node, f"{where} must be a list (lines starting with '- '), not {_kind(node)}")
        return list(node.value)

    def text(self, node: Node, where: str) -> str:
        if not isinstance(node, ScalarNode) or node.tag == _NULL or not str(node.value).strip():
            self.fail(node, f"{where} must be a text value, not {_kind(node)}")
        return str(node.value).strip()

    def texts(self, node: Node, where: str) -> list[tuple[str, Node]]:
        """A list of text values; a single value counts as a one-item list."""
        if isinstance(node, ScalarNode) and node.tag != _NULL:
            return [(self.text(node, where), node)]
        return [(self.text(item, f"{where}[{i}]"), item) for i, item in enumerate(self.seq(node, where))]

    def choice(self, node: Node, where: str, options: Collection[str]) -> str:
        value = self.text(node, where)
        if value not in options:
            self.fail(
                node,
                f"{where}: unknown value {value!r}{_suggest(value, options)} (one of {', '.join(options)})",
            )
        return value

    def number(self, node: Node, where: str, low: float, high: float | None = None) -> float:
        if not isinstance(node, ScalarNode) or node.tag not in (_INT, _FLOAT):
            self.fail(node, f"{where} must be a number, not {_kind(node)}")
        value = float(_CONSTRUCT.construct_object(node))
        if value != value or value < low or (high is not None and value > high):
            bounds = f"[{low:g}, {high:g}]" if high is not None else f"at least {low:g}"
            self.fail(node, f"{where} must be in {bounds}, got {node.value}")
        return value

    def whole(self, node: Node, where: str, low: int) -> int:
        if not isinstance(node, ScalarNode) or node.tag != _INT:
            self.fail(node, f"{where} must be a whole number, not {_kind(node)}")
        value = int(_CONSTRUCT.construct_object(node))
        if value < low:
            self.fail(node, f"{where} must be at least {low}, got {value}")
        return value

    def flag(self, node: Node, where: str) -> bool:
        if not isinstance(node, ScalarNode) or node.tag != _BOOL:
            self.fail(node, f"{where} must be true or false, not {_kind(node)}")
        return bool(_CONSTRUCT.construct_object(node))

    def is_null(self, node: Node) -> bool:
        return isinstance(node, ScalarNode) and node.tag == _NULL

    def items(self, node: Node, where: str) -> tuple[str, ...]:
        out = []
        for value, item in self.texts(node, where):
            try:
                parse_item(value)
            except ValueError as exc:
                self.fail(item, f"{where}: {exc}")
            out.append(value)
        return tuple(out)

    def minutes(self, node: Node | None, where: str, default: float) -> timedelta:
        if node is None:
            return timedelta(minutes=default)
        value = self.number(node, where, 0.0)
        if value <= 0:
            self.fail(node, f"{where} must be more than 0 minutes")
        return timedelta(minutes=value)


def _action_items(
    r: _Reader, fields: dict[str, Node], action: str, where: str, default: tuple[str, ...], anchor: Node
) -> tuple[str, ...]:
    """Degrade items for a rule: its own, else the policy's; an error where they cannot apply."""
    if "degrade" in fields:
        own = r.items(fields["degrade"], f"{where}.degrade")
        if action != "degrade":
            r.fail(
                fields["degrade"],
                f"{where}.degrade: items only apply to action 'degrade' (this is {action!r})",
            )
        return own
    if action == "degrade" and not default:
        r.fail(
            anchor,
            f"{where}: action 'degrade' withholds nothing: list degrade items here or at the top level",
        )
    return default if action == "degrade" else ()


def _budget(r: _Reader, node: Node, where: str) -> Budget | None:
    if r.is_null(node):
        return None
    fields = r.mapping(node, where, ("per_minute", "per_hour"))
    limits: dict[str, int | None] = {}
    for key in ("per_minute", "per_hour"):
        value = fields.get(key)
        limits[key] = None if value is None or r.is_null(value) else r.whole(value, f"{where}.{key}", 1)
    if limits["per_minute"] is None and limits["per_hour"] is None:
        r.fail(node, f"{where}: give per_minute and/or per_hour (or write null for no budget)")
    return Budget(per_minute=limits["per_minute"], per_hour=limits["per_hour"])


def _thresholds(r: _Reader, node: Node, where: str, label: str, default: tuple[str, ...]) -> ThresholdTable:
    bands: list[Band] = []
    seen: dict[float, int] = {}
    for i, item in enumerate(r.seq(node, where)):
        at = f"{where}[{i}]"
        fields = r.mapping(item, at, ("risk", "action", "name", "degrade", "budget"), ("risk", "action"))
        risk = r.number(fields["risk"], f"{at}.risk", 0.0, 1.0)
        if risk in seen:
            r.fail(fields["risk"], f"{at}.risk: {risk:g} is already used by {where}[{seen[risk]}]")
        seen[risk] = i
        action = r.choice(fields["action"], f"{at}.action", DECISION_ACTIONS)
        budget = _budget(r, fields["budget"], f"{at}.budget") if "budget" in fields else None
        if budget is not None and action in ("throttle", "block"):
            r.fail(
                fields["budget"],
                f"{at}.budget: a budget only matters below throttle (this band is {action!r})",
            )
        bands.append(
            Band(
                risk=risk,
                action=action,
                name=r.text(fields["name"], f"{at}.name") if "name" in fields else "",
                degrade=_action_items(r, fields, action, at, default, item),
                budget=budget,
            )
        )
    return ThresholdTable(label=label, bands=tuple(sorted(bands, key=lambda b: -b.risk)))


def _vocabulary(r: _Reader, node: Node, where: str, options: Collection[str]) -> frozenset[str]:
    values = set()
    for value, item in r.texts(node, where):
        value = value.lower()
        if value not in options:
            r.fail(
                item,
                f"{where}: unknown value {value!r}{_suggest(value, options)} (one of {', '.join(options)})",
            )
        values.add(value)
    return frozenset(values)


def _overrides(r: _Reader, node: Node, default: tuple[str, ...]) -> tuple[Override, ...]:
    out = []
    for i, item in enumerate(r.seq(node, "overrides")):
        at = f"overrides[{i}]"
        fields = r.mapping(item, at, ("name", "when", "thresholds"), ("name", "when", "thresholds"))
        name = r.text(fields["name"], f"{at}.name")
        when = r.mapping(fields["when"], f"{at}.when", ("plan", "verification"))
        if not when:
            r.fail(fields["when"], f"{at}.when: name a plan and/or a verification pathway")
        plans = _vocabulary(r, when["plan"], f"{at}.when.plan", ACCOUNT_PLANS) if "plan" in when else None
        verifications = (
            _vocabulary(r, when["verification"], f"{at}.when.verification", ACCOUNT_VERIFICATION)
            if "verification" in when
            else None
        )
        table = _thresholds(r, fields["thresholds"], f"{at}.thresholds", f"thresholds for {name}", default)
        out.append(Override(name=name, plans=plans, verifications=verifications, table=table))
    return tuple(out)


def _allowlists(r: _Reader, node: Node) -> tuple[tuple[Allowlist, ...], dict[str, Allowlist], CidrIndex]:
    entries: list[Allowlist] = []
    by_account: dict[str, Allowlist] = {}
    index = CidrIndex()
    for i, item in enumerate(r.seq(node, "allowlists")):
        at = f"allowlists[{i}]"
        fields = r.mapping(item, at, ("name", "accounts", "cidrs", "reason"), ("name",))
        if "accounts" not in fields and "cidrs" not in fields:
            r.fail(item, f"{at}: list accounts and/or cidrs")
        accounts = (
            [value for value, _ in r.texts(fields["accounts"], f"{at}.accounts")]
            if "accounts" in fields
            else []
        )
        networks = []
        for value, cidr_node in r.texts(fields["cidrs"], f"{at}.cidrs") if "cidrs" in fields else []:
            try:
                networks.append(ipaddress.ip_network(value, strict=True))
            except ValueError as exc:
                hint = ""
                with contextlib.suppress(ValueError):
                    hint = f"; did you mean {ipaddress.ip_network(value, strict=False)}?"
                r.fail(cidr_node, f"{at}.cidrs: {value!r} is not a valid CIDR ({exc}){hint}")
        entry = Allowlist(
            name=r.text(fields["name"], f"{at}.name"),
            accounts=frozenset(accounts),
            cidrs=tuple(str(n) for n in networks),
            reason=r.text(fields["reason"], f"{at}.reason") if "reason" in fields else "",
        )
        entries.append(entry)
        for account in accounts:
            by_account.setdefault(account, entry)  # the first entry that lists an account speaks for it
        for network in networks:
            index.add(network, entry)
    return tuple(entries), by_account, index


def _regions(r: _Reader, node: Node, default: tuple[str, ...]) -> tuple[RegionRule, ...]:
    keys = ("name", "countries", "match", "proxy_asns", "action", "proxy_action", "degrade")
    out = []
    for i, item in enumerate(r.seq(node, "regions")):
        at = f"regions[{i}]"
        fields = r.mapping(item, at, keys, ("name",))
        if "countries" not in fields and "proxy_asns" not in fields:
            r.fail(item, f"{at}: list countries and/or proxy_asns")
        countries = set()
        for value, country_node in (
            r.texts(fields["countries"], f"{at}.countries") if "countries" in fields else []
        ):
            code = value.upper()
            if not _COUNTRY.match(code):
                r.fail(country_node, f"{at}.countries: {value!r} is not a two-letter ISO 3166 country code")
            countries.add(code)
        asns = set()
        for value, asn_node in (
            r.texts(fields["proxy_asns"], f"{at}.proxy_asns") if "proxy_asns" in fields else []
        ):
            found = _ASN.match(value)
            if not found:
                r.fail(asn_node, f"{at}.proxy_asns: {value!r} is not an AS number (write AS64500 or 64500)")
            asns.add(f"AS{int(found.group(1))}")
        match = set(REGION_MATCH)
        if "match" in fields:
            match = set()
            for value, match_node in r.texts(fields["match"], f"{at}.match"):
                if value not in REGION_MATCH:
                    r.fail(
                        match_node,
                        f"{at}.match: unknown value {value!r}{_suggest(value, REGION_MATCH)} "
                        f"(any of {', '.join(REGION_MATCH)})",
                    )
                match.add(value)
        action = (
            r.choice(fields["action"], f"{at}.action", DECISION_ACTIONS) if "action" in fields else "block"
        )
        proxy_action = (
            r.choice(fields["proxy_action"], f"{at}.proxy_action", DECISION_ACTIONS)
            if "proxy_action" in fields
            else action
        )
        if "degrade" in fields and "degrade" not in (action, proxy_action):
            r.fail(
                fields["degrade"], f"{at}.degrade: items only apply when action or proxy_action is 'degrade'"
            )
        items = r.items(fields["degrade"], f"{at}.degrade") if "degrade" in fields else default
        if "degrade" in (action, proxy_action) and not items:
            r.fail(
                item, f"{at}: action 'degrade' withholds nothing: list degrade items here or at the top level"
            )
        out.append(
            RegionRule(
                name=r.text(fields["name"], f"{at}.name"),
                countries=frozenset(countries),
                on_request="request" in match,
                on_behalf_of="on_behalf_of" in match,
                on_account="account" in match,
                proxy_asns=frozenset(asns),
                action=action,
                proxy_action=proxy_action,
                degrade=items if action == "degrade" else (),
                proxy_degrade=items if proxy_action == "degrade" else (),
            )
        )
    return tuple(out)


def _rate_budgets(r: _Reader, node: Node) -> RateBudgets:
    fields = r.mapping(node, "rate_budgets", ("account", "plans", "ip_prefix", "ttl_minutes"))
    plans: dict[str, Budget | None] = {}
    if "plans" in fields:
        for key_node, value_node in r.mapping(fields["plans"], "rate_budgets.plans", ACCOUNT_PLANS).items():
            plans[key_node] = _budget(r, value_node, f"rate_budgets.plans.{key_node}")
    prefix = None
    if "ip_prefix" in fields and not r.is_null(fields["ip_prefix"]):
        prefix_fields = r.mapping(
            fields["ip_prefix"], "rate_budgets.ip_prefix", ("per_minute",), ("per_minute",)
        )
        prefix = r.whole(prefix_fields["per_minute"], "rate_budgets.ip_prefix.per_minute", 1)
    return RateBudgets(
        account=_budget(r, fields["account"], "rate_budgets.account") if "account" in fields else None,
        plans=plans,
        ip_prefix_per_minute=prefix,
        ttl=r.minutes(fields.get("ttl_minutes"), "rate_budgets.ttl_minutes", 1.0),
    )


def _live_rules(
    r: _Reader, node: Node, default: tuple[str, ...]
) -> tuple[ElicitationRule, BurstRule, BurstRule]:
    fields = r.mapping(node, "live_rules", ("elicitation_share", "new_account_burst", "fingerprint_burst"))
    common = ("enabled", "action", "degrade", "ttl_minutes")

    def shared(
        rule: dict[str, Node], at: str, action: str, anchor: Node
    ) -> tuple[bool, str, tuple[str, ...]]:
        enabled = r.flag(rule["enabled"], f"{at}.enabled") if "enabled" in rule else True
        if "action" in rule:
            action = r.choice(rule["action"], f"{at}.action", DECISION_ACTIONS)
        return enabled, action, _action_items(r, rule, action, at, default, anchor)

    at = "live_rules.elicitation_share"
    if "elicitation_share" in fields:
        anchor = fields["elicitation_share"]
        rule = r.mapping(anchor, at, (*common, "min_share", "min_requests"))
        enabled, action, items = shared(rule, at, "degrade", anchor)
        elicitation = ElicitationRule(
            enabled=enabled,
            min_share=r.number(rule["min_share"], f"{at}.min_share", 0.0, 1.0)
            if "min_share" in rule
            else 0.6,
            min_requests=r.whole(rule["min_requests"], f"{at}.min_requests", 1)
            if "min_requests" in rule
            else 20,
            action=action,
            degrade=items,
            ttl=r.minutes(rule.get("ttl_minutes"), f"{at}.ttl_minutes", 15.0),
        )
    else:
        elicitation = ElicitationRule(False, 1.0, 1, "allow", (), timedelta(minutes=15))

    def burst(key: str, *, min_new_accounts: int, action: str, ttl_minutes: float) -> BurstRule:
        at = f"live_rules.{key}"
        if key not in fields:
            return BurstRule(False, min_new_accounts, 7.0, "allow", (), timedelta(minutes=ttl_minutes))
        anchor = fields[key]
        rule = r.mapping(anchor, at, (*common, "min_new_accounts", "new_account_days"))
        enabled, action, items = shared(rule, at, action, anchor)
        return BurstRule(
            enabled=enabled,
            min_new_accounts=(
                r.whole(rule["min_new_accounts"], f"{at}.min_new_accounts", 2)
                if "min_new_accounts" in rule
                else min_new_accounts
            ),
            new_account_days=(
                r.number(rule["new_account_days"], f"{at}.new_account_days", 0.0)
                if "new_account_days" in rule
                else 7.0
            ),
            action=action,
            degrade=items,
            ttl=r.minutes(rule.get("ttl_minutes"), f"{at}.ttl_minutes", ttl_minutes),
        )

    prefix_burst = burst("new_account_burst", min_new_accounts=10, action="challenge", ttl_minutes=30.0)
    fingerprint_burst = burst("fingerprint_burst", min_new_accounts=5, action="degrade", ttl_minutes=30.0)
    return elicitation, prefix_burst, fingerprint_burst


def parse_parts(
    root: MappingNode, source: str, default_root: MappingNode | None, default_source: str
) -> PolicyParts:
    """Compile a composed policy; top-level keys it leaves out come from ``default_root``."""
    own = _Reader(source).mapping(root, "policy", TOP_LEVEL_KEYS)
    inherited: list[str] = []
    sections: dict[str, tuple[_Reader, Node]] = {key: (_Reader(source), value) for key, value in own.items()}
    if default_root is not None:
        for key, value in _Reader(default_source).mapping(default_root, "policy", TOP_LEVEL_KEYS).items():
            if key not in sections:
                sections[key] = (_Reader(default_source), value)
                inherited.append(key)

    def get(key: str) -> tuple[_Reader, Node | None]:
        reader, node = sections.get(key, (_Reader(source), None))
        return reader, node

    r, node = get("mode")
    mode = r.choice(node, "mode", MODES) if node is not None else "enforce"
    r, node = get("on_error")
    on_error = r.choice(node, "on_error", ON_ERROR) if node is not None else "fail_open"
    r, node = get("description")
    description = r.text(node, "description") if node is not None else ""
    r, node = get("degrade")
    degrade = r.items(node, "degrade") if node is not None and not r.is_null(node) else ()
    r, node = get("thresholds")
    thresholds = (
        _thresholds(r, node, "thresholds", "default thresholds", degrade)
        if node is not None
        else ThresholdTable("default thresholds", ())
    )
    r, node = get("overrides")
    overrides = _overrides(r, node, degrade) if node is not None and not r.is_null(node) else ()
    r, node = get("allowlists")
    allowlists, by_account, cidrs = (
        _allowlists(r, node) if node is not None and not r.is_null(node) else ((), {}, CidrIndex())
    )
    r, node = get("regions")
    regions = _regions(r, node, degrade) if node is not None and not r.is_null(node) else ()
    r, node = get("rate_budgets")
    rate_budgets = (
        _rate_budgets(r, node)
        if node is not None and not r.is_null(node)
        else RateBudgets(None, {}, None, timedelta(minutes=1))
    )
    r, node = get("live_rules")
    elicitation, burst, fingerprint_burst = (
        _live_rules(r, node, degrade)
        if node is not None and not r.is_null(node)
        else _live_rules(r, MappingNode("tag:yaml.org,2002:map", []), degrade)
    )
    return PolicyParts(
        mode=mode,
        on_error=on_error,
        description=description,
        degrade=degrade,
        thresholds=thresholds,
        overrides=overrides,
        allowlists=allowlists,
        allow_accounts=by_account,
        allow_cidrs=cidrs,
        regions=regions,
        rate_budgets=rate_budgets,
        elicitation=elicitation,
        burst=burst,
        fingerprint_burst=fingerprint_burst,
        inherited=tuple(inherited),
    )
