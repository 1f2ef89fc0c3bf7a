"""Distillation campaigns as groups of accounts: hydra clusters behind commercial proxies.

``accounts`` slots are live at any time; when an account is banned (exponential
lifetime) a fresh one created in the campaign's latest sign-up burst takes over
the slot. Accounts share a small set of payment fingerprints, sign up through
abused education/research/startup pathways, and leave through a datacenter range
or a residential proxy pool that ordinary customers use too.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from distillguard.simulate.actors import (
    DATACENTER_ASNS,
    RESIDENTIAL_ASNS,
    Group,
    Network,
    account_ids,
    choose,
    key_ids,
    make_sdk,
)
from distillguard.simulate.scenario import ATTACKER_POPULATION, CampaignConfig, Scenario

THROWAWAY_DOMAINS = ["mailbox-pro.net", "quickinbox.org", "devmail.cc", "nowmail.io", "fastpost.me"]
PATHWAY_DOMAINS = {
    "education": ["student.univ-online.edu", "alumni.tech-institute.edu", "mail.college-east.edu"],
    "research": ["ai-research-lab.org", "openscience.institute", "ml-collective.net"],
    "startup": ["buildfast.ai", "nextgen-apps.io", "launchpad.dev", "seedstack.co"],
}
HARNESS_FAMILIES = ["openai-python", "httpx", "aiohttp", "openai-node", "requests", "go", "anthropic-python"]


def campaign_id_for(scenario: Scenario, index: int) -> str:
    return f"camp-{scenario.seed:x}-{index + 1:02d}"


def _lifetimes(
    rng: np.random.Generator, c: CampaignConfig, onset_h: float, end_h: float
) -> list[tuple[float, float]]:
    """(active_from, active_to) per account: slots filled, banned accounts replaced."""
    windows: list[tuple[float, float]] = []
    if c.requests_per_account is not None:
        # A swarm: every account is used once, for a short burst somewhere in the campaign's window.
        latest = max(onset_h, end_h - c.burst_hours)
        for _ in range(max(1, c.accounts)):
            t = float(rng.uniform(onset_h, latest))
            windows.append((t, min(end_h, t + c.burst_hours)))
        return windows
    if c.succession_days is not None:
        # Succession: each account retires on schedule (not banned) and a fresh one with the
        # same profile takes over its slot.
        for _slot in range(max(1, c.accounts)):
            # The first account of each slot starts at onset and retires at a staggered time.
            t = onset_h + float(rng.uniform(0.2, 1.0)) * c.succession_days * 24
            windows.append((onset_h, t))
            while t < end_h:
                t += float(rng.uniform(0.5, 6.0))  # the successor picks up within hours
                life = c.succession_days * 24 * float(rng.uniform(0.7, 1.3))
                windows.append((t, t + life))
                t += life
        return windows
    for _slot in range(max(1, c.accounts)):
        t = onset_h + float(rng.uniform(0, max(1.0, c.growth_days * 24 * 0.5)))
        while t < end_h:
            if c.ban_after_days is None:
                windows.append((t, end_h))
                break
            life = float(rng.exponential(c.ban_after_days * 24))
            windows.append((t, t + life))
            if not c.replace_banned:
                break
            t += life + float(rng.uniform(0.5, 6.0))  # a fresh account picks up within hours
    return windows


def build_campaign(
    scenario: Scenario,
    c: CampaignConfig,
    index: int,
    gid: int,
    rng: np.random.Generator,
    net: Network,
    pools: tuple[np.ndarray, np.ndarray],
) -> Group:
    resi_pool, dc_pool = pools
    hours = scenario.hours
    onset_h = c.onset_day * 24.0
    end_h = min(hours, (c.end_day * 24.0) if c.end_day is not None else hours)
    windows = _lifetimes(rng, c, onset_h, end_h)
    n = len(windows)
    ids = account_ids(scenario.seed, gid, n)
    active_from = np.asarray([w[0] for w in windows])
    ends = np.asarray([w[1] for w in windows])
    active_to = np.minimum(ends, end_h)
    banned_at = np.where(ends < end_h, ends, np.inf)
    if c.succession_days is not None or c.requests_per_account is not None:
        banned_at = np.full(n, np.inf)  # retired or finished, never banned: no 403s to notice
    # sign-up bursts: accounts are created in batches shortly before they are needed --
    order = np.argsort(active_from, kind="stable")
    created = np.empty(n)
    burst = max(1, c.signup_burst_size)
    for b in range(0, n, burst):
        members = order[b : b + burst]
        burst_at = float(active_from[members].min()) - float(rng.uniform(6, 72))
        created[members] = burst_at + rng.uniform(0, 3, len(members))
    if c.account_age_days is not None:  # company-looking accounts, opened months ago
        lo, hi = c.account_age_days
        created = -24.0 * rng.uniform(lo, hi, n)
    cards = [f"pm_{int(rng.integers(0, 1 << 62)):016x}" for _ in range(max(1, c.payment_fingerprints))]
    if c.own_card:
        cards = []
    plans = choose(rng, c.pathways, n)
    verification = choose(rng, c.verification, n)
    records = []
    for i in range(n):
        plan = plans[i]
        domains = c.email_domains or PATHWAY_DOMAINS.get(
            plan, [*THROWAWAY_DOMAINS, "gmail.com", "outlook.com", "qq.com"]
        )
        records.append(
            {
                "account_id": ids[i],
                "created_at": (scenario.start + timedelta(hours=float(created[i]))).isoformat(),
                "country": c.countries[int(rng.integers(0, len(c.countries)))],
                "email_domain": domains[int(rng.integers(0, len(domains)))],
                "payment_fingerprint": ""
                if plan == "free"
                else (cards[int(rng.integers(0, len(cards)))] if cards else _own_card(rng)),
                "verification": verification[i],
                "plan": plan,
            }
        )
    # load balancing: uniform spreads evenly; weighted mimics a heavy tail to blend in --
    weight = np.ones(n) if c.load_balance == "uniform" else rng.lognormal(0.0, 0.8, n)
    key_count = rng.integers(1, 3, n)
    key_start = np.concatenate([[0], np.cumsum(key_count)[:-1]]).astype(np.int64)
    keys = key_ids(scenario.seed, gid, int(key_count.sum()))
    # proxies -------------------------------------------------------------------------
    if c.proxy == "residential":
        take = min(len(resi_pool), max(1, c.proxy_prefixes))
        pool = rng.choice(resi_pool, size=take, replace=False)
    else:  # a commercial datacenter proxy service, topped up with dedicated ranges when it is too small
        take = min(len(dc_pool), max(1, c.proxy_prefixes))
        pool = rng.choice(dc_pool, size=take, replace=False)
        if c.proxy_prefixes > take:
            asns = [DATACENTER_ASNS[int(i)] for i in rng.choice(len(DATACENTER_ASNS), 2, replace=False)]
            pool = np.concatenate([pool, net.add(c.proxy_prefixes - take, asns)])
    uses_pool = np.ones(n, dtype=bool)
    ip_prefix = np.zeros((n, 1), dtype=np.int64)
    ip_host = np.full((n, 1), -1, dtype=np.int64)
    # one home address per account, an ISP of the account's own country: every account (a
    # swarm), or some of them (an operation that buys residential exits for part of its fleet)
    own_exit = np.full(n, c.own_address)
    if not c.own_address and c.own_address_share > 0:
        own_exit = rng.random(n) < c.own_address_share
    if own_exit.any():
        uses_pool[own_exit] = False
        for i in np.flatnonzero(own_exit).tolist():
            local = [a for a in RESIDENTIAL_ASNS if a[1] == records[i]["country"]]
            ip_prefix[i, 0] = net.add(1, local or RESIDENTIAL_ASNS)[0]
        ip_host[own_exit, 0] = rng.integers(1, 255, int(own_exit.sum()))
    # client fingerprints: one harness, or every account a different-looking client ------
    harness = make_sdk(rng, "httpx" if index % 2 else "openai-python")
    sdks = [
        make_sdk(rng, HARNESS_FAMILIES[int(rng.integers(0, len(HARNESS_FAMILIES)))])
        if rng.random() < c.sdk_diversity
        else harness
        for _ in range(n)
    ]
    house = [int(v) for v in rng.integers(0, 1000, 8)]
    group = Group(
        gid=gid,
        label=c.name,
        population=ATTACKER_POPULATION,
        campaign_id=campaign_id_for(scenario, index),
        kind="campaign",
        config=c,
        total_events=c.events,
        account_ids=ids,
        records=records,
        weight=weight,
        tz=np.full(n, c.timezone),
        active_from=active_from,
        active_to=active_to,
        banned_at=banned_at,
        keys=keys,
        key_start=key_start,
        key_count=key_count,
        ip_prefix=ip_prefix,
        ip_host=ip_host,
        ip_n=np.ones(n, dtype=np.int64),
        uses_pool=uses_pool,
        pool=np.asarray(pool, dtype=np.int64),
        sdks=sdks,
        system_prompts=[None] * n,
        projects=[f"proj_{i[4:14]}" for i in ids],
        house=house,
    )
    if c.requests_per_account is not None:
        group.fixed_events = _swarm_times(rng, c, active_from, active_to)
        group.total_events = len(group.fixed_events)
    return group


def _own_card(rng: np.random.Generator) -> str:
    return f"pm_{int(rng.integers(0, 1 << 62)):016x}"


def _swarm_times(
    rng: np.random.Generator, c: CampaignConfig, active_from: np.ndarray, active_to: np.ndarray
) -> np.ndarray:
    """(account, seconds since start) of every request of a swarm, sorted by time.

    Each account sends exactly lo..hi requests inside its burst window, so the shape
    ("a handful of requests per account, then never again") holds by construction.
    """
    assert c.requests_per_account is not None
    lo, hi = c.requests_per_account
    counts = rng.integers(lo, hi + 1, len(active_from))
    account = np.repeat(np.arange(len(active_from)), counts)
    begin = np.repeat(active_from, counts) * 3600.0
    span = np.maximum(np.repeat(active_to - active_from, counts) * 3600.0, 1.0)
    seconds = begin + rng.uniform(0, 1, len(account)) * span
    order = np.argsort(seconds, kind="stable")
    return np.stack([account[order].astype(np.float64), seconds[order]], axis=1)
