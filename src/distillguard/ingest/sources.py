"""Record sources: the one relation an SQL stage reads a file's records from, by file kind.

A stage (``fastpath._stage_sql``, ``mapped.stage_sql``) maps records, not files: it reads
either one column per top-level key (``typed``) or each record whole as JSON (``whole``).
Three kinds of file give those relations, each in record order, so a stage row's position is
its record number: lines of JSON (plain, gzip or zstd; DuckDB skips blank lines, which the
Python path (``sniff.iter_records``) counts as lines: ``line_numbers`` maps one to the other),
a JSON array document (the element, from 1) and Parquet (the row, from 1). A Parquet row is
handed on as the JSON text of the value pyarrow gives the Python path (``to_json``), so the
same mapping reads it as it reads a line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pyarrow as pa

from distillguard.engine import sql_string
from distillguard.ingest.sniff import GZIP_MAGIC, ZSTD_MAGIC, decompressed_at_most, first_byte, is_parquet

Kind = Literal["lines", "array", "parquet"]

def compression(path: Path) -> str:
    """How DuckDB is told to read ``path``: by the magic bytes ``sniff`` reads it by."""
    with path.open("rb") as handle:
        head = handle.read(len(ZSTD_MAGIC))
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    return "zstd" if head.startswith(ZSTD_MAGIC) else "uncompressed"


def kind(path: Path, max_record_bytes: int) -> Kind | None:
    """How SQL reads ``path``, or None where it leaves the file to the Python path: a Parquet
    file it cannot read as the Python path does (``_parquet_json_like``), a JSON array that
    ``sniff.iter_records`` would not read as one document (larger than ``max_record_bytes``)."""
    if is_parquet(path):
        return "parquet" if _parquet_json_like(path) else None
    first = first_byte(path)
    if first in (b"{", b" ", b"\n", b"\r", b"\t"):  # lines (a line may start with white space)
        return "lines"
    if first == b"[":  # only then iter_records reads an array document
        # iter_records reads an array whole when the file on disk is within the limit, and
        # then only its first max_record_bytes decompressed (it reads the rest as lines)
        if path.stat().st_size > max_record_bytes or not decompressed_at_most(path, max_record_bytes):
            return None
        return "array"
    return None


def parquet_rows(path: Path) -> int | None:
    """The row count in a Parquet file's footer (exact; reads no data)."""
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except (OSError, ValueError):
        return None


def _json_like(kind_: pa.DataType) -> bool:
    """Whether pyarrow's Python value of this type reads as the JSON DuckDB's ``to_json`` writes
    of it: text, integers, doubles, booleans, nulls, structs and lists of those. Others (float32,
    timestamps, decimals, binary, maps) become Python objects with no such JSON twin."""
    if pa.types.is_dictionary(kind_):
        return _json_like(kind_.value_type)
    if pa.types.is_struct(kind_):
        return all(_json_like(kind_.field(i).type) for i in range(kind_.num_fields))
    if pa.types.is_list(kind_) or pa.types.is_large_list(kind_):
        return _json_like(kind_.value_type)
    return (
        pa.types.is_string(kind_)
        or pa.types.is_large_string(kind_)
        or pa.types.is_integer(kind_)
        or pa.types.is_float64(kind_)
        or pa.types.is_boolean(kind_)
        or pa.types.is_null(kind_)
    )


def _parquet_schema(path: Path) -> pa.Schema | None:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).schema_arrow
    except (OSError, ValueError):
        return None


def _parquet_json_like(path: Path) -> bool:
    schema = _parquet_schema(path)
    if schema is None or not schema.names:
        return False
    # DuckDB binds column names without regard to case: two that differ only so are left to Python
    unique = len({name.lower() for name in schema.names}) == len(schema.names)
    return unique and all(_json_like(f.type) for f in schema)


def _json_options(path: Path, kind_: Kind, max_record_bytes: int) -> str:
    form = "array" if kind_ == "array" else "newline_delimited"
    return (
        f"format = '{form}', compression = '{compression(path)}', "
        f"maximum_object_size = {int(max_record_bytes)}"
    )


def typed(path: Path, kind_: Kind, columns: dict[str, str], max_record_bytes: int) -> str:
    """One row per record, one column per key of ``columns`` (key -> DuckDB type as
    ``read_json`` takes it): NULL where the record lacks the key or holds a JSON null. A Parquet
    file gives each key as JSON (``to_json``) or, typed VARCHAR, as ``read_json`` would: a string
    as its text, anything else as its JSON text; other types are not read from Parquet."""
    file = sql_string(path)
    if kind_ != "parquet":
        spec = "{" + ", ".join(f"'{k}': '{v}'" for k, v in columns.items()) + "}"
        # records = true: with one column, DuckDB would otherwise read a file holding one
        # non-object record as whole values in that column
        options = _json_options(path, kind_, max_record_bytes)
        return f"SELECT * FROM read_json({file}, {options}, records = true, columns = {spec})"
    schema = _parquet_schema(path)
    present = {f.name: f.type for f in schema} if schema is not None else {}
    selected = []
    for key, want in columns.items():
        name = '"' + key.replace('"', '""') + '"'
        if key not in present:
            value = f"CAST(NULL AS {want})"
        elif want == "JSON":
            value = f"to_json(_dg_row.{name})"
        elif want == "VARCHAR":
            plain = pa.types.is_string(present[key]) or pa.types.is_large_string(present[key])
            value = f"_dg_row.{name}" if plain else f"CAST(to_json(_dg_row.{name}) AS VARCHAR)"
        else:
            raise ValueError(f"a Parquet key is read as JSON or VARCHAR, not {want}")
        selected.append(f"{value} AS {name}")
    return f"SELECT {', '.join(selected)} FROM read_parquet({file}) AS _dg_row"


def whole(path: Path, kind_: Kind, max_record_bytes: int) -> str:
    """One row per record, the record whole as column ``json`` (JSON), in record order."""
    file = sql_string(path)
    if kind_ == "parquet":
        return f"SELECT to_json(_dg_row) AS json FROM read_parquet({file}) AS _dg_row"
    options = _json_options(path, kind_, max_record_bytes)
    return f"SELECT json FROM read_json({file}, {options}, records = false, columns = {{'json': 'JSON'}})"
