"""Golden fixtures, one per source format, hand-written from each tool's documented field names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from distillguard import fingerprints
from distillguard.config import Config, deployment_secret
from distillguard.ingest import ingest_paths
from distillguard.warehouse import Warehouse

from .helpers import FIXTURES, events_by_id, quarantine_rows


def _ingest(warehouse: Warehouse, config: Config, name: str, fmt: str | None = None):
    report = ingest_paths(warehouse, [FIXTURES / name], config=config, source_format=fmt, progress=False)
    assert report.read == report.stored + report.duplicates + report.quarantined
    return report


def test_litellm_payload(warehouse: Warehouse, config: Config) -> None:
    report = _ingest(warehouse, config, "litellm.jsonl")
    assert report.files[0].source_format == "litellm"
    events = events_by_id(warehouse)
    ok = events["chatcmpl-9f2c1a7e-0001"]
    secret = deployment_secret(config)
    assert ok["account_id"] == "org-acme"  # org id wins over team, user and key hash
    assert ok["project_id"] == "team-research"
    assert ok["ts_start"] == datetime(2026, 2, 2, 2, 40, 0, 250000, tzinfo=UTC)
    assert ok["latency_ms"] == pytest.approx(1500.0)
    assert ok["model_requested"] == "gpt-4o" and ok["model_served"] == "gpt-4o-2024-08-06"
    assert (ok["input_tokens"], ok["output_tokens"], ok["cached_tokens"]) == (80, 40, 16)
    assert ok["cost_usd"] == pytest.approx(0.00042)
    assert ok["prompt_text"] == "Explain your reasoning step by step."  # last user turn, image part dropped
    assert ok["message_count"] == 4 and ok["tool_count"] == 2
    assert ok["system_prompt_hash"] == fingerprints.prompt_hash("You are a careful tutor.")
    assert (ok["temperature"], ok["max_tokens"], ok["seed"]) == (0.2, 256, 11)
    assert ok["client_ip_hash"] == fingerprints.hash_ip(secret, "203.0.113.17")[0]
    assert ok["ip_prefix_hash"] == fingerprints.hash_ip(secret, "203.0.113.99")[1]  # same /24
    assert (ok["asn"], ok["country"]) == ("AS64500", "DE")
    assert ok["sdk_fingerprint"] == "lang=python;pkg=1.54.3;os=Linux;arch=x64;runtime=CPython/3.12.1"
    assert ok["end_user_id"] == "enduser-9" and ok["session_id"] == "sess-42"
    assert ok["finish_reason"] == "stop" and ok["response_text"] == "First, take two..."
    assert ok["prompt_hash"] == fingerprints.prompt_hash(ok["prompt_text"])
    assert ok["fingerprint_version"] == fingerprints.FINGERPRINT_VERSION
    failed = events["chatcmpl-9f2c1a7e-0002"]
    assert failed["account_id"] == "team-solo"  # org id is null: falls back to the team
    assert failed["status"] == "error" and failed["status_code"] == 429
    assert failed["sdk_fingerprint"] == "ua=curl"
    assert failed["ip_prefix_hash"] == fingerprints.hash_ip(secret, "2001:db8:1234::9")[1]  # same /48


def test_litellm_account_mapping_is_a_setting(warehouse: Warehouse, config: Config) -> None:
    config = config.with_overrides(litellm_account_fields="user_api_key_user_id,user_api_key_team_id")
    _ingest(warehouse, config, "litellm.jsonl")
    assert events_by_id(warehouse)["chatcmpl-9f2c1a7e-0001"]["account_id"] == "user-7"


def test_otel_new_conventions(warehouse: Warehouse, config: Config) -> None:
    report = _ingest(warehouse, config, "otel_new.jsonl")
    assert report.files[0].source_format == "otel" and report.stored == 2  # two spans in one request
    events = events_by_id(warehouse)
    span = events["eee19b7ec3c1b174"]  # spanId, lower-case hex
    assert span["account_id"] == "org-otel"
    assert span["ts_start"] == datetime(2026, 2, 2, 2, 43, 20, tzinfo=UTC)
    assert span["latency_ms"] == pytest.approx(1500.0)
    assert span["prompt_text"] == "Grade this answer on a 1-10 rubric."
    assert span["response_text"] == "Score: 7"
    assert span["system_prompt_hash"] == fingerprints.prompt_hash("You grade answers.")
    assert (span["input_tokens"], span["output_tokens"], span["cached_tokens"]) == (97, 52, 32)
    assert span["session_id"] == "conv-1" and span["tool_count"] == 1 and span["message_count"] == 2
    assert span["model_served"] == "gpt-4o-2024-08-06" and span["max_tokens"] == 512
    assert span["client_ip_hash"] == fingerprints.hash_ip(deployment_secret(config), "198.51.100.23")[0]
    assert span["sdk_fingerprint"].startswith("lang=js;pkg=4.90.1;")
    assert span["attrs"]["resource.deployment.environment"] == "prod"
    failed = events["aaaabbbbccccdddd"]
    assert failed["account_id"] == "org-fallback" and failed["status"] == "error"


def test_otel_legacy_conventions(warehouse: Warehouse, config: Config) -> None:
    _ingest(warehouse, config, "otel_legacy.jsonl")
    span = events_by_id(warehouse)["b7ad6b7169203331"]
    assert span["account_id"] == "acct-from-service"  # no user.id: resource service.name
    assert span["prompt_text"] == "Rewrite this so it passes the filter: ..."
    assert span["response_text"] == "Sure."
    assert (span["input_tokens"], span["output_tokens"]) == (30, 12)
    assert span["system_prompt_hash"] == fingerprints.prompt_hash("Be terse.")


def test_openai_request_log_chat_and_anthropic(warehouse: Warehouse, config: Config) -> None:
    report = _ingest(warehouse, config, "openai.jsonl")
    assert report.files[0].source_format == "openai" and report.stored == 3
    events = events_by_id(warehouse)
    chat = events["req_0001"]
    assert chat["account_id"] == "acct-openai"
    assert chat["api_key_hash"] == fingerprints.hash_api_key(deployment_secret(config), "key-abc")
    assert "key-abc" not in str(chat) and "192.0.2.44" not in str(chat)  # only keyed hashes at rest
    assert chat["reasoning_effort"] == "high" and chat["max_tokens"] == 2000
    assert (chat["reasoning_tokens"], chat["output_tokens"]) == (300, 400)
    assert chat["system_prompt_hash"] == fingerprints.prompt_hash("Think carefully.")
    assert chat["prompt_text"] == "Prove that sqrt(2) is irrational."
    assert chat["end_user_id"] == "eu-1" and chat["latency_ms"] == 5300.0
    claude = events["req_0002"]
    assert claude["endpoint"] == "/v1/messages"
    assert claude["prompt_text"] == "Review this diff."  # the tool_result turn is not a prompt
    assert claude["system_prompt_hash"] == fingerprints.prompt_hash("You are a code reviewer.")
    assert claude["message_count"] == 4 and claude["tool_count"] == 1
    assert claude["finish_reason"] == "stop" and claude["reasoning_effort"] == "medium"
    assert (claude["input_tokens"], claude["cached_tokens"]) == (500, 128)
    limited = events["req_0003"]
    assert limited["status"] == "error" and limited["status_code"] == 429
    assert limited["ts_start"] == datetime(2026, 2, 2, 9, 6, tzinfo=UTC)  # +01:00 normalised to UTC


def test_langfuse_generations_stored_other_observations_quarantined(
    warehouse: Warehouse, config: Config
) -> None:
    report = _ingest(warehouse, config, "langfuse.jsonl")
    assert report.files[0].source_format == "langfuse"
    assert (report.stored, report.quarantined) == (1, 1)
    gen = events_by_id(warehouse)["obs-gen-1"]
    assert gen["account_id"] == "acct-langfuse" and gen["session_id"] == "lf-session-1"
    assert gen["prompt_text"] == "List three prime numbers." and gen["response_text"] == "[2,3,5]"
    assert (gen["input_tokens"], gen["output_tokens"]) == (41, 9)
    assert gen["temperature"] == 0.3 and gen["max_tokens"] == 300
    assert gen["cost_usd"] == pytest.approx(0.00003)
    assert gen["client_ip_hash"] is not None
    assert "SPAN" in quarantine_rows(warehouse)[0]["reason"]


def test_canonical_jsonl(warehouse: Warehouse, config: Config) -> None:
    report = _ingest(warehouse, config, "canonical.jsonl")
    assert report.stored == 2
    events = events_by_id(warehouse)
    first = events["evt-1"]
    assert first["api_key_hash"] == fingerprints.hash_api_key(deployment_secret(config), "raw-key-1")
    assert first["sdk_fingerprint"] == "ua=python-requests"
    assert first["attrs"] == {"image": "true"}
    assert first["prompt_chars"] == len("Explain recursion with an example.")
    second = events["evt-2"]
    assert second["ts_start"] == datetime(2026, 2, 4, 12, 0, 0, 123000, tzinfo=UTC)  # epoch milliseconds
    assert second["input_tokens"] == 15


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("litellm.jsonl", "litellm"),
        ("otel_new.jsonl", "otel"),
        ("openai.jsonl", "openai"),
        ("langfuse.jsonl", "langfuse"),
        ("canonical.jsonl", "canonical"),
    ],
)
def test_format_is_detected_per_file(name: str, expected: str, config: Config) -> None:
    from distillguard.ingest.sniff import sniff_file

    assert sniff_file(FIXTURES / name, max_record_bytes=config.max_record_bytes) == expected


def test_forced_format_that_does_not_fit_quarantines(warehouse: Warehouse, config: Config) -> None:
    report = _ingest(warehouse, config, "openai.jsonl", fmt="litellm")
    assert report.stored == 0 and report.quarantined == 3


def test_fingerprints_only_drops_text_keeps_fingerprints(warehouse: Warehouse, config: Config) -> None:
    config = config.with_overrides(text_storage="fingerprints-only")
    _ingest(warehouse, config, "openai.jsonl")
    chat = events_by_id(warehouse)["req_0001"]
    assert chat["prompt_text"] is None and chat["response_text"] is None
    assert chat["prompt_hash"] == fingerprints.prompt_hash("Prove that sqrt(2) is irrational.")
    assert chat["prompt_minhash"] == fingerprints.minhash("Prove that sqrt(2) is irrational.")
    assert chat["prompt_chars"] == len("Prove that sqrt(2) is irrational.")


def test_long_prompt_truncated_at_rest_fingerprinted_whole(
    warehouse: Warehouse, config: Config, tmp_path
) -> None:
    config = config.with_overrides(max_prompt_chars=100)
    long_prompt = "word " * 2000
    line = (
        '{"event_id":"long","ts_start":"2026-02-01T00:00:00Z","account_id":"a","prompt_text":"'
        + long_prompt
        + '"}'
    )
    (tmp_path / "long.jsonl").write_text(line + "\n")
    ingest_paths(warehouse, [tmp_path / "long.jsonl"], config=config, progress=False)
    row = events_by_id(warehouse)["long"]
    assert len(row["prompt_text"]) == 100 and row["prompt_chars"] == len(long_prompt)
    assert row["prompt_hash"] == fingerprints.prompt_hash(long_prompt)


def test_reingest_is_idempotent(warehouse: Warehouse, config: Config) -> None:
    paths = [FIXTURES / n for n in ("litellm.jsonl", "otel_new.jsonl", "openai.jsonl", "langfuse.jsonl")]
    first = ingest_paths(warehouse, paths, config=config, progress=False)
    events, quarantined = warehouse.count("events"), warehouse.count("quarantine")
    again = ingest_paths(warehouse, paths, config=config, progress=False)
    assert again.stored == 0 and again.duplicates == first.stored
    assert warehouse.count("events") == events and warehouse.count("quarantine") == quarantined
