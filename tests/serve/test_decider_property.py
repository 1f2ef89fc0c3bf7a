"""Properties of the decider under hostile input (issue 13): whatever a request holds,

(a) ``decide`` never raises;
(b) a subject whose published decision is ``block`` never gets a milder action;
(c) exactly one audit record is written (or waits in the spool, and health says degraded).

The grammar covers arbitrary Unicode (lone surrogates, NUL, RTL and zero-width marks, combining
characters), deep nesting, wrong types and huge sizes, in the body, the headers and the identity
fields. The normal suite runs a few hundred examples; ``DISTILLGUARD_PROPERTY_EXAMPLES=10000``
runs the dedicated campaign (docs/security.md records the last one).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from distillguard.config import Config
from distillguard.decisions.model import Decision
from distillguard.decisions.policy import PolicyWatcher
from distillguard.serve.app import create_app
from distillguard.serve.audit import AuditLog
from distillguard.serve.decider import Decider, DecideRequest
from distillguard.serve.state import MemoryState

from .support_app import CAMPAIGN, CAMPAIGN_KEY, plant_verdicts, write_policy

EXAMPLES = int(os.environ.get("DISTILLGUARD_PROPERTY_EXAMPLES", "0") or 0)
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
BLOCKED, BLOCKED_KEY = "acct-blocked", "key-blocked"
ACTION_RANK = {"allow": 0, "degrade": 1, "throttle": 2, "challenge": 3, "block": 4}

ODD_CHARACTERS = [
    "\udfff",
    "\ud800",
    "\ud83d",  # a high half: next to a low one it pairs, alone it is lone
    "\ude00",
    "\x00",
    "\x1b",
    "\u202e",
    "\u200f",
    "\u200b",
    "\u0301",
    "\ufeff",
]
any_character = st.characters(exclude_categories=()) | st.sampled_from(ODD_CHARACTERS)
hostile_text = st.text(any_character, max_size=60) | st.builds(
    lambda chunk, times: chunk * times,
    st.text(any_character, min_size=1, max_size=8),
    st.integers(0, 200_000),
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | hostile_text
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=20,
)


def _nest(value: Any, depth: int) -> Any:
    for level in range(depth):
        value = [value] if level % 2 else {"content": value}
    return value


def _message(role: Any, content: Any) -> dict[str, Any]:
    return {"role": role, "content": content}


roles = st.sampled_from(["user", "assistant", "system", "developer", "tool"]) | json_values
shallow_contents = (
    hostile_text
    | st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": hostile_text}), max_size=3)
    | json_values
)
contents = shallow_contents | st.builds(_nest, hostile_text, st.integers(0, 3000))


def bodies_of(contents: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.fixed_dictionaries(
            {"messages": st.lists(st.builds(_message, roles, contents), max_size=5)},
            optional={
                "model": json_values,
                "max_tokens": scalars,
                "logprobs": scalars,
                "tools": json_values,
                "reasoning": json_values,
                "temperature": scalars,
            },
        ),
        st.fixed_dictionaries({"input": json_values | contents}),
        st.fixed_dictionaries({"prompt": json_values | contents}),
        st.dictionaries(hostile_text, json_values, max_size=6),
    )


bodies = bodies_of(contents)
headers = st.dictionaries(
    hostile_text | st.sampled_from(["CF-IPCountry", "User-Agent", "X-Client-ASN", "X-On-Behalf-Of-Country"]),
    hostile_text,
    max_size=6,
)
identities = st.sampled_from([BLOCKED, "acct-other"]) | hostile_text


def examples(default: int) -> int:
    return EXAMPLES or default


@pytest.fixture
def decider(config: Config, tmp_path: Path) -> Iterator[Decider]:
    state = MemoryState()
    block = Decision("account", BLOCKED, "block", 0.99, ("planted",), "scan.account", NOW + timedelta(days=3))
    key_block = Decision("api_key", "", "block", 0.99, ("planted",), "scan.api_key", NOW + timedelta(days=3))
    decider = Decider(
        config,
        policy=PolicyWatcher(write_policy(tmp_path / "p.yaml", "on_error: fail_open\n")),
        state=state,
        audit=AuditLog(tmp_path / "audit.jsonl", fsync_interval_ms=60_000),
    )
    key_hash = decider.hash_key(BLOCKED_KEY)
    assert key_hash is not None
    state.replace_subjects(
        [block, Decision(**{**key_block.__dict__, "subject_id": key_hash})],
        accounts=[],
        memberships={},
        generation="property",
    )
    yield decider
    assert decider.audit is not None
    decider.audit.close()


@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    account=identities,
    key=st.none() | st.sampled_from([BLOCKED_KEY]) | hostile_text,
    body=bodies,
    sent_headers=headers,
    client_ip=st.none() | st.sampled_from(["198.51.100.7", "::1"]) | hostile_text,
    extra=st.fixed_dictionaries({}, optional={"end_user_id": hostile_text, "model": hostile_text}),
)
def test_no_request_can_raise_soften_a_block_or_skip_the_audit(
    decider: Decider,
    account: str,
    key: str | None,
    body: dict[str, Any] | None,
    sent_headers: dict[str, str],
    client_ip: str | None,
    extra: dict[str, str],
) -> None:
    audit = decider.audit
    assert audit is not None
    before = audit.records + audit.pending
    request = DecideRequest(
        account_id=account,
        api_key_id=key,
        client_ip=client_ip,
        headers=sent_headers,
        request=body,
        **extra,
    )
    result = decider.decide(request, now=NOW)  # (a): an exception here fails the test
    if account == BLOCKED or key == BLOCKED_KEY:  # (b)
        assert ACTION_RANK[result.action] >= ACTION_RANK["block"], (result.action, result.reasons)
    assert result.action in ACTION_RANK
    assert audit.records + audit.pending == before + 1  # (c)
    json.dumps(result.to_json(), ensure_ascii=False).encode("utf-8")  # the answer is valid UTF-8 JSON


# ------------------------------------------------------------------ over HTTP
@pytest.fixture
def http(config: Config, tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    plant_verdicts(config)
    policy = write_policy(tmp_path / "open.yaml", "on_error: fail_open\n")
    planted = config.with_overrides(serve_shed_lag_ms=60_000, serve_policy_path=str(policy))
    with TestClient(create_app(planted), client=("127.0.0.1", 5)) as client:
        yield client, Path(planted.db_path).with_name("dg.audit.jsonl")


DEEP_MARK = "__deep__"


def _raw_body(account: Any, body: Any, key: Any, sent_headers: Any, depth: int) -> bytes:
    payload = {"account_id": account, "api_key_id": key, "request": body, "headers": sent_headers}
    # ensure_ascii: the JSON escapes are how a client sends lone surrogates and NULs
    text = json.dumps(payload, ensure_ascii=True, allow_nan=True)
    if depth and isinstance(body, dict):  # nesting deeper than json.dumps writes, written by hand
        deep = '{"messages": [{"role": "user", "content": ' + "[" * depth + "1" + "]" * depth + "}]}"
        text = json.dumps({**payload, "request": DEEP_MARK}).replace(f'"{DEEP_MARK}"', deep)
    return text.encode()


@settings(
    max_examples=examples(60) // 4 or 1,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    account=st.sampled_from([CAMPAIGN]) | identities | json_values,
    key=st.none() | st.sampled_from([CAMPAIGN_KEY]) | json_values,
    body=bodies_of(shallow_contents) | json_values,
    sent_headers=headers | json_values,
    mangle=st.none() | st.integers(0, 400),
    depth=st.just(0) | st.integers(0, 5000),
)
def test_over_http_every_answer_is_a_verdict_or_a_4xx_and_a_block_stays_a_block(
    http: tuple[TestClient, Path],
    account: Any,
    key: Any,
    body: Any,
    sent_headers: Any,
    mangle: int | None,
    depth: int,
) -> None:
    client, _ = http
    raw = _raw_body(account, body, key, sent_headers, depth)
    if mangle is not None:
        raw = raw[:mangle]  # a cut-off body
    answer = client.post("/v1/decide", content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code in (200, 400, 413, 422), answer.text
    if answer.status_code == 200 and mangle is None and (account == CAMPAIGN or key == CAMPAIGN_KEY):
        assert answer.json()["action"] == "block", answer.json()
    assert client.get("/healthz").json()["status"] == "ok"  # no input degrades the service
