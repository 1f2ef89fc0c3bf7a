"""Proxy ranges partners can match: the client prefix under the community key.

Two providers keep different local secrets (their own hashes never match each other's)
but share one community key, so the same /24 gets the same community hash on both
sides, on the SQL paths (the canonical fast path, the mapped formats) and on the
line-by-line adapters alike: the fixtures are small, so they take the adapters unless the
small-file rule (``run.SQL_MIN_RECORDS``) is lifted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from distillguard import fingerprints as fp
from distillguard.config import load_config
from distillguard.ingest import ingest_paths, run
from distillguard.intel.privacy import community_hash
from distillguard.warehouse import Warehouse

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
COMMUNITY = "shared-by-the-sharing-community"


def _prefix_hashes(tmp_path: Path, name: str, local_secret: str, community: str) -> dict[str, tuple]:
    config = load_config(
        db_path=str(tmp_path / f"{name}.duckdb"), hmac_secret=local_secret, intel_community_key=community
    )
    with Warehouse.open(config.db_path) as wh:
        ingest_paths(
            wh, [FIXTURES / "canonical.jsonl", FIXTURES / "openai.jsonl"], config=config, progress=False
        )
        rows = wh.engine.to_arrow(
            "SELECT event_id, source_format, ip_prefix_hash, ip_prefix_community_hash FROM events "
            "WHERE client_ip_hash IS NOT NULL"
        ).to_pylist()
    return {
        r["event_id"]: (r["source_format"], r["ip_prefix_hash"], r["ip_prefix_community_hash"]) for r in rows
    }


@pytest.mark.parametrize("path", ["adapters", "sql"])
def test_same_community_key_matches_across_providers_whose_local_hashes_differ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    if path == "sql":
        monkeypatch.setattr(run, "SQL_MIN_RECORDS", {})
    a = _prefix_hashes(tmp_path, "a", "provider-a-local", COMMUNITY)
    b = _prefix_hashes(tmp_path, "b", "provider-b-local", COMMUNITY)
    assert {fmt for fmt, _, _ in a.values()} >= {"canonical", "openai"}
    for event_id, (_, local_a, community_a) in a.items():
        _, local_b, community_b = b[event_id]
        assert community_a is not None and community_a == community_b
        assert local_a != local_b


def test_community_prefix_hash_is_what_intel_shares_and_matches() -> None:
    key = COMMUNITY.encode()
    assert fp.community_prefix_hash(key, "192.0.2.44") == community_hash(key, "ip_prefix", "192.0.2.0/24")
    assert fp.community_prefix_hash(key, "192.0.2.44") == fp.community_prefix_hash(key, "192.0.2.200")
    assert fp.community_prefix_hash(None, "192.0.2.44") is None


def test_no_community_key_means_nothing_shareable_is_stored(tmp_path: Path) -> None:
    rows = _prefix_hashes(tmp_path, "c", "local", "")
    assert rows and all(value is None for _, _, value in rows.values())
