"""Rules that batch scans and the real-time path must apply identically, each defined once.

The scan's SQL, its Python scoring, the outputs, the report and the decision service
all import from here: a prompt counts as training-shaped at the same score, a risk
maps to the same verdict, a sample prompt is redacted the same way, and a request's
shape (the generation parameters a client script sets) is the same string whether
SQL computes it over the warehouse or the decider computes it for one live request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Score at or above which one prompt counts as training-shaped for a class (a prompt
# class's scores are noisy-or probabilities; 0.5 is "more likely than not").
ELICITATION_THRESHOLD = 0.5

# The prompt-signal classes. Request side: what the system prompt and user turns ask for
# (reasoning traces, rubric grades, censorship-safe rewrites, critique and autograding).
# Response side: the output itself is a training artefact (a trace, a grade, a rewrite).
REQUEST_SIGNAL_COLUMNS: tuple[str, ...] = (
    "cot_elicitation",
    "rubric_grading",
    "censorship_rewrite",
    "critique",
)
RESPONSE_SIGNAL_COLUMNS: tuple[str, ...] = ("response_trace",)
TRAINING_SIGNAL_COLUMNS: tuple[str, ...] = (*REQUEST_SIGNAL_COLUMNS, *RESPONSE_SIGNAL_COLUMNS)
# A response-side score counts at this fraction when deciding whether an exchange is
# training-shaped: a graded or step-by-step answer is also what evaluation harnesses,
# classes and developers receive every day (about one benign exchange in twenty on the
# simulator), so it takes a strong response signal (>= 0.625) to count on its own.
RESPONSE_EVIDENCE_FACTOR = 0.8


def training_score(scores: Mapping[str, float]) -> float:
    """How training-shaped one exchange is: request and (discounted) response evidence, combined.

    The request and the response are separate witnesses: a request that reads somewhat like
    grading and a response that is a grade with its rationale agree, and together say more
    than either (noisy-or). Neither alone is lowered, so an exchange is never less
    training-shaped than its strongest side.
    """
    request = max((float(scores.get(c) or 0.0) for c in REQUEST_SIGNAL_COLUMNS), default=0.0)
    response = max((float(scores.get(c) or 0.0) for c in RESPONSE_SIGNAL_COLUMNS), default=0.0)
    return 1.0 - (1.0 - request) * (1.0 - RESPONSE_EVIDENCE_FACTOR * response)


def training_score_sql(prefix: str = "") -> str:
    """The same as SQL over prompt-signal columns (``prefix`` e.g. ``'p.'``)."""
    request = "greatest(" + ", ".join(f"coalesce({prefix}{c}, 0.0)" for c in REQUEST_SIGNAL_COLUMNS) + ")"
    response = "greatest(" + ", ".join(f"coalesce({prefix}{c}, 0.0)" for c in RESPONSE_SIGNAL_COLUMNS) + ")"
    return f"(1.0 - (1.0 - {request}) * (1.0 - {RESPONSE_EVIDENCE_FACTOR!r} * {response}))"


def elicited_share_sql(column: str) -> str:
    """SQL aggregate: the share of a subject's exchanges whose ``column`` score (a class, or
    ``training``) reaches the elicitation threshold."""
    return f"avg(CASE WHEN {column} >= {ELICITATION_THRESHOLD} THEN 1.0 ELSE 0.0 END)"


def verdict(risk: float, *, watch: float, extraction: float) -> str:
    """The verdict for a risk under the scan's thresholds (the same rule everywhere)."""
    if risk >= extraction:
        return "extraction"
    if risk >= watch:
        return "watch"
    return "ok"


# ---------------------------------------------------------------- request shape
# The generation parameters a client sets on a call, in a fixed order. A harvesting
# script sets the same ones on every request however it rotates wording and proxies.
REQUEST_SHAPE_FIELDS: tuple[tuple[str, str], ...] = (
    ("model", "model_requested"),
    ("max_tokens", "max_tokens"),
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("effort", "reasoning_effort"),
)


def _shape_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        # DuckDB renders doubles as Python's repr does (0.7, 1.0); keep the two identical
        return repr(value)
    return str(value)


def request_shape(fields: Mapping[str, Any]) -> str:
    """One request's shape from its canonical columns (``model_requested``, ``max_tokens`` ...)."""
    parts = []
    for label, column in REQUEST_SHAPE_FIELDS:
        value = fields.get(column)
        if column == "reasoning_effort" and isinstance(value, str):
            value = value.lower()
        parts.append(f"{label}={_shape_value(value)}")
    return "|".join(parts)


def request_shape_sql(prefix: str = "") -> str:
    """The same shape as SQL over an events-like relation (``prefix`` e.g. ``'e.'``)."""
    pieces = []
    for i, (label, column) in enumerate(REQUEST_SHAPE_FIELDS):
        expr = f"{prefix}{column}"
        if column == "reasoning_effort":
            expr = f"lower({expr})"
        elif column != "model_requested":
            expr = f"CAST({expr} AS VARCHAR)"
        sep = "" if i == 0 else "|"
        pieces.append(f"'{sep}{label}=', coalesce({expr}, '-')")
    return "concat(" + ", ".join(pieces) + ")"


# --------------------------------------------------------------------- redaction
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# six or more digits, spaces or dashes allowed between them: card, phone and account numbers
_LONG_NUMBER = re.compile(r"\d(?:[ -]?\d){5,}")


def redact_text(text: str, *, email: str = "<email>", number: str = "<number>") -> str:
    """Mask e-mail addresses and long numbers (phone, card, account numbers) in shown text."""
    return _LONG_NUMBER.sub(number, _EMAIL.sub(email, text))


def redact_sample(text: str | None, prompt_hash: str | None, *, text_storage: str, limit: int = 160) -> str:
    """A prompt excerpt safe to show: no text when only fingerprints are kept; emails masked."""
    if text_storage != "store" or not text:
        return f"prompt {prompt_hash[:16]}" if prompt_hash else "prompt (text not stored)"
    cleaned = redact_text(" ".join(text.split()))
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


__all__ = [
    "ELICITATION_THRESHOLD",
    "REQUEST_SHAPE_FIELDS",
    "REQUEST_SIGNAL_COLUMNS",
    "RESPONSE_EVIDENCE_FACTOR",
    "RESPONSE_SIGNAL_COLUMNS",
    "TRAINING_SIGNAL_COLUMNS",
    "elicited_share_sql",
    "redact_sample",
    "redact_text",
    "request_shape",
    "request_shape_sql",
    "training_score",
    "training_score_sql",
    "verdict",
]
