"""Randomised scenarios: every population and campaign knob drawn from ``ranges``.

``draw_scenario(seed, size)`` is a pure function of its arguments (a private
``random.Random``), so a seed names a scenario. The drawn scenario is written next
to the data as ``scenario.yaml`` (``dump_scenario``), which ``distillguard simulate
--config`` re-runs to the same traffic. Campaign names start with their shape
(``swarm-2``) and look-alike populations carry their look-alike's name, so a report
can say which shape a miss or a false positive came from.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from distillguard.simulate import ranges as R
from distillguard.simulate.presets import benign_populations, default_models
from distillguard.simulate.scenario import (
    FORMATS,
    CampaignConfig,
    PivotConfig,
    PopulationConfig,
    Scenario,
    ScenarioError,
    validate,
)

SHAPES = ("hydra", "swarm", "company", "critique", "succession")
LOOKALIKE_NAMES = (
    "consumer_app",
    "hackathon_week",
    "batch_eval",
    "edtech",
    "labelling",
    "synthetic_vendor",
    "localisation",
    "ide_agent",
    "reseller",
)
LOOKALIKE_PRESENCE = 0.45
WORLD_TIMEZONES = [-8.0, -6.0, -5.0, -3.0, 0.0, 1.0, 2.0, 3.0, 5.5, 7.0, 8.0, 9.0, 10.0]
WORLD_COUNTRIES = ["US", "GB", "DE", "IN", "BR", "CN", "JP", "FR", "NG", "KE", "ID", "MX", "PL", "VN", "EG"]
COMPANY_DOMAINS = ["acme-analytics.com", "helixdata.io", "orbitlabs.ai", "kestrel.co", "meridian-ai.com"]
EPOCH = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday; the drawn offset picks the weekday


def draw_scenario(seed: int, size: str = "small") -> Scenario:
    """The randomised scenario of ``seed`` at ``size`` (tiny | small | medium)."""
    if size not in R.SIZES:
        raise ScenarioError(f"--size must be one of {', '.join(R.SIZES)}, got {size!r}")
    r = random.Random(f"distillguard-randomize/{seed}/{size}")
    events_span, days_span = R.SIZES[size]
    total = events_span.draw_int(r)
    days = round(days_span.draw(r), 2)
    sc = R.SCENARIO
    start = EPOCH + timedelta(
        days=int(R.number(sc, "start_weekday_offset", r)), hours=int(R.number(sc, "start_hour", r))
    )
    n_formats = R.integer(sc, "formats", r)
    formats = sorted(r.sample(list(FORMATS), n_formats), key=FORMATS.index)
    release = round(days * R.number(sc, "release_at", r), 2)
    scenario = Scenario(
        f"random-{size}-{seed}",
        seed=seed,
        start=start,
        days=days,
        formats=formats,
        models=default_models(release),
        events_per_file=max(20_000, total),
    )
    n_campaigns = int(R.choice(sc, "campaign_count", r))
    attack = total * R.number(sc, "attack_share", r) if n_campaigns else 0.0
    benign = total - attack
    scale = R.ACCOUNT_SCALE[size]
    scenario.populations = _background(r, benign, scale) + _lookalikes(r, benign, scale, days)
    budgets = _split(r, attack, n_campaigns)
    scenario.campaigns = [_campaign(r, i, budget, days, scale, release) for i, budget in enumerate(budgets)]
    _own_exits(random.Random(f"distillguard-randomize/{seed}/{size}/own-exits"), scenario.campaigns)
    validate(scenario, scenario.name)
    return scenario


def _split(r: random.Random, total: float, parts: int) -> list[float]:
    if parts == 0:
        return []
    weights = [r.gammavariate(1.5, 1.0) for _ in range(parts)]
    return [total * w / sum(weights) for w in weights]


# ------------------------------------------------------------------------- benign
def _background(r: random.Random, events: float, scale: float) -> list[PopulationConfig]:
    """The standard hard negatives, each knob jittered within its range; developers always present."""
    b = R.BACKGROUND
    pops = benign_populations(1_000, scale * R.number(b, "accounts_factor", r))
    kept = [p for p in pops if p.kind == "developers" or R.number(b, "keep_kind", r) < 0.8]
    alpha = R.number(b, "share_concentration", r)
    shares = [r.gammavariate(alpha, 1.0) + 0.05 for _ in kept]
    for p, share in zip(kept, shares, strict=True):
        p.events = max(1, round(events * 0.75 * share / sum(shares)))
        p.accounts = max(1, min(p.accounts, p.events // 2 or 1))
        p.volume_sigma = round(R.number(b, "volume_sigma", r), 2)
        if p.kind in ("developers", "startups", "routers"):
            p.active_day_share = round(R.number(b, "active_day_share", r), 2)
        if p.kind == "developers":
            p.proxy_share = round(R.number(b, "proxy_share", r), 3)
            p.new_account_share = round(R.number(b, "new_account_share", r), 3)
        p.step_by_step_share = round(R.number(b, "step_by_step_share", r), 3)
        p.grading_share = round(R.number(b, "grading_share", r), 3)
    return kept


def _lookalikes(r: random.Random, events: float, scale: float, days: float) -> list[PopulationConfig]:
    """Benign look-alikes of the campaign shapes, each present with probability 0.45."""
    L = R.LOOKALIKES
    out: list[PopulationConfig] = []
    budget = events * 0.25
    chosen = [name for name in LOOKALIKE_NAMES if R.number(L, "presence", r) < LOOKALIKE_PRESENCE]
    for name in chosen:
        share = R.number(L, "events_share", r)
        ev = max(50, round(budget * share / max(0.25, 0.08 * len(chosen))))
        out.append(_LOOKALIKE_BUILDERS[name](r, ev, scale, days))
    return out


def _draw(r: random.Random, key: str) -> float:
    return R.number(R.LOOKALIKES, key, r)


def _int(r: random.Random, key: str, factor: float = 1.0) -> int:
    return max(1, round(_draw(r, key) * factor))


def _aged(r: random.Random) -> tuple[float, float]:
    lo = round(_draw(r, "aged_days"), 1)
    return (lo, lo + 200.0)


def _consumer_app(r: random.Random, ev: int, scale: float, days: float) -> PopulationConfig:
    return PopulationConfig(
        "startups",
        r.randint(1, 2),
        ev,
        name="consumer_app",
        diurnal="evening",
        volume_sigma=0.3,
        active_day_share=1.0,
        end_users_per_account=_int(r, "consumer_end_users", max(0.2, scale * 3)),
        end_user_spread="uniform",
        agent_tool_share=0.0,  # a chat product: its fixed prompt wraps every request
        network="cloud",
        keys_per_account=(1, 3),
        system_prompt_fixed=True,
        step_by_step_share=round(_draw(r, "consumer_step_share"), 3),
        categories={"math": 0.4, "general": 0.4, "writing": 0.2},
        turns_mean=1.5,
        sdks=["openai-node", "openai-python"],
        plan={"paygo": 1.0},
        verification={"id": 1.0},
        account_age_days=_aged(r),
    )


def _hackathon(r: random.Random, ev: int, scale: float, days: float) -> PopulationConfig:
    accounts = _int(r, "hackathon_accounts", max(0.1, scale * 4))
    return PopulationConfig(
        "hackathon",
        accounts,
        max(ev, round(accounts * _draw(r, "hackathon_requests"))),
        name="hackathon_week",
        diurnal="student",
        volume_sigma=0.5,
        active_day_share=0.7,
        timezones=WORLD_TIMEZONES,
        countries=WORLD_COUNTRIES,
        signup_days=round(_draw(r, "hackathon_signup_days"), 2),
        categories={"coding": 0.6, "math": 0.3, "data_analysis": 0.1},
        step_by_step_share=0.25,
        turns_mean=1.3,
        ips_per_account=1,
        sdks=["openai-python", "requests", "openai-node", "httpx"],
        plan={"free": 1.0},
        verification={"email": 0.8, "none": 0.2},
    )


def _batch_eval(r: random.Random, ev: int, scale: float, days: float) -> PopulationConfig:
    return PopulationConfig(
        "eval_harness",
        _int(r, "eval_accounts"),
        ev,
        name="batch_eval",
        diurnal="flat",
        volume_sigma=0.4,
        active_day_share=1.0,
        sweeps_per_day=1.0,
        sweep_hours=3.0,
        logprobs_share=round(_draw(r, "eval_logprobs_share"), 3),
        output_tokens_median=round(_draw(r, "eval_output_median")),
        max_tokens=256,
        grading_share=0.1,
        categories={"math": 0.4, "coding": 0.3, "general": 0.3},
        network="cloud",
        models={"mini": 0.5, "standard": 0.5},
        sdks=["openai-python", "httpx"],
        plan={"enterprise": 1.0},
        verification={"enterprise": 1.0},
        account_age_days=_aged(r),
        email_domains=COMPANY_DOMAINS,
    )


def _edtech(r: random.Random, ev: int, scale: float, days: float) -> PopulationConfig:
    return PopulationConfig(
        "startups",
        r.randint(1, 3),
        ev,
        name="edtech",
        diurnal="student",
        volume_sigma=0.3,
        active_day_share=1.0,
        end_users_per_account=_int(r, "edtech_end_users", max(0.2, scale * 3)),
        end_user_spread="uniform",
        agent_tool_share=0.0,  # a chat product: its fixed prompt wraps every request
        network="cloud",
        system_prompt_fixed=True,
        step_by_step_share=0.75,
        categories={"math": 0.6, "coding": 0.2, "general": 0.2},
        turns_mean=1.8,
        sdks=["openai-python", "openai-node"],
        plan={"paygo": 0.5, "enterprise": 0.5},
        verification={"id": 1.0},
        account_age_days=_aged(r),
    )


def _labelling(r: random.Random, ev: int, scale: float, days: float) -> PopulationConfig:
    return PopulationConfig(
        "enterprises",
        _int(r, "labelling_accounts"),
        ev,
        name="labelling",
        diurnal="office",
        volume_sigma=0.4,
        active_day_share=1.0,
        grading_share=round(_draw(r, "labelling_grading_share"), 3),
        step_by_step_share=0.1,
        categories={"writing": 0.4, "general": 0.3, "coding": 0.3},
        network="corporate",
        sdks=["openai-python", "java-http"],
        plan={"enterprise": 1.0},
        verification={"enterprise": 1.0},
        account_age_days=_aged(r),
        email_domains=COMPANY_DOMAINS,
    )


def _synthetic_vendor(r: random.Random, ev: int, scale: float, days: float) -> PopulationConfig:
    return PopulationConfig(
        "startups",
        _int(r, "vendor_accounts"),
        ev,
        name="synthetic_vendor",
        diurnal="flat",
        volume_sigma=0.5,
        active_day_share=1.0,
        shared_payment=True,
        step_by_step_share=round(_draw(r, "vendor_step_share"), 3),
        grading_share=0.1,
        categories={"math": 0.3, "coding": 0.3, "general": 0.2, "data_analysis": 0.2},
        network="cloud",
        sdks=["openai-python", "aiohttp", "httpx"],
        models={"standard": 0.4, "reasoning": 0.6},
        plan={"paygo": 1.0},
        verification={"id": 1.0},
        account_age_days=_aged(r),
    )


def _localisation(r: random.Random, ev: int, scale: float, days: float) -> PopulationConfig:
    return PopulationConfig(
        "startups",
        r.randint(1, 4),
        ev,
        name="localisation",
        diurnal="office",
        language=R.choice(R.LOOKALIKES, "localisation_language", r),
        step_by_step_share=round(_draw(r, "localisation_step_share"), 3),
        categories={"multilingual": 0.6, "writing": 0.4},
        network="cloud",
        system_prompt_fixed=True,
        sdks=["openai-python", "go"],
        plan={"paygo": 1.0},
        verification={"id": 1.0},
        account_age_days=_aged(r),
    )


def _ide_agent(r: random.Random, ev: int, scale: float, days: float) -> PopulationConfig:
    return PopulationConfig(
        "startups",
        r.randint(1, 2),
        ev,
        name="ide_agent",
        diurnal="office",
        volume_sigma=0.3,
        active_day_share=1.0,
        end_users_per_account=_int(r, "ide_end_users", max(0.2, scale * 3)),
        end_user_spread="uniform",
        agent_tool_share=round(_draw(r, "ide_agent_share"), 3),
        categories={"coding": 0.8, "agentic": 0.2},
        network="cloud",
        sdks=["openai-node", "anthropic-python"],
        models={"standard": 0.6, "reasoning": 0.4},
        plan={"enterprise": 1.0},
        verification={"enterprise": 1.0},
        account_age_days=_aged(r),
    )


def _reseller(r: random.Random, ev: int, scale: float, days: float) -> PopulationConfig:
    extraction = _int(r, "reseller_extraction_end_users")
    return PopulationConfig(
        "reseller",
        r.randint(1, 3),
        ev,
        name="reseller",
        diurnal="flat",
        volume_sigma=0.5,
        active_day_share=1.0,
        end_users_per_account=extraction + _int(r, "reseller_end_users", max(0.2, scale * 3)),
        extraction_end_users=extraction,
        extraction_share=round(_draw(r, "reseller_extraction_share"), 3),
        categories={"general": 0.4, "coding": 0.3, "writing": 0.2, "math": 0.1},
        network="cloud",
        system_prompt_fixed=r.random() < 0.5,
        sdks=["openai-python", "litellm", "httpx"],
        plan={"paygo": 0.6, "enterprise": 0.4},
        verification={"id": 1.0},
        account_age_days=_aged(r),
    )


_LOOKALIKE_BUILDERS = {
    "consumer_app": _consumer_app,
    "hackathon_week": _hackathon,
    "batch_eval": _batch_eval,
    "edtech": _edtech,
    "labelling": _labelling,
    "synthetic_vendor": _synthetic_vendor,
    "localisation": _localisation,
    "ide_agent": _ide_agent,
    "reseller": _reseller,
}


# ----------------------------------------------------------------------- campaigns
def _c(r: random.Random, key: str) -> float:
    return R.number(R.CAMPAIGN, key, r)


def _pick(r: random.Random, key: str) -> str:
    return R.choice(R.CAMPAIGN, key, r)


def _ci(r: random.Random, key: str) -> int:
    return R.integer(R.CAMPAIGN, key, r)


def _campaign(
    r: random.Random, index: int, budget: float, days: float, scale: float, release: float
) -> CampaignConfig:
    shape = _pick(r, "shape")
    onset = round(days * _c(r, "onset_share"), 2)
    duration = max(0.5, (days - onset) * _c(r, "duration_share"))
    goal = _pick(r, "goals")
    goals = {goal: 1.0}
    if r.random() < 0.5:
        goals[_pick(r, "goals")] = round(r.uniform(0.2, 0.8), 2)
    zh = round(_c(r, "zh_share"), 2)
    languages = {"en": 1.0 - zh, "zh": zh} if 0 < zh < 1 else {"zh" if zh >= 1 else "en": 1.0}
    if _c(r, "other_language") < 0.3:  # a translated wrapper, to slip past English-only rules
        languages[_pick(r, "other_language_name")] = round(_c(r, "other_language_share"), 2)
    pathway = _pick(r, "pathways")
    pathways = {"free": 0.25, "paygo": 0.25, "education": 0.15, "research": 0.1, "startup": 0.25}
    pathways[pathway] += 1.0
    reasoning = round(_c(r, "reasoning_share"), 2)
    c = CampaignConfig(
        name=f"{shape}-{index + 1}",
        events=0,
        accounts=1,
        goals=goals,
        languages=languages,
        onset_day=onset,
        end_day=round(min(days, onset + duration), 2),
        growth_days=round(_c(r, "growth_days"), 2),
        proxy=_pick(r, "proxy"),
        proxy_prefixes=_ci(r, "proxy_prefixes"),
        payment_fingerprints=_ci(r, "payment_fingerprints"),
        own_card=_c(r, "own_card") < 0.3,
        signup_burst_size=_ci(r, "signup_burst_size") if _pick(r, "signup") == "burst" else 1,
        pathways=pathways,
        ban_after_days=None if _c(r, "never_banned") < 0.3 else round(_c(r, "ban_after_days"), 2),
        load_balance=_pick(r, "load_balance"),
        jitter=round(_c(r, "jitter"), 2),
        paraphrase=round(_c(r, "paraphrase"), 2),
        ordinary_share=round(_c(r, "ordinary_share"), 2),
        sdk_diversity=round(_c(r, "sdk_diversity"), 2),
        timezone=float(_pick(r, "timezone")),
        diurnal=_pick(r, "diurnal"),
        models={"standard": round(1 - reasoning, 2), "reasoning": reasoning}
        if reasoning < 1
        else {"reasoning": 1.0},
        max_tokens=int(_pick(r, "max_tokens")),
        output_tokens_median=_ci(r, "output_median"),
        logprobs_share=round(_c(r, "logprobs_share"), 2),
        max_events_per_account_hour=600,
    )
    if _c(r, "pivot") < 0.35 and onset < release:
        c.pivot = PivotConfig("orion-3", round(_c(r, "pivot_delay_hours"), 1), round(_c(r, "pivot_share"), 2))
    rate = _c(r, "requests_per_account_day")
    active_days = max(0.5, (c.end_day or days) - onset)
    if shape == "swarm":
        _as_swarm(r, c, budget, days)
    elif shape == "company":
        _as_company(r, c, budget, active_days)
    else:
        if shape == "critique":
            c.goals = {"self_critique": 1.0, **({goal: 0.3} if goal != "self_critique" else {})}
            c.system_elicitation_share = round(_c(r, "critique_system_share"), 2)
        if shape == "succession":
            c.succession_days = round(_c(r, "succession_days"), 2)
            c.ban_after_days = None
            accounts = _ci(r, "succession_accounts")
        else:
            accounts = max(3, round(_ci(r, "accounts") * max(0.3, scale * 4)))
        # Events follow from accounts x rate, capped by the budget (fewer accounts, same rate).
        accounts = max(3, min(accounts, round(budget / max(1.0, rate * active_days))))
        c.accounts = accounts
        c.events = max(accounts * 2, round(min(budget, accounts * rate * active_days)))
    return c


def _own_exits(r: random.Random, campaigns: list[CampaignConfig]) -> None:
    """Some campaigns give part of their fleet its own residential exit (the disclosures'
    accounts "each from its own residential address"), so that with their own cards only the
    script ties them. Drawn from a stream of its own, so that every other draw of a seed stays
    what it was; a swarm has its own exits already, a company its own ranges."""
    for c in campaigns:
        wanted, share = _c(r, "own_exit") < 0.3, round(_c(r, "own_exit_share"), 2)
        if wanted and not c.own_address and c.account_age_days is None:
            c.own_address_share = share


def _as_swarm(r: random.Random, c: CampaignConfig, budget: float, days: float) -> None:
    lo = 2
    hi = _ci(r, "swarm_requests")
    hi = max(lo, hi)
    c.requests_per_account = (lo, hi)
    c.accounts = max(20, min(_ci(r, "swarm_accounts"), round(budget / ((lo + hi) / 2))))
    c.events = round(c.accounts * (lo + hi) / 2)
    c.burst_hours = round(_c(r, "swarm_burst_hours"), 2)
    window = _c(r, "swarm_window_days")
    c.end_day = round(min(days, c.onset_day + window), 2)
    c.own_address = True
    c.own_card = True
    c.proxy = "residential"
    c.sdk_diversity = round(r.uniform(0.8, 1.0), 2)
    c.jitter = 1.0
    c.signup_burst_size = max(c.signup_burst_size, 50)
    c.pathways = {"free": 0.5, "paygo": 0.5}
    c.ban_after_days = None


def _as_company(r: random.Random, c: CampaignConfig, budget: float, active_days: float) -> None:
    c.accounts = _ci(r, "company_accounts")
    per_night = _c(r, "company_per_night")
    c.accounts = max(1, min(c.accounts, round(budget / max(1.0, per_night * active_days))))
    c.events = max(c.accounts * 2, round(min(budget, c.accounts * per_night * active_days)))
    c.goals = {"rubric_grading": 0.5, "cot_elicitation": 0.5}
    c.account_age_days = (round(r.uniform(60, 400), 1), round(r.uniform(400, 900), 1))
    c.pathways = {"paygo": 0.5, "enterprise": 0.5}
    c.verification = {"id": 0.5, "enterprise": 0.5}
    c.email_domains = [f"{r.choice(['vector', 'quanta', 'lumen', 'atlas'])}{r.randint(2, 99)}-labs.com"]
    c.diurnal = "nightly"
    c.proxy = "datacenter"
    c.proxy_prefixes = r.randint(1, 4)
    c.payment_fingerprints = 1
    c.own_card = False
    c.sdk_diversity = 0.0
    c.ban_after_days = None
    c.signup_burst_size = 1


# ------------------------------------------------------------------------ files
def scenario_dict(s: Scenario) -> dict[str, Any]:
    """Every field of ``s`` as plain YAML-able data (tuples as lists, times as ISO strings)."""
    data = dataclasses.asdict(s)
    data["start"] = s.start.isoformat()
    data.pop("name")
    plain: dict[str, Any] = _plain(data)
    return plain


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def dump_scenario(s: Scenario, path: Path) -> None:
    """Write ``s`` as a scenario file that ``distillguard simulate --config`` re-runs."""
    header = (
        f"# {s.name}: drawn by `distillguard simulate --randomize --seed {s.seed}`; re-run with --config\n"
    )
    body = yaml.safe_dump(scenario_dict(s), sort_keys=False, allow_unicode=True)
    path.write_text(header + body, encoding="utf-8")
