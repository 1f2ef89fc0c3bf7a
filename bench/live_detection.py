"""Live time to detection: replay a data set into follow mode with `watch` and the decision service running.

    python bench/live_detection.py                       # simulator (tiny) and external generator
    python bench/live_detection.py --data sim --preset tiny --speedup 1000
    python bench/live_detection.py --data external --scale 0.3 --speedup 2000
    python bench/live_detection.py --cadence 120           # a pass every 120 replayed minutes

For each data set:

1. generate it (``distillguard simulate``, or ``../shared/eval/external_traffic.py``);
   ground truth is read only for the tally;
2. start Redis and ``distillguard watch LOGS --publish redis://...`` (follow mode plus a
   detection pass every ``--every`` seconds, publishing verdicts where every decision
   service replica loads them);
3. replay every request in timestamp order at a fixed speed-up: before a request is
   written to the followed log, the gateway asks the decision service (``Decider``, the
   code behind ``POST /v1/decide``, on a ``RedisState`` replica of the published
   verdicts) with the service clock at the request's timestamp, so rate budgets see
   simulated time, not the compressed wall clock;
4. report per campaign the hours from onset to the first flag (the first pass whose
   verdicts name one of its accounts, in replayed time) and to the first throttle or
   block at the gateway, and the share of its exchanges served (neither throttled nor
   blocked); benign traffic's stopped share is reported beside it.

With ``--cadence MINUTES`` the replay runs in replayed time instead (``cadence_run``): after
every MINUTES of traffic the gateway clock stops while follow mode commits what was written
and a pass scans and publishes. A compressed real-time replay measures how often this machine
can scan as much as what the detectors see; the cadence replay measures the detectors and the
policy at a cadence a provider's machine keeps up with.

Then, with ``--throughput``, the same files are written at once and follow mode with
passes running (in process) reads them: events/s sustained with passes.

Every request is written to the log, stopped or not: the gateway logs what it refused
too, and the attacker keeps asking. Figures taken on a shared machine are noisy; the
load average is recorded with them.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from distillguard.config import load_config
from distillguard.decisions.policy import PolicyWatcher
from distillguard.ingest.run import ADAPTERS
from distillguard.ingest.sniff import sniff_file
from distillguard.serve.decider import Decider, DecideRequest
from distillguard.serve.redis_state import RedisState

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_tally import Replayed, replayed_time, stopped_because, tally

REPO = Path(__file__).resolve().parents[1]
EXTERNAL = REPO.parent / "shared" / "eval" / "external_traffic.py"


# ---------------------------------------------------------------------- data sets
def simulate(out: Path, preset: str, seed: int, scale: float) -> tuple[list[Path], Path, dict[str, str]]:
    cli = str(Path(sys.executable).with_name("distillguard"))
    subprocess.run(
        [cli, "simulate", "--preset", preset, "--seed", str(seed), "--scale", str(scale),
         "--formats", "openai,litellm", "--out", str(out), "--quiet"],
        check=True,
    )  # fmt: skip
    truth = {}
    with (out / "truth" / "accounts.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            campaign = row["campaign_id"]
            truth[row["account_id"]] = f"campaign {campaign}" if campaign else row["population"]
    return sorted((out / "traffic").glob("*.jsonl*")), out / "accounts.csv", truth


def external(out: Path, seed: int, scale: float) -> tuple[list[Path], Path, dict[str, str]]:
    command = [sys.executable, str(EXTERNAL), "--out", str(out), "--seed", str(seed), "--scale", str(scale)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    truth = {}
    with (out / "labels.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            campaign = row["campaign"]
            truth[row["account_id"]] = f"campaign {campaign}" if campaign else row["population"]
    return sorted(out.glob("gateway.*.jsonl")), out / "accounts.csv", truth


def load_requests(files: list[Path], config: Any) -> list[Replayed]:
    """Every record with its timestamp and the decide request a gateway would send for it."""
    records: list[Replayed] = []
    for path in files:
        fmt = sniff_file(path, max_record_bytes=int(config.max_record_bytes))
        adapter = ADAPTERS[str(fmt)]
        name = path.name.removesuffix(".gz")
        opener: Any = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            for line in handle:
                obj = json.loads(line)
                event = next(e for e in adapter.to_events(obj, config) if isinstance(e, dict))
                records.append(Replayed(event["ts_start"], name, line, _decide_request(obj, event)))
    records.sort(key=lambda r: r.ts)
    return records


def _decide_request(obj: dict[str, Any], event: dict[str, Any]) -> DecideRequest:
    body = obj.get("request") if isinstance(obj.get("request"), dict) else None
    if body is None:  # LiteLLM and others: the request as the gateway had it
        body = {"model": event.get("model_requested"), "messages": obj.get("messages") or []}
    headers = obj.get("headers") if isinstance(obj.get("headers"), dict) else {}
    if not headers and event.get("user_agent"):
        headers = {"user-agent": event["user_agent"]}
    return DecideRequest(
        account_id=str(event["account_id"]),
        api_key_id=event.get("api_key_id"),
        end_user_id=event.get("end_user_id"),
        client_ip=event.get("client_ip"),
        headers=headers,
        model=event.get("model_requested"),
        request=body,
        request_id=event.get("event_id"),
    )


# ------------------------------------------------------------------------ services
def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    program = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    process = subprocess.Popen(
        [program, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    return process, f"redis://127.0.0.1:{port}/0"


def start_watch(logs: Path, db: Path, accounts: Path, redis_url: str, every: float, passes: Path) -> Any:
    cli = str(Path(sys.executable).with_name("distillguard"))
    env = {**os.environ, "DISTILLGUARD_HMAC_SECRET": "live-detection"}
    command = [cli, "watch", str(logs), "--db", str(db), "--accounts", str(accounts), "--every", str(every),
               "--publish", redis_url, "--passes-log", str(passes), "--quiet"]  # fmt: skip
    return subprocess.Popen(command, env=env, stderr=subprocess.PIPE)


# -------------------------------------------------------------------------- replay
def replay(
    records: list[Replayed], logs: Path, decider: Decider, speedup: float
) -> list[tuple[str, float, str | None]]:
    """Decide, then append each record at its scaled time; returns (action, wall offset, why
    it was stopped) per record."""
    handles = {name: (logs / name).open("ab") for name in {r.log for r in records}}
    first = records[0].ts
    started = time.monotonic()
    outcomes: list[tuple[str, float, str | None]] = []
    last_flush = started
    try:
        for record in records:
            due = started + (record.ts - first).total_seconds() / speedup
            now = time.monotonic()
            if due > now:
                for handle in handles.values():
                    handle.flush()
                time.sleep(due - now)
            result = decider.decide(record.request, now=record.ts)
            outcomes.append((result.action, time.monotonic() - started, stopped_because(result)))
            handles[record.log].write(record.line)
            if time.monotonic() - last_flush > 0.1:
                for handle in handles.values():
                    handle.flush()
                last_flush = time.monotonic()
    finally:
        for handle in handles.values():
            handle.close()
    return outcomes


def count_lines(path: Path) -> int:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def read_passes(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    passes = []
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        entry["wall"] = datetime.fromisoformat(entry["finished_at"]).timestamp()
        passes.append(entry)
    return passes


def live_run(
    name: str, files: list[Path], accounts: Path, truth: dict[str, str], work: Path, args: Any
) -> dict[str, Any]:
    config = load_config(db_path=str(work / "w.duckdb"), hmac_secret="live-detection")
    loaded = time.perf_counter()
    records = load_requests(files, config)
    load_s = time.perf_counter() - loaded
    logs = work / "logs"
    logs.mkdir()
    passes_log = work / "passes.jsonl"
    redis, redis_url = start_redis()
    watch = start_watch(logs, work / "w.duckdb", accounts, redis_url, args.every, passes_log)
    # a loaded shared machine answers Redis in tens of ms; the service's 25 ms default would
    # fall back to its local snapshot now and then (harmless, but noisy in the output)
    state = RedisState(redis_url, poll_interval_s=0.2, timeout_ms=250)
    decider = Decider(config, policy=PolicyWatcher(None), state=state, audit=None)
    try:
        time.sleep(3.0)  # watch is up and following before the first request
        replay_started_wall = datetime.now(UTC).timestamp()
        begun = time.monotonic()
        outcomes = replay(records, logs, decider, args.speedup)
        replay_s = time.monotonic() - begun
        time.sleep(args.every * 2 + 5)  # the last records reach a pass
    finally:
        watch.send_signal(signal.SIGTERM)
        try:
            _, stderr = watch.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            watch.kill()
            stderr = b""
        state.close()
        redis.terminate()
        redis.wait(timeout=10)
    passes = read_passes(passes_log)
    walls = [wall for _, wall, _ in outcomes]
    flags = [
        (replayed_time(p["wall"] - replay_started_wall, records, walls), set(p["flagged_accounts"]))
        for p in passes
    ]
    span = (records[-1].ts - records[0].ts).total_seconds()
    results = {
        "data": name,
        "requests": len(records),
        "span_hours": round(span / 3600, 1),
        "speedup_asked": args.speedup,
        "speedup_achieved": round(span / replay_s, 1),
        "replay_s": round(replay_s, 1),
        "load_requests_s": round(load_s, 1),
        "watch_exit": watch.returncode,
        "watch_stderr_tail": stderr.decode("utf-8", "replace")[-500:],
        "passes": len(passes),
        "pass_scan_s": [round(p["scan_s"], 1) for p in passes],
        "pass_publish_s": [round(p["publish_s"], 1) for p in passes],
        "pass_new_records": [p["new_records"] for p in passes],
        **tally(
            records, [action for action, _, _ in outcomes], truth, flags, [why for _, _, why in outcomes]
        ),
    }
    if args.throughput:
        results["throughput"] = throughput(files, accounts, work, args.throughput_every, len(records))
    return results


def cadence_run(
    name: str, files: list[Path], accounts: Path, truth: dict[str, str], work: Path, args: Any
) -> dict[str, Any]:
    """The replay in replayed time: a detection pass every ``args.cadence`` minutes of traffic.

    The gateway clock stops while follow mode catches up and the pass runs and publishes, as
    if the machine kept up with that cadence in real time. What is left is what the detectors
    and the policy decide, not how fast this machine scans a compressed replay: at real time,
    a pass on the medium preset's million events takes about 13 s on two cores
    (docs/BENCHMARKS.md), well inside a cadence of minutes. Everything else is the real
    thing: follow mode reading the log the gateway writes, ``Watcher``'s pass publishing to
    Redis, and ``Decider`` answering each request from a ``RedisState`` replica with its
    clock at the request's time.
    """
    from datetime import timedelta

    from distillguard.ingest.accounts import load_accounts
    from distillguard.ingest.follow import Follower
    from distillguard.warehouse import Warehouse
    from distillguard.watch import Watcher

    config = load_config(db_path=str(work / "w.duckdb"), hmac_secret="live-detection")
    records = load_requests(files, config)
    logs = work / "logs"
    logs.mkdir()
    redis, redis_url = start_redis()
    state = RedisState(redis_url, poll_interval_s=3600.0, timeout_ms=1000)  # refreshed after each pass
    decider = Decider(config, policy=PolicyWatcher(None), state=state, audit=None)
    warehouse = Warehouse.open(config.db_path)
    load_accounts(warehouse, accounts, config=config)
    follower = Follower(warehouse, [logs], config=config)
    watcher = Watcher(config, [logs], publish=redis_url)
    handles = {name: (logs / name).open("ab") for name in {r.log for r in records}}
    cadence = timedelta(minutes=args.cadence)
    next_pass = records[0].ts + cadence
    actions: list[str] = []
    whys: list[str | None] = []
    flags: list[tuple[float, set[str]]] = []
    begun = time.monotonic()

    def detection_pass(at: datetime) -> None:
        for handle in handles.values():
            handle.flush()
        waited = time.monotonic()
        while follower.stats.committed_records < len(actions):  # every line written so far
            if follower.poll() == 0:
                follower.commit()
                if time.monotonic() - waited > 60:
                    raise RuntimeError(
                        f"follow mode committed {follower.stats.committed_records} of {len(actions)} records"
                    )
                time.sleep(follower.poll_seconds)
        covered = sum(p.new_records for p in watcher.passes)
        new = follower.stats.committed_records - covered
        if new == 0:  # as in ``watch``: an interval with nothing new costs nothing
            return
        follower.warehouse = watcher.detection_pass(follower.warehouse, new)
        report = watcher.passes[-1]
        if report.publish_error:
            raise RuntimeError(f"publishing the verdicts failed: {report.publish_error}")
        state.refresh()
        flags.append((at.timestamp(), set(report.flagged_accounts)))

    try:
        for record in records:
            if record.ts >= next_pass:
                detection_pass(next_pass)
                while record.ts >= next_pass:
                    next_pass += cadence
            result = decider.decide(record.request, now=record.ts)
            actions.append(result.action)
            whys.append(stopped_because(result))
            handles[record.log].write(record.line)
    finally:
        for handle in handles.values():
            handle.close()
        follower.close()
        follower.warehouse.close()
        state.close()
        redis.terminate()
        redis.wait(timeout=10)
    span = (records[-1].ts - records[0].ts).total_seconds()
    return {
        "data": name,
        "requests": len(records),
        "span_hours": round(span / 3600, 1),
        "cadence_minutes": args.cadence,
        "replay_s": round(time.monotonic() - begun, 1),
        "passes": len(watcher.passes),
        "pass_scan_s": [round(p.scan_s, 1) for p in watcher.passes],
        "pass_new_records": [p.new_records for p in watcher.passes],
        **tally(records, actions, truth, flags, whys),
    }


def throughput(files: list[Path], accounts: Path, work: Path, every: float, expected: int) -> dict[str, Any]:
    """All files written at once; follow mode with passes running reads them (in process)."""
    from distillguard.watch import Watcher

    logs = work / "burst"
    logs.mkdir()
    for path in files:
        opener: Any = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as source, (logs / path.name.removesuffix(".gz")).open("wb") as target:
            shutil.copyfileobj(source, target)
    config = load_config(db_path=str(work / "burst.duckdb"), hmac_secret="live-detection")
    watcher = Watcher(config, [logs], every_s=every, accounts=accounts)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,))
    started = time.monotonic()
    thread.start()
    while time.monotonic() - started < 3600 and thread.is_alive():
        follower = watcher.follower
        if follower is not None and follower.stats.committed_records >= expected:
            break
        time.sleep(0.2)
    drained = time.monotonic() - started
    stop.set()
    thread.join()
    read = watcher.follower.stats.committed_records if watcher.follower else 0
    return {
        "events": read,
        "seconds": round(drained, 1),
        "events_per_s": round(read / drained),
        "passes_while_reading": len(watcher.passes),
        "pass_scan_s": [round(p.scan_s, 1) for p in watcher.passes],
    }


def markdown(results: dict[str, Any]) -> str:
    if "cadence_minutes" in results:
        how = f"a pass every {results['cadence_minutes']} replayed minutes (replay {results['replay_s']} s)"
    else:
        how = (
            f"replayed at {results['speedup_achieved']}x (asked {results['speedup_asked']}x) "
            f"in {results['replay_s']} s"
        )
    lines = [
        f"**{results['data']}**: {results['requests']:,} requests over {results['span_hours']} h, {how}; "
        f"{results['passes']} passes (scan s: {results['pass_scan_s']})",
        "",
        "| campaign | accounts | exchanges | hours to first flag | hours to first throttle/block "
        "| served (not throttled/blocked) | served in full (allowed) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, c in results["campaigns"].items():
        lines.append(
            f"| {name} | {c['accounts']} | {c['exchanges']:,} | {c['hours_to_first_flag']} | "
            f"{c['hours_to_first_stop']} | {c['served_share']:.1%} | {c['served_in_full_share']:.1%} |"
        )
    b = results["benign"]
    allowed = b["actions"].get("allow", 0) / max(1, b["exchanges"])
    lines.append(
        f"| benign (all) | | {b['exchanges']:,} | | | {1 - b['stopped_share']:.2%} | {allowed:.2%} |"
    )
    if "throughput" in results:
        t = results["throughput"]
        lines.append("")
        lines.append(
            f"follow with passes running: {t['events']:,} events in {t['seconds']} s = "
            f"{t['events_per_s']:,} events/s ({t['passes_while_reading']} passes while reading)"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="sim,external", help="sim, external, or both (comma list)")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", type=float, default=None, help="sim: 1.0, external: 0.3 unless given")
    parser.add_argument("--speedup", type=float, default=None, help="sim: 1000, external: 2000 unless given")
    parser.add_argument("--every", type=float, default=20.0, help="seconds between detection passes")
    parser.add_argument(
        "--throughput", action="store_true", help="also measure follow's events/s with passes"
    )
    parser.add_argument(
        "--throughput-every",
        type=float,
        default=3.0,
        help="seconds between passes while measuring throughput (short, so passes run while reading)",
    )
    parser.add_argument("--throughput-only", action="store_true", help="skip the replay; throughput only")
    parser.add_argument(
        "--cadence",
        type=float,
        default=None,
        help="minutes of replayed traffic between passes; the replay waits for each pass "
        "(detection latency at that cadence, whatever this machine's speed)",
    )
    parser.add_argument("--out", type=Path, help="also write the JSON results here")
    args = parser.parse_args()
    everything = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "command": " ".join(sys.argv),
        "runs": [],
    }
    for name in args.data.split(","):
        run_args = argparse.Namespace(**vars(args))
        with tempfile.TemporaryDirectory(prefix=f"dg-live-{name}-") as tmp:
            work = Path(tmp)
            if name == "sim":
                run_args.speedup = args.speedup or 1000.0
                files, accounts, truth = simulate(work / "data", args.preset, args.seed, args.scale or 1.0)
            else:
                run_args.speedup = args.speedup or 2000.0
                files, accounts, truth = external(work / "data", args.seed, args.scale or 0.3)
            load_before = os.getloadavg()
            if args.throughput_only:
                expected = sum(count_lines(path) for path in files)
                result = {
                    "data": name,
                    "throughput": throughput(files, accounts, work, args.throughput_every, expected),
                }
            elif args.cadence:
                result = cadence_run(name, files, accounts, truth, work, run_args)
            else:
                result = live_run(name, files, accounts, truth, work, run_args)
            result["loadavg_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
        everything["runs"].append(result)  # type: ignore[attr-defined]
        print(markdown(result) if "campaigns" in result else json.dumps(result), flush=True)
        print(f"(load average before/after: {result['loadavg_before_after']})", flush=True)
    if args.out:
        args.out.write_text(json.dumps(everything, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
