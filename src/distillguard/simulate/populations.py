"""Benign populations: the hard negatives a detector must leave alone.

Each kind has its own account records, volume distribution, time zones, network
behaviour and clients: individual developers (heavy-tailed, home and proxy IPs),
startup apps (one account, thousands of end users, a fixed system prompt),
enterprises (dozens of keys behind one corporate egress range), university courses
(hundreds of education accounts created in one week on one campus network),
evaluation harnesses (research accounts on cloud ranges, benchmark sweeps),
routers/resellers (few accounts, huge volume) and CI bots (exact intervals).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from distillguard.simulate import phrases as P
from distillguard.simulate.actors import (
    CAMPUS_ASNS,
    CORPORATE_ASNS,
    DATACENTER_ASNS,
    RESIDENTIAL_ASNS,
    Group,
    Network,
    account_ids,
    choose,
    key_ids,
    make_sdk,
)
from distillguard.simulate.scenario import PopulationConfig, Scenario

FREEMAIL = [
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "proton.me",
    "icloud.com",
    "qq.com",
    "163.com",
    "hotmail.com",
]
COMPANY_DOMAINS = [
    "brightdesk.io",
    "quillwise.app",
    "tripmate.ai",
    "starhaven.gg",
    "ledgerly.com",
    "datawise.dev",
    "nimbus.tech",
    "pixelforge.io",
    "helio.so",
    "opscat.dev",
]


def _personal_domain(rng: np.random.Generator) -> str:
    """Mostly free mail; otherwise a small employer's or the person's own domain."""
    if rng.random() < 0.7:
        return FREEMAIL[int(rng.integers(0, len(FREEMAIL)))]
    stem = "".join(P.NAMES[int(i)].lower()[:3] for i in rng.integers(0, len(P.NAMES), 2))
    return f"{stem}{['.dev', '.io', '.com', '.net', '.co.uk', '.de'][int(rng.integers(0, 6))]}"


def _payment(rng: np.random.Generator) -> str:
    return f"pm_{int(rng.integers(0, 1 << 62)):016x}"


def _created(rng: np.random.Generator, start: datetime, days_before: tuple[float, float]) -> str:
    lo, hi = days_before
    delta = timedelta(days=float(rng.uniform(lo, hi)))
    return (start - delta).isoformat()


def build_population(
    scenario: Scenario,
    pop: PopulationConfig,
    gid: int,
    rng: np.random.Generator,
    net: Network,
    pools: tuple[np.ndarray, np.ndarray],
) -> Group:
    n = pop.accounts
    ids = account_ids(scenario.seed, gid, n)
    kind = pop.kind
    start = scenario.start
    # accounts.csv records --------------------------------------------------------
    plans = choose(rng, pop.plan, n)
    verification = choose(rng, pop.verification, n)
    countries = [pop.countries[int(i)] for i in rng.integers(0, len(pop.countries), n)]
    records = []
    university_week = float(rng.uniform(20, 60))
    new = rng.random(n) < pop.new_account_share
    active_from = np.full(n, -1e9)
    org_domain = None
    company_card = _payment(rng) if pop.shared_payment else None
    for i in range(n):
        if pop.account_age_days is not None:  # an established customer, whatever its kind
            created = _created(rng, start, pop.account_age_days)
            domain = (pop.email_domains or COMPANY_DOMAINS)[i % len(pop.email_domains or COMPANY_DOMAINS)]
            country = countries[i]
        elif kind == "hackathon":  # signed up for the event in the days just before it
            created = _created(rng, start, (0.0, pop.signup_days))
            domain, country = _personal_domain(rng), countries[i]
        elif kind == "university":
            created = _created(rng, start, (university_week, university_week + pop.signup_days))
            domain, country = "state.edu", "US"
        elif kind == "enterprises":
            created = _created(rng, start, (200, 900))
            org_domain = P.ORGS[i % len(P.ORGS)].split()[0].lower() + ".com"
            domain, country = org_domain, countries[i]
        elif kind in ("startups", "routers", "reseller"):
            created = _created(rng, start, (60, 700))
            domain, country = COMPANY_DOMAINS[i % len(COMPANY_DOMAINS)], countries[i]
        elif kind == "eval_harness":
            created = _created(rng, start, (30, 500))
            domain = ["cs.stanford.edu", "eecs.berkeley.edu", "ai-lab.org", "tsinghua.edu.cn", "mila.quebec"][
                i % 5
            ]
            country = countries[i]
        else:
            if new[i]:  # signed up during the period: active from the next full hour on
                signed_up = float(rng.uniform(0, scenario.hours * 0.9))
                active_from[i] = np.ceil(signed_up) + 1.0  # the schedule starts it in the hour before
                created = (start + timedelta(hours=signed_up)).isoformat()
            else:
                created = _created(rng, start, (1, 900))
            domain, country = _personal_domain(rng), countries[i]
        records.append(
            {
                "account_id": ids[i],
                "created_at": created,
                "country": country,
                "email_domain": domain,
                "payment_fingerprint": (company_card or _payment(rng)) if plans[i] != "free" else "",
                "verification": verification[i],
                "plan": plans[i],
            }
        )
    # volume, time zones, activity ------------------------------------------------
    weight = rng.lognormal(0.0, pop.volume_sigma, n)
    tz = np.asarray(pop.timezones, dtype=float)[rng.integers(0, len(pop.timezones), n)]
    active_to = np.full(n, 1e9)
    # keys --------------------------------------------------------------------------
    lo, hi = pop.keys_per_account
    key_count = rng.integers(lo, hi + 1, n)
    key_start = np.concatenate([[0], np.cumsum(key_count)[:-1]]).astype(np.int64)
    keys = key_ids(scenario.seed, gid, int(key_count.sum()))
    # networks ----------------------------------------------------------------------
    k = max(1, pop.ips_per_account)
    ip_prefix = np.zeros((n, k), dtype=np.int64)
    ip_host = np.full((n, k), -1, dtype=np.int64)
    ip_n = np.full(n, k, dtype=np.int64)
    if pop.network == "corporate":
        for i in range(n):  # one egress range per organisation, shared by all its keys
            egress = net.add(k, [CORPORATE_ASNS[i % len(CORPORATE_ASNS)]])
            ip_prefix[i] = egress
            ip_host[i] = rng.integers(1, 255, k)
    elif pop.network == "campus":
        campus = net.add(8, [CAMPUS_ASNS[int(rng.integers(0, len(CAMPUS_ASNS)))]])
        ip_prefix[:, 0] = campus[rng.integers(0, len(campus), n)]
        ip_n[:] = 1  # host stays random: campus NAT and DHCP
    elif pop.network == "cloud":
        for i in range(n):
            ip_prefix[i] = net.add(k, [DATACENTER_ASNS[int(rng.integers(0, len(DATACENTER_ASNS)))]])
            ip_host[i] = rng.integers(1, 255, k)
    else:  # residential homes (and phones), a couple of addresses per person
        for i in range(n):  # the account's own country's ISPs, mostly (travel and roaming otherwise)
            local = [a for a in RESIDENTIAL_ASNS if a[1] == records[i]["country"]]
            ip_prefix[i] = net.add(k, local if local and rng.random() < 0.85 else RESIDENTIAL_ASNS)
        ip_host[:] = rng.integers(1, 255, (n, k))
    uses_pool = rng.random(n) < pop.proxy_share
    # clients -------------------------------------------------------------------------
    families = pop.sdks
    sdks = [make_sdk(rng, families[int(rng.integers(0, len(families)))]) for _ in range(n)]
    system: list[str | None]
    if not pop.system_prompt_fixed:
        system = [None] * n
    elif kind == "enterprises":
        system = [P.ENTERPRISE_SYSTEM[i % 2].format(org=P.ORGS[i % len(P.ORGS)]) for i in range(n)]
    else:  # an app's own assistant persona, the same on every request of the account
        system = [P.STARTUP_SYSTEM[i % len(P.STARTUP_SYSTEM)] for i in range(n)]
    projects = [f"proj_{ids[i][4:14]}" for i in range(n)]
    group = Group(
        gid=gid,
        label=pop.label(),
        population=pop.label(),
        campaign_id=None,
        kind=kind,
        config=pop,
        total_events=pop.events,
        account_ids=ids,
        records=records,
        weight=weight,
        tz=tz,
        active_from=active_from,
        active_to=active_to,
        banned_at=np.full(n, np.inf),
        keys=keys,
        key_start=key_start,
        key_count=key_count,
        ip_prefix=ip_prefix,
        ip_host=ip_host,
        ip_n=ip_n,
        uses_pool=uses_pool,
        pool=np.concatenate(pools),  # VPN / proxy users leave through the same commercial pools
        sdks=sdks,
        system_prompts=system,
        projects=projects,
        extraction_end_users=pop.extraction_end_users,
    )
    if kind == "eval_harness":
        group.sweeps = _sweeps(rng, n, scenario.hours, pop.sweeps_per_day, pop.sweep_hours)
    if kind == "ci_bots":
        # Exact periods: the period follows from the volume asked for; some bots run twice as often.
        duration_s = scenario.hours * 3600.0
        mult = rng.choice([0.5, 1.0, 2.0], n)
        base = duration_s * float(np.sum(mult)) / max(1, pop.events)
        group.period_s = np.round(base / mult)
        group.phase_s = rng.uniform(0, group.period_s)
    return group


def _sweeps(rng: np.random.Generator, n: int, hours: int, per_day: float, length: float) -> np.ndarray:
    """Benchmark sweep windows (account, start hour, end hour): the harness is busy only then."""
    count = max(n, int(per_day * hours / 24 * n))
    acc = np.concatenate([np.arange(n), rng.integers(0, n, count - n)])
    start = rng.uniform(0, hours, count)
    end = start + rng.uniform(0.5, 1.5, count) * length
    return np.stack([acc, start, end], axis=1)
