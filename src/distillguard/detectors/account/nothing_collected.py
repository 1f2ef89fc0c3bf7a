"""Business context: every answer a few tokens long to a line of prompt (health checks, smoke tests).

A distillation campaign exists to collect answers a model can be trained on: reasoning
traces, code, grades of a text, rewrites, agent transcripts. A CI job or an uptime monitor
asks "reply with PONG" hundreds of times a day from rotating cloud runners, often switches
to a new model the hour it ships, and so shows much of how a harvest *collects*: yet it
receives nothing worth training on. This signal names that, and the cluster level uses the
same definition: a cluster whose accounts received hardly any substantive answer between
them is not a harvesting operation, and a member that received none takes nothing from
its cluster.

Judged on counts of substantive answers, never on their share: padding a harvest with
health checks leaves every substantive answer counted, so it cannot talk a harvest down.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distillguard.detectors.account import AccountSignal, ramp
from distillguard.detectors.account.harvest_volume import TOOL_WORK, output_size
from distillguard.detectors.spec import DetectorSpec
from distillguard.rules import ELICITATION_THRESHOLD

SPEC = DetectorSpec(
    "account.nothing_collected",
    "Nothing collected (business context)",
    "account",
    "Among the subject's answered requests, the ones that received something a model could be "
    "trained on: anything but a few-token answer to a short prompt that is neither training-shaped "
    "nor agent work. A subject with many answered requests and hardly any such answer (CI jobs, "
    "uptime monitors, smoke tests) has collected nothing. Counts against risk; a cluster's members "
    "that collected nothing take nothing from it.",
    ("a harvest whose answers are scalar scores of short texts the prompt classifier misses",),
    {
        "answer_tokens_max": 16,
        "prompt_tokens_max": 128,
        "min_answered": 20,
        "substantive_enough": 3,
        "weight": -1.5,
    },
    why={
        "answer_tokens_max": "a word, a number, a status line or a one-line JSON object (OK, PONG, 4): "
        "no reasoning, code or rewrite fits in sixteen tokens",
        "prompt_tokens_max": "a health check or a smoke test is a line or two; grading, labelling or "
        "rewriting a text needs the text, so a short answer to a longer prompt (a score, a label, a "
        "preference) is a judgement worth harvesting and counts as collected",
        "min_answered": "with fewer answered requests an account has not yet shown what it collects",
        "substantive_enough": "a few substantive answers and the account is judged on its other "
        "evidence like any other",
        "weight": "offsets the collection evidence an empty job still shows (rotating cloud runner "
        "addresses, a canary on a new model, scripted single-turn requests): it received nothing a "
        "model could be trained on",
    },
)

# Answered: a failed, throttled or blocked request returned nothing, so it neither adds nor
# removes anything (an account blocked by the gateway must not look empty to the next scan).
_ANSWERED = "coalesce(status, 'success') = 'success'"
# Unknown sizes count as substantive: a log without token counts or texts says nothing short.
_SHORT_ANSWER = f"{output_size(1e9)} <= {SPEC['answer_tokens_max']}"
_SHORT_PROMPT = f"coalesce(input_tokens, prompt_chars / 4.0, 1e9) <= {SPEC['prompt_tokens_max']}"
_TRIVIAL = f"{_SHORT_ANSWER} AND {_SHORT_PROMPT} AND training < {ELICITATION_THRESHOLD} AND NOT {TOOL_WORK}"

AGGREGATES = (
    f"sum(CASE WHEN {_ANSWERED} THEN 1 ELSE 0 END) AS answered_exchanges",
    f"sum(CASE WHEN {_ANSWERED} AND NOT ({_TRIVIAL}) THEN 1 ELSE 0 END) AS substantive_exchanges",
)


def score(p: Mapping[str, Any]) -> str:
    return (
        f"CASE WHEN answered_exchanges >= {p['min_answered']} THEN "
        f"1.0 - {ramp('substantive_exchanges', 0, p['substantive_enough'])} ELSE 0.0 END"
    )


SIGNAL = AccountSignal(
    SPEC,
    "s_nothing_collected",
    score,
    "substantive_exchanges",
    "{substantive_exchanges} of its {answered_exchanges} answered requests received more than a few "
    "tokens to a line of prompt (health checks, smoke tests: nothing to train on)",
    group="context",
    aggregates=AGGREGATES,
)
