"""Harvest breadth: one subject collecting more than one kind of training data.

A product built on the model does one job: a tutoring app asks for worked solutions, a
labelling service for grades, a localisation service for rewrites. A training set for a
student model needs several: reasoning traces for supervised fine-tuning and rubric grades
for a reward model (the disclosures name both, and the nightly harvests they describe
collected grades and reasoning together). So the second most common kind of training-shaped
exchange, as a share of everything the subject sent, is evidence that its collection feeds
a training pipeline rather than a product.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distillguard.detectors.account import AccountSignal, ramp
from distillguard.detectors.spec import DetectorSpec
from distillguard.rules import elicited_share_sql

SPEC = DetectorSpec(
    "account.harvest_breadth",
    "Several kinds of training data",
    "account",
    "The share of the subject's exchanges taken by its second most common kind of training-shaped "
    "request (reasoning traces, rubric grades, rewrites), counted once enough training-shaped "
    "exchanges are seen: collecting traces and grades together is building a training set, not "
    "running a product.",
    (
        "tutoring apps that both explain and grade homework (their many end users count against it)",
        "evaluation teams that grade the answers they sampled (repeated items count against it)",
        "resellers and routers whose many customers' requests mix every kind (on the randomised "
        "scenarios ten of them showed it, at 0.02-0.15; their end users are judged one by one)",
    ),
    {
        "second_share_low": 0.05,
        "second_share_high": 0.2,
        "min_events_low": 10,
        "min_events_high": 50,
        "weight": 0.8,
    },
    why={
        "second_share_low": "a product's users stray into another kind of request now and then; one "
        "request in twenty is that noise",
        "second_share_high": "when a fifth of everything sent is a second kind of training data, "
        "collecting it is part of the job",
        "min_events_low": "a handful of training-shaped exchanges split between kinds by chance",
        "min_events_high": "fifty training-shaped exchanges show whether a second kind is a habit",
        "weight": "a tutoring product can do both jobs, so it only supports the harvest and "
        "content evidence, like coverage and the size of answers asked for",
    },
)

# Per subject, the middle of its three kinds' shares (the features' cot_share, grading_share
# and rewrite_share, by the same rule): the second most common kind.
_SHARES = tuple(elicited_share_sql(kind) for kind in ("cot", "grading", "rewrite"))
AGGREGATES = (
    f"({' + '.join(_SHARES)} - greatest({', '.join(_SHARES)}) - least({', '.join(_SHARES)})) "
    "AS second_kind_share",
)


def score(p: Mapping[str, Any]) -> str:
    return (
        f"{ramp('second_kind_share', p['second_share_low'], p['second_share_high'])} * "
        f"{ramp('training_events', p['min_events_low'], p['min_events_high'])}"
    )


SIGNAL = AccountSignal(
    SPEC,
    "s_breadth",
    score,
    "second_kind_share",
    "collects more than one kind of training data: reasoning traces on {cot_share:.0%}, grades on "
    "{grading_share:.0%} and rewrites on {rewrite_share:.0%} of its {events} requests",
    group="content",
    aggregates=AGGREGATES,
)
