"""The provider's account records (CSV, JSONL or Parquet), upserted by ``account_id``.

Columns: account_id, created_at, country, email_domain, payment_fingerprint,
verification (none|email|phone|id|enterprise), plan (free|paygo|startup|
education|research|enterprise). Extra columns go to ``attrs``; a verification or
plan value outside those lists is kept in ``attrs`` (``verification_raw`` /
``plan_raw``) with the column left empty, so nothing is lost. Rows without an
account id, with an unreadable ``created_at`` or bad bytes are quarantined.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from distillguard.config import Config
from distillguard.ingest.batches import quarantine_row, quarantine_table
from distillguard.ingest.normalise import RecordError, as_text, optional_timestamp, required_text, stringify
from distillguard.ingest.sniff import RawRecord, is_parquet, iter_records, open_stream
from distillguard.schema import ACCOUNT_FILE_COLUMNS, ACCOUNT_PLANS, ACCOUNT_VERIFICATION, ACCOUNTS
from distillguard.warehouse import Warehouse

_COLUMNS = ACCOUNT_FILE_COLUMNS
_ENUMS = {"verification": ACCOUNT_VERIFICATION, "plan": ACCOUNT_PLANS}
_FORMAT = "accounts"


@dataclass
class AccountsResult:
    read: int = 0
    stored: int = 0
    quarantined: int = 0


def load_accounts(warehouse: Warehouse, path: str | Path, *, config: Config) -> AccountsResult:
    """Upsert every account record of ``path``; bad rows go to quarantine."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such accounts file")
    result = AccountsResult()
    good: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    batch = max(1, int(config.batch_size_rows))

    def flush() -> None:
        if good:
            warehouse.upsert_accounts(pa.Table.from_pylist(good, schema=ACCOUNTS))
            good.clear()
        if bad:
            from distillguard.ingest.run import add_quarantine_once

            add_quarantine_once(warehouse, quarantine_table(bad))
            bad.clear()

    for line, offset, record, problem in _records(path, int(config.max_record_bytes)):
        result.read += 1
        try:
            if problem:
                raise RecordError(problem)
            good.append(account_row(record))
            result.stored += 1
        except RecordError as exc:
            result.quarantined += 1
            bad.append(quarantine_row(str(path), line, offset, _FORMAT, str(exc), _excerpt(record)))
        if len(good) + len(bad) >= batch:
            flush()
    flush()
    return result


def account_row(record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise RecordError(f"account record is a {type(record).__name__}, not an object")
    row: dict[str, Any] = {"account_id": required_text(record.get("account_id"), "account_id")}
    row["created_at"] = optional_timestamp(record.get("created_at"), "created_at")
    attrs: dict[str, str] = {}
    for name in ("country", "email_domain", "payment_fingerprint"):
        row[name] = as_text(record.get(name))
    for name, allowed in _ENUMS.items():
        value = as_text(record.get(name))
        lowered = value.strip().lower() if value else None
        if lowered and lowered not in allowed:
            attrs[f"{name}_raw"] = value or ""
            lowered = None
        row[name] = lowered
    extra = record.get("attrs")
    if isinstance(extra, list):
        extra = dict(extra)
    if isinstance(extra, dict):
        attrs.update({str(k): stringify(v) for k, v in extra.items() if v is not None})
    attrs.update(
        {
            str(k): stringify(v)
            for k, v in record.items()
            if k not in _COLUMNS and k != "attrs" and v not in (None, "")
        }
    )
    row["attrs"] = attrs
    return row


def _excerpt(record: Any) -> str | None:
    if record is None:
        return None
    return record.decode("utf-8", "replace") if isinstance(record, bytes) else json.dumps(record, default=str)


def _records(path: Path, max_bytes: int) -> Iterator[tuple[int | None, int | None, Any, str | None]]:
    """(line, offset, record, problem) for CSV, JSON lines or Parquet account files."""
    if path.stat().st_size == 0:
        yield None, 0, None, "empty file"
        return
    if is_parquet(path) or _looks_like_json(path):
        for raw in iter_records(path, max_record_bytes=max_bytes):
            yield raw.line, raw.offset, *_decode(raw)
        return
    yield from _csv_records(path)


def _decode(raw: RawRecord) -> tuple[Any, str | None]:
    if raw.problem or not isinstance(raw.data, bytes):
        return raw.data, raw.problem
    try:
        return json.loads(raw.data.decode("utf-8")), None
    except UnicodeDecodeError:
        return raw.data, "not valid UTF-8"
    except (ValueError, RecursionError) as exc:
        return raw.data, f"malformed JSON: {exc}"


def _looks_like_json(path: Path) -> bool:
    stream, raw = open_stream(path)
    with raw, stream:
        try:
            head = stream.read(64).lstrip()
        except (OSError, EOFError):
            return False
    return head[:1] in (b"{", b"[")


def _csv_records(path: Path) -> Iterator[tuple[int | None, int | None, Any, str | None]]:
    stream, raw = open_stream(path)
    with raw, stream:
        lines = (line.decode("utf-8", "surrogateescape") for line in stream)
        reader = csv.reader(lines)
        try:
            header = next(reader, None)
            if not header:
                yield None, 0, None, "empty file"
                return
            header = [h.strip().lstrip("\ufeff") for h in header]
            for values in reader:
                if not any(v.strip() for v in values):
                    continue
                line = reader.line_num
                text = ",".join(values)
                if any("\udc80" <= ch <= "\udcff" for ch in text):
                    yield line, None, text.encode("utf-8", "surrogateescape"), "not valid UTF-8"
                elif len(values) != len(header):
                    yield (
                        line,
                        None,
                        text.encode("utf-8", "surrogateescape"),
                        (f"{len(values)} fields where the header has {len(header)}"),
                    )
                else:
                    yield line, None, dict(zip(header, values, strict=True)), None
        except csv.Error as exc:
            yield reader.line_num, None, None, f"malformed CSV: {exc}"
        except (EOFError, OSError) as exc:
            yield None, None, None, f"truncated or corrupt compressed stream: {exc}"
