"""distillguard under test: one batch scan, and a streaming replay at regular checkpoints.

The replay runs ``scan(warehouse, config, until=checkpoint)`` on the same
warehouse for checkpoints every ``checkpoint_hours`` from the first event to the
last: each scan sees exactly the events up to that moment, as a provider running
distillguard on a schedule would. An account's first flag is the first
checkpoint at which its verdict is ``extraction`` (so detection times are
rounded up to the checkpoint grid, never flattered).

The pipeline is imported lazily: until the detection issue lands, the benchmark
reports "detection pipeline not available yet: baselines only".
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from distillguard.bench.metrics import harvested_before, hours_between
from distillguard.bench.outputs import DetectorOutput
from distillguard.bench.truth import Truth
from distillguard.config import Config
from distillguard.warehouse import Warehouse

ScanFunction = Callable[..., Any]
MAX_CHECKPOINTS = 48


def load_scan() -> tuple[ScanFunction | None, str]:
    """The pipeline's ``scan`` or, when it is not there yet, None and the reason to print."""
    try:
        from distillguard.scan import scan
    except ImportError as exc:
        return None, f"detection pipeline not available yet: baselines only ({exc})"
    return scan, ""


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def read_verdicts(warehouse: Warehouse) -> list[dict[str, Any]]:
    if not warehouse.engine.exists("account_scores"):
        return []
    rows: list[dict[str, Any]] = warehouse.engine.to_arrow(
        "SELECT account_id, risk, verdict, cluster_id FROM account_scores"
    ).to_pylist()
    return rows


def distillguard_batch(warehouse: Warehouse, config: Config, scan: ScanFunction) -> DetectorOutput:
    started = time.perf_counter()
    scan(warehouse, config)
    seconds = time.perf_counter() - started
    rows = read_verdicts(warehouse)
    return DetectorOutput(
        name="distillguard",
        scores={r["account_id"]: float(r["risk"] or 0.0) for r in rows},
        flagged={r["account_id"] for r in rows if r["verdict"] == "extraction"},
        clusters={r["account_id"]: r["cluster_id"] for r in rows},
        threshold=f"risk >= {config.risk_extraction_threshold} (setting risk_extraction_threshold)",
        seconds=seconds,
    )


def checkpoints(
    start: datetime,
    end: datetime,
    hours: float,
    *,
    max_checkpoints: int = MAX_CHECKPOINTS,
    probes: list[datetime] | None = None,
) -> list[datetime]:
    """Checkpoints every ``hours`` after ``start``, the last one at or after ``end``, plus ``probes``.

    The step widens when it would give more than ``max_checkpoints`` regular scans.
    ``probes`` are extra moments (the harness puts them shortly after each
    campaign's onset, where a coarse grid could not tell "flagged after 0.5% of
    the harvest" from "after 5%"); each scan still sees only the traffic up to
    its own moment, so this changes the resolution of the measurement, not what
    the detector knows.
    """
    span_hours = max((end - start).total_seconds() / 3600.0, 1e-9)
    step = max(hours, span_hours / max(max_checkpoints, 1))
    count = max(1, math.ceil(span_hours / step))
    grid = {start + timedelta(hours=step * (k + 1)) for k in range(count)}
    grid.update(t for t in probes or [] if start < t < end)
    return sorted(grid)


ONSET_PROBE_HOURS = (0.5, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32)


def onset_probes(onsets: list[datetime]) -> list[datetime]:
    """Moments shortly after each campaign onset, spaced geometrically."""
    return [onset + timedelta(hours=h) for onset in onsets for h in ONSET_PROBE_HOURS]


def distillguard_replay(
    warehouse: Warehouse,
    config: Config,
    scan: ScanFunction,
    grid: list[datetime],
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, datetime]:
    """First checkpoint at which each account is at the ``extraction`` verdict."""
    first_flag: dict[str, datetime] = {}
    for k, checkpoint in enumerate(grid, 1):
        progress(f"replay checkpoint {k}/{len(grid)} ({checkpoint:%Y-%m-%d %H:%M})")
        scan(warehouse, config, until=checkpoint)
        for row in read_verdicts(warehouse):
            if row["verdict"] == "extraction":
                first_flag.setdefault(row["account_id"], checkpoint)
    return first_flag


@dataclass
class CampaignTiming:
    first_flag: datetime | None
    hours_to_first_flag: float | None
    harvested_before_first_flag: float
    harvested_while_unflagged: float
    share_caught_at_first_flag: float | None


def campaign_timings(truth: Truth, first_flag: dict[str, datetime]) -> dict[str, CampaignTiming]:
    """Per campaign: time from onset to its first flagged account, and what was harvested before.

    ``harvested_before_first_flag`` is the campaign-level figure the issue's
    target uses; ``harvested_while_unflagged`` counts each exchange whose own
    account was not flagged yet (never-flagged accounts harvest everything).
    """
    flags = pa.table(
        {
            "account_id": pa.array(list(first_flag), pa.string()),
            "flag_ts": pa.array([_utc(t) for t in first_flag.values()], pa.timestamp("us", tz="UTC")),
        }
    )
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("flags", flags)
    unflagged = dict(
        connection.execute(
            """
            SELECT e.campaign_id,
                   avg(CASE WHEN f.flag_ts IS NULL OR e.ts_start <= f.flag_ts THEN 1.0 ELSE 0.0 END)
            FROM read_parquet(?) AS e LEFT JOIN flags AS f USING (account_id)
            WHERE e.campaign_id IS NOT NULL GROUP BY 1
            """,
            [str(truth.events_path)],
        ).fetchall()
    )
    result: dict[str, CampaignTiming] = {}
    for campaign_id, campaign in truth.campaigns.items():
        member_flags = [first_flag[a] for a in campaign.accounts if a in first_flag]
        first = min(member_flags) if member_flags else None
        times = truth.campaign_event_times(connection, campaign_id)
        first64 = np.datetime64(int(first.timestamp() * 1e6), "us") if first else None
        result[campaign_id] = CampaignTiming(
            first_flag=first,
            hours_to_first_flag=hours_between(campaign.onset, first),
            harvested_before_first_flag=harvested_before(times, first64),
            harvested_while_unflagged=float(unflagged.get(campaign_id, 1.0)),
            share_caught_at_first_flag=(
                sum(1 for t in member_flags if t <= first) / len(campaign.accounts) if first else None
            ),
        )
    connection.close()
    return result
