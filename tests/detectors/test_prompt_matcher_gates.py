"""The live matcher's gates change its speed, never its answers.

A gate is one RE2 alternation of many rules, built without capture groups and, over a whole
lexicon, with a larger memory budget (``patterns.GATE_MAX_MEM_BYTES``). Each rule run on its
own, plainly, must give the same scores, evidence and capability on every text: held-out
elicitation sets in nine languages, ordinary prompts, responses, and real prompts from the
shared corpus when it is present.
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
from functools import cache
from pathlib import Path

import re2
from tests.detectors import classifier_heldout, cot_paraphrases, multilingual_heldout

from distillguard.detectors.patterns import (
    RESPONSE_DETECTORS,
    SCORED_DETECTORS,
    capability_lexicon,
    clip_text,
    lexicon,
)
from distillguard.detectors.prompt_matcher import (
    TOOL_REQUEST_WEIGHT,
    _lexicon_scores,
    capability_of,
)

CORPUS_PER_FILE = 150


@cache
def _plain(regex: str) -> re2._Regexp:
    return re2.compile(regex)


def _held_out_texts() -> list[str]:
    texts = list(cot_paraphrases.PARAPHRASES) + cot_paraphrases.ORDINARY
    for per_lang in multilingual_heldout.HELDOUT.values():
        for items in per_lang.values():
            texts += items
    for items in multilingual_heldout.ORDINARY.values():
        texts += items
    texts += [text for text, _ in multilingual_heldout.RESPONSES]
    for name in ("UNSEEN_COT", "UNSEEN_RUBRIC", "UNSEEN_CENSORSHIP", "UNSEEN_ORDINARY"):
        texts += getattr(classifier_heldout, name)
    return texts


def _corpus_texts(corpus: Path) -> list[str]:
    texts: list[str] = []
    for path in sorted(corpus.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in itertools.islice(handle, CORPUS_PER_FILE):
                text = json.loads(line).get("text")
                if isinstance(text, str):
                    texts.append(text)
    return texts


def _plain_scores(names: tuple[str, ...], clipped: str) -> tuple[dict[str, float], list[str]]:
    """Every rule on its own, with RE2's default options: what the gates must reproduce."""
    scores: dict[str, float] = {}
    evidence: list[str] = []
    for name in names:
        weights = []
        for pattern in lexicon(name).patterns:
            found = _plain(pattern.regex).search(clipped)
            if found is not None:
                weights.append(pattern.weight)
                excerpt = found.group(0)[:80]
                evidence.append(f"{pattern.label}:{found.start()}-{found.end()}:{excerpt}")
        noisy_or = 1.0 - math.exp(sum(math.log(1.0 - w) for w in weights))
        scores[name] = round(noisy_or, 6) if weights else 0.0
    return scores, evidence


def _plain_capability(clipped: str, tool_count: int) -> str:
    best, best_score = "general", 0.0
    for name, patterns in capability_lexicon()[1].items():
        weights = [p.weight for p in patterns if _plain(p.regex).search(clipped)]
        if name == "tool_use" and tool_count > 0:
            weights.append(TOOL_REQUEST_WEIGHT)
        score = 1.0 - math.prod(1.0 - w for w in weights) if weights else 0.0
        if score > best_score + 1e-12:
            best, best_score = name, score
    return best


def test_gated_rules_score_exactly_as_every_rule_run_alone(shared_corpus: Path) -> None:
    texts = _held_out_texts() + _corpus_texts(shared_corpus)
    assert len(texts) > 200
    matched = 0
    for text in texts:
        clipped = clip_text(text)
        for names in (SCORED_DETECTORS, RESPONSE_DETECTORS):
            expected = _plain_scores(names, clipped)
            assert _lexicon_scores(names, clipped) == expected, text[:120]
            matched += bool(expected[1])
        for tools in (0, 2):
            assert capability_of(clipped, tool_count=tools) == _plain_capability(clipped, tools), text[:120]
    assert matched > 100  # the sets exercise the rules, not only the gates' "no match"
