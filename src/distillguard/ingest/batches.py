"""Turning adapter rows into canonical Arrow batches: hashing, fingerprints, privacy.

This is the one place where raw API keys and client addresses become keyed
hashes, where prompt fingerprints are computed (in batches, each distinct text
once), and where the ``text_storage`` and ``max_prompt_chars`` settings apply.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from distillguard import fingerprints
from distillguard.config import Config, deployment_secret
from distillguard.ingest.normalise import sdk_fingerprint
from distillguard.schema import EVENTS, QUARANTINE

# Keys an adapter may set that are inputs to derived columns, not columns themselves.
RAW_INPUTS = ("api_key_id", "client_ip", "sdk_headers", "system_text")
EXCERPT_CHARS = 512


_IPV4 = re.compile(
    r"((?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\."
    r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d))\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
)


class PrefixHasher:
    """``fingerprints.hash_ip`` with the prefix hash computed once per distinct /24.

    Equal to ``hash_ip`` for every input (tests check it); plain dotted IPv4 skips
    the ``ipaddress`` parse, which costs more than the HMACs on big files.
    """

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self._prefixes: dict[str, str] = {}

    def __call__(self, address: str | None) -> tuple[str | None, str | None]:
        if not address:
            return None, None
        text = address.strip()
        match = _IPV4.fullmatch(text)
        if match is None:
            return fingerprints.hash_ip(self.secret, address)
        prefix = match.group(1) + ".0/24"
        hashed = self._prefixes.get(prefix)
        if hashed is None:
            if len(self._prefixes) > 1_000_000:
                self._prefixes.clear()
            hashed = self._prefixes[prefix] = fingerprints.keyed_hash(
                self.secret, prefix, purpose="ip-prefix"
            )
        return fingerprints.keyed_hash(self.secret, text, purpose="ip"), hashed


class EventBatcher:
    """Collects rows until ``batch_size_rows`` and turns them into an EVENTS table."""

    def __init__(self, config: Config) -> None:
        self.batch_size = max(1, int(config.batch_size_rows))
        self.max_chars = int(config.max_prompt_chars)
        self.keep_text = config.text_storage == "store"
        self._secret = deployment_secret(config)
        self._key_hashes: dict[str, str | None] = {}
        self._ip_hashes: dict[str, tuple[str | None, str | None]] = {}
        self._hash_ip = PrefixHasher(self._secret)
        self._community_key = str(config.intel_community_key or "").encode() or None
        self._community_prefixes: dict[str, str | None] = {}
        self.rows: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)

    @property
    def full(self) -> bool:
        return len(self.rows) >= self.batch_size

    def take(self) -> pa.Table:
        """The pending rows as a finished EVENTS table (and an empty buffer)."""
        rows, self.rows = self.rows, []
        self._derive(rows)
        return pa.Table.from_pylist(rows, schema=EVENTS)

    # ---------------------------------------------------------------- derived
    def _derive(self, rows: list[dict[str, Any]]) -> None:
        pending: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            self._identity(row)
            prompt = row.get("prompt_text")
            response = row.get("response_text")
            if prompt is not None and row.get("prompt_chars") is None:
                row["prompt_chars"] = len(prompt)
            if response is not None and row.get("response_chars") is None:
                row["response_chars"] = len(response)
            has_print = row.get("prompt_hash") and row.get("fingerprint_version") == (
                fingerprints.FINGERPRINT_VERSION
            )
            if prompt is not None and not has_print:
                pending.setdefault(prompt, []).append(row)
            elif not has_print:
                row["prompt_hash"] = row["skeleton_hash"] = row["prompt_minhash"] = None
                row["fingerprint_version"] = None
        self._fingerprint(pending)
        for row in rows:
            self._privacy(row)

    def _identity(self, row: dict[str, Any]) -> None:
        key = row.pop("api_key_id", None)
        if key is not None and not row.get("api_key_hash"):
            if key not in self._key_hashes:
                self._key_hashes[key] = fingerprints.hash_api_key(self._secret, key)
            row["api_key_hash"] = self._key_hashes[key]
        address = row.pop("client_ip", None)
        if address and not row.get("client_ip_hash"):
            if address not in self._ip_hashes:
                self._ip_hashes[address] = self._hash_ip(address)
            row["client_ip_hash"], row["ip_prefix_hash"] = self._ip_hashes[address]
            if self._community_key and not row.get("ip_prefix_community_hash"):
                if address not in self._community_prefixes:
                    self._community_prefixes[address] = fingerprints.community_prefix_hash(
                        self._community_key, address
                    )
                row["ip_prefix_community_hash"] = self._community_prefixes[address]
        headers = row.pop("sdk_headers", None)
        if not row.get("sdk_fingerprint"):
            row["sdk_fingerprint"] = sdk_fingerprint(headers, row.get("user_agent"))
        system = row.pop("system_text", None)
        if system and not row.get("system_prompt_hash"):
            row["system_prompt_hash"] = fingerprints.prompt_hash(system)
        if len(self._key_hashes) > 1_000_000:  # the caches are a speed-up, never a memory leak
            self._key_hashes.clear()
        if len(self._ip_hashes) > 1_000_000:
            self._ip_hashes.clear()

    @staticmethod
    def _fingerprint(pending: dict[str, list[dict[str, Any]]]) -> None:
        """Each distinct prompt text is fingerprinted once per batch."""
        texts = list(pending)
        hashes, skeletons, signatures = fingerprints.fingerprint_batch(texts)
        for text, h, s, m in zip(texts, hashes, skeletons, signatures, strict=True):
            for row in pending[text]:
                row["prompt_hash"], row["skeleton_hash"], row["prompt_minhash"] = h, s, m
                row["fingerprint_version"] = fingerprints.FINGERPRINT_VERSION

    def _privacy(self, row: dict[str, Any]) -> None:
        for column in ("prompt_text", "context_text", "response_text"):
            text = row.get(column)
            if text is None:
                continue
            if not self.keep_text:
                row[column] = None
            elif len(text) > self.max_chars:
                row[column] = text[: self.max_chars]


def quarantine_row(
    file: str,
    line: int | None,
    offset: int | None,
    source_format: str | None,
    reason: str,
    raw: bytes | str | dict[str, Any] | None,
) -> dict[str, Any]:
    if isinstance(raw, bytes):
        excerpt: str | None = raw[: EXCERPT_CHARS * 4].decode("utf-8", "replace")[:EXCERPT_CHARS]
    elif isinstance(raw, dict):
        excerpt = repr(raw)[:EXCERPT_CHARS]
    else:
        excerpt = raw[:EXCERPT_CHARS] if raw else None
    return {
        "file": file,
        "line": line,
        "byte_offset": offset,
        "source_format": source_format,
        "reason": reason[:1000],
        "raw_excerpt": excerpt,
        "quarantined_at": datetime.now(UTC),
    }


def quarantine_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=QUARANTINE)
