"""The ranges a randomised scenario is drawn from, as data: one entry per knob, with its reason.

``randomize`` reads only this table, so widening a range is a one-line, reviewable change,
and the tests check that 200 seeds reach both ends of every range. The reasons say why a
provider would accept the range: what real traffic of that kind has been seen to do.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """A number drawn uniformly (or log-uniformly, for rates and sizes spanning decades)."""

    lo: float
    hi: float
    why: str
    log: bool = False

    def draw(self, r: random.Random) -> float:
        if self.log:
            return math.exp(r.uniform(math.log(self.lo), math.log(self.hi)))
        return r.uniform(self.lo, self.hi)

    def draw_int(self, r: random.Random) -> int:
        return max(int(self.lo), min(int(self.hi), round(self.draw(r))))


@dataclass(frozen=True)
class Pick:
    """One option drawn with the given weights."""

    options: dict[str, float]
    why: str

    def draw(self, r: random.Random) -> str:
        return r.choices(list(self.options), list(self.options.values()))[0]


# Event budgets and period per --size: (events, days). Small fits a 2-core scan in about a minute.
SIZES: dict[str, tuple[Span, Span]] = {
    "tiny": (Span(3_000, 6_000, "unit tests: seconds per scenario"), Span(2, 3, "long enough for a burst")),
    "small": (
        Span(20_000, 60_000, "one scenario simulates and scans in about a minute on 2 cores"),
        Span(3, 7, "a working week, with and without a weekend"),
    ),
    "medium": (
        Span(150_000, 450_000, "closer to a real day of a mid-size provider, minutes per scenario"),
        Span(7, 14, "two weekly cycles and a model release"),
    ),
}
# Accounts scale with the budget so that requests per account stay realistic at every size.
ACCOUNT_SCALE = {"tiny": 0.08, "small": 0.4, "medium": 1.0}

SCENARIO: dict[str, Span | Pick] = {
    "campaign_count": Pick(
        {"0": 0.15, "1": 0.3, "2": 0.25, "3": 0.18, "4": 0.12},
        "most windows hold one or two campaigns; some hold none, and a detector must then flag nothing",
    ),
    "attack_share": Span(
        0.03, 0.35, "campaigns range from a trickle under the background to a third of all traffic"
    ),
    "release_at": Span(0.3, 0.8, "a new model ships somewhere in the window (share of the period)"),
    "start_hour": Span(0, 23.99, "logs are cut at any hour"),
    "start_weekday_offset": Span(0, 6.99, "the window starts on any weekday"),
    "formats": Span(1, 4, "providers export one to all of the supported log formats"),
}

BACKGROUND: dict[str, Span | Pick] = {
    "keep_kind": Span(0.0, 1.0, "each non-developer background kind is present with probability 0.8"),
    "share_concentration": Span(0.5, 3.0, "Dirichlet concentration of benign volume over kinds", log=True),
    "accounts_factor": Span(0.5, 2.0, "populations are half to twice the preset size", log=True),
    "volume_sigma": Span(0.8, 2.2, "per-account volume is heavy-tailed, more or less so"),
    "active_day_share": Span(0.3, 0.9, "how many days a benign account is active at all"),
    "proxy_share": Span(0.0, 0.25, "VPN and proxy use among ordinary users"),
    "step_by_step_share": Span(0.02, 0.25, "ordinary users ask for step-by-step explanations too"),
    "grading_share": Span(0.0, 0.06, "ordinary users grade essays and answers now and then"),
    "new_account_share": Span(0.0, 0.3, "developers signing up during the window"),
}

LOOKALIKES: dict[str, Span | Pick] = {
    # probability that a scenario holds this benign look-alike (each is drawn independently)
    "presence": Span(0.0, 1.0, "each look-alike is present with probability 0.45"),
    "consumer_end_users": Span(800, 8_000, "a consumer app's daily users", log=True),
    "consumer_step_share": Span(0.3, 0.85, "tutoring-style apps ask for steps on most questions"),
    "hackathon_accounts": Span(
        150, 1_200, "a course or hackathon week: hundreds to 1,000+ sign-ups", log=True
    ),
    "hackathon_requests": Span(3, 10, "each participant sends a handful of exercises"),
    "hackathon_signup_days": Span(0.5, 4, "sign-ups in the days before the event"),
    "eval_accounts": Span(2, 10, "a few research or QA accounts per company"),
    "eval_logprobs_share": Span(0.3, 0.95, "multiple-choice evals score with log-probabilities"),
    "eval_output_median": Span(8, 120, "benchmark answers are a letter or a short number", log=True),
    "edtech_end_users": Span(1_500, 10_000, "thousands of students", log=True),
    "labelling_accounts": Span(2, 6, "a labelling vendor's project accounts"),
    "labelling_grading_share": Span(0.4, 0.85, "their work is grading at volume"),
    "vendor_accounts": Span(3, 8, "a synthetic-data vendor's accounts, one company card"),
    "vendor_step_share": Span(0.3, 0.7, "synthetic data asks for worked solutions"),
    "localisation_step_share": Span(0.3, 0.7, "translation QA asks for reasoning in the input's language"),
    "localisation_language": Pick(
        {"zh": 0.3, "es": 0.15, "fr": 0.15, "de": 0.15, "ja": 0.15, "ru": 0.1},
        "the language its customers write in",
    ),
    "ide_end_users": Span(300, 5_000, "developers using an IDE agent product", log=True),
    "ide_agent_share": Span(0.6, 0.95, "most requests are agent steps with tools and long context"),
    "reseller_end_users": Span(200, 3_000, "a reseller's customers", log=True),
    "reseller_extraction_end_users": Span(1, 10, "a few harvesting customers hide among them"),
    "reseller_extraction_share": Span(0.01, 0.12, "their share of the reseller's requests"),
    "aged_days": Span(60, 900, "established companies opened their accounts months to years ago"),
    "events_share": Span(0.02, 0.12, "each look-alike's share of benign volume"),
}

CAMPAIGN: dict[str, Span | Pick] = {
    "shape": Pick(
        {"hydra": 0.3, "swarm": 0.2, "company": 0.15, "critique": 0.15, "succession": 0.2},
        "the shapes of the disclosed campaigns, none dominating",
    ),
    "accounts": Span(3, 400, "from a handful of accounts to a large hydra", log=True),
    "requests_per_account_day": Span(2, 400, "down to 2-6 a day per account in later campaigns", log=True),
    "onset_share": Span(0.0, 0.6, "a campaign starts anywhere in the first part of the window"),
    "duration_share": Span(0.2, 1.0, "and runs for part or all of the rest"),
    "growth_days": Span(0.2, 3.0, "ramp from first request to full volume"),
    "goals": Pick(
        {
            "cot_elicitation": 0.3,
            "rubric_grading": 0.15,
            "censorship_rewrite": 0.1,
            "agentic_coding": 0.15,
            "tool_use": 0.08,
            "computer_use": 0.05,
            "data_analysis": 0.07,
            "vision": 0.05,
            "self_critique": 0.05,
        },
        "main goal; a second goal is added with probability 0.5",
    ),
    "zh_share": Span(0.0, 1.0, "operators write in English, Chinese or both"),
    "other_language": Span(0.0, 1.0, "with probability 0.3 part of the wrappers are translated"),
    "other_language_name": Pick(
        {"es": 0.2, "fr": 0.2, "de": 0.2, "ja": 0.2, "ru": 0.2}, "into any language the simulator knows"
    ),
    "other_language_share": Span(0.1, 1.0, "that language's weight beside English/Chinese"),
    "proxy": Pick({"datacenter": 0.4, "residential": 0.6}, "residential pools are cheap and common now"),
    "proxy_prefixes": Span(4, 300, "a small or a huge proxy pool", log=True),
    "payment_fingerprints": Span(1, 60, "a few shared cards up to many", log=True),
    "own_card": Span(0.0, 1.0, "with probability 0.3 every account has its own card"),
    "own_exit": Span(
        0.0, 1.0, "with probability 0.3 a campaign buys its own residential exit for some accounts"
    ),
    "own_exit_share": Span(
        0.1, 1.0, "from a few accounts to all of them: with their own cards, only the script ties them"
    ),
    "signup": Pick({"burst": 0.6, "spread": 0.4}, "accounts opened together, or one by one"),
    "signup_burst_size": Span(5, 200, "accounts created within hours of each other", log=True),
    "ban_after_days": Span(1.0, 10.0, "how long an account lives before the provider bans it"),
    "never_banned": Span(0.0, 1.0, "with probability 0.3 the provider bans nothing in the window"),
    "paraphrase": Span(0.0, 1.0, "one fixed wording up to every request freshly paraphrased"),
    "ordinary_share": Span(0.0, 0.5, "ordinary prompts mixed in to look like users"),
    "sdk_diversity": Span(0.0, 1.0, "one harness fingerprint up to every account a different client"),
    "jitter": Span(0.0, 1.0, "exact intervals up to Poisson arrivals"),
    "diurnal": Pick(
        {"flat": 0.4, "office": 0.2, "evening": 0.2, "student": 0.1, "nightly": 0.1},
        "machines run around the clock; careful operators follow a human day",
    ),
    "timezone": Pick(
        {"-8": 0.1, "-5": 0.15, "0": 0.1, "1": 0.1, "3": 0.05, "5.5": 0.1, "8": 0.3, "9": 0.1},
        "operators work from anywhere",
    ),
    "load_balance": Pick({"uniform": 0.5, "weighted": 0.5}, "even spread, or a heavy tail to blend in"),
    "pathways": Pick(
        {"free": 0.3, "paygo": 0.3, "education": 0.15, "research": 0.1, "startup": 0.15},
        "sign-up pathway mix (the drawn one gets half the weight)",
    ),
    "reasoning_share": Span(0.2, 1.0, "share of requests on the reasoning tier"),
    "max_tokens": Pick({"4096": 0.2, "8192": 0.2, "16000": 0.3, "32000": 0.3}, "long outputs wanted"),
    "output_median": Span(300, 3_000, "harvested answers are long", log=True),
    "logprobs_share": Span(0.0, 0.3, "some harvest log-probabilities as soft labels"),
    "pivot": Span(0.0, 1.0, "with probability 0.35 the campaign moves to a new release"),
    "pivot_delay_hours": Span(2, 72, "how fast it moves"),
    "pivot_share": Span(0.2, 0.9, "how much of it moves"),
    # shapes --------------------------------------------------------------------------------
    "swarm_accounts": Span(500, 4_000, "thousands of single-use accounts", log=True),
    "swarm_requests": Span(2, 6, "each account sends 2-6 requests, then never again"),
    "swarm_burst_hours": Span(0.2, 6, "an account's requests come within minutes to hours"),
    "swarm_window_days": Span(0.5, 3, "the whole swarm runs for a few days"),
    "company_accounts": Span(2, 12, "a handful of company accounts"),
    "company_per_night": Span(100, 2_000, "hundreds to 2,000 exchanges per account a night", log=True),
    "critique_system_share": Span(0.0, 0.8, "the elicitation may sit in the system prompt instead"),
    "succession_days": Span(1.5, 6, "each account is replaced every few days"),
    "succession_accounts": Span(3, 40, "accounts alive at any time", log=True),
}


def number(table: dict[str, Span | Pick], key: str, r: random.Random) -> float:
    entry = table[key]
    assert isinstance(entry, Span), key
    return entry.draw(r)


def integer(table: dict[str, Span | Pick], key: str, r: random.Random) -> int:
    entry = table[key]
    assert isinstance(entry, Span), key
    return entry.draw_int(r)


def choice(table: dict[str, Span | Pick], key: str, r: random.Random) -> str:
    entry = table[key]
    assert isinstance(entry, Pick), key
    return entry.draw(r)


def every_range() -> dict[str, dict[str, Span | Pick]]:
    """All tables by name (for docs and for the tests that check the ranges are reached)."""
    return {
        "scenario": dict(SCENARIO),
        "background": dict(BACKGROUND),
        "lookalikes": dict(LOOKALIKES),
        "campaign": dict(CAMPAIGN),
    }
