"""What the live-detection bench counts: per campaign, when it was flagged and stopped and how
much of it was served; per benign population, who was refused and why.

``live_detection.py`` replays a data set through the decision service and passes; this module
only reads what it recorded (each request and the gateway's answer, and each pass's flagged
accounts in replayed time)."""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from distillguard.serve.decider import DecideRequest

STOPPED = ("throttle", "block")


@dataclass
class Replayed:
    ts: datetime
    log: str  # file name in the followed directory
    line: bytes
    request: DecideRequest


def stopped_because(result: Any) -> str | None:
    """For a refused request: the subject and source that refused it, and the first reason."""
    if result.action not in STOPPED:
        return None
    reason = result.reasons[0] if result.reasons else ""
    return f"{result.subject_kind} {result.subject_id} ({result.source}): {reason}"[:300]


def tally(
    records: list[Replayed],
    actions: list[str],
    truth: dict[str, str],
    flags: list[tuple[float, set[str]]],
    whys: list[str | None] | None = None,
) -> dict[str, Any]:
    """Per campaign: when it was first flagged and stopped, and what share of it was served.

    ``actions`` is the gateway's answer to each record; ``flags`` holds, for each pass in
    order, the replayed time (epoch seconds) from which its verdicts applied and the accounts
    it flagged; ``whys``, where given, says why each stopped record was stopped (benign
    populations list their first few refused accounts with it)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        groups[truth.get(record.request.account_id, "unknown")].append(index)
    members: dict[str, set[str]] = defaultdict(set)
    for account, group in truth.items():
        members[group].add(account)
    campaigns = {}
    for group in sorted(g for g in groups if g.startswith("campaign")):
        indices = groups[group]
        onset = records[indices[0]].ts
        answers = Counter(actions[i] for i in indices)
        stopped_at = next((records[i].ts for i in indices if actions[i] in STOPPED), None)
        # the first pass naming one of its accounts, in replayed time
        flagged_at = next((at for at, flagged in flags if members[group] & flagged), None)
        served = sum(n for action, n in answers.items() if action not in STOPPED)
        campaigns[group] = {
            "accounts": len(members[group]),
            "exchanges": len(indices),
            "onset": onset.isoformat(),
            "hours_to_first_flag": None
            if flagged_at is None
            else round(max(0.0, flagged_at - onset.timestamp()) / 3600, 2),
            "hours_to_first_stop": None
            if stopped_at is None
            else round((stopped_at - onset).total_seconds() / 3600, 2),
            "served_share": round(served / len(indices), 4),  # neither throttled nor blocked
            "served_in_full_share": round(answers["allow"] / len(indices), 4),  # not degraded either
            "actions": dict(answers),
        }
    benign_indices = [i for g, idx in groups.items() if not g.startswith("campaign") for i in idx]
    benign = Counter(actions[i] for i in benign_indices)
    # where benign traffic was stopped: per population, the accounts and exchanges refused
    stopped: dict[str, dict[str, Any]] = {}
    for group, indices in sorted(groups.items()):
        refused = [i for i in indices if actions[i] in STOPPED]
        if refused and not group.startswith("campaign"):
            stopped[group] = {
                "exchanges": len(indices),
                "stopped": len(refused),
                "accounts_stopped": len({records[i].request.account_id for i in refused}),
                "first_stop": records[refused[0]].ts.isoformat(),
            }
            if whys is not None:
                first: dict[str, str | None] = {}
                for i in refused:
                    first.setdefault(records[i].request.account_id, whys[i])
                stopped[group]["why"] = dict(list(first.items())[:5])
    return {
        "campaigns": campaigns,
        "benign": {
            "exchanges": len(benign_indices),
            "stopped_share": round(sum(benign[a] for a in STOPPED) / max(1, len(benign_indices)), 5),
            "actions": dict(benign),
            "stopped_by_population": stopped,
        },
    }


def replayed_time(wall: float, records: list[Replayed], walls: list[float]) -> float:
    """The timestamp of the request being replayed at ``wall`` seconds into the replay (lag included)."""
    index = bisect.bisect_left(walls, wall)
    if index >= len(records):  # after the replay ended: the pass saw everything
        return records[-1].ts.timestamp() + (wall - walls[-1])
    return records[index].ts.timestamp()
