"""Policy edits apply without a restart, and a bad edit never takes the service's policy away."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from distillguard.decisions.policy import PolicyError, PolicyWatcher, default_policy

from .support import facts, verdict

GOOD = """\
mode: enforce
thresholds:
  - risk: 0.5
    action: challenge
"""
BAD = """\
mode: enforce
thresholds:
  - risk: 0.5
    action: challenge
  - risk: 0.9
    action: nuke
"""
STRICTER = """\
mode: shadow
thresholds:
  - risk: 0.5
    action: block
"""


_CLOCK = [time.time() - 3600]


def write(path: Path, text: str) -> None:
    """Write and date the file in the past: a distinct modification time, already settled."""
    path.write_text(text)
    _CLOCK[0] += 1
    os.utime(path, (_CLOCK[0], _CLOCK[0]))


def action_for(watcher: PolicyWatcher) -> str:
    rows = watcher.current().evaluate(facts(known=(verdict("account", "acct-1", 0.95),)))
    return max(
        rows, key=lambda r: ["allow", "degrade", "challenge", "throttle", "block"].index(r.action)
    ).action


def test_bad_edit_keeps_the_last_good_policy_then_a_good_edit_applies(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    write(path, GOOD)
    watcher = PolicyWatcher(path, check_interval_ms=0)
    good_version = watcher.current().version
    assert action_for(watcher) == "challenge" and watcher.last_error is None

    write(path, BAD)
    assert watcher.current().version == good_version
    assert action_for(watcher) == "challenge"
    assert watcher.last_error is not None
    assert watcher.last_error.startswith(f"{path}:6: ")
    assert "unknown value 'nuke'" in watcher.last_error

    write(path, STRICTER)
    policy = watcher.current()
    assert policy.version != good_version and policy.mode == "shadow"
    assert action_for(watcher) == "block"
    assert watcher.last_error is None
    assert watcher.reloads == 1


def test_changes_are_looked_for_at_most_every_interval(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    write(path, GOOD)
    watcher = PolicyWatcher(path, check_interval_ms=60_000)
    write(path, STRICTER)
    assert watcher.current().mode == "enforce"  # not looked at yet
    assert watcher.reload().mode == "shadow"  # an admin reload reads it at once


def test_a_file_still_being_written_is_left_for_the_next_check(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    write(path, GOOD)
    watcher = PolicyWatcher(path, check_interval_ms=0, settle_ms=60_000)
    path.write_text(STRICTER)  # modified just now
    assert watcher.current().mode == "enforce"
    write(path, STRICTER)  # the same content, now settled
    assert watcher.current().mode == "shadow"


def test_deleted_file_keeps_the_policy_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    write(path, GOOD)
    watcher = PolicyWatcher(path, check_interval_ms=0)
    version = watcher.current().version
    path.unlink()
    assert watcher.current().version == version
    assert watcher.last_error is not None and "cannot read the policy file" in watcher.last_error
    write(path, STRICTER)
    assert watcher.current().mode == "shadow" and watcher.last_error is None


def test_the_service_does_not_start_on_a_broken_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    write(path, BAD)
    with pytest.raises(PolicyError, match=r"policy\.yaml:6: "):
        PolicyWatcher(path)


def test_no_file_means_the_packaged_default(tmp_path: Path) -> None:
    watcher = PolicyWatcher(None, check_interval_ms=0)
    assert watcher.current() is default_policy()
    assert watcher.reload() is default_policy() and watcher.last_error is None
    assert default_policy().source == "<default>"
