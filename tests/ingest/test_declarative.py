"""Adapters executed by DuckDB (``ingest/declarative.py``) store exactly what the Python
adapters store: same rows, same quarantine, same counts, for every record shape."""

from __future__ import annotations

import copy
import gzip
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.config import Config
from distillguard.ingest import fastpath, ingest_paths, run, sources
from distillguard.ingest.run import MAPPED_FORMATS
from distillguard.warehouse import Warehouse

from .helpers import FIXTURES, events_by_id, quarantine_rows, write_lines
from .langfuse_export import observations


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny simulated traffic in every format (about 3-5k records each)."""
    out = tmp_path_factory.mktemp("sim")
    formats = ",".join(f for f in MAPPED_FORMATS if f != "langfuse")  # the simulator writes none
    result = CliRunner().invoke(
        app,
        ["simulate", "--preset", "tiny", "--seed", "5", "--formats", formats, "--out", str(out), "--quiet"],
    )
    assert result.exit_code == 0, result.output[-2000:]
    return out / "traffic"


def _records(path: Path) -> Iterator[dict[str, Any]]:
    with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _set(record: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(record)
    target = changed
    *path, last = dotted.split(".")
    for step in path:
        target = target.setdefault(step, {})
    target[last] = value
    return changed


# Shapes the SQL mapping must either map exactly or leave to the Python adapter.
ODD_LITELLM = {
    "id as number": ("id", 12345),
    "id blank": ("id", "  "),
    "id missing": ("id", None),
    "account missing": ("metadata", {}),
    "account as float": ("metadata.user_api_key_org_id", 1.5),
    "account as bool": ("metadata.user_api_key_org_id", True),
    "start as text": ("startTime", "2026-02-01T10:00:00Z"),
    "start as int ms": ("startTime", 1770000000123),
    "start ns": ("startTime", 1770000000123456789),
    "start half microsecond": ("startTime", 1770000000.0078125),
    "start out of range": ("startTime", 10.0),
    "end empty": ("endTime", ""),
    "end missing, response_time": ("endTime", None),
    "tokens as text": ("prompt_tokens", "80"),
    "tokens as float": ("completion_tokens", 4.0),
    "tokens huge": ("completion_tokens", 2**70),
    "cost as text": ("response_cost", "0.1"),
    "stream as text": ("stream", "yes"),
    "stream as number": ("stream", 0),
    "status failure": ("status", "failure"),
    "status odd": ("status", 7),
    "error code text": ("error_information", {"error_code": "503", "error_class": "Unavailable"}),
    "error code padded": ("error_information", {"error_code": " 503"}),
    "error code zero": ("error_information", {"error_code": 0}),
    "messages as text": ("messages", "just a string"),
    "messages odd content": ("messages", [{"role": "user", "content": 42}]),
    "messages parts": (
        "messages",
        [
            {"role": "system", "content": [{"type": "text", "text": "sys"}, "raw"]},
            {"role": "user", "parts": [{"text": "a"}, {"type": "image_url"}, {"content": "b"}]},
            {"role": "user", "content": None},
            {"role": "user", "content": {"type": "input_text", "text": ""}},
            "not a message",
        ],
    ),
    "response error": ("response", {"error": {"message": "x"}}),
    "response error null": ("response", {"error": None, "model": "m", "usage": {"prompt_tokens": 3}}),
    "response as text": ("response", "upstream timed out"),
    "response choices odd": ("response", {"choices": {"message": {"content": "x"}}, "usage": [1]}),
    "response choice not object": ("response", {"choices": ["x"], "model": 7}),
    "messages null content beside parts": (
        "messages",
        [
            {"role": "user", "content": None, "parts": [{"text": "hidden"}]},
            {"role": "user", "content": "seen"},
        ],
    ),
    "messages parts only": ("messages", [{"role": "user", "parts": [{"text": "from parts"}]}]),
    "messages role odd": ("messages", [{"role": 5, "content": "x"}, {"role": "user", "content": "y"}]),
    "response anthropic": ("response", {"type": "message", "content": [{"type": "text", "text": "hi"}]}),
    "headers upper": (
        "metadata.requester_custom_headers",
        {"User-Agent": "Foo/1.0 bar", "X-Stainless-Lang": ""},
    ),
    "headers list": ("metadata.requester_custom_headers", {"user-agent": ["curl/8"], "x-stainless-os": 5}),
    "headers dup": ("metadata.requester_custom_headers", {"User-Agent": "a/1", "user-agent": "b/2"}),
    "headers odd": ("metadata.requester_custom_headers", {"x-stainless-lang": {"a": 1}}),
    "ua unicode": ("metadata.user_agent", "ÜberClient/1"),
    "attrs list": ("request_tags", ["a", "b"]),
    "attrs float": ("model_id", 1.5),
    "text control chars": ("messages", [{"role": "user", "content": "a\u0000b\u0085c"}]),
    "params odd": ("model_parameters", {"temperature": "hot", "max_tokens": 1.5}),
    "params n huge": ("model_parameters", {"n": 2**40}),
    "params effort": (
        "model_parameters",
        {"reasoning": {"effort": "HIGH"}, "logprobs": False, "top_logprobs": 3},
    ),
    "call type odd": ("call_type", False),
    "call type other": ("call_type", "embedding"),
}


def _both_paths(
    config: Config,
    tmp_path: Path,
    path: Path,
    monkeypatch: pytest.MonkeyPatch,
    routed: list[int] | None = None,
    *,
    duckdb_reads: bool = True,
) -> tuple[Any, Any]:
    """(report, rows, quarantine) through the SQL mapping, then through the Python adapter;
    ``routed`` collects the record numbers the SQL mapping left to Python."""
    results = []
    read_records = run._read_records

    def spy(*args: Any) -> None:
        (routed if routed is not None else []).extend(args[-1])
        read_records(*args)

    staged: list[fastpath.Staged | None] = []
    stage_file = fastpath.stage_file

    def staged_spy(*args: Any, **kwargs: Any) -> fastpath.Staged | None:
        staged.append(stage_file(*args, **kwargs))
        return staged[-1]

    for name, fast in (("sql", True), ("python", False)):
        cfg = config.with_overrides(db_path=str(tmp_path / f"{name}.duckdb"))
        with monkeypatch.context() as patch:
            patch.setattr(run, "_read_records", spy)
            patch.setattr(run, "SQL_FORMATS", (*run.SQL_FORMATS, *MAPPED_FORMATS))
            patch.setattr(fastpath, "stage_file", staged_spy)
            if not fast:
                patch.setattr(sources, "kind", lambda *_: None)
            with Warehouse.open(cfg.db_path) as wh:
                report = ingest_paths(wh, [path], config=cfg, progress=False)
                quarantine = [
                    {k: r[k] for k in ("file", "line", "byte_offset", "reason")} for r in quarantine_rows(wh)
                ]
                results.append((report, events_by_id(wh), quarantine))
    assert len(staged) == 1  # the SQL path was tried once, the Python path never
    assert (staged[0] is not None) == duckdb_reads  # DuckDB read the file, or refused it whole
    return results[0], results[1]


def _assert_same(sql: Any, python: Any) -> None:
    (sql_report, sql_rows, sql_quarantine), (py_report, py_rows, py_quarantine) = sql, python
    counts = ("read", "stored", "duplicates", "quarantined")
    assert [getattr(sql_report, c) for c in counts] == [getattr(py_report, c) for c in counts]
    assert sql_report.reconciles
    assert sql_quarantine == py_quarantine
    assert sql_rows.keys() == py_rows.keys()
    for event_id, row in py_rows.items():
        different = {k: (sql_rows[event_id][k], v) for k, v in row.items() if sql_rows[event_id][k] != v}
        assert not different, (event_id, different)


@pytest.mark.parametrize("fmt", MAPPED_FORMATS)
def test_sql_and_python_adapters_store_identical_rows_for_simulated_traffic(
    fmt: str, simulated: Path, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = sorted(simulated.glob(f"{'litellm' if fmt == 'langfuse' else fmt}-*"))
    # 2,000 records keep the test short; the stage's memory does not depend on the count
    records = [r for f in files for r in _records(f)][:2000]
    if fmt == "langfuse":  # as LiteLLM's Langfuse logger would have exported them
        records = list(observations(records))
    fixtures = sorted(FIXTURES.glob(f"{fmt}*.jsonl"))  # OTel: one per generation of the conventions
    lines = [line for f in fixtures for line in f.read_text().splitlines()] + [json.dumps(r) for r in records]
    path = write_lines(tmp_path / f"{fmt}.jsonl", lines)
    routed: list[int] = []
    sql, python = _both_paths(config, tmp_path, path, monkeypatch, routed)
    assert sql[0].stored > 1000
    assert len(routed) < 0.05 * len(lines)  # SQL maps what the gateway writes; Python reads the odd rest
    _assert_same(sql, python)


# The independent generator (../shared/eval, its README): its traffic is read at test time, never
# copied here, and only to hold the two paths to the same rows.
EXTERNAL = Path(__file__).resolve().parents[3] / "shared" / "eval" / "external_traffic.py"


@pytest.fixture(scope="module")
def external(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not EXTERNAL.is_file():
        pytest.skip(f"external generator not found at {EXTERNAL}")
    out = tmp_path_factory.mktemp("external")
    command = [sys.executable, str(EXTERNAL), "--out", str(out), "--seed", "7", "--scale", "0.02", "-q"]
    subprocess.run(command, check=True, timeout=300)
    return out


@pytest.mark.parametrize("fmt", [f for f in MAPPED_FORMATS if f in ("litellm", "openai", "langfuse")])
def test_sql_and_python_adapters_store_identical_rows_for_external_traffic(
    fmt: str, external: Path, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The external generator writes LiteLLM and OpenAI logs (no OTel spans); its LiteLLM
    payloads are also rendered as Langfuse observations."""
    source = "litellm" if fmt == "langfuse" else fmt
    with (external / f"gateway.{source}.jsonl").open() as handle:
        lines = [line.rstrip("\n") for _, line in zip(range(1500), handle, strict=False)]
    if fmt == "langfuse":
        lines = [json.dumps(o) for o in observations(json.loads(line) for line in lines if line.strip())]
    path = write_lines(tmp_path / f"{fmt}.jsonl", list(lines))
    routed: list[int] = []
    sql, python = _both_paths(config, tmp_path, path, monkeypatch, routed)
    assert sql[0].stored > 1000
    assert len(routed) < 0.05 * len(lines)
    _assert_same(sql, python)


def test_sql_mapping_of_litellm_agrees_on_odd_records(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = next(_records(FIXTURES / "litellm.jsonl"))
    lines = [json.dumps(base)]
    for i, (dotted, value) in enumerate(ODD_LITELLM.values()):
        record = _set(base, dotted, value)
        if dotted != "id" or value not in (None,):
            record.setdefault("id", None)
        if dotted != "id":
            record["id"] = f"odd-{i}"
        if value is None:
            record = _set(record, dotted, None)
        lines.append(json.dumps(record))
    lines.append(json.dumps(base))  # a duplicate
    path = write_lines(tmp_path / "odd.jsonl", lines)
    routed: list[int] = []
    sql, python = _both_paths(config, tmp_path, path, monkeypatch, routed)
    mapped_by_sql = {name for i, name in enumerate(ODD_LITELLM, start=2) if i not in routed}
    assert {"start half microsecond", "messages parts", "headers upper", "stream as number"} <= mapped_by_sql
    assert {"messages parts only", "response as text", "response choices odd"} <= mapped_by_sql
    assert sql[0].stored > len(ODD_LITELLM) // 2 and sql[0].quarantined > 0 and sql[0].duplicates == 1
    _assert_same(sql, python)


ODD_OPENAI = {
    "id as number": ("id", 12345),
    "id blank": ("id", " "),
    "account as bool": ("account_id", True),
    "timestamp epoch ms": ("timestamp", 1770026400123),
    "timestamp epoch float": ("timestamp", 1770026400.0078125),
    "timestamp digits text": ("timestamp", "1770026400"),
    "timestamp naive": ("timestamp", "2026-02-02T10:00:00"),
    "timestamp offset": ("timestamp", "2026-02-02T12:00:00.25+02:00"),
    "timestamp nanoseconds": ("timestamp", "2026-02-02T10:00:00.123456789Z"),
    "timestamp missing, created_at": ("timestamp", None),
    "timestamp out of range": ("timestamp", "1970-01-02T00:00:00Z"),
    "latency fine": ("latency_ms", 12.3456789),
    "latency text": ("latency_ms", "250"),
    "latency int": ("latency_ms", 250),
    "status code text": ("status_code", "503"),
    "status code error": ("status_code", 429),
    "status code huge": ("status_code", 2**40),
    "endpoint trailing slash": ("endpoint", "/v1/messages/"),
    "endpoint missing": ("endpoint", None),
    "endpoint number": ("endpoint", 7),
    "unknown key": ("x_trace", "abc"),
    "unknown key null": ("x_trace", None),
    "headers upper": ("headers", {"User-Agent": "Foo/1.0", "X-Session-Id": "s-1"}),
    "headers list": ("headers", {"user-agent": ["curl/8"], "x-stainless-os": 5}),
    "headers dup": ("headers", {"User-Agent": "a/1", "user-agent": "b/2"}),
    "headers empty ua": ("headers", {"user-agent": ""}),
    "headers odd": ("headers", {"x-stainless-lang": {"a": 1}}),
    "session from header": ("headers", {"x-session-id": "sess-9"}),
    "session object": ("session_id", {"a": 1}),
    "request as list": ("request", [1]),
    "request missing": ("request", None),
    "request system and messages": (
        "request",
        {"system": "be brief", "messages": [{"role": "user", "content": "hi"}]},
    ),
    "request system list": ("request.system", [{"type": "text", "text": "sys"}, {"type": "image"}]),
    "request system number": ("request.system", 5),
    "request thinking": ("request.thinking", {"type": "enabled", "budget_tokens": 3000}),
    "request thinking big": ("request.thinking", {"type": "enabled", "budget_tokens": 9000}),
    "request thinking text budget": ("request.thinking", {"type": "enabled", "budget_tokens": "9000"}),
    "request messages text": ("request.messages", "hello there"),
    "request messages parts": ("request.messages", [{"role": "user", "parts": [{"text": "p"}]}]),
    "request messages null beside parts": (
        "request.messages",
        [{"role": "user", "content": None, "parts": [{"text": "hidden"}]}],
    ),
    "request tools": ("request.tools", [{"type": "function"}, {"type": "function"}]),
    "request effort nested": ("request.reasoning", {"effort": "low"}),
    "request user in metadata": ("request.metadata", {"user_id": "u-7"}),
    "request params odd": ("request.temperature", "hot"),
    "request logprobs top": ("request.top_logprobs", 3),
    "request stream text": ("request.stream", "yes"),
    "response error": ("response", {"error": {"type": "rate_limit", "message": "slow down"}}),
    # as a Parquet export holds it: Python reads the record as failed only without choices
    "response error null": ("response.error", None),
    "response error null alone": ("response", {"error": None, "model": "m"}),
    "request error null": ("request.error", None),
    "response as text": ("response", "upstream timed out"),
    "response message type": ("response.type", "message"),
    "response stop reason": ("response.stop_reason", "max_tokens"),
    "response usage odd": ("response.usage", [1, 2]),
    "response content number": ("response.content", 5),
}


@pytest.mark.parametrize("base_line", [0, 1], ids=["chat-completions", "anthropic-messages"])
def test_sql_mapping_of_openai_log_agrees_on_odd_records(
    base_line: int, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = list(_records(FIXTURES / "openai.jsonl"))[base_line]
    lines = [json.dumps(base)]
    for i, (dotted, value) in enumerate(ODD_OPENAI.values()):
        record = _set(base, dotted, value)
        if dotted not in ("id",):
            record["id"] = f"odd-{i}"
        if dotted == "timestamp" and value is None:
            record["created_at"] = 1770026400  # read when timestamp is absent (and kept as an attr)
        lines.append(json.dumps(record))
    lines.append(json.dumps(base))  # a duplicate
    path = write_lines(tmp_path / "odd.jsonl", lines)
    routed: list[int] = []
    sql, python = _both_paths(config, tmp_path, path, monkeypatch, routed)
    mapped_by_sql = {name for i, name in enumerate(ODD_OPENAI, start=2) if i not in routed}
    assert {"timestamp offset", "latency int", "headers upper", "request thinking", "response as text"} <= (
        mapped_by_sql
    )
    if base_line == 0:  # a Chat Completions response has choices
        assert {"response error null", "request error null"} <= mapped_by_sql
    assert "response error null alone" not in mapped_by_sql
    assert sql[0].stored > len(ODD_OPENAI) // 2 and sql[0].duplicates == 1
    _assert_same(sql, python)


ODD_LANGFUSE = {
    "type span": ("type", "SPAN"),
    "type lower generation": ("type", "generation"),
    "type missing": ("type", None),
    "type empty": ("type", ""),
    "type number": ("type", 7),
    "type float": ("type", 1.5),
    "type object": ("type", {"a": 1}),
    "id as number": ("id", 12345),
    "id blank": ("id", "  "),
    "id missing": ("id", None),
    "user as number": ("userId", 42),
    "user as bool": ("userId", True),
    "user blank": ("userId", " "),
    "user missing, metadata account": ("metadata", {"account_id": "acct-meta", "client_ip": "10.0.0.1"}),
    "user missing, litellm org": ("metadata", {"user_api_key_org_id": "org-9", "user_api_key_hash": "h"}),
    "user missing, none": ("metadata", {"client_ip": "10.0.0.1"}),
    "start snake case": ("startTime", None),
    "start epoch ms": ("startTime", 1770106400123),
    "start epoch float": ("startTime", 1770106400.0078125),
    "start naive": ("startTime", "2026-02-03T08:00:00"),
    "start clickhouse": ("startTime", "2026-02-03 08:00:00.125"),
    "start space offset": ("startTime", "2026-02-03 10:00:00+02:00"),
    "start offset": ("startTime", "2026-02-03T10:00:00.25+02:00"),
    "start nanoseconds": ("startTime", "2026-02-03T08:00:00.123456789Z"),
    "start out of range": ("startTime", "1970-01-02T00:00:00Z"),
    "end empty": ("endTime", ""),
    "end missing": ("endTime", None),
    "end unreadable": ("endTime", "soon"),
    "params numbers": ("modelParameters", {"temperature": 0.5, "max_tokens": 300, "stream": False}),
    "params padded": ("modelParameters", {"temperature": " 0.3", "max_tokens": "300.9", "stream": " YES "}),
    "params exponent": ("modelParameters", {"temperature": "3e-1", "max_tokens": "1e3"}),
    "params odd": ("modelParameters", {"temperature": "hot", "n": 1.5, "stream": "ja"}),
    "params text": ("modelParameters", '{"temperature": 0.1}'),
    "params pairs": ("modelParameters", [["temperature", "0.2"]]),
    "params effort and tools": (
        "modelParameters",
        {"reasoning": {"effort": "high"}, "tools": [{"type": "function"}], "top_logprobs": "3"},
    ),
    "params user": ("modelParameters", {"metadata": {"user_id": "eu-7"}, "model": "other"}),
    "usage legacy": ("usageDetails", None),
    "usage text": ("usageDetails", "41"),
    "usage odd": ("usageDetails", {"input": "41", "output": 2.5}),
    "usage reasoning": ("usageDetails", {"input": 1, "output_reasoning_tokens": 7, "input_cached_tokens": 3}),
    "cost legacy": ("costDetails", None),
    "cost text": ("costDetails", {"total": "0.1"}),
    "input text": ("input", "Tell me a story"),
    "input text json": ("input", "[1, 2]"),
    "input text number": ("input", "  42"),
    "input json as text": ("input", json.dumps([{"role": "user", "content": "as text"}], indent=1)),
    "input json as text, null content": (
        "input",
        json.dumps(
            [
                {"role": "assistant", "content": None, "parts": [{"text": "x"}]},
                {"role": "user", "content": "q"},
            ]
        ),
    ),
    "input json as text, trailing comma": ("input", '[{"role": "user", "content": "x"},]'),
    "input json as text, NaN": ("input", '[{"role": "user", "content": "x", "w": NaN}]'),
    "input json as text, broken": ("input", '[{"role": "user"'),
    "output json as text": ("output", '{"role": "assistant", "content": "from text"}'),
    "input wrapper": ("input", {"messages": [{"role": "user", "content": "wrapped"}]}),
    "input wrapper odd": ("input", {"messages": "x"}),
    "input one message": ("input", {"role": "user", "content": "alone"}),
    "input object": ("input", {"query": "what"}),
    "input number": ("input", 5),
    "input parts": (
        "input",
        [
            {"role": "system", "content": [{"type": "text", "text": "sys"}]},
            {"role": "user", "parts": [{"text": "a"}]},
            {"role": "assistant", "content": None, "tool_calls": []},
            {"role": "user", "content": "b"},
        ],
    ),
    "input null beside parts": ("input", [{"role": "user", "content": None, "parts": [{"text": "hidden"}]}]),
    "input odd content": ("input", [{"role": "user", "content": 42}]),
    "output text": ("output", "plain answer"),
    "output text json": ("output", '{"content": "x"}'),
    "output empty": ("output", ""),
    "output text key": ("output", {"text": "from text"}),
    "output null content": ("output", {"content": None, "text": "hidden"}),
    "output parts": ("output", {"content": [{"type": "output_text", "text": "p1"}, {"type": "image"}]}),
    "output choices": ("output", {"choices": [{"message": {"content": "c"}, "finish_reason": "stop"}]}),
    "output list": ("output", [{"content": "a"}, "b", {"content": ""}, {"role": "x"}]),
    "output list odd": ("output", [1, None]),
    "output number": ("output", 3),
    "level error": ("level", "ERROR"),
    "level number": ("level", 5),
    "status message": ("statusMessage", "upstream failed"),
    "status message object": ("statusMessage", {"code": 1}),
    "metadata nested": (
        "metadata",
        {"tags": ["a", "b"], "deep": {"k": "v: w, x", "n": [1, None, True]}, "empty": {}, "none": None},
    ),
    "metadata float": ("metadata", {"score": 0.5}),
    "metadata nested float": ("metadata", {"deep": {"score": 0.5}}),
    "metadata text": ("metadata", '{"account_id": "x"}'),
    "metadata control": ("metadata", {"deep": {"k": "a\u0001b"}}),
    "metadata unicode": ("metadata", {"deep": {"k": 'é " \\ / \n'}}),
    "headers": ("metadata", {"headers": {"User-Agent": "Foo/1.0", "X-Stainless-Lang": "python"}}),
    "headers odd": ("metadata", {"requester_custom_headers": {"x-stainless-lang": {"a": 1}}}),
    "headers dup": ("metadata", {"headers": {"User-Agent": "a/1", "user-agent": "b/2"}}),
    "extra keys": ("extra", {"a": [1, 2], "b": "c"}),
    "extra float": ("extra", 1.5),
    "extra null": ("extra", None),
    "project": ("projectId", "lf-p"),
    "session missing": ("sessionId", None),
}


def test_sql_mapping_of_langfuse_agrees_on_odd_records(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = next(_records(FIXTURES / "langfuse.jsonl"))
    lines = [json.dumps(base)]
    for i, (dotted, value) in enumerate(ODD_LANGFUSE.values()):
        record = _set(base, dotted, value)
        if dotted != "id":
            record["id"] = f"odd-{i}"
        if dotted == "startTime" and value is None:
            record["start_time"] = "2026-02-03T08:00:01Z"
        if dotted == "metadata" and "user" in list(ODD_LANGFUSE)[i]:
            record["userId"] = None
        lines.append(json.dumps(record))
    lines.append(json.dumps(base))  # a duplicate
    lines.append("[1, 2]")  # not an object
    path = write_lines(tmp_path / "odd.jsonl", lines)
    routed: list[int] = []
    sql, python = _both_paths(config, tmp_path, path, monkeypatch, routed)
    assert len(lines) in routed
    mapped_by_sql = {name for i, name in enumerate(ODD_LANGFUSE, start=2) if i not in routed}
    assert {"type span", "type missing", "type number", "user missing, none"} <= mapped_by_sql
    assert {"params numbers", "params padded", "input text", "input wrapper", "output list"} <= mapped_by_sql
    assert {"metadata nested", "metadata unicode", "start offset", "output null content"} <= mapped_by_sql
    assert {"start naive", "start clickhouse", "start space offset"} <= mapped_by_sql
    assert {
        "input json as text",
        "input text json",
        "output json as text",
        "output text json",
    } <= mapped_by_sql
    assert sql[0].stored > len(ODD_LANGFUSE) // 2 and sql[0].quarantined > 5 and sql[0].duplicates == 1
    _assert_same(sql, python)


@pytest.mark.parametrize("where", ["metadata", "record"])
def test_a_langfuse_key_twice_sends_its_file_to_the_adapter_with_the_same_results(
    where: str, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """json.dumps cannot write a key twice; Python keeps the last value, DuckDB refuses the file."""
    base = next(_records(FIXTURES / "langfuse.jsonl"))
    lines = [json.dumps({**base, "id": f"r-{i}"}) for i in range(5)]
    if where == "metadata":
        lines[2] = lines[2].replace('"metadata": {', '"metadata": {"client_ip": "10.9.9.9", ', 1)
    else:
        lines[2] = lines[2].replace('"id": "r-2"', '"id": "r-2", "name": "first"', 1)
    path = write_lines(tmp_path / "twice.jsonl", lines)
    sql, python = _both_paths(config, tmp_path, path, monkeypatch, duckdb_reads=False)
    assert sql[0].stored == 5
    _assert_same(sql, python)


@pytest.mark.parametrize("fmt", MAPPED_FORMATS)
@pytest.mark.parametrize("damage", ["bad bytes", "malformed line", "truncated gzip"])
def test_files_duckdb_cannot_read_fall_back_to_the_adapter_with_the_same_results(
    fmt: str, damage: str, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = next(_records(sorted(FIXTURES.glob(f"{fmt}*.jsonl"))[0]))
    lines: list[bytes] = []
    for i in range(400):
        record = copy.deepcopy(base)
        if fmt == "otel":  # one span per record, its id the event id
            spans = record["resourceSpans"][0]["scopeSpans"][0]["spans"]
            record["resourceSpans"][0]["scopeSpans"][0]["spans"] = [{**spans[0], "spanId": f"r-{i}"}]
        else:
            record["id"] = f"r-{i}"
        lines.append(json.dumps(record).encode())
    if damage == "bad bytes":
        lines[150] = lines[150].replace(b'"r-150"', b'"r-\xff150"')  # not UTF-8
    elif damage == "malformed line":
        lines[150] = b'{"id": "r-150", '
    data = b"".join(line + b"\n" for line in lines)
    path = tmp_path / f"{fmt}.jsonl"
    if damage == "truncated gzip":
        packed = gzip.compress(data)
        path = tmp_path / f"{fmt}.jsonl.gz"
        path.write_bytes(packed[: len(packed) * 2 // 3])
    else:
        path.write_bytes(data)
    sql, python = _both_paths(config, tmp_path, path, monkeypatch, duckdb_reads=False)
    assert 0 < sql[0].stored < 400 and sql[0].quarantined >= 1
    _assert_same(sql, python)
