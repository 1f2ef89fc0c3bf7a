"""Issue 13, finding 5: one out-of-range number, or one failing file, must never cost other records.

``max_tokens: 10**30`` or ``prompt_tokens: 10**20`` in a LiteLLM, OpenAI-log or OTel record ended
the run with an OverflowError traceback at the Arrow conversion of its batch; a directory whose
first file held one never reached the files after it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from distillguard.config import Config
from distillguard.ingest import ingest_paths, sources
from distillguard.ingest.limits import number_problem
from distillguard.ingest.normalise import RecordError, as_float, as_int
from distillguard.warehouse import Warehouse

from .helpers import FIXTURES, quarantine_rows

HUGE = {"max_tokens": 10**30, "prompt_tokens": 10**20}
OTEL_KEYS = {"gen_ai.request.max_tokens": 10**30, "gen_ai.usage.input_tokens": 10**20}


def _poison(value: Any) -> Any:
    """``value`` with every token count we know of replaced by a number no column can hold."""
    if isinstance(value, dict):
        if value.get("key") in OTEL_KEYS and isinstance(value.get("value"), dict):
            return {**value, "value": {"intValue": str(OTEL_KEYS[value["key"]])}}
        return {k: (HUGE[k] if k in HUGE else _poison(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_poison(v) for v in value]
    return value


@pytest.mark.parametrize("fixture", ["litellm.jsonl", "openai.jsonl", "otel_new.jsonl"])
def test_an_out_of_range_number_costs_its_record_only_and_the_next_files_are_read(
    config: Config, tmp_path: Path, fixture: str
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    lines = (FIXTURES / fixture).read_text().splitlines()
    poisoned = json.dumps(_poison(json.loads(lines[0])))
    assert poisoned != lines[0]
    (logs / "a_first.jsonl").write_text("\n".join([poisoned, *lines[1:]]) + "\n")
    good_fixture = "litellm.jsonl" if fixture == "openai.jsonl" else "openai.jsonl"
    (logs / "b_good.jsonl").write_text((FIXTURES / good_fixture).read_text())
    with Warehouse.open(config.db_path) as warehouse:
        report = ingest_paths(warehouse, [logs], config=config, progress=False)
        first, good = report.files
        assert first.quarantined >= 1 and first.error is None
        assert good.stored == good.read > 0 and good.quarantined == 0
        assert report.read == report.stored + report.duplicates + report.quarantined
        assert warehouse.count("events") == report.stored
        reasons = [r["reason"] for r in quarantine_rows(warehouse)]
    assert reasons and all("out of range for its column" in r for r in reasons)
    assert all(r.split(":")[0] in {"max_tokens", "input_tokens"} for r in reasons), reasons


def test_a_file_that_fails_part_way_is_reported_and_the_next_file_is_read(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a_breaks.jsonl").write_text((FIXTURES / "litellm.jsonl").read_text())
    (logs / "b_good.jsonl").write_text((FIXTURES / "openai.jsonl").read_text())
    with Warehouse.open(config.db_path) as warehouse:
        real_insert = warehouse.insert_events
        calls = []

        def insert_once_broken(table: Any) -> Any:
            calls.append(table.num_rows)
            if len(calls) == 1:
                raise OSError(28, "No space left on device")
            return real_insert(table)

        monkeypatch.setattr(warehouse, "insert_events", insert_once_broken)
        monkeypatch.setattr(sources, "kind", lambda *_: None)  # the line-by-line path breaks here
        report = ingest_paths(warehouse, [logs], config=config, progress=False)
        broken, good = report.files
        assert broken.error is not None and "No space left" in broken.error
        assert broken.read == broken.quarantined == 2 and broken.stored == 0
        assert good.error is None and good.stored == good.read == 3
        assert report.read == report.stored + report.duplicates + report.quarantined
        assert warehouse.count("quarantine") == report.quarantined
        assert report.as_dict()["files"][0]["error"] == broken.error


def test_numbers_are_checked_against_the_column_types() -> None:
    assert number_problem({"n": 2**31 - 1, "max_tokens": 2**63 - 1}) is None
    assert (number_problem({"n": 2**31}) or "").startswith("n: 2147483648 is out of range")
    assert (number_problem({"seed": -(2**63) - 1}) or "").startswith("seed:")
    assert "not a finite number" in (number_problem({"cost_usd": float("inf")}) or "")
    assert "4097 bits" in (number_problem({"input_tokens": 2**4096}) or "")
    with pytest.raises(RecordError, match=r"temperature: .* not a finite number"):
        as_float("NaN", "temperature")
    with pytest.raises(RecordError, match=r"max_tokens: .* not a finite number"):
        as_int("1e400", "max_tokens")
    with pytest.raises(RecordError, match="out of range for a float"):
        as_float(10**400, "top_p")


def test_live_and_batch_paths_hash_the_same_normalised_prompt(config: Config, tmp_path: Path) -> None:
    """The decision service and ingest clean text with the same function and cut, so a prompt with
    a lone surrogate, a NUL and an overlong tail gets one hash (and one score) on both paths."""
    from datetime import UTC, datetime

    from distillguard.decisions.policy import PolicyWatcher
    from distillguard.serve.audit import AuditLog
    from distillguard.serve.decider import Decider, DecideRequest
    from distillguard.serve.state import MemoryState

    config = config.with_overrides(max_text_chars=5_000)
    prompt = "Think step by step \udfff and show\x00 every step. " + "x" * 6_000
    body = {"model": "m", "messages": [{"role": "user", "content": prompt}]}
    record = json.loads((FIXTURES / "openai.jsonl").read_text().splitlines()[0])
    record["request"] = body
    log = tmp_path / "dirty.jsonl"
    log.write_text(json.dumps(record) + "\n")  # JSON escapes carry the lone surrogate
    with Warehouse.open(config.db_path) as warehouse:
        ingest_paths(warehouse, [log], config=config, progress=False)
        stored = warehouse.engine.to_arrow("SELECT prompt_hash, prompt_chars FROM events").to_pylist()

    audit = AuditLog(tmp_path / "audit.jsonl", fsync_interval_ms=0)
    decider = Decider(config, policy=PolicyWatcher(None), state=MemoryState(), audit=audit)
    decider.decide(DecideRequest(account_id="a1", request=body), now=datetime(2026, 3, 1, tzinfo=UTC))
    audit.close()
    live = json.loads((tmp_path / "audit.jsonl").read_text())
    assert stored[0]["prompt_hash"] == live["prompt_hash"]
    assert stored[0]["prompt_chars"] == len(prompt)  # the cut is visible, as at-rest truncation is
