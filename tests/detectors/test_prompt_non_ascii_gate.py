"""The prompt level skips a regex on ASCII-only texts only when no ASCII text can match it."""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path

import pytest
import re2

from distillguard.detectors.patterns import clip_text
from distillguard.detectors.prompt_level import _all_patterns, _needs_non_ascii
from distillguard.detectors.regex_gates import atoms_regex, required_atoms

from multilingual_heldout import HELDOUT, ORDINARY, RESPONSES  # isort: skip
from test_prompt_level import ELICITATION, GRADING, QUESTION, REWRITES  # isort: skip


@pytest.fixture
def shared_corpus_texts(shared_corpus: Path) -> list[str]:
    """Texts that match many rules: the held-out sets and wrappers, plus real corpus prompts."""
    texts = [t for per in HELDOUT.values() for ts in per.values() for t in ts]
    texts += [t for ts in ORDINARY.values() for t in ts] + [t for t, _ in RESPONSES]
    texts += [t.format(q=QUESTION) for t in ELICITATION + GRADING + REWRITES]
    for path in sorted(shared_corpus.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            rows = (json.loads(line) for line in itertools.islice(handle, 300))
            texts += [row["text"] for row in rows if isinstance(row.get("text"), str)]
    return [clip_text(t) for t in texts]


@pytest.mark.parametrize(
    ("regex", "gated"),
    [
        ("思", True),
        ("(?:思|考)x", True),
        ("思+", True),
        ("(思){1,2}", True),
        ("[思-考]", True),
        ("\\w思", True),
        ("(?i)思", False),  # case folding may map a non-ASCII letter to ASCII
        ("(?i:思)", False),
        ("(?:思|a)", False),
        ("a|思", False),
        ("思?", False),
        ("(思){0,2}", False),
        ("[^a]", False),
        ("[a思]", False),
        ("\\x{601d}", False),  # RE2-only syntax is never gated
        ("\\p{Han}", False),
        ("[[:alpha:]思]", False),
    ],
)
def test_only_patterns_that_need_a_non_ascii_character_are_gated(regex: str, gated: bool) -> None:
    assert _needs_non_ascii(regex) is gated


def test_every_chinese_rule_is_gated_and_no_gated_rule_matches_ascii_text() -> None:
    patterns = _all_patterns()
    gated = [p for p in patterns if _needs_non_ascii(p.regex)]
    assert {p.label for p in gated} >= {p.label for p in patterns if p.id.startswith("zh-")}
    ascii_texts = ["step by step, answer: 3 - 5 = 1 fen", "0-10 分".encode("ascii", "ignore").decode()]
    for pattern in gated:
        for text in ascii_texts:
            assert re2.search(pattern.regex, text) is None, pattern.label


@pytest.mark.parametrize(
    ("regex", "atoms"),
    [
        ("chain[- ]of[- ]thought", {"thought"}),
        ("(reasoning|thinking)\\W+steps?", {"reasoning", "thinking"}),
        ("(show|give) (your|the) work", {" work"}),  # the most selective part is kept
        ("a?b?c?", None),  # nothing every match must contain
        ("(reasoning|\\w+)", None),  # one branch without a literal: no condition at all
        ("(?i)reasoning", None),  # case folding: not read
        ("思维链|推理链", {"思维链", "推理链"}),
        ("(ab|cd)", None),  # too short to filter anything
    ],
)
def test_required_atoms_are_read_from_the_pattern(regex: str, atoms: set[str] | None) -> None:
    found = required_atoms(regex)
    assert (set(found) if found is not None else None) == atoms


def test_every_match_of_every_rule_contains_one_of_its_atoms(shared_corpus_texts: list[str]) -> None:
    """The literal gate may only skip texts a rule cannot match: checked on every rule and text."""
    for pattern in _all_patterns():
        atoms = required_atoms(pattern.regex)
        if atoms is None:
            continue
        gate = re2.compile(atoms_regex(atoms))
        for text in shared_corpus_texts:
            if pattern.compiled.search(text):
                assert gate.search(text), (pattern.label, text[:80])
