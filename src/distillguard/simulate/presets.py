"""Presets (tiny to large, plus the disclosed campaign shapes) and scenario files.

Presets are functions of a scale factor so tests and benchmarks can run any preset
smaller; a YAML/TOML file can start from a preset (``preset: small``) and override
any field. Unknown keys are refused with the file name, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import dataclasses
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from distillguard.simulate.scenario import (
    BENIGN_KINDS,
    GOALS,
    CampaignConfig,
    ModelSpec,
    PivotConfig,
    PopulationConfig,
    Scenario,
    ScenarioError,
    validate,
)


def default_models(release_day: float) -> list[ModelSpec]:
    return [
        ModelSpec("orion-2-mini", "mini", 0.15, 0.6),
        ModelSpec("orion-2", "standard", 2.5, 10.0),
        ModelSpec("orion-2-reasoning", "reasoning", 5.0, 25.0),
        ModelSpec("orion-3", "reasoning", 6.0, 30.0, released_day=release_day),
    ]


# ----------------------------------------------------------------------- benign defaults
def benign_populations(events: int, accounts_scale: float = 1.0) -> list[PopulationConfig]:
    """The seven hard-negative populations with ``events`` in total (shares fixed)."""

    def n(share: float) -> int:
        return max(1, round(events * share))

    def a(count: int) -> int:
        return max(1, round(count * accounts_scale))

    return [
        PopulationConfig(
            "developers",
            a(1500),
            n(0.22),
            categories={
                "coding": 0.35,
                "general": 0.2,
                "math": 0.08,
                "data_analysis": 0.08,
                "writing": 0.1,
                "tool_use": 0.05,
                "sensitive": 0.04,
                "multilingual": 0.06,
                "roleplay": 0.04,
            },
            turns_mean=3.0,
            new_account_share=0.12,
            proxy_share=0.08,
            step_by_step_share=0.08,
            grading_share=0.02,
            sensitive_share=0.03,
            agent_tool_share=0.12,
        ),
        PopulationConfig(
            "startups",
            a(25),
            n(0.16),
            diurnal="flat",
            volume_sigma=1.0,
            active_day_share=1.0,
            keys_per_account=(1, 3),
            end_users_per_account=2000,
            ips_per_account=4,
            network="cloud",
            turns_mean=2.5,
            categories={"general": 0.4, "writing": 0.3, "roleplay": 0.2, "multilingual": 0.1},
            sdks=["openai-python", "openai-node"],
            system_prompt_fixed=True,
            step_by_step_share=0.02,
            models={"mini": 0.8, "standard": 0.2, "reasoning": 0.0},
            plan={"startup": 0.5, "paygo": 0.5},
        ),
        PopulationConfig(
            "enterprises",
            a(6),
            n(0.14),
            diurnal="office",
            weekend_factor=0.08,
            volume_sigma=0.6,
            active_day_share=1.0,
            keys_per_account=(24, 60),
            ips_per_account=3,
            network="corporate",
            turns_mean=2.0,
            categories={"general": 0.3, "writing": 0.25, "data_analysis": 0.25, "coding": 0.2},
            sdks=["openai-python", "azure-style", "java-http"],
            timezones=[-5.0, 1.0, 9.0],
            plan={"enterprise": 1.0},
            verification={"enterprise": 1.0},
            system_prompt_fixed=True,
            agent_tool_share=0.1,
        ),
        PopulationConfig(
            "university",
            a(300),
            n(0.09),
            diurnal="student",
            volume_sigma=0.9,
            active_day_share=0.5,
            ips_per_account=1,
            network="campus",
            turns_mean=2.5,
            categories={"math": 0.35, "coding": 0.35, "writing": 0.3},
            step_by_step_share=0.35,
            grading_share=0.2,
            timezones=[-5.0],
            plan={"education": 1.0},
            verification={"email": 1.0},
            models={"mini": 0.7, "standard": 0.25, "reasoning": 0.05},
            sdks=["openai-python", "requests"],
        ),
        PopulationConfig(
            "eval_harness",
            a(8),
            n(0.12),
            grading_share=0.25,
            diurnal="flat",
            volume_sigma=0.8,
            active_day_share=1.0,
            keys_per_account=(1, 2),
            ips_per_account=6,
            network="cloud",
            turns_mean=1.0,
            categories={"math": 0.4, "coding": 0.3, "general": 0.15, "multilingual": 0.15},
            step_by_step_share=1.0,
            sdks=["openai-python", "httpx"],
            adopt_new_model_share=0.8,
            adopt_delay_days=0.1,
            models={"mini": 0.2, "standard": 0.4, "reasoning": 0.4},
            plan={"research": 0.7, "paygo": 0.3},
            output_tokens_median=600,
            logprobs_share=0.3,
            max_tokens=4096,
            stream_share=0.0,
        ),
        PopulationConfig(
            "routers",
            a(4),
            n(0.2),
            diurnal="flat",
            volume_sigma=0.7,
            active_day_share=1.0,
            keys_per_account=(2, 6),
            end_users_per_account=8000,
            ips_per_account=8,
            network="cloud",
            turns_mean=3.0,
            categories={
                "general": 0.25,
                "coding": 0.25,
                "roleplay": 0.15,
                "math": 0.1,
                "multilingual": 0.1,
                "writing": 0.1,
                "sensitive": 0.05,
            },
            step_by_step_share=0.08,
            grading_share=0.02,
            sensitive_share=0.04,
            agent_tool_share=0.15,
            sdks=["openai-python", "openai-node", "litellm"],
            plan={"paygo": 1.0},
            stream_share=0.8,
        ),
        PopulationConfig(
            "ci_bots",
            a(10),
            n(0.07),
            diurnal="flat",
            volume_sigma=0.3,
            active_day_share=1.0,
            ips_per_account=1,
            network="cloud",
            turns_mean=1.0,
            categories={"coding": 1.0},
            sdks=["requests", "curl"],
            models={"mini": 0.7, "standard": 0.3, "reasoning": 0.0},
            step_by_step_share=0.0,
            output_tokens_median=200,
            max_tokens=512,
            stream_share=0.0,
        ),
    ]


# ----------------------------------------------------------------------- campaign shapes
def reasoning_campaign(events: int, accounts: int, onset_day: float = 1.0) -> CampaignConfig:
    """Disclosed shape 1: chain-of-thought, rubric grading and censorship-safe rewrites."""
    return CampaignConfig(
        "reasoning-grading-censorship",
        events,
        accounts,
        goals={"cot_elicitation": 0.5, "rubric_grading": 0.3, "censorship_rewrite": 0.2},
        languages={"en": 0.45, "zh": 0.55},
        onset_day=onset_day,
        proxy="datacenter",
        ban_after_days=5.0,
    )


def agentic_campaign(events: int, accounts: int, onset_day: float = 0.5) -> CampaignConfig:
    """Disclosed shape 2: agentic/tool/coding/computer-use sweeps over hundreds of mixed accounts."""
    return CampaignConfig(
        "agentic-mixed",
        events,
        accounts,
        goals={
            "agentic_coding": 0.35,
            "tool_use": 0.25,
            "computer_use": 0.15,
            "data_analysis": 0.15,
            "vision": 0.1,
        },
        languages={"en": 0.8, "zh": 0.2},
        onset_day=onset_day,
        proxy="residential",
        payment_fingerprints=60,
        sdk_diversity=0.6,
        paraphrase=0.5,
        ordinary_share=0.1,
        jitter=0.8,
        max_tokens=32000,
        output_tokens_median=2500,
        pathways={"paygo": 0.4, "startup": 0.3, "research": 0.2, "free": 0.1},
        ban_after_days=12.0,  # paying, mixed-pathway accounts last longer
    )


def coding_pivot_campaign(events: int, accounts: int, release_day: float) -> CampaignConfig:
    """Disclosed shape 3: agentic coding at scale, half the traffic on the new model within 24 h."""
    return CampaignConfig(
        "coding-pivot",
        events,
        accounts,
        goals={"agentic_coding": 0.7, "tool_use": 0.2, "cot_elicitation": 0.1},
        languages={"en": 0.85, "zh": 0.15},
        onset_day=0.3,
        growth_days=1.0,
        proxy="datacenter",
        proxy_prefixes=48,
        payment_fingerprints=200,
        signup_burst_size=400,
        ban_after_days=6.0,
        max_events_per_account_hour=40,
        models={"standard": 0.6, "reasoning": 0.4},
        max_tokens=32000,
        pivot=PivotConfig("orion-3", delay_hours=10.0, share=0.5),
    )


def evasion_campaign(events: int, accounts: int) -> CampaignConfig:
    """A careful campaign: paraphrased wording, half ordinary prompts, jitter, residential proxies."""
    return CampaignConfig(
        "evasion",
        events,
        accounts,
        goals={
            "cot_elicitation": 0.35,
            "rubric_grading": 0.15,
            "agentic_coding": 0.25,
            "tool_use": 0.15,
            "censorship_rewrite": 0.1,
        },
        languages={"en": 0.6, "zh": 0.4},
        onset_day=1.5,
        growth_days=3.0,
        proxy="residential",
        proxy_prefixes=400,
        payment_fingerprints=400,
        signup_burst_size=8,
        ban_after_days=None,
        max_events_per_account_hour=8,
        load_balance="weighted",
        jitter=1.0,
        paraphrase=1.0,
        ordinary_share=0.5,
        sdk_diversity=1.0,
        reasoning_effort="medium",
        output_tokens_median=1200,
        pathways={"paygo": 0.5, "free": 0.3, "education": 0.1, "startup": 0.1},
        countries=["US", "GB", "DE", "CA", "AU", "FR", "JP", "BR", "IN", "SG"],
        diurnal="evening",
        timezone=-5.0,
    )


def _scaled(n: float, scale: float, minimum: int = 1) -> int:
    return max(minimum, round(n * scale))


def preset(name: str, scale: float = 1.0) -> Scenario:
    """A named preset, its event counts multiplied by ``scale`` (accounts shrink more gently)."""
    acc_scale = min(1.0, scale**0.5)
    if name == "tiny":
        # Every population and one campaign of each main kind in ~15k events over 4 days.
        s = Scenario("tiny", days=4.0, models=default_models(2.0), events_per_file=20_000)
        s.populations = benign_populations(_scaled(9_000, scale), 0.12 * acc_scale)
        s.campaigns = [
            reasoning_campaign(_scaled(1_800, scale), _scaled(24, acc_scale, 3), onset_day=0.7),
            agentic_campaign(_scaled(1_800, scale), _scaled(30, acc_scale, 3), onset_day=0.4),
            coding_pivot_campaign(_scaled(2_000, scale), _scaled(20, acc_scale, 3), release_day=2.0),
            evasion_campaign(_scaled(900, scale), _scaled(30, acc_scale, 3)),
        ]
        for c in s.campaigns:
            c.signup_burst_size = min(c.signup_burst_size, 10)
            c.ban_after_days = None if c.ban_after_days is None else 1.5
        return s
    sizes = {"small": (100_000, 7.0, 0.5), "medium": (1_000_000, 14.0, 2.0), "large": (28_800_000, 30.0, 8.0)}
    if name in sizes:
        total, days, acc = sizes[name]
        s = Scenario(name, days=days, models=default_models(days * 0.6))
        benign = _scaled(total * 0.7, scale)
        campaign = total * 0.3 * scale
        s.populations = benign_populations(benign, acc * acc_scale)
        s.campaigns = [
            reasoning_campaign(_scaled(campaign * 0.15, 1), _scaled(60 * acc, acc_scale, 3)),
            agentic_campaign(_scaled(campaign * 0.3, 1), _scaled(300 * acc, acc_scale, 3)),
            coding_pivot_campaign(_scaled(campaign * 0.4, 1), _scaled(400 * acc, acc_scale, 3), days * 0.6),
            evasion_campaign(_scaled(campaign * 0.15, 1), _scaled(200 * acc, acc_scale, 3)),
        ]
        return s
    campaign_presets = {
        "reasoning-grading-censorship": (150_000, 300_000, 10.0),
        "agentic-mixed": (3_400_000, 1_000_000, 21.0),
        "coding-pivot": (13_000_000, 2_000_000, 21.0),
        "evasion": (150_000, 300_000, 14.0),
    }
    if name in campaign_presets:
        exchanges, background, days = campaign_presets[name]
        s = Scenario(name, days=days, models=default_models(days * 0.5))
        s.populations = benign_populations(_scaled(background, scale), acc_scale)
        ev = _scaled(exchanges, scale)
        if name == "reasoning-grading-censorship":
            s.campaigns = [reasoning_campaign(ev, _scaled(120, acc_scale, 3))]
        elif name == "agentic-mixed":
            s.campaigns = [agentic_campaign(ev, _scaled(600, acc_scale, 3))]
        elif name == "coding-pivot":
            s.campaigns = [coding_pivot_campaign(ev, _scaled(5_000, acc_scale, 3), days * 0.5)]
        else:
            s.campaigns = [evasion_campaign(ev, _scaled(400, acc_scale, 3))]
        return s
    raise ScenarioError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")


PRESETS = (
    "tiny",
    "small",
    "medium",
    "large",
    "reasoning-grading-censorship",
    "agentic-mixed",
    "coding-pivot",
    "evasion",
)


# ------------------------------------------------------------------------- file loading
def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: expected a table of settings, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ScenarioError(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}"
        )
    return data


def _apply(obj: Any, data: dict[str, Any], where: str) -> None:
    _build(type(obj), data, where)
    for key, value in data.items():
        setattr(obj, key, value)


def load_scenario(path: Path, *, scale: float = 1.0) -> Scenario:
    """Read a YAML or TOML scenario; ``preset:`` picks the starting point (default ``small``).

    ``scale`` multiplies the events of the preset and of the file's own populations and
    campaigns alike (accounts by its square root), as ``--scale`` does for a preset.
    """
    try:
        return _load(path, scale)
    except ScenarioError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # wrong value types in the file
        raise ScenarioError(f"{path}: {exc}") from None


def _load(path: Path, scale: float) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: scenario file not found") from None
    try:
        raw = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(
            f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'YAML'} ({exc})"
        ) from None
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: the top level must be a table of settings")
    try:
        base = preset(str(raw.pop("preset", "small")), scale)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    base.name = path.stem
    populations = raw.pop("populations", None)
    campaigns = raw.pop("campaigns", None)
    models = raw.pop("models", None)
    _apply(base, raw, str(path))
    if isinstance(base.start, str):
        base.start = datetime.fromisoformat(base.start.replace("Z", "+00:00"))
    if base.start.tzinfo is None:
        base.start = base.start.replace(tzinfo=UTC)
    if models is not None:
        base.models = [
            ModelSpec(**_build(ModelSpec, m, f"{path}: models[{i}]")) for i, m in enumerate(models)
        ]
    if populations is not None:
        base.populations = [_population(p, f"{path}: populations[{i}]") for i, p in enumerate(populations)]
    if campaigns is not None:
        base.campaigns = [_campaign(c, f"{path}: campaigns[{i}]") for i, c in enumerate(campaigns)]
    acc_scale = min(1.0, scale**0.5)
    entries: list[PopulationConfig | CampaignConfig] = []
    entries += base.populations if populations is not None else []
    entries += base.campaigns if campaigns is not None else []
    for entry in entries:
        entry.events = _scaled(entry.events, scale, 0)
        entry.accounts = _scaled(entry.accounts, acc_scale, 1)
    validate(base, str(path))
    return base


def _population(data: Any, where: str) -> PopulationConfig:
    data = dict(_build(PopulationConfig, data, where))
    kind = data.get("kind")
    if kind not in BENIGN_KINDS:
        raise ScenarioError(f"{where}: kind must be one of {', '.join(BENIGN_KINDS)}, got {kind!r}")
    # Kinds without a preset population (hackathon, reseller) start from the plain defaults.
    defaults = {p.kind: p for p in benign_populations(10_000)}.get(kind) or PopulationConfig(kind, 1, 0)
    merged = dataclasses.replace(defaults, **{k: v for k, v in data.items() if k != "kind"})
    if isinstance(merged.keys_per_account, list):
        merged.keys_per_account = (int(merged.keys_per_account[0]), int(merged.keys_per_account[-1]))
    if isinstance(merged.account_age_days, list):
        merged.account_age_days = (float(merged.account_age_days[0]), float(merged.account_age_days[-1]))
    return merged


def _campaign(data: Any, where: str) -> CampaignConfig:
    data = dict(_build(CampaignConfig, data, where))
    for required in ("name", "events", "accounts"):
        if required not in data:
            raise ScenarioError(f"{where}: missing {required}")
    pivot = data.pop("pivot", None)
    for pair in ("requests_per_account", "account_age_days"):  # YAML has lists, not tuples
        if isinstance(data.get(pair), list):
            data[pair] = tuple(data[pair])
    campaign = CampaignConfig(**data)
    if pivot is not None:
        campaign.pivot = PivotConfig(**_build(PivotConfig, pivot, f"{where}.pivot"))
    unknown_goals = set(campaign.goals) - set(GOALS)
    if unknown_goals:
        raise ScenarioError(
            f"{where}: unknown goal(s) {', '.join(sorted(unknown_goals))}; known: {', '.join(GOALS)}"
        )
    return campaign
