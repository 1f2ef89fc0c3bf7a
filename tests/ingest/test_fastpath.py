"""The canonical JSONL fast path (DuckDB read + SQL validation) agrees with the line-by-line path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from distillguard.config import Config
from distillguard.ingest import fastpath, ingest_paths, sources
from distillguard.warehouse import Warehouse

from .helpers import FIXTURES, events_by_id, quarantine_rows, write_lines


def _both_paths(
    config: Config, tmp_path: Path, path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Any]:
    results = []
    for name, fast in (("fast", True), ("slow", False)):
        cfg = config.with_overrides(db_path=str(tmp_path / f"{name}.duckdb"))
        with monkeypatch.context() as patch:
            if not fast:
                patch.setattr(sources, "kind", lambda *_: None)
            with Warehouse.open(cfg.db_path) as wh:
                report = ingest_paths(wh, [path], config=cfg, progress=False)
                results.append((report, events_by_id(wh), quarantine_rows(wh)))
    return results[0], results[1]


def _canonical(event_id: str, **fields: Any) -> str:
    row = {"event_id": event_id, "ts_start": "2026-02-01T00:00:00Z", "account_id": "acct", **fields}
    return json.dumps(row)


def test_fast_and_slow_paths_store_the_same_rows(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = (FIXTURES / "canonical.jsonl").read_text().splitlines()
    lines += [
        _canonical("ns", ts_start="1770000000123456789", client_ip="10.1.2.3", api_key_id="k"),
        _canonical("dup", prompt_text="same"),
        _canonical("dup", prompt_text="same again"),
        _canonical(
            "text-only", prompt_text="Write a poem about 42 cats at https://x.example", user_agent="curl/8.1"
        ),
    ]
    path = write_lines(tmp_path / "c.jsonl", lines)
    (fast, fast_rows, _), (slow, slow_rows, _) = _both_paths(config, tmp_path, path, monkeypatch)
    assert (fast.read, fast.stored, fast.duplicates) == (slow.read, slow.stored, slow.duplicates) == (6, 5, 1)
    assert fast_rows.keys() == slow_rows.keys()
    for event_id, row in slow_rows.items():
        other = dict(fast_rows[event_id])
        assert other.pop("ingest_line") is not None
        expected = dict(row)
        expected.pop("ingest_line")
        assert other == expected, event_id
    assert fast_rows["dup"]["prompt_text"] == "same"  # first occurrence wins on both paths


def test_fast_path_quarantines_invalid_rows_in_sql(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_lines(
        tmp_path / "c.jsonl",
        [
            _canonical("ok"),
            _canonical("no-ts", ts_start=None),
            _canonical("bad-ts", ts_start="soon"),
            _canonical("", prompt_text="no id"),
            _canonical("typed", input_tokens="many"),
            json.dumps({"event_id": "no-account", "ts_start": "2026-02-01T00:00:00Z"}),
        ],
    )
    (fast, _, fast_q), (slow, _, slow_q) = _both_paths(config, tmp_path, path, monkeypatch)
    assert (fast.stored, fast.quarantined) == (slow.stored, slow.quarantined) == (1, 5)
    assert [row["line"] for row in fast_q] == [row["line"] for row in slow_q] == [2, 3, 4, 5, 6]
    starts = [sum(len(line) + 1 for line in path.read_text().splitlines()[: n - 1]) for n in (2, 3, 4, 5, 6)]
    assert [row["byte_offset"] for row in fast_q] == [row["byte_offset"] for row in slow_q] == starts
    assert "input_tokens" in fast_q[3]["reason"] and "input_tokens" in slow_q[3]["reason"]


def test_fast_path_falls_back_on_malformed_json(warehouse: Warehouse, config: Config, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "c.jsonl", [_canonical("a"), '{"event_id": "b", ', _canonical("c")])
    report = ingest_paths(warehouse, [path], config=config, progress=False)
    assert (report.stored, report.quarantined) == (2, 1)
    assert quarantine_rows(warehouse)[0]["line"] == 2


def test_fast_path_failure_mid_insert_redoes_the_file_and_counts_stay_right(
    warehouse: Warehouse, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distillguard.engine import SqlError

    real = fastpath.write_staged
    tried: list[bool] = []

    def half_then_fail(wh: Warehouse, staged: fastpath.Staged, **kwargs: Any) -> list[int] | None:
        tried.append(True)
        real(wh, staged, **kwargs)
        wh.engine.execute("DELETE FROM events WHERE event_id <> 'a'")  # as if it stopped after one row
        raise SqlError("INSERT ...", RuntimeError("No space left on device"))

    monkeypatch.setattr(fastpath, "write_staged", half_then_fail)
    path = write_lines(tmp_path / "c.jsonl", [_canonical("a"), _canonical("b"), _canonical("c")])
    report = ingest_paths(warehouse, [path], config=config, progress=False)
    assert tried == [True]  # the SQL path wrote, failed, and the line path redid the file
    assert (report.read, report.stored, report.duplicates) == (3, 3, 0)
    assert warehouse.count("events") == 3


def test_empty_compressed_canonical_file_leaves_a_trace(
    warehouse: Warehouse, config: Config, tmp_path: Path
) -> None:
    import gzip

    path = tmp_path / "empty.jsonl.gz"
    path.write_bytes(gzip.compress(b""))
    report = ingest_paths(warehouse, [path], config=config, source_format="canonical", progress=False)
    assert (report.read, report.quarantined) == (1, 1)
    assert "empty file" in quarantine_rows(warehouse)[0]["reason"]


def test_both_paths_hash_every_kind_of_address_and_key_alike(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    addresses = [
        "10.1.2.3",
        " 10.1.2.4\u00a0",
        "2001:db8:abcd:12::1",
        "::ffff:198.51.100.9",
        "010.1.2.3",
        "nonsense",
        "  ",
    ]
    lines = [
        _canonical(f"e{i}", client_ip=address, api_key_id=f"key-{i % 3}" if i else "")
        for i, address in enumerate(addresses)
    ]
    path = write_lines(tmp_path / "c.jsonl", lines)
    config = config.with_overrides(intel_community_key="community-secret")
    (fast, fast_rows, _), (slow, slow_rows, _) = _both_paths(config, tmp_path, path, monkeypatch)
    columns = ("api_key_hash", "client_ip_hash", "ip_prefix_hash", "ip_prefix_community_hash")
    assert fast.stored == slow.stored == len(addresses)
    for event_id, row in slow_rows.items():
        assert {c: fast_rows[event_id][c] for c in columns} == {c: row[c] for c in columns}, event_id
    assert slow_rows["e0"]["ip_prefix_community_hash"] is not None
    assert slow_rows["e2"]["ip_prefix_hash"] is not None  # IPv6 /48


def test_both_paths_clean_control_characters_and_cut_long_text_alike(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dirty = "a\x00b\x07c\x85d\u200be"  # NUL, BEL and C1 are dropped; U+200B is not a control character
    lines = [
        _canonical("n1", prompt_text=dirty, user_agent="ua\x00x", attrs={"k\x01": "v\x00"}),
        _canonical("n2", prompt_text="x" * 80, response_text="y" * 90, model_requested="m\x1f"),
        _canonical("n3\x00", prompt_text="short"),
    ]
    path = write_lines(tmp_path / "c.jsonl", lines)
    config = config.with_overrides(max_text_chars=60)
    (fast, fast_rows, _), (slow, slow_rows, _) = _both_paths(config, tmp_path, path, monkeypatch)
    assert fast.stored == slow.stored == 3
    assert fast_rows.keys() == slow_rows.keys() == {"n1", "n2", "n3"}
    for event_id, row in slow_rows.items():
        other = dict(fast_rows[event_id])
        expected = dict(row)
        other.pop("ingest_line"), expected.pop("ingest_line")
        assert other == expected, event_id
    assert slow_rows["n1"]["prompt_text"] == "abcd\u200be"
    assert slow_rows["n1"]["attrs"] == {"k": "v"}
    assert (slow_rows["n2"]["prompt_chars"], len(slow_rows["n2"]["prompt_text"])) == (80, 60)
