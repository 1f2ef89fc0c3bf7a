"""The Decider without HTTP: what it reads from a request, live rules shared by replicas, regions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from distillguard.config import Config
from distillguard.decisions.policy import PolicyWatcher
from distillguard.serve.audit import AuditLog
from distillguard.serve.decider import Decider, DecideRequest, read_prompt
from distillguard.serve.state import MemoryState

from .support_app import write_policy

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
ELICIT = (
    "Show your complete chain of thought. Think step by step and explain every step of your reasoning "
    "in full detail before giving the final answer: what is 17 times 23?"
)


@pytest.mark.parametrize(
    ("body", "text", "messages", "tools"),
    [
        (
            {
                "messages": [
                    {"role": "user", "content": "first question"},
                    {"role": "assistant", "content": "an answer"},
                    {"role": "user", "content": [{"type": "text", "text": "the latest question"}]},
                ],
                "tools": [{"type": "function"}, {"type": "function"}],
            },
            "the latest question",
            3,
            2,
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_text", "text": "responses api"}]}]},
            "responses api",
            1,
            0,
        ),
        ({"input": "a plain responses input"}, "a plain responses input", 1, 0),
        ({"prompt": "a completion prompt"}, "a completion prompt", 1, 0),
        ({"prompt": ["batch one", "batch two"]}, "batch two", 2, 0),
        ({"model": "m"}, None, 0, 0),
    ],
)
def test_the_prompt_is_read_from_chat_responses_and_completions_bodies(
    body: dict[str, Any], text: str | None, messages: int, tools: int
) -> None:
    view = read_prompt(body)
    assert (view.text, view.message_count, view.tool_count) == (text, messages, tools)


def test_what_degrade_can_withhold_is_read_from_the_body() -> None:
    view = read_prompt(
        {"prompt": "x", "max_completion_tokens": 900, "top_logprobs": 3, "thinking": {"type": "enabled"}}
    )
    assert (view.max_tokens, view.logprobs, view.reasoning_requested) == (900, True, True)
    plain = read_prompt({"prompt": "x", "reasoning_effort": "none"})
    assert (plain.max_tokens, plain.logprobs, plain.reasoning_requested) == (None, False, False)


def _decider(config: Config, state: MemoryState, policy: Path | None = None) -> Decider:
    audit = AuditLog(Path(config.db_path).with_suffix(".audit.jsonl"), fsync_interval_ms=0)
    return Decider(config, policy=PolicyWatcher(policy), state=state, audit=audit)


def test_a_live_elicitation_campaign_is_caught_and_shared_with_another_replica(config: Config) -> None:
    state = MemoryState()  # two replicas on one shared store: what Redis gives across processes
    first, second = _decider(config, state), _decider(config, state)
    request = DecideRequest(
        account_id="acct-live", request={"messages": [{"role": "user", "content": ELICIT}]}
    )
    actions = [first.decide(request, now=NOW + timedelta(seconds=i)).action for i in range(20)]
    # the default live rule acts at 60% elicitation over at least 20 requests in the hour
    assert actions[:19] == ["allow"] * 19 and actions[19] == "degrade"

    benign = DecideRequest(account_id="acct-live", request={"prompt": "a birthday message for my sister"})
    other = second.decide(benign, now=NOW + timedelta(seconds=30))
    assert other.action == "degrade" and other.source == "live.elicitation_share"
    assert any("asked for full reasoning" in reason for reason in other.reasons)
    later = second.decide(benign, now=NOW + timedelta(hours=3))  # the live row expired
    assert later.action == "allow"


def test_one_script_driving_fresh_accounts_through_rotating_addresses_is_degraded_live(
    config: Config,
) -> None:
    """A campaign that began after the last scan: every account new, every request from its own
    address, light per account; what ties them is the script's fixed model and parameters."""
    decider = _decider(config, MemoryState())
    body = {
        "model": "frontier-large",
        "max_tokens": 16000,
        "temperature": 0.7,
        "messages": [{"role": "user", "content": ELICIT}],
    }
    results = [
        decider.decide(
            DecideRequest(account_id=f"fresh-{i}", client_ip=f"203.0.113.{i + 1}", request=body),
            now=NOW + timedelta(minutes=i),
        )
        for i in range(7)
    ]
    assert [r.action for r in results[:4]] == ["allow"] * 4  # the default rule acts at 5 accounts
    assert all(r.action == "degrade" and r.source == "live.fingerprint_burst" for r in results[4:])
    assert any("with this request's exact model and generation parameters" in x for x in results[-1].reasons)
    # an ordinary user with default settings asking the same kind of question is not counted
    ordinary = decider.decide(
        DecideRequest(account_id="fresh-99", request={"messages": body["messages"]}),
        now=NOW + timedelta(minutes=8),
    )
    assert ordinary.action == "allow"
    assert read_prompt(body).fingerprint == "frontier-large|max_tokens=16000|temperature=0.7"
    assert read_prompt({"messages": body["messages"]}).fingerprint is None


def test_country_headers_feed_region_rules(config: Config, tmp_path: Path) -> None:
    policy = write_policy(
        tmp_path / "regions.yaml",
        "regions:\n  - {name: restricted, countries: [KP], proxy_asns: [AS64500], proxy_action: challenge}\n",
    )
    decider = _decider(config, MemoryState(), policy)

    def action(headers: dict[str, str]) -> str:
        return decider.decide(DecideRequest(account_id="a1", headers=headers), now=NOW).action

    assert action({"CF-IPCountry": "KP"}) == "block"
    assert action({"x-country": "kp"}) == "block"
    assert action({"X-On-Behalf-Of-Country": "KP", "CF-IPCountry": "US"}) == "block"
    assert action({"X-Client-ASN": "AS64500"}) == "challenge"
    assert action({"CF-IPCountry": "XX"}) == "allow"  # Cloudflare's "unknown"
    assert action({"CF-IPCountry": "FR"}) == "allow"


def test_every_decision_is_audited_even_when_it_fails(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = MemoryState()
    decider = _decider(config, state)
    monkeypatch.setattr(state, "record", None)  # any internal failure
    result = decider.decide(DecideRequest(account_id="a1", request={"prompt": "hello"}), now=NOW)
    assert result.action == "allow" and result.error and result.error.startswith("TypeError")
    assert decider.audit is not None
    decider.audit.close()
    lines = Path(config.db_path).with_suffix(".audit.jsonl").read_text().splitlines()
    assert len(lines) == 1 and '"error":"TypeError' in lines[0] and '"prompt_text":"hello"' in lines[0]
