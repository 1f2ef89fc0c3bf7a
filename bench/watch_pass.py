"""What one detection pass costs after a few minutes of new traffic (issue 14, point 6).

A simulated data set is split by its ground truth (``truth/events.parquet`` gives every
event's time) into its history and its last ``--minutes`` of traffic. Then, each step in a
child process with its own wall time, CPU time and peak RSS (``wait4``):

1. DuckDB's bare ``read_json`` of every traffic file, one format at a time (the ratio's base);
2. ``distillguard ingest`` of the history, with the account records;
3. a first scan: what ``distillguard watch`` runs before anything is remembered;
4. ``distillguard ingest`` of the last minutes, as follow mode would have added them;
5. one pass: the scan ``watch`` runs after new records (``scan.scan``, no report written).

The split keeps the simulator's files: a file that holds none of the last minutes is linked
into the history unchanged; one that does is rewritten without those lines, and they go to a
file of their own. Lines are matched by the event id each format spells (the simulator writes
one exchange per line).

    .venv/bin/python bench/watch_pass.py --data /tmp/large/data --work /tmp/large/pass --minutes 5

A run cut short (the large preset's ingest takes about an hour) goes on from a step with
``--from STEP``: the split files and the warehouse in ``--work`` are kept, and from
``first_scan`` the remembered prompt matches are forgotten first, so that scan is a cold one
whatever a killed run left. A warehouse that already holds the last minutes (a run that got
past ``ingest_new``) is refused from ``first_scan``: that scan would read them.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import platform
import re
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_bench import DUCKDB_READ, run_child_cpu

DG = str(Path(sys.executable).with_name("distillguard"))
# the file's format from the simulator's name: litellm-000.jsonl.gz
FORMAT_OF = re.compile(r"^([a-z]+)-\d+\.")
# The simulator's event ids end in 16 hex digits, which every format's line holds somewhere
# (as an id, a span id, an image URL); a trace id's 32 digits are not one.
HEX_ID = re.compile(rb"(?<![0-9a-f])[0-9a-f]{16}(?![0-9a-f])")
# the format an event id belongs to, by the prefix ``simulate.sinks.Sinks.PREFIX`` gives it
PREFIXES = {"chatcmpl-": "litellm", "req_": "openai", "evt_": "canonical"}

PASS = """
import json, sys, time
from distillguard.config import load_config
from distillguard.scan import scan
from distillguard.warehouse import Warehouse
config = load_config(None, db_path=sys.argv[1])
with Warehouse.open(config.db_path) as warehouse:
    warehouse.engine.execute("SET enable_progress_bar = false")
    started = time.perf_counter()
    result = scan(warehouse, config)
    print(json.dumps({"events": result.events, "wall_s": round(time.perf_counter() - started, 1),
                      "phases_s": result.timings_s, "verdicts": dict(result.verdicts)}))
"""


STEPS = ("ingest_history", "first_scan", "ingest_new", "pass")


def held_back_ids(truth: Path, minutes: float) -> tuple[dict[str, set[bytes]], datetime, datetime]:
    """Per format, the ids (their 16 hex digits) of the events in the last ``minutes``."""
    events = pq.read_table(truth, columns=["event_id", "ts_start"])
    last = pc.max(events["ts_start"]).as_py()
    since = last - timedelta(minutes=minutes)
    held: dict[str, set[bytes]] = {}
    for event_id in events.filter(pc.greater(events["ts_start"], since))["event_id"].to_pylist():
        fmt = next((f for prefix, f in PREFIXES.items() if event_id.startswith(prefix)), "otel")
        held.setdefault(fmt, set()).add(event_id[-16:].encode())
    return held, since, last


def split(traffic: Path, work: Path, held: dict[str, set[bytes]]) -> tuple[Path, Path, int]:
    """``work/history`` and ``work/new``, and how many lines went to ``new``. A format's files
    are read from the last written back, until every held-back id of that format is found."""
    history, new = work / "history", work / "new"
    for folder in (history, new):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    to_find = {fmt: set(ids) for fmt, ids in held.items()}
    moved = 0
    for path in sorted((p for p in traffic.iterdir() if p.is_file()), key=lambda p: p.name, reverse=True):
        match = FORMAT_OF.match(path.name)
        wanted = to_find.get(match.group(1), set()) if match else set()
        tail: list[bytes] = []
        if wanted:
            with gzip.open(path, "rb") as source:
                for line in source:
                    found = wanted.intersection(HEX_ID.findall(line))
                    if found:
                        tail.append(line)
                        wanted -= found
        if not tail:
            os.link(path, history / path.name)
            continue
        keep = set(tail)
        with gzip.open(path, "rb") as source, gzip.open(history / path.name, "wb", compresslevel=4) as out:
            out.writelines(line for line in source if line not in keep)
        with gzip.open(new / path.name, "wb", compresslevel=4) as out:
            out.writelines(tail)
        moved += len(tail)
    missing = sum(len(ids) for ids in to_find.values())
    if missing:
        raise SystemExit(f"{missing} held-back events were not found in {traffic}")
    return history, new, moved


def child(args: list[str]) -> dict[str, object]:
    wall, rss, out, cpu = run_child_cpu(args)
    text = out.strip()
    said: object = text
    # ingest prints its report over several lines, the pass one line after any progress bar;
    # ingest's per-file list is left out
    for candidate in (text, text.splitlines()[-1] if text else ""):
        with contextlib.suppress(ValueError):
            parsed = json.loads(candidate)
            said = {k: v for k, v in parsed.items() if k != "files"} if isinstance(parsed, dict) else parsed
            break
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "peak_rss_mib": rss, "said": said}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="a `distillguard simulate` output folder")
    parser.add_argument("--work", type=Path, required=True, help="folder for the split files and warehouse")
    parser.add_argument("--minutes", type=float, default=5.0, help="traffic held back for the pass")
    parser.add_argument("--skip-bare-read", action="store_true")
    parser.add_argument(
        "--from", dest="start", choices=STEPS, help="go on from this step, with --work's split and warehouse"
    )
    args = parser.parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    db = work / "warehouse.duckdb"
    report: dict[str, object] = {
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    history, new = work / "history", work / "new"
    if args.start is None:
        for leftover in work.glob("warehouse.duckdb*"):
            leftover.unlink()
        held, since, last = held_back_ids(args.data / "truth" / "events.parquet", args.minutes)
        history, new, moved = split(args.data / "traffic", work, held)
        count = sum(len(ids) for ids in held.values())
        report["held_back"] = {
            "events": count, "lines": moved, "from": since.isoformat(), "to": last.isoformat()
        }
        print(json.dumps(report["held_back"]), flush=True)
    else:
        # the split's history is read only by its ingest, the last minutes by theirs
        needed = [history] if args.start == "ingest_history" else []
        needed += [new] if STEPS.index(args.start) <= STEPS.index("ingest_new") else []
        if not all(folder.is_dir() for folder in needed):
            raise SystemExit(f"--from {args.start}: no split files in {work}; run without --from first")
        report["resumed_from"] = args.start
        if args.start == "ingest_history":
            for leftover in work.glob("warehouse.duckdb*"):
                leftover.unlink()
        elif STEPS.index(args.start) <= STEPS.index("first_scan"):
            with duckdb.connect(str(db)) as con:  # a cold first scan, whatever a killed one remembered
                remembered = con.execute(
                    "SELECT count(*) FROM information_schema.tables WHERE table_name = 'prompt_matches'"
                ).fetchone()
                if remembered and remembered[0]:
                    con.execute("DELETE FROM prompt_matches")
                # a run that got past ingest_new holds the last minutes already: its first scan
                # would read them and the pass would find nothing new to cost
                _, since, _ = held_back_ids(args.data / "truth" / "events.parquet", args.minutes)
                stored = con.execute("SELECT count(*) FROM events WHERE ts_start > ?", [since]).fetchone()
                if stored and stored[0]:
                    raise SystemExit(
                        f"--from {args.start}: {db} already holds {stored[0]:,} events of the last "
                        f"{args.minutes:g} minutes; run --from ingest_history, or without --from"
                    )
    if not args.skip_bare_read and args.start is None:
        bare: dict[str, object] = {}
        formats = sorted({m.group(1) for p in history.iterdir() if (m := FORMAT_OF.match(p.name))})
        for fmt in formats:
            target = work / "bare.duckdb"
            target.unlink(missing_ok=True)
            bare[fmt] = child(
                [sys.executable, "-c", DUCKDB_READ, str(args.data / "traffic" / f"{fmt}-*"), str(target)]
            )
            target.unlink(missing_ok=True)
            print(fmt, json.dumps(bare[fmt]), flush=True)
        report["bare_read"] = bare
    steps = [
        (
            "ingest_history",
            [
                DG,
                "ingest",
                str(history),
                "--accounts",
                str(args.data / "accounts.csv"),
                "--db",
                str(db),
                "--quiet",
                "--json",
            ],
        ),
        ("first_scan", [sys.executable, "-c", PASS, str(db)]),
        ("ingest_new", [DG, "ingest", str(new), "--db", str(db), "--quiet", "--json"]),
        ("pass", [sys.executable, "-c", PASS, str(db)]),
    ]
    for name, command in steps[STEPS.index(args.start) if args.start else 0 :]:
        report[name] = child(command)
        print(name, json.dumps(report[name]), flush=True)
    report["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    (work / "watch_pass.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
