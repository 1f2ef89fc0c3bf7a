"""Prompt fingerprints: what template detection and partner sharing rely on."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distillguard import fingerprints as fp


def test_skeleton_masks_the_slots_a_template_fills() -> None:
    a = "Solve this: a train leaves at 3 pm going 60 mph, see https://a.example/x for Alice's notes."
    b = "Solve this: a train leaves at 7 pm going 45 mph, see https://b.example/y for Alice's notes."
    assert fp.skeleton(a) == fp.skeleton(b)
    assert fp.skeleton_hash(a) == fp.skeleton_hash(b)
    assert fp.prompt_hash(a) != fp.prompt_hash(b)


def test_skeleton_keeps_the_words_that_make_a_scaffold() -> None:
    assert "write out your full reasoning" in fp.skeleton("Please WRITE OUT your full reasoning for 12 + 30.")


def test_near_duplicates_score_high_and_unrelated_prompts_low() -> None:
    base = "Answer the question below and show every intermediate step of your reasoning in detail. "
    a = fp.minhash(base + "What is the capital of the country with the longest coastline in Europe?")
    b = fp.minhash(base + "What is the capital of the country with the largest population in Africa?")
    c = fp.minhash("Write a haiku about autumn leaves falling on a quiet pond at dusk.")
    assert fp.jaccard_estimate(a, b) > 0.5
    assert fp.jaccard_estimate(a, c) < 0.2


def test_chinese_text_is_shingled_per_character() -> None:
    a = fp.minhash("请一步一步写出完整的推理过程，然后给出最终答案。问题：小明有五个苹果")
    b = fp.minhash("请一步一步写出完整的推理过程，然后给出最终答案。问题：小红有三本书")
    assert fp.jaccard_estimate(a, b) > 0.4


def test_minhash_serialisation_round_trips_and_refuses_other_versions() -> None:
    signature = fp.minhash("some prompt text to fingerprint")
    text = fp.serialise_minhash(signature)
    assert fp.parse_minhash(text) == signature
    with pytest.raises(fp.IncompatibleFingerprint):
        fp.parse_minhash(fp.serialise_minhash(signature, version="dgfp0/other"))
    with pytest.raises(fp.IncompatibleFingerprint):
        fp.parse_minhash(fp.FINGERPRINT_VERSION + ":abc")


def test_keyed_hashes_depend_on_the_secret_and_the_purpose() -> None:
    assert fp.keyed_hash(b"k1", "1.2.3.4", purpose="ip") != fp.keyed_hash(b"k2", "1.2.3.4", purpose="ip")
    assert fp.keyed_hash(b"k1", "x", purpose="ip") != fp.keyed_hash(b"k1", "x", purpose="api-key")
    assert "1.2.3.4" not in fp.keyed_hash(b"k1", "1.2.3.4", purpose="ip")


@pytest.mark.parametrize(
    ("address", "prefix"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
        ("::ffff:198.51.100.9", "198.51.100.0/24"),
        ("not-an-ip", None),
    ],
)
def test_ip_prefix(address: str, prefix: str | None) -> None:
    assert fp.ip_prefix(address) == prefix


def test_addresses_in_one_prefix_share_the_prefix_hash_only() -> None:
    ip_a, prefix_a = fp.hash_ip(b"k", "203.0.113.5")
    ip_b, prefix_b = fp.hash_ip(b"k", "203.0.113.200")
    assert prefix_a == prefix_b
    assert ip_a != ip_b


@given(st.text(max_size=2000))
def test_fingerprint_never_fails_on_any_text(text: str) -> None:
    exact, skel, signature = fp.fingerprint(text)
    assert exact and skel
    assert signature is not None and len(signature) == 64


# ------------------------------------------------- the SQL skeleton equals the Python one
_EDGE_CASES = [
    "a deadbeefcafe deadbeefcafe x",  # adjacent hex words share one neighbour
    "Hi Bob Dan, Carl\tEve said 1,234.5e3% ok",
    "```code\n",  # Python's $ also matches before a final newline
    "x ```a``` y ```b",
    "café ab12cd34ef c\u00a0d ٣٤٥ and ৩৪",  # non-ASCII word, space and digit characters
    "uuid 12345678-1234-1234-1234-123456789ABC end",
    "a\x0bb  c\u3000d\u2028e",
    "foo, Bar Baz; Qux and Über",
    "e-mail me@x.co.uk now, or visit www.example.org/a?b=1 or https://x.example/ü",
    '"quoted" “curly” 「corner」 "' + "x" * 250 + '"',
    "İstanbul ΣΑΣ ß",
    "",
    "   ",
]


def _sql_fingerprints(texts: list[str]) -> list[tuple[str, str, list[int]]]:
    import duckdb
    import pyarrow as pa

    con = duckdb.connect()
    con.register("texts", pa.table({"t": pa.array(texts, type=pa.string())}))
    rows = con.execute(fp.masked_sql("texts", "t")).fetchall()
    con.close()
    assert [r[0] for r in rows] == texts  # order and identity kept
    hashes, skeleton_hashes, skeletons = fp.fingerprint_masked([r[1] for r in rows], [r[2] for r in rows])
    return list(zip(hashes, skeleton_hashes, fp.minhash_batch(skeletons), strict=True))


def _python_fingerprints(texts: list[str]) -> list[tuple[str, str, list[int]]]:
    return [(fp.prompt_hash(t), fp.skeleton_hash(t), fp.minhash(t)) for t in texts]


def test_sql_skeletons_equal_python_on_edge_cases() -> None:
    assert _sql_fingerprints(_EDGE_CASES) == _python_fingerprints(_EDGE_CASES)


def test_sql_skeletons_equal_python_on_the_real_prompt_corpus() -> None:
    import gzip
    import json
    from pathlib import Path

    corpus = Path(__file__).resolve().parents[2] / "shared" / "corpus"
    files = sorted(corpus.glob("*.jsonl.gz"))
    if not files:
        pytest.skip("../shared/corpus is not here")
    texts = []
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            texts += [json.loads(line)["text"] for _, line in zip(range(1500), handle, strict=False)]
    sql = _sql_fingerprints(texts)
    python = _python_fingerprints(texts)
    different = [t[:80] for t, a, b in zip(texts, sql, python, strict=True) if a != b]
    assert not different


_MASK_ALPHABET = st.sampled_from(
    [
        *"aAbBcCdDeEfFzZ09 ,;.-+@:/\"'`\n\t_%",
        "```",
        "http://",
        "www.",
        "“",
        "”",
        "「",
        "」",
        "\u00a0",
        "\u3000",
        "٣",
        "é",
        "Ü",
        "中",
        "İ",
        "\x0b",
    ]
)


@settings(deadline=None, max_examples=60)  # each example starts a DuckDB connection
@given(st.lists(st.lists(_MASK_ALPHABET, max_size=40).map("".join), min_size=1, max_size=20))
def test_sql_skeletons_equal_python_on_generated_text(texts: list[str]) -> None:
    assert _sql_fingerprints(texts) == _python_fingerprints(texts)


def _ranges_where(member: Callable[[str], bool]) -> str:
    """The RE2 class body ``fingerprints`` should give: every non-surrogate code point where
    ``member`` holds, asked one by one."""
    spans: list[tuple[int, int]] = []
    for point in (p for p in range(0x110000) if not 0xD800 <= p <= 0xDFFF):
        if member(chr(point)):
            if spans and spans[-1][1] == point - 1:  # never across the surrogates: 0xDFFF is left out
                spans[-1] = (spans[-1][0], point)
            else:
                spans.append((point, point))
    return "".join(rf"\x{{{a:x}}}" if a == b else rf"\x{{{a:x}}}-\x{{{b:x}}}" for a, b in spans)


def test_sql_character_classes_are_the_code_points_python_predicates_name() -> None:
    # RE2's classes are ASCII: the skeletons in SQL spell out Python's sets, found by ``re``
    classes = fp._re2_classes()
    assert classes["w"] == _ranges_where(lambda ch: ch.isalnum() or ch == "_")
    assert classes["s"] == _ranges_where(str.isspace)
    assert classes["d"] == _ranges_where(str.isdecimal)
    assert classes["s_not_blank"] == _ranges_where(lambda ch: ch.isspace() and ch != " ")


@pytest.mark.parametrize("secret", [b"k", b"s" * 64, b"long-" * 30], ids=["short", "block", "longer"])
def test_keyed_hash_in_sql_equals_the_python_hmac(secret: bytes) -> None:
    import duckdb

    values = ["203.0.113.7", "key-acct-1", "héllo\u3000", ""]
    con = duckdb.connect()
    sql = f"SELECT {fp.keyed_hash_sql(secret, 'v', purpose='ip')} FROM (SELECT unnest(?) AS v)"
    got = [row[0] for row in con.execute(sql, [values]).fetchall()]
    assert got == [fp.keyed_hash(secret, v, purpose="ip") for v in values]
