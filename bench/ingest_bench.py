"""Ingest throughput and memory against DuckDB's own JSON reader.

Generates N synthetic canonical JSONL events (default 1,000,000; every prompt
text distinct, so fingerprints cannot be shared), then in the same run times:

1. ``duckdb``: a fresh DuckDB process doing ``CREATE TABLE ... AS SELECT * FROM
   read_json(file)`` (bare parse + materialise, nothing else);
2. ``ingest``: ``distillguard ingest FILE`` into a fresh warehouse (parse,
   validate, fingerprint every prompt, hash keys and IPs, dedup insert);
3. ``ingest (export)`` (with --roundtrip): ingest of what ``distillguard export
   --format jsonl`` wrote, where fingerprints travel with the rows.

With ``--formats litellm,otel,openai,langfuse,canonical`` it also asks the simulator for one
file per format (``distillguard simulate --formats F --scale S``) and times, per format
in the same run, DuckDB's bare ``read_json`` of that file against ``distillguard ingest``
of it: the issue-14 target is ingest within 3x of the bare read for every format. The
simulator writes no Langfuse export: ``langfuse`` is the simulated LiteLLM file converted to
observations (tests/ingest/langfuse_export.py), as LiteLLM's Langfuse logger lays them out.

Each step runs as a child process so its peak RSS (``wait4`` ru_maxrss) is its own.

    .venv/bin/python bench/ingest_bench.py --events 1000000 [--roundtrip] [--keep DIR]
    .venv/bin/python bench/ingest_bench.py --events 0 --formats litellm,otel,openai,canonical --scale 1

With ``--break-even 1000,10000,...`` both paths also ingest the first N records of each
format's file, in a child each: where a mapping's fixed cost per file is paid back
(``run.SQL_MIN_RECORDS``).

With ``--paths``, each format that has an SQL mapping (``run.MAPPED_FORMATS``) is also
ingested twice more, back to back on the same files: through its SQL mapping and through
its Python adapter (whichever of the two is the default).

With ``--as parquet`` or ``--as array`` the simulated records are first converted (records
pyarrow can type in one table with the first, as one Parquet file; JSON array documents of
at most 48 MiB, as an exporter pages them) and every figure is of the converted files, the
bare read being ``read_parquet`` or ``read_json(format = 'array')``.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TEMPLATES = (
    "Solve the following problem step by step and show all of your reasoning: {a} workers take {b} days "
    "to build {c} walls. How long do {d} workers need for {e} walls?",
    "You are grading an answer. Rubric: correctness {a}/10, clarity {b}/10. Question: what is {c} * {d}? "
    "Answer given: {e}. Return a JSON object with the score and a justification.",
    "Write a Python function that parses log line number {a} from {word}.log and returns the {b} most "
    "frequent status codes; include tests for {c} edge cases.",
    "Translate into French and keep the tone friendly: 'Dear {name}, your order {a}-{b} ships on day {c}.'",
    "Summarise this support ticket in {a} bullet points: customer {name} reports that the {word} page "
    "times out after {b} seconds when {c} users are online.",
    "Rewrite the paragraph about {word} so that it is neutral and suitable for a general audience, "
    "in at most {a} words. Paragraph {b}: the committee met on day {c} with {d} members.",
    "Call the weather tool for {name} and then plan a {a}-day trip with {b} stops and a budget of {c} euros.",
    "Explain like I'm {a}: why does {word} happen, and how is it related to {b} and {c}?",
)
WORDS = ("billing", "photosynthesis", "inflation", "gradient descent", "tides", "compilers", "vaccines")
NAMES = ("Alice", "Bob", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Jia")
OCTETS = ((11, 199), (0, 255), (0, 255), (1, 254))
MODELS = ("orion-2", "orion-2-mini", "orion-3", "orion-2-reasoning")


def generate(path: Path, events: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    start = datetime(2026, 2, 1, tzinfo=UTC)
    accounts = [f"acct-{i:06d}" for i in range(max(10, events // 40))]
    with path.open("w") as out:
        for i in range(events):
            account = rng.choice(accounts)
            slots = {k: rng.randint(2, 99_999) for k in "abcde"}
            prompt = rng.choice(TEMPLATES).format(name=rng.choice(NAMES), word=rng.choice(WORDS), **slots)
            prompt += f" (ref {i})"  # every text distinct: the worst case for fingerprinting
            ts = start + timedelta(seconds=i * 0.6 + rng.random())
            latency = round(rng.uniform(200, 9000), 1)
            model = rng.choice(MODELS)
            row = {
                "event_id": f"evt-{i:09d}",
                "source_format": "canonical",
                "ts_start": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "ts_end": (ts + timedelta(milliseconds=latency)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "latency_ms": latency,
                "account_id": account,
                "project_id": f"proj-{int(account[5:]) % 997}",
                "api_key_id": f"key-{account}-{rng.randint(0, 2)}",
                "client_ip": ".".join(str(rng.randint(lo, hi)) for lo, hi in OCTETS),
                "asn": f"AS{rng.randint(1000, 65000)}",
                "country": rng.choice(("US", "DE", "JP", "BR", "IN", "SG")),
                "user_agent": "OpenAI/Python 1.54.3",
                "sdk_fingerprint": "lang=python;pkg=1.54.3;os=Linux;arch=x64;runtime=CPython/3.12.1",
                "endpoint": "/v1/chat/completions",
                "model_requested": model,
                "model_served": model,
                "temperature": round(rng.random(), 2),
                "max_tokens": rng.choice((None, 1024, 4096)),
                "stream": rng.random() < 0.3,
                "tool_count": rng.choice((0, 0, 0, 2)),
                "message_count": rng.randint(1, 6),
                "input_tokens": rng.randint(20, 3000),
                "output_tokens": rng.randint(20, 2000),
                "cost_usd": round(rng.random() / 100, 6),
                "status": "success",
                "status_code": 200,
                "finish_reason": "stop",
                "prompt_text": prompt,
                "response_text": "Here is a careful answer. " * rng.randint(2, 12),
                "attrs": {},
            }
            out.write(json.dumps(row, separators=(",", ":")) + "\n")


def run_child(args: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in MiB, stdout) of one child process."""
    elapsed, rss, out, _cpu = run_child_cpu(args, env)
    return elapsed, rss, out


def run_child_cpu(args: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str, float]:
    """``run_child`` and the child's CPU seconds (user + system): on a machine shared with other
    jobs, wall time moves with their load, CPU time much less."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{err[-2000:]}")
    return elapsed, usage.ru_maxrss // 1024, out, usage.ru_utime + usage.ru_stime


DUCKDB_READ = """
import duckdb, sys
con = duckdb.connect(sys.argv[2])
con.execute("SET enable_progress_bar = false")
read = {"lines": "read_json(?, format='newline_delimited')", "array": "read_json(?, format='array')",
        "parquet": "read_parquet(?)"}[sys.argv[3] if len(sys.argv) > 3 else "lines"]
con.execute(f"CREATE TABLE t AS SELECT * FROM {read}", [sys.argv[1]])
print(con.execute("SELECT count(*) FROM t").fetchone()[0])
"""

ARRAY_PAGE_BYTES = 48 << 20  # under max_record_bytes (64 MB): the largest array read whole


def _json_records(files: list[Path]) -> Any:
    for source in files:
        with gzip.open(source, "rt") if source.suffix == ".gz" else source.open() as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)


def convert(files: list[Path], out: Path, kind: str) -> None:
    """The records of ``files`` (JSON lines) as Parquet or JSON array documents under ``out``."""
    out.mkdir(parents=True)
    if kind == "array":
        page: list[str] = []
        size = number = 0
        for record in _json_records(files):
            text = json.dumps(record)
            if page and size + len(text) + 2 > ARRAY_PAGE_BYTES:
                (out / f"part-{number:03d}.json").write_text("[" + ",\n".join(page) + "]")
                page, size, number = [], 0, number + 1
            page.append(text)
            size += len(text) + 2
        (out / f"part-{number:03d}.json").write_text("[" + ",\n".join(page) + "]")
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    kept: list[dict[str, Any]] = []
    for record in _json_records(files):
        try:  # a value of another JSON type in the same place has no Parquet column
            pa.Table.from_pylist([kept[0] if kept else record, record])
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            continue
        kept.append(record)
    table = pa.Table.from_pylist(kept)
    empty = [f.name for f in table.schema if pa.types.is_struct(f.type) and f.type.num_fields == 0]
    pq.write_table(table.drop_columns(empty), out / "part-000.parquet")


# One ingest in a child process with a format's SQL mapping on or off (run.SQL_FORMATS), the
# rest as `distillguard ingest` does it: the A/B of the two paths on the same file.
PATH_AB = """
import json, sys
from distillguard.config import load_config
from distillguard.ingest import ingest_paths, run
from distillguard.warehouse import Warehouse
mode, fmt, db, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
others = tuple(f for f in run.SQL_FORMATS if f != fmt)
run.SQL_FORMATS = (*others, fmt) if mode == "sql" else others
run.SQL_MIN_RECORDS = {}  # the path asked for, whatever the file's size
config = load_config(db_path=db)
with Warehouse.open(db) as warehouse:
    report = ingest_paths(warehouse, files, config=config, progress=False)
print(json.dumps({"read": report.read, "stored": report.stored, "reconciles": report.reconciles}))
"""


def time_paths(work: Path, fmt: str, python: str, env: dict[str, str], kind: str = "lines") -> None:
    """SQL mapping against Python adapter on the simulated files of ``fmt``, back to back."""
    files = [str(f) for f in sorted(_traffic(work, fmt, kind).glob("*"))]
    figures = []
    for mode in ("sql", "python"):
        db = work / f"ab-{mode}-{fmt}.duckdb"
        for old in work.glob(f"ab-{mode}-{fmt}.duckdb*"):
            old.unlink()
        seconds, rss, out, cpu = run_child_cpu([python, "-c", PATH_AB, mode, fmt, str(db), *files], env)
        counts = json.loads(out.strip().splitlines()[-1])  # the last line: the child's report
        assert counts["reconciles"], counts
        figures.append(
            f"{mode} {seconds:.1f} s ({cpu:.1f} s CPU) / {rss} MiB ({counts['read'] / seconds:,.0f} events/s)"
        )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{fmt:<9} paths: {'; '.join(figures)}; load {load}", flush=True)


def time_break_even(work: Path, fmt: str, python: str, env: dict[str, str], sizes: list[int]) -> None:
    """Both paths on the first N records of the simulated file of ``fmt``, for each N in ``sizes``:
    where the mapping's fixed cost per file (planning, staging database) is paid back."""
    source = sorted((work / f"sim-{fmt}" / "traffic").glob("*"))[0]
    for size in sizes:
        prefix = work / f"prefix-{fmt}-{size}.jsonl"
        with gzip.open(source, "rb") if source.suffix == ".gz" else source.open("rb") as handle:
            prefix.write_bytes(b"".join(line for _, line in zip(range(size), handle, strict=False)))
        figures = []
        for mode in ("sql", "python"):
            db = work / f"be-{mode}-{fmt}.duckdb"
            for old in work.glob(f"be-{mode}-{fmt}.duckdb*"):
                old.unlink()
            seconds, _rss, _out, cpu = run_child_cpu(
                [python, "-c", PATH_AB, mode, fmt, str(db), str(prefix)], env
            )
            figures.append((seconds, cpu))
        (sql_s, sql_cpu), (py_s, py_cpu) = figures
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"{fmt:<9} first {size:,} records ({prefix.stat().st_size / 2**20:.1f} MiB): "
            f"sql {sql_s:.1f} s ({sql_cpu:.1f} s CPU), python {py_s:.1f} s ({py_cpu:.1f} s CPU); load {load}",
            flush=True,
        )


def _langfuse_export() -> Any:
    """tests/ingest/langfuse_export.py: Langfuse observations from simulated LiteLLM payloads."""
    path = Path(__file__).resolve().parents[1] / "tests" / "ingest" / "langfuse_export.py"
    spec = importlib.util.spec_from_file_location("langfuse_export", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _traffic(work: Path, fmt: str, kind: str) -> Path:
    return work / (f"sim-{fmt}" if kind == "lines" else f"sim-{fmt}-{kind}") / "traffic"


def time_format(
    work: Path,
    fmt: str,
    preset: str,
    scale: float,
    python: str,
    cli: list[str],
    env: dict[str, str],
    kind: str = "lines",
) -> None:
    """Bare DuckDB read vs ``distillguard ingest`` of one simulated file of format ``fmt``."""
    out = work / f"sim-{fmt}"
    if not out.is_dir():
        source = "litellm" if fmt == "langfuse" else fmt  # the simulator writes no Langfuse export
        simulated = work / f"sim-{source}"
        if not simulated.is_dir():
            simulate = [*cli, "simulate", "--out", str(simulated), "--preset", preset, "--formats", source]
            run_child([*simulate, "--scale", str(scale), "--seed", "11", "--quiet"], env)
        if fmt == "langfuse":
            (out / "traffic").mkdir(parents=True)
            _langfuse_export().convert(
                sorted((simulated / "traffic").glob("*")), out / "traffic" / "langfuse-000.jsonl.gz"
            )
    traffic = _traffic(work, fmt, kind)
    if not traffic.is_dir():
        convert(sorted((out / "traffic").glob("*")), traffic, kind)
    files = sorted(traffic.glob("*"))
    size_mb = sum(f.stat().st_size for f in files) / 2**20
    pattern = str(traffic / "*")  # the simulator may split a format over several files
    for old in work.glob(f"*-{fmt}.duckdb*"):  # a kept work dir: time fresh databases
        old.unlink()
    bare = [python, "-c", DUCKDB_READ, pattern, str(work / f"bare-{fmt}.duckdb"), kind]
    duck_s, duck_rss, rows, duck_cpu = run_child_cpu(bare)
    db = work / f"dg-{fmt}.duckdb"
    ingest = [*cli, "ingest", *map(str, files), "--db", str(db), "--json"]
    ing_s, ing_rss, report, ing_cpu = run_child_cpu(ingest, env)
    counts = json.loads(report)
    print(
        f"{fmt:<9} {len(files)} {kind} file(s) ({size_mb:,.0f} MiB, {int(rows):,} records): "
        f"duckdb bare read {duck_s:.1f} s ({duck_cpu:.1f} s CPU) "
        f"/ {duck_rss} MiB; distillguard ingest {ing_s:.1f} s ({ing_cpu:.1f} s CPU) / {ing_rss} MiB "
        f"(stored {counts['stored']:,}, quarantined {counts['quarantined']:,}); "
        f"ratio {ing_s / duck_s:.2f}x, {counts['read'] / ing_s:,.0f} events/s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--roundtrip", action="store_true", help="also time re-ingest of an export")
    parser.add_argument("--keep", type=Path, help="work directory to keep (default: a temp dir, removed)")
    parser.add_argument("--formats", default="", help="comma list of simulated formats to time too")
    parser.add_argument("--preset", default="small", help="simulator preset for --formats")
    parser.add_argument("--scale", type=float, default=1.0, help="simulator --scale for --formats")
    parser.add_argument(
        "--paths",
        action="store_true",
        help="for each of --formats with an SQL mapping, also time the mapping against the Python adapter",
    )
    parser.add_argument(
        "--break-even",
        default="",
        help="comma list of record counts: time both paths on that many first records of each of --formats",
    )
    parser.add_argument(
        "--as",
        dest="kind",
        choices=("lines", "parquet", "array"),
        default="lines",
        help="time the simulated records converted to Parquet or JSON array documents",
    )
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="dg-ingest-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    cli = [str(Path(python).parent / "distillguard")]
    env = {**os.environ, "DISTILLGUARD_HMAC_SECRET": "bench-secret"}
    try:
        from distillguard.ingest.run import SQL_FORMATS

        for fmt in [f.strip() for f in args.formats.split(",") if f.strip()]:
            time_format(work, fmt, args.preset, args.scale, python, cli, env, args.kind)
            if args.paths and fmt in SQL_FORMATS:
                time_paths(work, fmt, python, env, args.kind)
            if args.break_even:
                sizes = [int(n) for n in args.break_even.split(",") if n.strip()]
                time_break_even(work, fmt, python, env, sizes)
        if args.events <= 0:
            return
        data = work / "events.jsonl"
        t0 = time.perf_counter()
        generate(data, args.events)
        size_mb = data.stat().st_size / 2**20
        print(f"generated {args.events:,} events, {size_mb:,.0f} MiB in {time.perf_counter() - t0:.1f} s")

        duck_s, duck_rss, out = run_child([python, "-c", DUCKDB_READ, str(data), str(work / "bare.duckdb")])
        print(f"duckdb read_json: {duck_s:.1f} s, peak RSS {duck_rss} MiB ({out.strip()} rows)")

        db = work / "dg.duckdb"
        ing_s, ing_rss, out = run_child([*cli, "ingest", str(data), "--db", str(db), "--json"], env)
        counts = json.loads(out)
        print(
            f"distillguard ingest: {ing_s:.1f} s, peak RSS {ing_rss} MiB, "
            f"stored {counts['stored']:,} quarantined {counts['quarantined']:,}; "
            f"ratio {ing_s / duck_s:.2f}x duckdb"
        )
        if args.roundtrip:
            export = work / "export.jsonl"
            run_child([*cli, "export", "--format", "jsonl", "--out", str(export), "--db", str(db)], env)
            rt_s, rt_rss, out = run_child(
                [*cli, "ingest", str(export), "--db", str(work / "rt.duckdb"), "--json"], env
            )
            print(
                f"ingest of export (fingerprints carried): {rt_s:.1f} s, peak RSS {rt_rss} MiB, "
                f"ratio {rt_s / duck_s:.2f}x duckdb (export {export.stat().st_size / 2**20:,.0f} MiB)"
            )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
