"""False-positive rates of the prompt-level detectors on real, ordinary prompts.

Reads the shared corpus beside the repo (never copied into it); skipped, with the
reason printed, where it is absent. Every corpus category is ordinary traffic, so
a prompt scoring >= 0.5 on an elicitation class is a false positive.
"""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path

import pytest

from distillguard.detectors.patterns import SCORED_DETECTORS
from distillguard.detectors.prompt_matcher import match_prompt

PER_CATEGORY = 800
MAX_FALSE_POSITIVE_RATE = 0.01


def _texts(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = (json.loads(line) for line in itertools.islice(handle, PER_CATEGORY))
        return [row["text"] for row in rows if isinstance(row.get("text"), str)]


def test_ordinary_corpus_prompts_rarely_score_as_elicitation(shared_corpus: Path) -> None:
    files = sorted(shared_corpus.glob("*.jsonl.gz"))
    if not files:
        pytest.skip(f"no *.jsonl.gz files in {shared_corpus}")
    rates: dict[str, dict[str, float]] = {}
    for path in files:
        texts = _texts(path)
        matches = [match_prompt(text) for text in texts]
        rates[path.name] = {
            name: sum(getattr(m, name) >= 0.5 for m in matches) / max(len(matches), 1)
            for name in SCORED_DETECTORS
        }
    worst = {(category, name): rate for category, per in rates.items() for name, rate in per.items()}
    offenders = {key: rate for key, rate in worst.items() if rate > MAX_FALSE_POSITIVE_RATE}
    assert not offenders, f"false-positive rate above {MAX_FALSE_POSITIVE_RATE:.0%}: {offenders}"
