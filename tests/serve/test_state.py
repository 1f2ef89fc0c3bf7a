"""The in-process state store: snapshot lookups, expiry, live decisions and rolling counters."""

from __future__ import annotations

import gc
import threading
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest

from distillguard.decisions.facts import AccountRecord, LiveCounters
from distillguard.decisions.model import Decision
from distillguard.serve.snapshot import (
    TableBuilder,
    account_chunks,
    decision_chunks,
    membership_chunks,
    pack,
    unpack,
)
from distillguard.serve.state import LIVE_DEFAULT_TTL, Hit, MemoryState, open_state

# On an hour boundary, so the minute and hour buckets start here.
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
LATER = T0 + timedelta(hours=72)


def _row(
    kind: str,
    subject: str,
    action: str = "block",
    *,
    risk: float = 0.9,
    reasons: tuple[str, ...] | None = None,
    source: str | None = None,
    expires_at: datetime | None = LATER,
    degrade: tuple[str, ...] = (),
) -> Decision:
    return Decision(
        subject_kind=kind,
        subject_id=subject,
        action=action,
        risk=risk,
        reasons=reasons if reasons is not None else (f"{kind} {subject} flagged at risk {risk:.2f}",),
        source=source or f"scan.{kind}",
        expires_at=expires_at,
        degrade=degrade,
    )


def _published() -> tuple[MemoryState, list[Decision]]:
    rows = [
        _row("account", "acct-1", risk=0.93, reasons=("prompt.cot: 92% of 410 events elicit reasoning",)),
        _row("account", "acct-1", "challenge", source="intel.partner_match", risk=0.7),
        _row("api_key", "key-hash-1", "throttle"),
        _row("ip_prefix", "pfx-hash-1"),
        _row("cluster", "cl-7", "degrade", degrade=("reasoning", "max_tokens:1024")),
        _row("global", "*", "allow", source="manual", expires_at=None),
        _row("account", "acct-gone", expires_at=T0 - timedelta(seconds=1)),
    ]
    state = MemoryState()
    stored = state.replace_subjects(
        rows,
        accounts=[AccountRecord("acct-1", "free", "email", "US", T0 - timedelta(days=2))],
        memberships={"acct-1": "cl-7"},
        generation="gen-1",
    )
    assert stored == len(rows)
    return state, rows


def test_lookup_answers_many_subject_kinds_at_once_with_the_published_rows() -> None:
    state, rows = _published()
    subjects = [
        ("account", "acct-1"),
        ("api_key", "key-hash-1"),
        ("ip_prefix", "pfx-hash-1"),
        ("cluster", "cl-7"),
        ("global", "*"),
        ("account", "acct-unknown"),
        ("ip_prefix", "acct-1"),  # an id of another kind is another subject
    ]
    found = state.lookup(subjects, now=T0)
    assert sorted(found, key=repr) == sorted(rows[:6], key=repr)  # equal rows, reasons and degrade kept


def test_expired_rows_take_no_part_and_rows_expire_as_time_passes() -> None:
    state, _ = _published()
    assert state.lookup([("account", "acct-gone")], now=T0) == []
    assert len(state.lookup([("account", "acct-1")], now=LATER - timedelta(seconds=1))) == 2
    assert state.lookup([("account", "acct-1")], now=LATER) == []
    assert [d.subject_id for d in state.lookup([("global", "*")], now=LATER + timedelta(days=999))] == ["*"]


def test_accounts_and_cluster_membership_come_back_and_a_new_snapshot_replaces_the_old() -> None:
    state, _ = _published()
    assert state.account("acct-1") == AccountRecord("acct-1", "free", "email", "US", T0 - timedelta(days=2))
    assert state.account("acct-unknown") is None
    assert state.cluster_of("acct-1") == "cl-7"
    assert state.cluster_of("acct-unknown") is None
    health = state.health()
    assert (health.backend, health.ok, health.subjects, health.generation) == ("memory", True, 7, "gen-1")

    state.replace_subjects([_row("account", "acct-2")], accounts=[], memberships={}, generation="gen-2")
    assert state.lookup([("account", "acct-1"), ("account", "acct-2")], now=T0) == [_row("account", "acct-2")]
    assert state.cluster_of("acct-1") is None
    assert state.health().generation == "gen-2"


def test_live_decisions_are_found_until_they_expire_and_repeats_do_not_pile_up() -> None:
    state = MemoryState()
    live = _row(
        "account", "acct-9", "throttle", source="live.rate_budget", expires_at=T0 + timedelta(minutes=5)
    )
    state.put_live(live)
    state.put_live(live)
    assert state.lookup([("account", "acct-9")], now=T0) == [live]
    assert state.lookup([("account", "acct-9")], now=T0 + timedelta(minutes=5)) == []

    later = _row(
        "account", "acct-9", "throttle", source="live.rate_budget", expires_at=T0 + timedelta(hours=2)
    )
    state.put_live(later)  # the same rule again: its expiry moves, no second row
    assert state.lookup([("account", "acct-9")], now=T0 + timedelta(minutes=10)) == [later]

    state.put_live(_row("account", "acct-8", "challenge", source="live.pattern", expires_at=None))
    now = datetime.now(UTC)
    (held,) = state.lookup([("account", "acct-8")], now=now)
    assert held.expires_at is not None and now < held.expires_at <= now + LIVE_DEFAULT_TTL


def _record(
    state: MemoryState,
    at: datetime,
    account: str = "acct-1",
    *,
    prefix: str | None = "pfx-1",
    elicited: bool = False,
    new: bool = False,
) -> LiveCounters:
    return state.record(
        Hit(account_id=account, ip_prefix_hash=prefix, elicited=elicited, account_is_new=new, now=at)
    )


def test_account_windows_count_this_request_and_roll_over() -> None:
    state = MemoryState()
    first = _record(state, T0, elicited=True)
    assert (first.account_requests_1m, first.account_requests_1h, first.account_elicitation_1h) == (1, 1, 1)
    _record(state, T0 + timedelta(seconds=30))
    counts = _record(state, T0 + timedelta(seconds=45), elicited=True)
    assert (counts.account_requests_1m, counts.account_requests_1h, counts.account_elicitation_1h) == (
        3,
        3,
        2,
    )
    assert counts.account_elicitation_share_1h == pytest.approx(2 / 3)
    # 75 s on: the request at T0 has left the minute window, not the hour.
    counts = _record(state, T0 + timedelta(seconds=75))
    assert (counts.account_requests_1m, counts.account_requests_1h) == (3, 4)
    # An hour and a bit on: everything before has left both windows.
    counts = _record(state, T0 + timedelta(minutes=61))
    assert (counts.account_requests_1m, counts.account_requests_1h, counts.account_elicitation_1h) == (
        1,
        1,
        0,
    )
    # Another account counts on its own.
    other = _record(state, T0 + timedelta(minutes=61), account="acct-2")
    assert (other.account_requests_1m, other.account_requests_1h) == (1, 1)


def test_prefix_counts_requests_and_distinct_new_accounts_in_the_window() -> None:
    state = MemoryState()
    for i in range(5):
        _record(state, T0 + timedelta(seconds=i), account=f"new-{i}", new=True)
    _record(state, T0 + timedelta(seconds=6), account="new-0", new=True)  # the same new account again
    counts = _record(state, T0 + timedelta(seconds=7), account="old-1", new=False)
    assert counts.prefix_requests_1m == 7
    assert counts.prefix_new_accounts_1h == 5
    elsewhere = _record(state, T0 + timedelta(seconds=8), account="new-9", new=True, prefix="pfx-2")
    assert (elsewhere.prefix_requests_1m, elsewhere.prefix_new_accounts_1h) == (1, 1)
    no_prefix = _record(state, T0 + timedelta(seconds=9), account="x", new=True, prefix=None)
    assert (no_prefix.prefix_requests_1m, no_prefix.prefix_new_accounts_1h) == (0, 0)
    later = _record(state, T0 + timedelta(minutes=30), account="new-5", new=True)
    assert (later.prefix_requests_1m, later.prefix_new_accounts_1h) == (1, 6)
    after_hour = _record(state, T0 + timedelta(minutes=66), account="old-1")
    assert after_hour.prefix_new_accounts_1h == 1  # only new-5 (at +30 min) is still inside the hour


def test_a_fingerprint_counts_distinct_new_accounts_that_elicit_with_it() -> None:
    state = MemoryState()
    script = "frontier-large|max_tokens=16000|temperature=0.7"

    def hit(account: str, at: datetime, *, new: bool = True, elicited: bool = True) -> int:
        counts = state.record(
            Hit(
                account_id=account,
                ip_prefix_hash=f"pfx-{account}",  # every account on its own residential address
                elicited=elicited,
                account_is_new=new,
                now=at,
                fingerprint=script,
            )
        )
        return counts.fingerprint_new_elicited_accounts_1h

    for i in range(4):
        hit(f"fresh-{i}", T0 + timedelta(minutes=i))
    assert hit("fresh-0", T0 + timedelta(minutes=5)) == 4  # the same account again counts once
    assert hit("regular", T0 + timedelta(minutes=6), new=False) == 4  # established accounts never count
    assert hit("fresh-9", T0 + timedelta(minutes=7), elicited=False) == 4  # nor ordinary prompts
    other = state.record(Hit(
        account_id="fresh-1", ip_prefix_hash=None, elicited=True, account_is_new=True,
        now=T0 + timedelta(minutes=8), fingerprint="frontier-large|temperature=0.2",
    ))  # fmt: skip
    assert other.fingerprint_new_elicited_accounts_1h == 1
    assert hit("fresh-5", T0 + timedelta(minutes=62)) == 2  # the first four fell out of the hour but fresh-0
    unfingerprinted = _record(state, T0 + timedelta(minutes=63), "fresh-6", elicited=True, new=True)
    assert unfingerprinted.fingerprint_new_elicited_accounts_1h == 0


def test_a_clusters_requests_are_counted_across_its_accounts() -> None:
    state = MemoryState()
    for i in range(30):
        counts = state.record(Hit(
            account_id=f"member-{i % 10}", ip_prefix_hash=None, elicited=False, account_is_new=False,
            now=T0 + timedelta(seconds=i), cluster_id="c-7",
        ))  # fmt: skip
    assert (counts.cluster_requests_1m, counts.cluster_requests_1h) == (30, 30)
    assert (counts.account_requests_1m, counts.account_requests_1h) == (3, 3)
    outsider = _record(state, T0 + timedelta(seconds=31), "member-0")  # no cluster given: none counted
    assert (outsider.cluster_requests_1m, outsider.cluster_requests_1h) == (0, 0)


def test_idle_counters_are_forgotten() -> None:
    state = MemoryState()
    for i in range(200):
        _record(state, T0, account=f"acct-{i}", prefix=f"pfx-{i}", new=True)
    held_before = len(state._counters)
    _record(state, T0 + timedelta(hours=3), account="acct-late")
    assert held_before >= 800
    assert len(state._counters) <= 5


def test_counters_are_exact_under_concurrent_requests() -> None:
    state = MemoryState()

    def hammer() -> None:
        for _ in range(500):
            _record(state, T0 + timedelta(seconds=5), account="shared", new=False)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = _record(state, T0 + timedelta(seconds=6), account="shared")
    assert counts.account_requests_1m == 8 * 500 + 1


def test_a_large_snapshot_is_held_compactly() -> None:
    """A million subjects must fit: bytes per subject, counting its id, account record and membership."""
    n, size = 60_000, 20_000
    expires = LATER.timestamp()
    gc.collect()
    tracemalloc.start()
    try:
        builder = TableBuilder()
        for start in range(0, n, size):  # chunks as Redis holds them, decoded one at a time
            ids = [f"acct-{i:09d}" for i in range(start, start + size)]
            whys = [
                [f"prompt.cot_elicitation: {50 + k}% of events ask for step-by-step reasoning"]
                for k in range(50)
            ]
            builder.add_decision_chunk(
                {
                    "metas": [["account", "block", "scan.account", expires, []]],
                    "why": whys,
                    "m": [0] * size,
                    "id": ids,
                    "risk": [(i % 1000) / 1000 for i in range(size)],
                    "r": [i % 50 for i in range(size)],
                }
            )
            builder.add_account_chunk(
                {
                    "profiles": [["free", "email", "US"]],
                    "p": [0] * size,
                    "id": ids,
                    "created": [float(i) for i in range(size)],
                }
            )
            builder.add_membership_chunk(
                {"clusters": ["cl-1", "cl-2"], "c": [i % 2 for i in range(size)], "id": ids}
            )
            del ids
        table = builder.build(generation="big", loaded_at=T0)
        del builder
        gc.collect()
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert table.rows == n
    assert held / n < 400, f"{held / n:.0f} bytes per subject"
    (hit,) = table.find("account", f"acct-{n - 1:09d}", T0)
    assert hit.reasons[0].startswith("prompt.cot_elicitation: ")
    assert table.account(f"acct-{n - 1:09d}") is not None and table.cluster_of(f"acct-{n - 1:09d}") == "cl-2"


def test_the_wire_form_of_a_snapshot_reads_back_equal() -> None:
    state, rows = _published()
    builder = TableBuilder()
    for chunk in decision_chunks(rows, size=3):
        builder.add_decision_chunk(unpack(pack(chunk)))
    for chunk in account_chunks([state.account("acct-1")], size=3):  # type: ignore[list-item]
        builder.add_account_chunk(unpack(pack(chunk)))
    for chunk in membership_chunks({"acct-1": "cl-7"}, size=3):
        builder.add_membership_chunk(unpack(pack(chunk)))
    table = builder.build(generation="gen-1", loaded_at=T0)
    subjects = sorted({(d.subject_kind, d.subject_id) for d in rows})
    found = [d for kind, subject in subjects for d in table.find(kind, subject, T0)]
    assert sorted(found, key=repr) == sorted(rows[:6], key=repr)
    assert table.account("acct-1") == state.account("acct-1") and table.cluster_of("acct-1") == "cl-7"


def test_open_state_names_its_backends() -> None:
    assert open_state("").backend == "memory"
    assert open_state("memory://").backend == "memory"
    with pytest.raises(ValueError, match="state URL 'postgres://x'"):
        open_state("postgres://x")
