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
    return [" ".join(toks[i : i + width]) for i in range(len(toks) - width + 1)]


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
