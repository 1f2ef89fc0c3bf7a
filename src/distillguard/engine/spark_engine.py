"""Spark, for scale: the same SQL steps, transpiled by SQLGlot (``engine.dialect``).

pyspark is imported lazily and is not a core dependency: install the ``spark`` extra
where Spark runs. The steps are written for DuckDB; this engine runs them on Spark with
the statements DuckDB's steps and the scan use, each mapped onto what Spark offers:

- a step's ``CREATE [TEMP] TABLE name AS SELECT`` is written as Parquet under the
  engine's work directory and read back as a temporary view: later steps read the result,
  not the plan that made it, and Spark plans their joins from the files' real sizes (a
  checkpoint would keep the plan's estimated size, which multiplies with every join: the
  graph's rounds then spent minutes in planning arithmetic by the tenth round);
- ``CREATE VIEW`` becomes a temporary view (recomputed on use, as on DuckDB);
- ``INSERT INTO``, ``DELETE FROM ... WHERE`` and ``ALTER TABLE ... RENAME TO`` on those
  views become a union, a filter and a re-registration (Spark's own statements need a
  table format that supports them, such as Delta, and this engine assumes none).

Every result is a temporary view of the session over files in ``workdir`` (on a cluster,
a path every executor reaches: HDFS, S3, a shared volume); persist the ones you keep (for
example ``engine.session.table("account_features").write.saveAsTable(...)``).
"""

from __future__ import annotations

import itertools
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from distillguard.engine.base import SqlError, SqlFunction
from distillguard.engine.dialect import SESSION_SETTINGS, spark_expression, to_spark

log = logging.getLogger("distillguard.sql")


def local_session(
    *,
    threads: int = 2,
    shuffle_partitions: int = 4,
    driver_memory: str = "2g",
    app_name: str = "distillguard",
) -> Any:
    """A Spark session on this machine: ``threads`` cores, no web UI, few shuffle partitions.

    Spark's default of 200 shuffle partitions is sized for a cluster; on one machine every
    one of them is a task to schedule, which costs more than the work on small tables.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("the Spark engine needs pyspark: pip install 'distillguard[spark]'") from exc
    session = (
        SparkSession.builder.master(f"local[{int(threads)}]")
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.shuffle.partitions", str(int(shuffle_partitions)))
        .config("spark.default.parallelism", str(int(threads)))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")  # Spark's INFO and WARN lines drown a CLI's output
    return session


class SparkEngine:
    dialect = "spark"

    def __init__(self, session: Any | None = None, *, workdir: str | None = None) -> None:
        self.session = session if session is not None else local_session()
        # where materialised steps are written; a directory of our own is removed on close
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="distillguard-spark-")
        self._written = itertools.count()
        self._files: dict[str, str] = {}  # view name -> the files it reads, removed with it
        # the settings the steps' meaning depends on (the time zone)
        for key, value in SESSION_SETTINGS.items():
            self.session.conf.set(key, value)
        self._functions: set[str] = set()

    # The one choke point: every statement is logged and failures carry their SQL.
    def _sql(self, spark_sql: str) -> Any:
        started = time.perf_counter()
        try:
            frame = self.session.sql(spark_sql)
        except Exception as exc:  # Spark raises many unrelated types
            raise SqlError(spark_sql, exc) from exc
        log.debug("%.1f ms  %s", (time.perf_counter() - started) * 1e3, " ".join(spark_sql.split())[:300])
        return frame

    def _materialise(self, name: str, frame: Any, spark_sql: str) -> None:
        # a fresh path each time: an INSERT's result is written while the old files are read
        path = f"{self.workdir.rstrip('/')}/{name}-{next(self._written)}"
        try:
            frame.write.mode("overwrite").parquet(path)
        except Exception as exc:  # analysis passes lazily: errors surface when it runs
            raise SqlError(spark_sql, exc) from exc
        self.session.read.parquet(path).createOrReplaceTempView(name)
        # the replaced result's files: views re-read their SQL on use, so none reads them now
        self._remove_files(self._files.pop(name, None))
        self._files[name] = path

    def _remove_files(self, path: str | None) -> None:
        """Delete a materialised result's files (a scan writes a copy per graph round)."""
        if path is None:
            return
        jvm = self.session.sparkContext._jvm  # Hadoop's file system: local, HDFS or S3 alike
        target = jvm.org.apache.hadoop.fs.Path(path)
        target.getFileSystem(self.session.sparkContext._jsc.hadoopConfiguration()).delete(target, True)

    def register(self, name: str, table: pa.Table | pa.RecordBatchReader) -> None:
        if isinstance(table, pa.RecordBatchReader):
            table = table.read_all()
        self.session.createDataFrame(_spark_ready(table)).createOrReplaceTempView(name)

    def unregister(self, name: str) -> None:
        self.session.catalog.dropTempView(name)

    def register_function(self, function: SqlFunction) -> None:
        if function.name in self._functions:
            return
        # a row-at-a-time Python UDF, typed in Spark's syntax
        returns = exp.DataType.build(function.returns, dialect="duckdb").sql("spark")
        self.session.udf.register(function.name, function.function, returns)
        self._functions.add(function.name)

    def execute(self, sql: str, params: Sequence[object] | None = None) -> None:
        if params:
            raise ValueError("the Spark engine takes no bound parameters; inline literals with sql_string")
        statement = _parse(sql)
        if isinstance(statement, exp.Create) and statement.args.get("expression") is not None:
            self._create(statement)
        elif isinstance(statement, exp.Insert):
            self._insert(statement)
        elif isinstance(statement, exp.Delete):
            self._delete(statement)
        elif isinstance(statement, exp.Alter) and (new_name := _rename_target(statement)) is not None:
            self._rename(statement.this.name, new_name)
        else:
            self._sql(to_spark(sql)).collect()

    def _create(self, statement: exp.Create) -> None:
        name = statement.this.name
        query = spark_expression(statement.expression)
        if str(statement.args.get("kind", "")).upper() == "VIEW":
            self._sql(f"CREATE OR REPLACE TEMPORARY VIEW {name} AS {query}").collect()
            return
        self._materialise(name, self._sql(query), query)

    def _insert(self, statement: exp.Insert) -> None:
        target = statement.this
        listed: list[str] | None = None
        if isinstance(target, exp.Schema):  # INSERT INTO t (a, b) SELECT ...
            listed = [column.name for column in target.expressions]
            target = target.this
        name = target.name
        query = spark_expression(statement.expression)
        existing = self.session.table(name)
        added = self._sql(query)
        if listed is not None:
            # the query's columns by position onto the listed ones; the others NULL, typed
            by_name = dict(zip(listed, added.columns, strict=True))
            added = added.selectExpr(
                *(
                    f"`{by_name[field.name]}` AS `{field.name}`"
                    if field.name in by_name
                    else f"CAST(NULL AS {field.dataType.simpleString()}) AS `{field.name}`"
                    for field in existing.schema.fields
                )
            )
        # by position, as INSERT does; Spark widens NULL literals to the column's type
        self._materialise(name, existing.union(added), f"INSERT INTO {name} {query}")

    def _delete(self, statement: exp.Delete) -> None:
        name = statement.this.name
        where = statement.args.get("where")
        if where is None:
            kept = self._sql(f"SELECT * FROM {name} WHERE FALSE")
        else:
            condition = spark_expression(where.this)
            # DELETE removes the rows where the condition is TRUE; NULL keeps the row
            kept = self._sql(f"SELECT * FROM {name} WHERE NOT coalesce(({condition}), FALSE)")
        self._materialise(name, kept, f"DELETE FROM {name} WHERE ...")

    def _rename(self, old: str, new: str) -> None:
        frame = self.session.table(old)
        frame.createOrReplaceTempView(new)
        self.session.catalog.dropTempView(old)
        self._remove_files(self._files.pop(new, None))
        if old in self._files:
            self._files[new] = self._files.pop(old)

    def to_arrow(self, sql: str, params: Sequence[object] | None = None) -> pa.Table:
        if params:
            raise ValueError("the Spark engine takes no bound parameters; inline literals with sql_string")
        frame = self._sql(to_spark(sql))
        try:
            return frame.toArrow()
        except Exception as exc:
            raise SqlError(to_spark(sql), exc) from exc

    def scalar(self, sql: str, params: Sequence[object] | None = None) -> object:
        table = self.to_arrow(sql, params)
        return table.column(0)[0].as_py() if table.num_rows else None

    def exists(self, name: str) -> bool:
        return bool(self.session.catalog.tableExists(name))

    def drop(self, name: str) -> None:
        # Only the session's temporary views, which are all this engine makes: a table of
        # the same name in the catalog is the user's (a persisted account_scores, say).
        self.session.catalog.dropTempView(name)
        self._remove_files(self._files.pop(name, None))

    @contextmanager
    def memory_limit(self, limit: str) -> Iterator[None]:
        """Spark's memory is the cluster's (executor settings), not a per-statement setting."""
        yield

    def close(self) -> None:
        """Drop this session's temporary views, and the work directory if the engine made it."""
        for view in self.session.catalog.listTables():
            if view.isTemporary:
                self.session.catalog.dropTempView(view.name)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _parse(sql: str) -> exp.Expr:
    try:
        return sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise SqlError(sql, exc) from exc


def _rename_target(statement: exp.Alter) -> str | None:
    actions = statement.args.get("actions") or []
    if len(actions) == 1 and isinstance(actions[0], exp.AlterRename):
        return str(actions[0].this.name)
    return None


def _spark_ready(table: pa.Table) -> pa.Table:
    """Arrow types Spark reads: unsigned integers widened, large strings and lists made plain."""
    schema = pa.schema([pa.field(f.name, _spark_type(f.type)) for f in table.schema])
    if table.num_rows == 0:  # pyspark cannot read a column of no chunks (DuckDB's empty results)
        return schema.empty_table()
    return table.cast(schema)


def _spark_type(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_uint8(kind) or pa.types.is_uint16(kind):
        return pa.int32()
    if pa.types.is_uint32(kind) or pa.types.is_uint64(kind):
        return pa.int64()
    if pa.types.is_large_string(kind):
        return pa.string()
    if pa.types.is_large_binary(kind):
        return pa.binary()
    if pa.types.is_large_list(kind) or pa.types.is_list(kind):
        return pa.list_(_spark_type(kind.value_type))
    if pa.types.is_struct(kind):
        return pa.struct([pa.field(f.name, _spark_type(f.type)) for f in kind])
    return kind
