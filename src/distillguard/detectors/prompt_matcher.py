"""The prompt-level rules in Python, for the real-time decision service.

Compiled from the same YAML lexicons as the SQL in ``prompt_level``; a parity
test runs both on the same prompts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from distillguard.detectors.patterns import (
    SCORED_DETECTORS,
    Pattern,
    capability_lexicon,
    clip_text,
    lexicon,
)
from distillguard.detectors.prompt_classifier import scores_and_evidence

TOOL_REQUEST_WEIGHT = 0.8  # a request that carries tool schemas is tool use, whatever its text says
EVIDENCE_EXCERPT_CHARS = 80


@dataclass(frozen=True)
class PromptMatch:
    cot_elicitation: float = 0.0
    rubric_grading: float = 0.0
    censorship_rewrite: float = 0.0
    capability: str = "general"
    evidence: list[str] = field(default_factory=list)


def _noisy_or(weights: list[float]) -> float:
    return 1.0 - math.exp(sum(math.log(1.0 - w) for w in weights))


def _evidence(pattern: Pattern, text: str) -> str | None:
    found = pattern.compiled.search(text)
    if found is None:
        return None
    excerpt = found.group(0)[:EVIDENCE_EXCERPT_CHARS]
    return f"{pattern.label}:{found.start()}-{found.start() + len(found.group(0))}:{excerpt}"


def capability_of(text: str, *, tool_count: int = 0) -> str:
    _, categories = capability_lexicon()
    best, best_score = "general", 0.0
    for name, patterns in categories.items():
        weights = [p.weight for p in patterns if p.compiled.search(text)]
        if name == "tool_use" and tool_count > 0:
            weights.append(TOOL_REQUEST_WEIGHT)
        score = _noisy_or(weights) if weights else 0.0
        if score > best_score + 1e-12:
            best, best_score = name, score
    return best


def match_prompt(text: str | None, *, tool_count: int = 0) -> PromptMatch:
    """Scores in [0, 1] for each elicitation class, the capability, and evidence spans."""
    if not text:
        return PromptMatch(capability="tool_use" if tool_count > 0 else "general")
    clipped = clip_text(text)
    scores: dict[str, float] = {}
    evidence: list[str] = []
    for name in SCORED_DETECTORS:
        weights = []
        for pattern in lexicon(name).patterns:
            found = _evidence(pattern, clipped)
            if found is not None:
                weights.append(pattern.weight)
                evidence.append(found)
        scores[name] = round(_noisy_or(weights), 6) if weights else 0.0
    # the classifier's score beside the lexicon's (the larger counts) and its window as evidence
    learned, learned_evidence = scores_and_evidence(clipped)
    scores = {name: max(score, learned[name]) for name, score in scores.items()}
    evidence.extend(learned_evidence)
    return PromptMatch(
        cot_elicitation=scores["cot_elicitation"],
        rubric_grading=scores["rubric_grading"],
        censorship_rewrite=scores["censorship_rewrite"],
        capability=capability_of(clipped, tool_count=tool_count),
        evidence=evidence,
    )
