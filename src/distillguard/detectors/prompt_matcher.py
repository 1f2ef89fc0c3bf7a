"""The prompt-level rules in Python, for the real-time decision service.

Compiled from the same YAML lexicons as the SQL in ``prompt_level``; a parity
test runs both on the same exchanges.

A request is scored whole: the last user turn and its context (the system prompt and
the earlier user turns, joined as ``events.context_text`` is) are each scored on their
own and a class takes the larger, so an instruction parked in the system prompt counts
as much as one in the last message. Each piece of evidence starts with the part it came
from (``last:``, ``context:``, ``response:``). The response, when the caller has it, is
scored for ``response_trace`` (a harvested trace, grade or rewrite).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from distillguard.detectors.patterns import (
    PART_CONTEXT,
    PART_LAST,
    PART_RESPONSE,
    RESPONSE_DETECTORS,
    SCORED_DETECTORS,
    Pattern,
    capability_lexicon,
    clip_text,
    compile_gate,
    gate_matches,
    lexicon,
)
from distillguard.detectors.prompt_classifier import scores_and_evidence
from distillguard.rules import REQUEST_SIGNAL_COLUMNS, RESPONSE_SIGNAL_COLUMNS, training_score

TOOL_REQUEST_WEIGHT = 0.8  # a request that carries tool schemas is tool use, whatever its text says
EVIDENCE_EXCERPT_CHARS = 80


@dataclass(frozen=True)
class PromptMatch:
    cot_elicitation: float = 0.0
    rubric_grading: float = 0.0
    censorship_rewrite: float = 0.0
    capability: str = "general"
    evidence: list[str] = field(default_factory=list)
    critique: float = 0.0
    response_trace: float = 0.0

    @property
    def training_signal(self) -> float:
        """How training-shaped this exchange is (``rules.training_score``, as the scan computes it)."""
        return training_score(
            {name: getattr(self, name) for name in (*REQUEST_SIGNAL_COLUMNS, *RESPONSE_SIGNAL_COLUMNS)}
        )


def _noisy_or(weights: list[float]) -> float:
    return 1.0 - math.exp(sum(math.log(1.0 - w) for w in weights))


def _evidence(pattern: Pattern, text: str) -> str | None:
    found = pattern.compiled.search(text)
    if found is None:
        return None
    excerpt = found.group(0)[:EVIDENCE_EXCERPT_CHARS]
    return f"{pattern.label}:{found.start()}-{found.start() + len(found.group(0))}:{excerpt}"


@cache
def _capability_gate() -> Any:
    _, categories = capability_lexicon()
    regexes = tuple(p.regex for patterns in categories.values() for p in patterns)
    return compile_gate(regexes, whole_lexicon=True)


def capability_of(text: str, *, tool_count: int = 0) -> str:
    _, categories = capability_lexicon()
    encoded = text.encode()
    any_rule = gate_matches(_capability_gate(), encoded)
    best, best_score = "general", 0.0
    for name, patterns in categories.items():
        weights = [p.weight for p in patterns if any_rule and gate_matches(compile_gate((p.regex,)), encoded)]
        if name == "tool_use" and tool_count > 0:
            weights.append(TOOL_REQUEST_WEIGHT)
        score = _noisy_or(weights) if weights else 0.0
        if score > best_score + 1e-12:
            best, best_score = name, score
    return best


# Rules per gate, for the live matcher and the scan's SQL (``prompt_level._gates``) alike: one
# RE2 search of their alternation settles a dozen rules at once where none matches. Here, where
# RE2's memory budget can be set (``patterns.GATE_MAX_MEM_BYTES``), one gate over the whole
# lexicon comes first: most texts match no rule of a lexicon and cost one DFA pass.
GATE_PATTERNS = 12


@cache
def _gated(name: str) -> tuple[Any, tuple[tuple[Any, tuple[Pattern, ...]], ...]]:
    """A lexicon's gate, and its rules in order, in chunks, each with its own gate.

    ``A|B`` matches exactly where ``A`` or ``B`` does, so a gate that finds nothing has no
    matching rule behind it, and the scores and evidence cannot change.
    """
    patterns = lexicon(name).patterns
    chunks = [patterns[i : i + GATE_PATTERNS] for i in range(0, len(patterns), GATE_PATTERNS)]
    whole = compile_gate(tuple(p.regex for p in patterns), whole_lexicon=True)
    return whole, tuple((compile_gate(tuple(p.regex for p in chunk)), chunk) for chunk in chunks)


def _lexicon_scores(names: tuple[str, ...], clipped: str) -> tuple[dict[str, float], list[str]]:
    """Each lexicon's noisy-or over the patterns that match, and their evidence, in rule order."""
    encoded = clipped.encode()
    scores: dict[str, float] = {}
    evidence: list[str] = []
    for name in names:
        weights = []
        whole, chunks = _gated(name)
        if gate_matches(whole, encoded):
            for gate, chunk in chunks:
                if not gate_matches(gate, encoded):
                    continue
                for pattern in chunk:
                    found = _evidence(pattern, clipped)
                    if found is not None:
                        weights.append(pattern.weight)
                        evidence.append(found)
        scores[name] = round(_noisy_or(weights), 6) if weights else 0.0
    return scores, evidence


def compile_prompt_rules() -> None:
    """Compile every gate and rule now, so that no live request pays for it (the largest
    gates take tens of milliseconds to compile)."""
    for name in (*SCORED_DETECTORS, *RESPONSE_DETECTORS):
        for _, chunk in _gated(name)[1]:
            for pattern in chunk:
                pattern.compiled  # noqa: B018 - compiled and cached
    _capability_gate()
    for patterns in capability_lexicon()[1].values():
        for pattern in patterns:
            compile_gate((pattern.regex,))
    match_prompt("warm up the prompt lexicons", context="and the classifier", response="once")


def score_request_part(text: str | None) -> tuple[dict[str, float], list[str]]:
    """Request-side class scores of one part (last turn or context) and its unprefixed evidence.

    A class scores the larger of its lexicon's noisy-or and the classifier (both read the
    same cue, so adding them would count it twice).
    """
    if not text:
        return dict.fromkeys(SCORED_DETECTORS, 0.0), []
    clipped = clip_text(text)
    scores, evidence = _lexicon_scores(SCORED_DETECTORS, clipped)
    learned, learned_evidence = scores_and_evidence(clipped)
    return {name: max(score, learned[name]) for name, score in scores.items()}, evidence + learned_evidence


def response_trace_score(response: str | None) -> float:
    """How much the response looks like a harvested training artefact (0 when there is none)."""
    return score_response(response)[0]["response_trace"]


def score_response(response: str | None) -> tuple[dict[str, float], list[str]]:
    if not response:
        return dict.fromkeys(RESPONSE_DETECTORS, 0.0), []
    return _lexicon_scores(RESPONSE_DETECTORS, clip_text(response))


def match_prompt(
    text: str | None,
    *,
    tool_count: int = 0,
    context: str | None = None,
    response: str | None = None,
) -> PromptMatch:
    """Scores in [0, 1] for each class, the capability, and evidence spans.

    ``text`` is the last user turn; ``context`` the system prompt and earlier user turns
    joined as ``events.context_text`` is (``ingest.bodies.request_context_text`` builds it
    from a request body); ``response`` the model's output when known (the batch scan has it,
    a gateway deciding before the call does not). Without them the scores are the last
    turn's alone, as before.
    """
    last_scores, last_evidence = score_request_part(text)
    context_scores, context_evidence = score_request_part(context)
    response_scores, response_evidence = score_response(response)
    scores = {name: max(last_scores[name], context_scores[name]) for name in SCORED_DETECTORS}
    evidence = [
        *(f"{PART_LAST}:{item}" for item in last_evidence),
        *(f"{PART_CONTEXT}:{item}" for item in context_evidence),
        *(f"{PART_RESPONSE}:{item}" for item in response_evidence),
    ]
    if text:
        capability = capability_of(clip_text(text), tool_count=tool_count)
    else:
        capability = "tool_use" if tool_count > 0 else "general"
    return PromptMatch(
        cot_elicitation=scores["cot_elicitation"],
        rubric_grading=scores["rubric_grading"],
        censorship_rewrite=scores["censorship_rewrite"],
        critique=scores["critique"],
        response_trace=response_scores["response_trace"],
        capability=capability,
        evidence=evidence,
    )
