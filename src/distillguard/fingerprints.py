"""Prompt fingerprints and keyed hashes.

Three fingerprints per prompt, computed at ingest and again by the real-time
service on a live request, so both sides must use exactly these functions:

* ``prompt_hash``: the exact text (whitespace-normalised);
* ``skeleton_hash``: the text with the slots a template fills in masked
  (numbers, URLs, e-mails, quoted strings, code blocks, identifiers, capitalised
  names mid-sentence), lower-cased;
* ``minhash``: a MinHash signature of the skeleton's word 3-shingles (CJK text is
  tokenised per character), for near-duplicate search with LSH.

Every fingerprint carries ``FINGERPRINT_VERSION``. A change to masking,
tokenising, the MinHash seed or permutation count must bump it: signatures of
different versions are refused, never compared (datasketch's history shows why).
"""

from __future__ import annotations

import array
import functools
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable, Sequence

import rensa

from distillguard.schema import MINHASH_PERMUTATIONS

MINHASH_SEED = 1729
SHINGLE_WORDS = 3
FINGERPRINT_VERSION = f"dgfp1/skel1/rensa-r{MINHASH_PERMUTATIONS}-s{MINHASH_SEED}-w{SHINGLE_WORDS}"


class IncompatibleFingerprint(ValueError):
    """Two fingerprints of different versions were about to be compared."""


# --------------------------------------------------------------------- skeletons
_CJK = r"\u2e80-\u2fff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"```.*?(?:```|$)", re.DOTALL), " <code> "),
    (re.compile(r"https?://\S+|www\.\S+"), " <url> "),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), " <email> "),
    (re.compile(r"\"[^\"\n]{1,200}\"|“[^”\n]{1,200}”|「[^」\n]{1,200}」"), " <str> "),
    (re.compile(r"\b[0-9a-f]{8,}\b|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f-]{14,}\b", re.IGNORECASE), " <id> "),
    (re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?%?"), " <num> "),
    # A capitalised word that does not start a sentence is most often a name.
    (re.compile(r"(?<=[a-z,;] )[A-Z][a-z]+(?:\s[A-Z][a-z]+)*"), " <name> "),
)
_TOKEN = re.compile(rf"<[a-z]+>|[{_CJK}]|[^\W{_CJK}]+")
_SPACE = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def skeleton(text: str) -> str:
    """The prompt with template slots masked, lower-cased, whitespace collapsed."""
    masked = text
    for pattern, replacement in _MASKS:
        masked = pattern.sub(replacement, masked)
    return normalise_text(masked).lower()


def tokens(skeleton_text: str) -> list[str]:
    return _TOKEN.findall(skeleton_text)


def shingles(skeleton_text: str, width: int = SHINGLE_WORDS) -> list[str]:
    toks = tokens(skeleton_text)
    if len(toks) <= width:
        return [" ".join(toks)] if toks else []
    # the runs of ``width`` tokens: the k-th token list starts k further on (shorter lists stop it)
    return list(map(" ".join, zip(*(toks[i:] for i in range(width)), strict=False)))


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def prompt_hash(text: str) -> str:
    return _digest(normalise_text(text))


def skeleton_hash(text: str) -> str:
    return _digest(skeleton(text))


def minhash(text: str) -> list[int]:
    """MinHash signature (``MINHASH_PERMUTATIONS`` uint32 values) of the skeleton."""
    sig = rensa.RMinHash(num_perm=MINHASH_PERMUTATIONS, seed=MINHASH_SEED)
    sig.update(shingles(skeleton(text)) or [""])
    return [int(v) for v in sig.digest()]


def fingerprint(text: str | None) -> tuple[str | None, str | None, list[int] | None]:
    """(prompt_hash, skeleton_hash, minhash) of one prompt; all None for no text."""
    if text is None:
        return None, None, None
    skel = skeleton(text)
    sig = rensa.RMinHash(num_perm=MINHASH_PERMUTATIONS, seed=MINHASH_SEED)
    sig.update(shingles(skel) or [""])
    return _digest(normalise_text(text)), _digest(skel), [int(v) for v in sig.digest()]


def fingerprint_batch(
    texts: Iterable[str | None],
) -> tuple[list[str | None], list[str | None], list[list[int] | None]]:
    """Column-wise fingerprints for a batch of prompts."""
    hashes: list[str | None] = []
    skeletons: list[str | None] = []
    signatures: list[list[int] | None] = []
    for text in texts:
        h, s, m = fingerprint(text)
        hashes.append(h)
        skeletons.append(s)
        signatures.append(m)
    return hashes, skeletons, signatures


def jaccard_estimate(a: Sequence[int], b: Sequence[int]) -> float:
    if len(a) != len(b) or not a:
        raise IncompatibleFingerprint("MinHash signatures of different lengths")
    return sum(1 for x, y in zip(a, b, strict=True) if x == y) / len(a)


# ------------------------------------------------------ the same skeleton in SQL
# Ingest computes skeletons inside DuckDB (RE2, every core, no Python per prompt). RE2's
# \w, \s, \d and \b are ASCII and it has no look-behind, so each Python class is spelled
# out as the exact code-point set this Python's ``re`` uses (str.isalnum, str.isspace,
# str.isdecimal), \b becomes a consumed neighbour (applied twice, since a neighbour taken by
# one match hides the next), and the name look-behind becomes a captured prefix put back.
# Same version string: tests/test_fingerprints.py proves equal skeletons on the corpus and
# on generated text. Lower-casing and hashing stay in Python (``fingerprint_masked``):
# DuckDB's lower() uses simple case mapping, Python's full mapping ('İ' -> 'i̇').


def _class_ranges(python_class: str, every_point: Sequence[tuple[int, str]]) -> str:
    """RE2 class body (no brackets) of every code point Python's ``re`` class ``python_class``
    (one character class, such as ``\\w``) matches: ``re`` itself runs over every code point, in
    C, where a predicate asked per code point cost every process that ingests over half a second.
    Surrogates are left out (DuckDB text is valid UTF-8): the code points below and above them
    are searched apart, so no range spans them."""
    runs = re.compile(f"{python_class}+")
    spans: list[tuple[int, int]] = []
    for first, points in every_point:
        spans += [(first + m.start(), first + m.end() - 1) for m in runs.finditer(points)]
    return "".join(rf"\x{{{a:x}}}" if a == b else rf"\x{{{a:x}}}-\x{{{b:x}}}" for a, b in spans)


@functools.cache
def _re2_classes() -> dict[str, str]:
    # The classes the Python masks use: \w is str.isalnum() or "_", \s str.isspace(),
    # \d str.isdecimal() (tests/test_fingerprints.py holds them to those predicates). Each is
    # searched for in the text of every code point below the surrogates, then above them.
    every_point = [
        (first, array.array("I", range(first, last + 1)).tobytes().decode("utf-32-le"))
        for first, last in ((0, 0xD7FF), (0xE000, 0x10FFFF))
    ]
    return {
        "w": _class_ranges(r"\w", every_point),
        "s": _class_ranges(r"\s", every_point),
        "d": _class_ranges(r"\d", every_point),
        "s_not_blank": _class_ranges(r"[^\S ]", every_point),
    }


@functools.cache
def skeleton_sql_steps() -> tuple[tuple[tuple[str, ...], str, str], ...]:
    """(needles, RE2 pattern, replacement) per mask, in ``_MASKS`` order.

    A step runs only on texts holding one of its needles (none: every text); the needles are
    the literal characters every match must contain, so skipping changes nothing.
    """
    c = _re2_classes()
    space, digit = f"[{c['s']}]", f"[{c['d']}]"
    hex_word = rf"(^|[^{c['w']}])(?i:[0-9a-f]{{8,}})([^{c['w']}]|$)"
    return (
        (("```",), r"(?s)```.*?(?:```|$)", " <code> "),
        (("://", "www."), rf"https?://[^{c['s']}]+|www\.[^{c['s']}]+", " <url> "),
        (("@",), rf"[{c['w']}.+-]+@[{c['w']}-]+\.[{c['w']}.-]+", " <email> "),
        (('"', "“", "「"), '"[^"\\n]{1,200}"|“[^”\\n]{1,200}”|「[^」\\n]{1,200}」', " <str> "),
        ((), hex_word, r"\1 <id> \2"),
        ((), hex_word, r"\1 <id> \2"),
        ((), rf"[-+]?{digit}[{c['d']},]*(?:\.{digit}+)?(?:[eE][-+]?{digit}+)?%?", " <num> "),
        ((), rf"([a-z,;] )[A-Z][a-z]+(?:{space}[A-Z][a-z]+)*", r"\1 <name> "),
    )


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def normalise_sql(expression: str) -> str:
    """``normalise_text`` in SQL: whitespace runs to one blank (single blanks untouched), trimmed."""
    c = _re2_classes()
    runs = f"[{c['s']}]{{2,}}|[{c['s_not_blank']}]"
    collapsed = f"regexp_replace({expression}, {_sql_text(runs)}, ' ', 'g')"
    return f"regexp_replace({collapsed}, '^ | $', '', 'g')"


def strip_sql(expression: str) -> str:
    """``str.strip()`` in SQL (the same whitespace set)."""
    space = _re2_classes()["s"]
    return f"regexp_replace({expression}, {_sql_text(f'^[{space}]+|[{space}]+$')}, '', 'g')"


def masked_sql(source: str, column: str) -> str:
    """A query over ``source`` (a table or subquery) giving, per row of it, ``text`` (the column),
    ``normalised`` (``normalise_text``) and ``masked`` (the skeleton before lower-casing)."""
    steps = [f"s0 AS (SELECT {column} AS text, {column} AS x FROM {source})"]
    for i, (needles, pattern, replacement) in enumerate(skeleton_sql_steps(), start=1):
        replaced = f"regexp_replace(x, {_sql_text(pattern)}, {_sql_text(replacement)}, 'g')"
        if needles:
            found = " OR ".join(f"contains(x, {_sql_text(n)})" for n in needles)
            replaced = f"CASE WHEN {found} THEN {replaced} ELSE x END"
        steps.append(f"s{i} AS (SELECT text, {replaced} AS x FROM s{i - 1})")
    last = f"s{len(steps) - 1}"
    return (
        "WITH "
        + ",\n".join(steps)
        + f"\nSELECT text, {normalise_sql('text')} AS normalised, {normalise_sql('x')} AS masked FROM {last}"
    )


def fingerprint_masked(
    normalised: Sequence[str], masked: Sequence[str]
) -> tuple[list[str], list[str], list[str]]:
    """(prompt_hash, skeleton_hash, skeleton) from the columns of ``masked_sql``."""
    skeletons = [m.lower() for m in masked]  # masked may be empty when only prompt hashes are wanted
    return [_digest(n) for n in normalised], [_digest(s) for s in skeletons], skeletons


def minhash_batch(skeletons: Sequence[str]) -> list[list[int]]:
    """``minhash`` of each skeleton text, in one rensa call."""
    token_sets = [shingles(s) or [""] for s in skeletons]
    # rensa gives lists of Python ints already
    digests: list[list[int]] = rensa.RMinHash.digests_from_token_sets(
        token_sets, MINHASH_PERMUTATIONS, MINHASH_SEED
    )
    return digests


# ------------------------------------------------------------ serialisation
def serialise_minhash(signature: Sequence[int], version: str = FINGERPRINT_VERSION) -> str:
    """Explicit, versioned text form: ``<version>:<hex uint32 * n>`` (never pickle)."""
    return version + ":" + "".join(f"{int(v):08x}" for v in signature)


def parse_minhash(serialised: str, *, expected_version: str = FINGERPRINT_VERSION) -> list[int]:
    version, _, body = serialised.rpartition(":")
    if version != expected_version:
        raise IncompatibleFingerprint(
            f"fingerprint version {version or '(none)'!r} differs from {expected_version!r}"
        )
    if len(body) != 8 * MINHASH_PERMUTATIONS or not re.fullmatch(r"[0-9a-f]*", body):
        raise IncompatibleFingerprint("MinHash body has the wrong length or characters")
    return [int(body[i : i + 8], 16) for i in range(0, len(body), 8)]


# ------------------------------------------------------------- keyed hashing
def keyed_hash(secret: bytes, value: str, *, purpose: str) -> str:
    """HMAC-SHA256 of ``value`` (truncated to 128 bits, hex).

    ``purpose`` separates domains, so an API key and an IP that happen to be the
    same string never hash alike.
    """
    mac = hmac.new(secret, f"{purpose}\x1f{value}".encode("utf-8", "surrogatepass"), hashlib.sha256)
    return mac.hexdigest()[:32]


def keyed_hash_sql(secret: bytes, value: str, *, purpose: str) -> str:
    """``keyed_hash`` as a SQL expression over the text expression ``value`` (HMAC spelled out
    with DuckDB's sha256, so ingest hashes millions of distinct keys and addresses in parallel
    without a Python call each). NULL stays NULL."""
    block = hashlib.sha256(secret).digest() if len(secret) > 64 else secret
    block = block.ljust(64, b"\0")
    inner_pad = bytes(b ^ 0x36 for b in block).hex()
    outer_pad = bytes(b ^ 0x5C for b in block).hex()
    prefix = (purpose + "\x1f").encode().hex()
    inner = f"unhex(sha256(unhex('{inner_pad}{prefix}') || encode({value})))"
    return f"left(sha256(unhex('{outer_pad}') || {inner}), 32)"


# A plain dotted-quad IPv4 address (ASCII digits): its /24 is the first three octets, no parse.
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_SQL_PATTERN = rf"({_OCTET}\.{_OCTET}\.{_OCTET})\.{_OCTET}"


def ip_prefix(address: str) -> str | None:
    """The /24 network of an IPv4 address or the /48 of an IPv6 one; None if unparsable."""
    try:
        ip = ipaddress.ip_address(address.strip().split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    length = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{length}", strict=False))


def hash_ip(secret: bytes, address: str | None) -> tuple[str | None, str | None]:
    """(client_ip_hash, ip_prefix_hash) for a raw client address."""
    if not address:
        return None, None
    text = address.strip()
    prefix = ip_prefix(text)
    return (
        keyed_hash(secret, text, purpose="ip"),
        keyed_hash(secret, prefix, purpose="ip-prefix") if prefix else None,
    )


def community_prefix_hash(community_key: bytes | None, address: str | None) -> str | None:
    """The client's /24 or /48 hashed with the sharing community's key.

    Equal to ``intel.privacy.community_hash(key, "ip_prefix", prefix)``: what partners
    share and match. Computed at ingest, the only moment the raw address exists.
    """
    if not community_key or not address:
        return None
    prefix = ip_prefix(address)
    return keyed_hash(community_key, prefix, purpose="dg-intel-ip_prefix") if prefix else None


def hash_api_key(secret: bytes, api_key_id: str | None) -> str | None:
    return keyed_hash(secret, api_key_id, purpose="api-key") if api_key_id else None
