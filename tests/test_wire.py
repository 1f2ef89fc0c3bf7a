"""The one text normalisation at the trust boundary (distillguard.wire)."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from distillguard.wire import IDENTIFIER_MAX_CHARS, clean_identifier, clean_json, clean_text

EXAMPLES = int(os.environ.get("DISTILLGUARD_PROPERTY_EXAMPLES", "0") or 0)
ODD = st.sampled_from(["\udfff", "\ud800", "\ud83d", "\ude00", "\x00", "\x7f", "\x85", "\u202e", "\u0301"])
any_text = st.text(st.characters(exclude_categories=()) | ODD, max_size=200)


@settings(max_examples=EXAMPLES or 300)
@given(text=any_text, limit=st.integers(1, 300))
def test_clean_text_is_encodable_free_of_controls_bounded_and_idempotent(text: str, limit: int) -> None:
    cleaned = clean_text(text, max_chars=limit)
    cleaned.encode("utf-8")  # never raises: no surrogates left
    assert len(cleaned) <= limit
    assert not any(ord(c) < 32 and c not in "\t\n\r" for c in cleaned)
    assert not any(0x7F <= ord(c) <= 0x9F for c in cleaned)
    assert clean_text(cleaned, max_chars=limit) == cleaned


def test_what_changes_and_what_does_not() -> None:
    ordinary = "Think step by step.\n\tשלום e\u0301 \u200f\u202e 😀"
    assert clean_text(ordinary) is ordinary  # nothing to change: not even a copy
    assert clean_text("a\udfffb") == "a\ufffdb"
    assert clean_text("\ud83d\ude00") == "😀"  # a pair written as two code points is joined
    assert clean_text("step\x00 by\x1b step") == "step by step"
    assert clean_text(b"bad \xff byte") == "bad \ufffd byte"
    assert clean_text("x" * 50, max_chars=10) == "x" * 10


def test_identifiers_never_collide_when_long() -> None:
    long_a, long_b = "acct-" + "a" * 600, "acct-" + "a" * 601
    assert clean_identifier(long_a) != clean_identifier(long_b)
    assert len(clean_identifier(long_a) or "") <= IDENTIFIER_MAX_CHARS
    assert clean_identifier("  acct-1\x00 ") == "acct-1"
    assert clean_identifier("   ") is None and clean_identifier(None) is None


def test_clean_json_cleans_keys_and_values_and_keeps_other_types() -> None:
    assert clean_json({"k\udfff": ["v\x00", 1, 2.5, None, True]}) == {"k\ufffd": ["v", 1, 2.5, None, True]}
