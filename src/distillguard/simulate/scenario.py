"""Scenario configuration: every knob of a simulated data set, as plain dataclasses.

Presets and scenario-file loading live in ``presets``; ``validate`` checks what a
file or a caller may have got wrong before any traffic is generated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from distillguard.schema import ACCOUNT_PLANS, ACCOUNT_VERIFICATION

FORMATS = ("litellm", "otel", "openai", "canonical")

BENIGN_KINDS = (
    "developers",
    "startups",
    "enterprises",
    "university",
    "eval_harness",
    "routers",
    "ci_bots",
    "hackathon",  # a course or hackathon week: brand-new free accounts worldwide, the same exercises
    "reseller",  # one account carrying many end users (end_user_id), a few of them extracting
)

GOALS = (
    "cot_elicitation",
    "rubric_grading",
    "censorship_rewrite",
    "agentic_coding",
    "tool_use",
    "computer_use",
    "data_analysis",
    "vision",
    "self_critique",  # scripted multi-turn: answer, then ask the model to critique and grade its reasoning
)

ATTACKER_POPULATION = "attacker"

# Names a scenario may use for enumerated knobs (validated before anything runs).
CATEGORIES = (
    "coding",
    "math",
    "general",
    "writing",
    "data_analysis",
    "tool_use",
    "agentic",
    "computer_use",
    "sensitive",
    "multilingual",
    "roleplay",
    "vision",
)
DIURNAL_STYLES = ("office", "evening", "student", "flat", "nightly")  # nightly: batch jobs 00-05 local
NETWORKS = ("residential", "corporate", "campus", "cloud")
SDK_FAMILIES = (
    "openai-python",
    "openai-node",
    "anthropic-python",
    "litellm",
    "requests",
    "httpx",
    "curl",
    "java-http",
    "azure-style",
    "go",
    "aiohttp",
)
TIERS = ("mini", "standard", "reasoning")
END_USER_SPREADS = (
    "pareto",
    "uniform",
)  # pareto: a few heavy users; uniform: many users, a few requests each
LANGUAGES = ("en", "zh", "es", "fr", "de", "ja", "ru")  # wrappers beyond en/zh: phrases_i18n


class ScenarioError(ValueError):
    """A scenario file or preset name is wrong (the message names the file and key)."""


@dataclass
class ModelSpec:
    """A model the provider serves. ``released_day`` None means available from the start."""

    name: str
    tier: str  # mini | standard | reasoning
    price_in_per_mtok: float
    price_out_per_mtok: float
    released_day: float | None = None


@dataclass
class PopulationConfig:
    """One benign population (a hard negative). Knobs not used by a kind are ignored."""

    kind: str
    accounts: int
    events: int
    name: str = ""
    timezones: list[float] = field(default_factory=lambda: [-8.0, -5.0, 0.0, 1.0, 5.5, 8.0, 9.0])
    diurnal: str = "evening"  # office | evening | student | flat
    weekend_factor: float = 0.6
    volume_sigma: float = 1.6  # lognormal sigma of per-account volume (heavy tail)
    active_day_share: float = 0.6  # share of days an account is active at all
    new_account_share: float = 0.0  # developers: accounts created during the period (active from then)
    keys_per_account: tuple[int, int] = (1, 2)
    end_users_per_account: int = 0
    ips_per_account: int = 2
    network: str = "residential"  # residential | corporate | campus | cloud
    proxy_share: float = 0.0  # share of accounts that route through the commercial proxy pools
    turns_mean: float = 2.0  # mean conversation depth (user turns)
    categories: dict[str, float] = field(default_factory=dict)
    step_by_step_share: float = 0.05
    grading_share: float = 0.01
    sensitive_share: float = 0.02
    agent_tool_share: float = 0.05  # requests from coding agents (tool schemas, long context)
    sdks: list[str] = field(default_factory=lambda: ["openai-python", "openai-node", "requests", "curl"])
    models: dict[str, float] = field(default_factory=lambda: {"mini": 0.5, "standard": 0.4, "reasoning": 0.1})
    adopt_new_model_share: float = 0.15  # share of traffic moving to a new release within days
    adopt_delay_days: float = 3.0
    output_tokens_median: int = 350
    max_tokens: int | None = None
    stream_share: float = 0.5
    logprobs_share: float = (
        0.0  # requests asking for token log-probabilities (eval harnesses score with them)
    )
    plan: dict[str, float] = field(default_factory=lambda: {"free": 0.4, "paygo": 0.6})
    verification: dict[str, float] = field(default_factory=lambda: {"email": 0.6, "phone": 0.4})
    countries: list[str] = field(default_factory=lambda: ["US", "GB", "DE", "IN", "BR", "CN", "JP", "FR"])
    # kind-specific -------------------------------------------------------------
    deadline_weekday: int = 4  # university: assignments due Friday 23:59 local
    burst_factor: float = 6.0  # university: intensity multiplier in the 36 h before a deadline
    signup_days: float = 5.0  # university: accounts created within this many days
    sweep_hours: float = 3.0  # eval_harness: length of one benchmark sweep
    sweeps_per_day: float = 1.5  # eval_harness
    system_prompt_fixed: bool = False  # one fixed system prompt per account (an app's persona)
    # look-alike knobs (defaults keep the original presets' output byte for byte) -----------
    end_user_spread: str = "pareto"  # uniform: thousands of end users asking a few questions each
    account_age_days: tuple[float, float] | None = None  # created this many days before the start
    email_domains: list[str] | None = None  # the organisation's own domains instead of the kind's
    shared_payment: bool = False  # every paying account of the population on one card (one company)
    language: str = "en"  # wording of step-by-step requests (localisation services ask in the input's)
    extraction_end_users: int = 0  # reseller: end users that harvest through the account
    extraction_share: float = 0.0  # reseller: share of the account's requests sent by those end users
    extraction_goals: dict[str, float] = field(
        default_factory=lambda: {"cot_elicitation": 0.6, "rubric_grading": 0.4}
    )

    def label(self) -> str:
        return self.name or self.kind


@dataclass
class PivotConfig:
    """Move ``share`` of a campaign's traffic to ``model`` within ``delay_hours`` of its release."""

    model: str
    delay_hours: float = 12.0
    share: float = 0.5


@dataclass
class CampaignConfig:
    """One distillation campaign: goals, infrastructure, evasion and dynamics."""

    name: str
    events: int
    accounts: int  # accounts live at any time (banned ones are replaced)
    goals: dict[str, float] = field(default_factory=lambda: {"cot_elicitation": 1.0})
    languages: dict[str, float] = field(default_factory=lambda: {"en": 0.6, "zh": 0.4})
    onset_day: float = 1.0
    end_day: float | None = None
    growth_days: float = 2.0  # ramp from onset to full volume
    # infrastructure -------------------------------------------------------------
    proxy: str = "datacenter"  # datacenter | residential
    proxy_prefixes: int = 24  # /24s of the commercial proxy pool (datacenter or residential) it uses
    payment_fingerprints: int = 20  # shared cards across the cluster
    signup_burst_size: int = 50  # accounts created together within hours
    pathways: dict[str, float] = field(
        default_factory=lambda: {
            "free": 0.3,
            "paygo": 0.3,
            "education": 0.15,
            "research": 0.1,
            "startup": 0.15,
        }
    )
    ban_after_days: float | None = 4.0  # mean lifetime of an account before a ban (None: never banned)
    replace_banned: bool = True
    countries: list[str] = field(default_factory=lambda: ["US", "SG", "HK", "JP", "GB", "CN"])
    # evasion ----------------------------------------------------------------------
    max_events_per_account_hour: int = 60  # kept under the per-account rate limit
    load_balance: str = "uniform"  # uniform | weighted
    jitter: float = 0.5  # 0: exact intervals, 1: Poisson arrivals
    paraphrase: float = 0.3  # 0: one fixed wording per goal, 1: every request freshly paraphrased
    ordinary_share: float = 0.0  # 0 to 0.5: ordinary prompts mixed in
    sdk_diversity: float = 0.2  # 0: one harness fingerprint, 1: each account looks like a different client
    timezone: float = 8.0
    diurnal: str = "flat"  # flat (machines run around the clock) or a human curve to blend in
    # request shape ------------------------------------------------------------------
    models: dict[str, float] = field(default_factory=lambda: {"standard": 0.5, "reasoning": 0.5})
    max_tokens: int = 16000
    output_tokens_median: int = 1800
    reasoning_effort: str = "high"
    stream_share: float = 0.3
    logprobs_share: float = 0.0  # requests asking for top log-probabilities (soft labels for distillation)
    pivot: PivotConfig | None = None
    # shapes of the 2026 disclosures (defaults keep the original presets' output byte for byte) ----
    requests_per_account: tuple[int, int] | None = (
        None  # swarm: each account sends lo..hi requests, then stops
    )
    burst_hours: float = 2.0  # swarm: an account's requests fall within this many hours of its first
    own_address: bool = False  # each account its own residential address instead of a shared proxy pool
    own_address_share: float = 0.0  # without own_address: this share of accounts exits from a home address
    own_card: bool = False  # each paying account its own card (no shared payment fingerprint)
    account_age_days: tuple[float, float] | None = None  # aged accounts: created this long before the start
    verification: dict[str, float] = field(default_factory=lambda: {"email": 0.7, "phone": 0.3})
    email_domains: list[str] | None = None  # company-looking accounts use their own domains
    succession_days: float | None = None  # each account retires after ~this many days, a fresh one takes over
    system_elicitation_share: float = 0.0  # self_critique: the elicitation sits in the system prompt


@dataclass
class Scenario:
    name: str
    seed: int = 7
    start: datetime = field(default_factory=lambda: datetime(2026, 2, 2, tzinfo=UTC))
    days: float = 7.0
    formats: list[str] = field(default_factory=lambda: list(FORMATS))
    models: list[ModelSpec] = field(default_factory=list)
    populations: list[PopulationConfig] = field(default_factory=list)
    campaigns: list[CampaignConfig] = field(default_factory=list)
    residential_pool_asns: int = 12  # ISPs in the commercial residential proxy pool
    datacenter_pool_asns: int = 6  # hosting ASNs the datacenter proxies sit in
    otel_legacy_share: float = 0.3  # share of OTel files written with the older attribute names
    anthropic_share: float = 0.2  # share of OpenAI-log API keys that use the Anthropic Messages API
    error_share: float = 0.01  # requests that fail (429/500)
    response_max_chars: int = 1200  # response text is cut here (token counts stay the full length)
    events_per_file: int = 1_000_000
    chunk_events: int = 50_000  # at most this many events are held in memory at once
    corpus: str | None = None

    @property
    def hours(self) -> int:
        return max(1, round(self.days * 24))


def validate(s: Scenario, where: str = "scenario") -> None:
    bad = [f for f in s.formats if f not in FORMATS]
    if bad or not s.formats:
        raise ScenarioError(
            f"{where}: formats must be a non-empty subset of {', '.join(FORMATS)}, got {s.formats}"
        )
    if s.days <= 0:
        raise ScenarioError(f"{where}: days must be positive")
    if not isinstance(s.seed, int) or s.seed < 0:
        raise ScenarioError(f"{where}: seed must be a non-negative integer, got {s.seed!r}")
    if s.chunk_events < 1 or s.events_per_file < 1:
        raise ScenarioError(f"{where}: chunk_events and events_per_file must be at least 1")
    names = {m.name for m in s.models}
    tiers = {m.tier for m in s.models if m.released_day is None}
    for c in s.campaigns:
        if not 0.0 <= c.ordinary_share <= 0.5:
            raise ScenarioError(f"{where}: campaign {c.name}: ordinary_share must be within 0 to 0.5")
        if c.pivot is not None and c.pivot.model not in names:
            raise ScenarioError(f"{where}: campaign {c.name}: pivot model {c.pivot.model!r} is not in models")
        if not set(c.models) & tiers:
            raise ScenarioError(
                f"{where}: campaign {c.name}: no model of tiers {sorted(c.models)} at the start"
            )
        _check(
            f"{where}: campaign {c.name}",
            {
                "proxy": ([c.proxy], ("datacenter", "residential")),
                "load_balance": ([c.load_balance], ("uniform", "weighted")),
                "reasoning_effort": ([c.reasoning_effort], ("low", "medium", "high")),
                "diurnal": ([c.diurnal], DIURNAL_STYLES),
                "languages": (list(c.languages), LANGUAGES),
                "models": (list(c.models), TIERS),
                "goals": (list(c.goals), GOALS),
            },
        )
        if c.accounts < 1 or c.events < 0 or not c.goals:
            raise ScenarioError(f"{where}: campaign {c.name}: needs accounts >= 1, events >= 0 and goals")
        _check(
            f"{where}: campaign {c.name}",
            {
                "pathways": (list(c.pathways), ACCOUNT_PLANS),
                "verification": (list(c.verification), ACCOUNT_VERIFICATION),
            },
        )
        if c.requests_per_account is not None:
            lo, hi = c.requests_per_account
            if not 1 <= lo <= hi:
                raise ScenarioError(f"{where}: campaign {c.name}: requests_per_account must be 1 <= lo <= hi")
    for p in s.populations:
        _check(
            f"{where}: population {p.label()}",
            {
                "kind": ([p.kind], BENIGN_KINDS),
                "diurnal": ([p.diurnal], DIURNAL_STYLES),
                "network": ([p.network], NETWORKS),
                "categories": (list(p.categories), CATEGORIES),
                "sdks": (list(p.sdks), SDK_FAMILIES),
                "models": (list(p.models), TIERS),
            },
        )
        _check(
            f"{where}: population {p.label()}",
            {
                "end_user_spread": ([p.end_user_spread], END_USER_SPREADS),
                "extraction_goals": (list(p.extraction_goals), GOALS),
                "language": ([p.language], LANGUAGES),
                "plan": (list(p.plan), ACCOUNT_PLANS),
                "verification": (list(p.verification), ACCOUNT_VERIFICATION),
            },
        )
        if p.extraction_end_users and not 0 < p.extraction_share <= 1:
            raise ScenarioError(f"{where}: population {p.label()}: extraction_share must be within 0 to 1")
        if p.extraction_end_users and p.end_users_per_account <= p.extraction_end_users:
            raise ScenarioError(
                f"{where}: population {p.label()}: end_users_per_account must exceed extraction_end_users"
            )
        if p.accounts < 1 or p.events < 0 or not p.sdks or not p.timezones or not p.categories:
            raise ScenarioError(
                f"{where}: population {p.label()}: needs accounts >= 1, events >= 0, "
                "sdks, timezones and categories"
            )
    if len({c.name for c in s.campaigns}) != len(s.campaigns):
        raise ScenarioError(f"{where}: campaign names must be unique")
    if len({p.label() for p in s.populations}) != len(s.populations):
        raise ScenarioError(f"{where}: population names must be unique (set name: for repeated kinds)")


def _check(where: str, knobs: dict[str, tuple[list[str], tuple[str, ...]]]) -> None:
    for knob, (values, allowed) in knobs.items():
        wrong = [v for v in values if v not in allowed]
        if wrong:
            raise ScenarioError(
                f"{where}: {knob} {', '.join(map(repr, wrong))} unknown; use {', '.join(allowed)}"
            )
