"""Fast path for canonical records: DuckDB parses the file, SQL validates it.

The records come from the file's record source (``sources``: JSON lines, a JSON array
document or Parquet); what follows is the same for all three.

The line-by-line path costs a ``json.loads`` and two dict conversions per event;
for canonical files DuckDB's own ``read_json`` (parallel, vectorised) does the
parsing and the typing; SQL cleans text as ``wire.clean_text`` does, masks prompt
skeletons (RE2, ``fingerprints.masked_sql``) and computes keyed hashes and the request
shape. Python only digests each *distinct* text and skeleton (blake2b) and runs MinHash
once per distinct skeleton. Rows failing validation are quarantined by SQL with a reason.
``ingest_staged`` also finishes the stage of an adapter's SQL mapping (``mapped.py``).

If DuckDB cannot read the file (malformed JSON, bad bytes, a truncated stream,
an odd layout) nothing has been written yet and the caller falls back to the
line-by-line path, which finds and quarantines the exact bad lines.
Memory stays bounded: the staging database spills to disk under a fixed limit
and every step streams record batches of ``batch_size_rows``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from distillguard import fingerprints
from distillguard.config import Config, deployment_secret
from distillguard.engine import sql_string
from distillguard.ingest import line_numbers, sources
from distillguard.ingest.declarative import ROUTE_TO_PYTHON
from distillguard.ingest.limits import LENGTH_COLUMNS
from distillguard.ingest.stage_insert import STAGING_MEMORY, insert_staged
from distillguard.schema import EVENTS, QUARANTINE
from distillguard.warehouse import Warehouse

if TYPE_CHECKING:
    from distillguard.ingest.run import FileReport

log = logging.getLogger("distillguard.ingest")

STAGE_PREFIX = ".dg-stage-"  # + the staging process's id + "-"

_INTS = [f.name for f in EVENTS if pa.types.is_integer(f.type) and f.name != "ingest_line"]
_FLOATS = [f.name for f in EVENTS if pa.types.is_floating(f.type)]
_BOOLS = [f.name for f in EVENTS if pa.types.is_boolean(f.type)]
_TEXTS = [
    f.name
    for f in EVENTS
    if pa.types.is_string(f.type) and f.name not in ("ingest_file", "source_format", "event_id", "account_id")
]


def _columns() -> dict[str, str]:
    """Record source columns: every input as VARCHAR except the list/map columns."""
    names = [*_INTS, *_FLOATS, *_BOOLS, *_TEXTS, "event_id", "account_id", "source_format"]
    names += ["ts_start", "ts_end", "api_key_id", "client_ip"]
    spec = {name: "VARCHAR" for name in names}
    spec["prompt_minhash"] = "JSON"
    spec["attrs"] = "JSON"
    return spec


_MACROS = """
CREATE MACRO dg_epoch(n) AS CASE
    WHEN n <= 0 THEN NULL
    WHEN n < 5e9 THEN to_timestamp(n)
    WHEN n < 5e12 THEN to_timestamp(n / 1e3)
    WHEN n < 5e15 THEN to_timestamp(n / 1e6)
    WHEN n < 1e19 THEN to_timestamp(n / 1e9) END;
CREATE MACRO dg_epoch_int(n) AS CASE
    WHEN n <= 0 THEN NULL
    WHEN n < 5000000000 THEN make_timestamp(CAST(n * 1000000 AS BIGINT))
    WHEN n < 5000000000000 THEN make_timestamp(CAST(n * 1000 AS BIGINT))
    WHEN n < 5000000000000000 THEN make_timestamp(CAST(n AS BIGINT))
    WHEN n < 9000000000000000000 THEN make_timestamp(CAST(n // 1000 AS BIGINT)) END;
CREATE MACRO dg_ts_any(x) AS CASE
    WHEN regexp_full_match(trim(x), '[0-9]{1,19}')
        THEN CAST(dg_epoch_int(CAST(trim(x) AS HUGEINT)) AS TIMESTAMPTZ)
    WHEN TRY_CAST(x AS DOUBLE) IS NULL THEN TRY_CAST(x AS TIMESTAMPTZ)
    ELSE dg_epoch(TRY_CAST(x AS DOUBLE)) END;
CREATE MACRO dg_ts(x) AS CASE
    WHEN dg_ts_any(x) >= TIMESTAMPTZ '1990-01-01' AND dg_ts_any(x) < TIMESTAMPTZ '2200-01-01'
    THEN dg_ts_any(x) END;
"""


def _ts(column: str) -> str:
    """Epoch s/ms/µs/ns by magnitude, or RFC 3339 text; NULL when unreadable or out of range."""
    return f"dg_ts({column})"


# wire.clean_text's control characters (its _CONTROL), as an RE2 class; the cleaning test in
# tests/ingest/test_fastpath.py holds both paths to the same stored text.
_CONTROL_RE2 = r"[\x{0}-\x{8}\x{b}\x{c}\x{e}-\x{1f}\x{7f}-\x{9f}]"


def _clean_macros(max_text_chars: int) -> str:
    """``dg_clean``: ``wire.clean_text`` in SQL (cut at ``max_text_chars``, then control
    characters dropped), so the fast path stores the characters the line path stores. Lone
    surrogates never get here: DuckDB refuses the file and the line path reads it. A map whose
    keys and values together are short and clean is kept as it is: one search per map instead of
    two per entry."""
    # strlen (bytes, O(1)) first: a text of no more bytes than the limit has no more characters,
    # so only longer ones pay for counting characters
    cut = (
        f"CASE WHEN strlen(x) <= {max_text_chars} THEN x"
        f" WHEN length(x) > {max_text_chars} THEN left(x, {max_text_chars}) ELSE x END"
    )
    return f"""
CREATE MACRO dg_cut(x) AS {cut};
CREATE MACRO dg_clean(x) AS CASE WHEN regexp_matches(dg_cut(x), '{_CONTROL_RE2}')
    THEN regexp_replace(dg_cut(x), '{_CONTROL_RE2}', '', 'g') ELSE dg_cut(x) END;
CREATE MACRO dg_clean_map_entries(m) AS map_from_entries(list_transform(map_entries(m),
    lambda e: {{'key': dg_clean(e.key), 'value': dg_clean(e.value)}}));
CREATE MACRO dg_map_text(m) AS array_to_string(list_concat(map_keys(m), map_values(m)), '');
CREATE MACRO dg_clean_map(m) AS CASE
    WHEN strlen(dg_map_text(m)) <= {max_text_chars} AND NOT regexp_matches(dg_map_text(m), '{_CONTROL_RE2}')
    THEN m ELSE dg_clean_map_entries(m) END;
"""


def _stage_sql(path: Path, max_record_bytes: int, max_text_chars: int, kind: sources.Kind = "lines") -> str:
    # A text cut at max_text_chars keeps its original length in its *_chars column (limits.py).
    cut_length = {
        chars: f"CASE WHEN length({text}) > {max_text_chars} THEN length({text}) END"
        for text, chars in LENGTH_COLUMNS.items()
    }
    typed = [f"coalesce(TRY_CAST({n} AS BIGINT), {cut_length.get(n, 'NULL')}) AS {n}" for n in _INTS]
    typed += [f"TRY_CAST({n} AS DOUBLE) AS {n}" for n in _FLOATS]
    typed += [f"TRY_CAST({n} AS BOOLEAN) AS {n}" for n in _BOOLS]
    raw_checks = [f"({n} IS NOT NULL AND TRY_CAST({n} AS BIGINT) IS NULL)" for n in _INTS]
    raw_checks += [f"({n} IS NOT NULL AND TRY_CAST({n} AS DOUBLE) IS NULL)" for n in _FLOATS]
    raw_checks += [f"({n} IS NOT NULL AND TRY_CAST({n} AS BOOLEAN) IS NULL)" for n in _BOOLS]
    mistyped = " || ".join(
        f"CASE WHEN {check} THEN '{name} ' ELSE '' END"
        for check, name in zip(raw_checks, [*_INTS, *_FLOATS, *_BOOLS], strict=True)
    )
    texts = ", ".join(f"dg_clean({n}) AS {n}" for n in [*_TEXTS, "api_key_id", "client_ip"])
    return (
        _MACROS
        + _clean_macros(max_text_chars)
        + f"""
    CREATE TABLE stage AS
    SELECT dg_clean(event_id) AS event_id, dg_clean(account_id) AS account_id,
           coalesce(dg_clean(source_format), 'canonical') AS source_format,
           {_ts("ts_start")} AS ts_start, {_ts("ts_end")} AS ts_end,
           {", ".join(typed)}, {texts},
           TRY_CAST(prompt_minhash AS UINTEGER[]) AS prompt_minhash,
           dg_clean_map(TRY_CAST(attrs AS MAP(VARCHAR, VARCHAR))) AS attrs,
           CASE
             WHEN event_id IS NULL OR trim(event_id) = '' THEN 'missing required field event_id'
             WHEN account_id IS NULL OR trim(account_id) = '' THEN 'missing required field account_id'
             WHEN ts_start IS NULL THEN 'missing timestamp ts_start'
             WHEN {_ts("ts_start")} IS NULL THEN 'ts_start: not an RFC 3339 or epoch timestamp in 1990..2200'
             WHEN ts_end IS NOT NULL AND {_ts("ts_end")} IS NULL THEN 'ts_end: unreadable timestamp'
             WHEN ({mistyped}) <> '' THEN 'mistyped fields: ' || trim({mistyped})
             WHEN prompt_minhash IS NOT NULL AND TRY_CAST(prompt_minhash AS UINTEGER[]) IS NULL
               THEN 'prompt_minhash: expected a list of uint32'
             WHEN attrs IS NOT NULL AND TRY_CAST(attrs AS MAP(VARCHAR, VARCHAR)) IS NULL
               THEN 'attrs: expected an object of strings'
           END AS _reason,
           CASE WHEN _reason IS NOT NULL THEN left(CAST(to_json(raw) AS VARCHAR), 512) END AS _excerpt,
           CAST(NULL AS VARCHAR) AS _system_text
    FROM ({sources.typed(path, kind, _columns(), max_record_bytes)}) AS raw;
    """
    )


def remove_stale_work(folder: Path, prefix: str) -> list[Path]:
    """Remove the folders ``<prefix><pid>-*`` in ``folder`` whose process is gone: a run killed
    (SIGKILL, a crash) mid-stage leaves its temporary folder behind. A folder of a live process,
    or of a process id now reused, is kept."""
    removed = []
    for found in folder.glob(f"{prefix}*-*"):
        pid = found.name[len(prefix) :].split("-", 1)[0]
        if not pid.isdigit() or not found.is_dir() or _alive(int(pid)):
            continue
        shutil.rmtree(found, ignore_errors=True)
        removed.append(found)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@dataclass(frozen=True)
class Origin:
    """Where a stage's records are said to come from, when the file DuckDB reads is a copy:
    follow mode stages a byte range of a followed log from a spool file, and its rows must name
    the followed ``file``, record n of the stage being line ``line_base + n`` of it, and a line
    starting at byte b of the copy starting at byte ``byte_base + b`` of it."""

    file: str
    line_base: int = 0
    byte_base: int = 0


def ingest_staged(
    warehouse: Warehouse,
    path: Path,
    stage_sql: str,
    *,
    config: Config,
    report: FileReport,
    stage_threads: int | None = None,
    origin: Origin | None = None,
    in_transaction: bool = False,
    kind: sources.Kind = "lines",
) -> list[int] | None:
    """Run ``stage_sql`` (it creates table ``stage`` in the layout of ``_stage_sql``), then
    derive, quarantine and insert. None (nothing written) when DuckDB cannot read the file;
    else the lines (of ``path``, from 1, blank lines counted) of the records whose ``_reason`` is
    ``ROUTE_TO_PYTHON``: the caller reads those records with the Python adapter. Rows name
    ``origin`` (default: ``path`` from line 1). ``kind``: how the stage read ``path``; the
    records of JSON lines are numbered by line (``line_numbers``), the others by record.
    ``in_transaction``: the warehouse connection holds an open transaction its caller commits
    (follow mode, rows with their offsets); nothing here commits or attaches a database in it."""
    staged = stage_file(path, stage_sql, config=config, stage_threads=stage_threads, origin=origin, kind=kind)
    if staged is None:
        return None
    return write_staged(warehouse, staged, config=config, report=report, in_transaction=in_transaction)


@dataclass
class Staged:
    """A file read into a staging database of its own, its fingerprints and keyed hashes
    derived there: nothing of it is in the warehouse yet (``write_staged`` puts it there, and
    closes it). Batch ingest stages the next files while it writes one (``run.ingest_paths``)."""

    path: Path
    origin: Origin
    staging: duckdb.DuckDBPyConnection
    stage_db: Path
    lines: line_numbers.Numbering
    routed: list[int]  # lines the stage leaves to the Python adapter
    text: Path | None  # the JSON-lines file staged, where byte offsets mean something
    work: ExitStack  # the staging folder and connection

    def close(self) -> None:
        self.work.close()


def stage_file(
    path: Path,
    stage_sql: str,
    *,
    config: Config,
    stage_threads: int | None = None,
    origin: Origin | None = None,
    kind: sources.Kind = "lines",
) -> Staged | None:
    """Stage, number, route and derive ``path`` in a staging database beside the warehouse,
    touching nothing else; None (nothing kept) when DuckDB cannot read the file or it holds no
    records: the line-by-line path then reads it and says what is wrong."""
    # Staging sits beside the warehouse: it can be as large as the input, /tmp may be small.
    beside = Path(config.db_path).resolve().parent
    work = ExitStack()
    try:
        # named by process, so a later one can tell a killed run's leftovers (``remove_stale_work``)
        folder = Path(
            work.enter_context(
                tempfile.TemporaryDirectory(
                    prefix=f"{STAGE_PREFIX}{os.getpid()}-", dir=beside if beside.is_dir() else None
                )
            )
        )
        stage_db = folder / "stage.duckdb"
        staging = duckdb.connect(str(stage_db))
        work.callback(staging.close)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dg-blank-lines") as beside_the_stage:
            # A JSON-lines file's blank lines are found while DuckDB reads it: that read leaves
            # part of a core idle, and the scan (decompressing the file again) costs a tenth of
            # the ingest. A stage that fails waits for the scan on leaving: that is rare.
            blanks = beside_the_stage.submit(line_numbers.blank_lines, path) if kind == "lines" else None
            found = _stage_and_derive(staging, path, stage_sql, folder, config, stage_threads, blanks)
        if found is None:
            work.close()
            return None
        lines, routed = found
        text = path if kind == "lines" else None
        return Staged(path, origin or Origin(str(path)), staging, stage_db, lines, routed, text, work)
    except BaseException:
        work.close()
        raise


def _stage_and_derive(
    staging: duckdb.DuckDBPyConnection,
    path: Path,
    stage_sql: str,
    folder: Path,
    config: Config,
    stage_threads: int | None,
    blanks: Future[list[int]] | None,
) -> tuple[line_numbers.Numbering, list[int]] | None:
    staging.execute(f"SET memory_limit = '{STAGING_MEMORY}'")
    if stage_threads is not None:
        staging.execute(f"SET threads = {int(stage_threads)}")
    staging.execute(f"SET temp_directory = {sql_string(folder / 'spill')}")
    staging.execute("SET TimeZone = 'UTC'")
    staging.execute("SET preserve_insertion_order = true")
    staging.execute("SET enable_progress_bar = false")
    try:
        staging.execute(stage_sql)
        if stage_threads is not None:  # what follows the stage holds no parse arenas
            staging.execute("RESET threads")
        if staging.execute("SELECT count(*) FROM stage").fetchone() == (0,):
            return None  # no records: the line-by-line path reports the empty file
        try:
            lines = line_numbers.numbering(staging, blanks)
        except line_numbers.Unreadable as exc:  # the line path reports what is wrong
            log.info("cannot number the lines of %s (%s); reading it line by line", path, exc)
            return None
        routed = [
            int(r[0])
            for r in staging.execute(
                f"""SELECT DISTINCT {lines.line("s")} AS n FROM stage s{lines.join("s")}
                    WHERE s._reason = ? ORDER BY n""",
                [ROUTE_TO_PYTHON],
            ).fetchall()
        ]
        if lines.record_column == "_line" and routed:  # several rows per record: the adapter
            # reads a record whole, so none of its rows is stored or quarantined here
            staging.execute(
                """UPDATE stage SET _reason = $route WHERE _reason IS DISTINCT FROM $route
                    AND _line IN (SELECT _line FROM stage WHERE _reason = $route)""",
                {"route": ROUTE_TO_PYTHON},
            )
        _derive(staging, config, lines)  # may run out of room: done before anything is written
    except duckdb.Error as exc:  # nothing is written: the line-by-line path redoes the file
        log.info("fast path cannot read %s (%s); reading it line by line", path, exc)
        return None
    return lines, routed


def write_staged(
    warehouse: Warehouse,
    staged: Staged,
    *,
    config: Config,
    report: FileReport,
    in_transaction: bool = False,
) -> list[int] | None:
    """Quarantine and insert what ``stage_file`` staged, then close it; as ``ingest_staged``:
    None (nothing written) when quarantining fails in DuckDB, else the lines left to the
    adapter."""
    # the quarantine rows this writes, removed should it fail after writing some: the line
    # path that then reads the file quarantines those records again
    written_at = datetime.now(UTC)
    origin = staged.origin
    try:
        with _forgotten_on_failure(warehouse, origin.file, written_at, in_transaction):
            try:
                _quarantine(warehouse, staged.staging, origin, report, staged.lines, written_at, staged.text)
            except duckdb.Error as exc:
                log.info("fast path cannot read %s (%s); reading it line by line", staged.path, exc)
                if not in_transaction:
                    _forget_quarantine(warehouse, origin.file, written_at)
                report.read = report.quarantined = 0
                report.reasons.clear()
                return None
            finally:
                staged.staging.close()  # the insert opens the staging file again, read-only
            lines, stage_db = staged.lines, staged.stage_db
            insert_staged(warehouse, stage_db, origin, config, report, lines, in_transaction=in_transaction)
    finally:
        staged.close()
    return staged.routed


def _forget_quarantine(warehouse: Warehouse, file: str, written_at: datetime) -> None:
    """Remove the quarantine rows a failed stage of ``file`` wrote at ``written_at``: the line
    path that reads the file next quarantines those records again, and ``add_quarantine_once``
    cannot match its rows with them (its words for a reason may differ)."""
    try:
        warehouse.engine.execute(
            "DELETE FROM quarantine WHERE file = ? AND quarantined_at = ?",
            [file, written_at],
        )
    except Exception:  # the warehouse may be what failed: its rows then stay, counted once more
        log.exception("could not remove the quarantine rows a failed stage of %s wrote", file)


@contextmanager
def _forgotten_on_failure(
    warehouse: Warehouse, file: str, written_at: datetime, in_transaction: bool
) -> Iterator[None]:
    """A stage that fails (its insert, say) leaves no quarantine rows; a follower's transaction
    is rolled back, and these rows with it."""
    try:
        yield
    except Exception:
        if not in_transaction:
            _forget_quarantine(warehouse, file, written_at)
        raise


def _batches(staging: duckdb.DuckDBPyConnection, sql: str, size: int) -> Any:
    reader = staging.execute(sql).to_arrow_reader(size)
    yield from reader


def _quarantine(
    warehouse: Warehouse,
    staging: duckdb.DuckDBPyConnection,
    origin: Origin,
    report: FileReport,
    lines: line_numbers.Numbering,
    now: datetime,
    text: Path | None,
) -> None:
    """Quarantine the stage's rejected rows, each with the line (and, where ``text`` is the
    JSON-lines file staged, the byte offset) the line-by-line path would give it."""
    sql = f"""SELECT {lines.line("s")}, s._reason, s._excerpt
              FROM stage s{lines.join("s")}
              WHERE s._reason IS NOT NULL AND s._reason <> '{ROUTE_TO_PYTHON}' ORDER BY s.rowid"""
    with ExitStack() as closing:
        starts: line_numbers.LineStarts | None = None  # opened at the first rejected row: rare
        for batch in _batches(staging, sql, 10_000):
            if text is not None and starts is None:
                starts = closing.enter_context(line_numbers.LineStarts(text))
            found = starts.find(batch.column(0).to_pylist()) if starts is not None else {}
            _quarantine_batch(warehouse, batch, origin, report, found, now)


def _quarantine_batch(
    warehouse: Warehouse,
    batch: pa.RecordBatch,
    origin: Origin,
    report: FileReport,
    starts: dict[int, int],
    now: datetime,
) -> None:
    from distillguard.ingest.run import add_quarantine_once

    rows = [
        {
            "file": origin.file,
            "line": origin.line_base + line,
            "byte_offset": origin.byte_base + starts[line] if line in starts else None,
            "source_format": report.source_format or "canonical",
            "reason": reason,
            "raw_excerpt": excerpt,
            "quarantined_at": now,
        }
        for line, reason, excerpt in zip(*(c.to_pylist() for c in batch.columns), strict=True)
    ]
    for row in rows:
        key = row["reason"].split(":")[0][:80]
        report.reasons[key] = report.reasons.get(key, 0) + 1
    report.read += len(rows)
    report.quarantined += len(rows)
    add_quarantine_once(warehouse, pa.Table.from_pylist(rows, schema=QUARANTINE))


def _derive(staging: duckdb.DuckDBPyConnection, config: Config, lines: line_numbers.Numbering) -> None:
    """Fingerprints per distinct prompt text, keyed hashes per distinct key and address."""
    secret = deployment_secret(config)
    size = max(1, int(config.batch_size_rows))
    _fingerprint_distinct(staging, size)
    community_key = str(config.intel_community_key or "").encode() or None
    key_hash = fingerprints.keyed_hash_sql(secret, "api_key_id", purpose="api-key")
    staging.execute(
        f"""CREATE TABLE keys AS SELECT api_key_id, CASE WHEN api_key_id <> '' THEN {key_hash} END AS k_hash
            FROM (SELECT DISTINCT api_key_id FROM stage WHERE api_key_id IS NOT NULL)"""
    )
    _hash_addresses(staging, secret, community_key, size)
    _hash_system_prompts(staging, size)
    firsts = "SELECT min(rowid) AS first_row FROM stage WHERE _reason IS NULL GROUP BY event_id"
    if lines.mapped:  # and each one's line: the insert reads it from the join it makes anyway
        firsts = f"""SELECT s.rowid AS first_row, {lines.line("s")} AS line FROM stage s
                     SEMI JOIN ({firsts}) f ON f.first_row = s.rowid{lines.join("s")}"""
    staging.execute(f"CREATE TABLE firsts AS {firsts}")


def _fingerprint_distinct(staging: duckdb.DuckDBPyConnection, size: int) -> None:
    """Table ``fp`` (prompt_text, f_hash, f_skel, f_minhash) for each distinct prompt lacking a
    current fingerprint: skeletons by DuckDB (RE2, all cores), the two blake2b digests in one
    Python pass over the distinct texts, MinHash once per distinct skeleton in rensa batches."""
    version = fingerprints.FINGERPRINT_VERSION
    fresh = f"""(SELECT DISTINCT prompt_text FROM stage WHERE _reason IS NULL AND prompt_text IS NOT NULL
                AND (prompt_hash IS NULL OR fingerprint_version IS DISTINCT FROM '{version}'))"""
    staging.execute(f"CREATE TABLE fp_text AS {fingerprints.masked_sql(fresh, 'prompt_text')}")
    staging.execute("CREATE TABLE fp_hash (k BIGINT, f_hash VARCHAR, f_skel VARCHAR, skeleton VARCHAR)")
    cursor = staging.cursor()
    for batch in _batches(staging, "SELECT rowid AS k, normalised, masked FROM fp_text", size):
        hashes, skeleton_hashes, skeletons = fingerprints.fingerprint_masked(
            batch.column(1).to_pylist(), batch.column(2).to_pylist()
        )
        table = pa.table(
            {"k": batch.column(0), "f_hash": hashes, "f_skel": skeleton_hashes, "skeleton": skeletons}
        )
        cursor.register("_fp_batch", table)
        cursor.execute("INSERT INTO fp_hash SELECT * FROM _fp_batch")
        cursor.unregister("_fp_batch")
    staging.execute("CREATE TABLE fp_minhash (skeleton VARCHAR, f_minhash UINTEGER[])")
    for batch in _batches(staging, "SELECT DISTINCT skeleton FROM fp_hash", size):
        skeletons = batch.column(0).to_pylist()
        signatures = pa.array(fingerprints.minhash_batch(skeletons), type=pa.list_(pa.uint32()))
        cursor.register("_mh_batch", pa.table({"skeleton": batch.column(0), "f_minhash": signatures}))
        cursor.execute("INSERT INTO fp_minhash SELECT * FROM _mh_batch")
        cursor.unregister("_mh_batch")
    cursor.close()
    staging.execute(
        """CREATE TABLE fp AS SELECT t.text AS prompt_text, h.f_hash, h.f_skel, m.f_minhash
           FROM fp_text t JOIN fp_hash h ON h.k = t.rowid JOIN fp_minhash m USING (skeleton)"""
    )
    staging.execute("DROP TABLE fp_text; DROP TABLE fp_hash; DROP TABLE fp_minhash")


def _hash_system_prompts(staging: duckdb.DuckDBPyConnection, size: int) -> None:
    """Table ``systems``: ``fingerprints.prompt_hash`` of each distinct system prompt an adapter
    mapping found (normalised by SQL, digested in one Python pass)."""
    staging.execute("CREATE TABLE systems (_system_text VARCHAR, s_hash VARCHAR)")
    distinct = f"""SELECT _system_text, {fingerprints.normalise_sql("_system_text")} FROM
                   (SELECT DISTINCT _system_text FROM stage
                    WHERE _reason IS NULL AND _system_text IS NOT NULL)"""
    cursor = staging.cursor()
    for batch in _batches(staging, distinct, size):
        hashes, _, _ = fingerprints.fingerprint_masked(batch.column(1).to_pylist(), [])
        cursor.register("_sys_batch", pa.table({"_system_text": batch.column(0), "s_hash": hashes}))
        cursor.execute("INSERT INTO systems SELECT * FROM _sys_batch")
        cursor.unregister("_sys_batch")
    cursor.close()


def _hash_addresses(
    staging: duckdb.DuckDBPyConnection, secret: bytes, community_key: bytes | None, size: int
) -> None:
    """Table ``ips``: each distinct client address with its keyed hashes (``fingerprints.hash_ip``
    and ``community_prefix_hash``). Dotted-quad IPv4, nearly all of them, is hashed by SQL; the
    rest (IPv6, odd spellings) by the Python functions themselves."""
    text = fingerprints.strip_sql("client_ip")
    pattern = "'" + fingerprints.IPV4_SQL_PATTERN + "'"
    prefix = f"regexp_extract(text, {pattern}, 1) || '.0/24'"
    community = (
        fingerprints.keyed_hash_sql(community_key, prefix, purpose="dg-intel-ip_prefix")
        if community_key
        else "CAST(NULL AS VARCHAR)"
    )
    staging.execute(
        f"""CREATE TABLE ips AS
            WITH d AS (SELECT client_ip, {text} AS text FROM (
                SELECT DISTINCT client_ip FROM stage WHERE client_ip IS NOT NULL AND client_ip <> ''))
            SELECT client_ip, {fingerprints.keyed_hash_sql(secret, "text", purpose="ip")} AS i_hash,
                   {fingerprints.keyed_hash_sql(secret, prefix, purpose="ip-prefix")} AS i_prefix,
                   {community} AS i_community
            FROM d WHERE regexp_full_match(text, {pattern})"""
    )

    def by_python(values: list[Any]) -> dict[str, list[str | None]]:
        pairs = [fingerprints.hash_ip(secret, v) for v in values]
        return {
            "i_hash": [h for h, _ in pairs],
            "i_prefix": [prefix for _, prefix in pairs],
            "i_community": [fingerprints.community_prefix_hash(community_key, v) for v in values],
        }

    others = f"""SELECT DISTINCT client_ip FROM stage WHERE client_ip IS NOT NULL AND client_ip <> ''
                 AND NOT regexp_full_match({text}, {pattern})"""
    cursor = staging.cursor()
    for batch in _batches(staging, others, size):
        values = batch.column(0).to_pylist()
        cursor.register("_hash_batch", pa.table({"client_ip": values, **by_python(values)}))
        cursor.execute("INSERT INTO ips SELECT client_ip, i_hash, i_prefix, i_community FROM _hash_batch")
        cursor.unregister("_hash_batch")
    cursor.close()
