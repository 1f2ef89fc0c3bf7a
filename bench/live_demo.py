"""A simulated campaign slowed live at the gateway while ordinary traffic goes through.

What a provider would do, end to end, on simulated traffic:

1. simulate a scenario (gateway request logs in the OpenAI-compatible format, the
   account file, and ground truth that only this script's tally reads);
2. ingest everything and **scan only the traffic before a cut-off** (the last batch
   scan), then publish its verdicts into the decision service's state;
3. **replay every request after the cut-off** through the decision service in time
   order, as the gateway would send them (account, API key, client address, headers,
   the request body), with the service's clock at each request's timestamp so rate
   budgets and live rules see simulated time;
4. tally the enforced actions by ground truth: campaign accounts vs each benign
   population (universities, enterprises, eval harnesses, routers, CI bots, ...);
5. feed the service's audit log back into the warehouse and scan again: accounts of a
   campaign that began after the cut-off are caught by the next scan from what the
   service saw (its audit records are the live traffic).

    python bench/live_demo.py --preset tiny --cutoff-share 0.5

The decisions run in process (``Decider``, the code behind ``POST /v1/decide``) so the
clock can follow the simulation; over HTTP the service uses the wall clock.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from distillguard.config import Config, load_config
from distillguard.decisions.policy import PolicyWatcher
from distillguard.ingest.normalise import parse_timestamp
from distillguard.ingest.run import ingest_paths
from distillguard.scan import scan
from distillguard.serve.audit import AuditLog
from distillguard.serve.decider import Decider, DecideRequest
from distillguard.serve.publish import publish, verdict_snapshot
from distillguard.serve.state import MemoryState
from distillguard.warehouse import Warehouse

ACTIONS = ("allow", "degrade", "challenge", "throttle", "block")


def simulate(out: Path, preset: str, seed: int, scale: float) -> None:
    cli = str(Path(sys.executable).with_name("distillguard"))
    command = [
        cli, "simulate", "--preset", preset, "--seed", str(seed), "--scale", str(scale),
        "--formats", "openai", "--out", str(out), "--quiet",
    ]  # fmt: skip
    subprocess.run(command, check=True)


def truth_groups(data: Path) -> dict[str, str]:
    """account -> 'campaign <id>' or its benign population (read only for the tally)."""
    groups = {}
    with (data / "truth" / "accounts.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            campaign = row["campaign_id"]
            groups[row["account_id"]] = f"campaign {campaign}" if campaign else row["population"]
    return groups


def gateway_requests(data: Path) -> Iterator[dict[str, Any]]:
    for path in sorted((data / "traffic").glob("openai-*.jsonl*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)


def replay(
    decider: Decider, records: list[dict[str, Any]], groups: dict[str, str]
) -> dict[str, Counter[str]]:
    tally: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        result = decider.decide(
            DecideRequest(
                account_id=record["account_id"],
                api_key_id=record.get("api_key_id"),
                client_ip=record.get("client_ip"),
                headers=record.get("headers") or {},
                model=(record.get("request") or {}).get("model"),
                request=record.get("request"),
                request_id=record.get("id"),
            ),
            now=record["_ts"],
        )
        tally[groups.get(record["account_id"], "unknown")][result.action] += 1
    return tally


def flagged_by_group(warehouse: Warehouse, groups: dict[str, str]) -> dict[str, tuple[int, int]]:
    rows = warehouse.engine.to_arrow("SELECT account_id, verdict FROM account_scores").to_pylist()
    seen: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        account, verdict = row["account_id"], row["verdict"]
        group = groups.get(account, "unknown")
        seen[group][1] += 1
        seen[group][0] += verdict == "extraction"
    return {group: (flagged, total) for group, (flagged, total) in seen.items()}


def table(tally: dict[str, Counter[str]]) -> str:
    lines = [
        "| traffic after the cut-off | requests | served in full (allow) | degraded | challenged | throttled "
        "| blocked |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for group in sorted(tally, key=lambda g: (not g.startswith("campaign"), g)):
        counts = tally[group]
        total = sum(counts.values())
        cells = [f"{counts[a]:,} ({counts[a] / total:.1%})" for a in ACTIONS]
        lines.append(f"| {group} | {total:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    data = work / "data"
    started = time.perf_counter()
    simulate(data, args.preset, args.seed, args.scale)
    groups = truth_groups(data)
    config: Config = load_config(
        db_path=str(work / "demo.duckdb"),
        hmac_secret="live-demo",
        serve_audit_path=str(work / "audit.jsonl"),
    )
    records = []
    for record in gateway_requests(data):
        record["_ts"] = parse_timestamp(record["timestamp"], "timestamp")
        records.append(record)
    records.sort(key=lambda r: r["_ts"])
    first, last = records[0]["_ts"], records[-1]["_ts"]
    cutoff: datetime = first + (last - first) * args.cutoff_share
    later = [r for r in records if r["_ts"] > cutoff]

    with Warehouse.open(config.db_path) as warehouse:
        ingest_paths(
            warehouse, [data / "traffic"], config=config, accounts=data / "accounts.csv", progress=False
        )
        scan(warehouse, config, until=cutoff)
        snapshot = verdict_snapshot(warehouse, config, now=cutoff)
        flagged_at_cutoff = flagged_by_group(warehouse, groups)
    state = MemoryState()
    subjects = publish(snapshot, state)
    audit = AuditLog(Path(config.serve_audit_path))
    decider = Decider(config, policy=PolicyWatcher(args.policy), state=state, audit=audit)
    replay_started = time.perf_counter()
    tally = replay(decider, later, groups)
    replay_seconds = time.perf_counter() - replay_started
    audit.close()

    # The service's audit log is live traffic for the next scan (a real deployment would
    # ingest it instead of, or beside, its gateway logs; ids match, so nothing doubles).
    with Warehouse.open(config.db_path) as warehouse:
        report = ingest_paths(warehouse, [Path(config.serve_audit_path)], config=config, progress=False)
        scan(warehouse, config)
        flagged_after = flagged_by_group(warehouse, groups)
    return {
        "preset": args.preset,
        "seed": args.seed,
        "scale": args.scale,
        "requests": len(records),
        "cutoff": cutoff.isoformat(),
        "replayed": len(later),
        "subjects_published": subjects,
        "replay_decisions_per_s": round(len(later) / replay_seconds),
        "audit_records_ingested": {"stored": report.stored, "duplicates": report.duplicates},
        "tally": {group: dict(counts) for group, counts in tally.items()},
        "extraction_at_cutoff": flagged_at_cutoff,
        "extraction_after_rescan": flagged_after,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument(
        "--cutoff-share", type=float, default=0.5, help="share of the time span scanned first"
    )
    parser.add_argument("--policy", help="policy YAML (default: the packaged default policy)")
    parser.add_argument("--out", type=Path, help="also write the JSON results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dg-live-demo-") as tmp:
        results = run(args, Path(tmp))
    print(table({g: Counter(c) for g, c in results["tally"].items()}))
    print()
    print("accounts at extraction (flagged/total): at the cut-off -> audit log ingested, rescanned")
    for group in sorted(results["extraction_after_rescan"]):
        before = results["extraction_at_cutoff"].get(group, (0, 0))
        after = results["extraction_after_rescan"][group]
        print(f"  {group}: {before[0]}/{before[1]} -> {after[0]}/{after[1]}")
    print(json.dumps({k: v for k, v in results.items() if k != "tally"}, indent=2))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
