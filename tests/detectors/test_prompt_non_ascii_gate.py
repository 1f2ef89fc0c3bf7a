"""The prompt level skips a regex on ASCII-only texts only when no ASCII text can match it."""

from __future__ import annotations

import pytest
import re2

from distillguard.detectors.prompt_level import _all_patterns, _needs_non_ascii


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
