"""Two engines' tables compared as a user reads them: sets of rows, floats to a tolerance."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

# Sums and averages of the same numbers added in another order differ in the last bits;
# anything beyond this is a different result, not rounding.
RELATIVE_TOLERANCE = 1e-9
ABSOLUTE_TOLERANCE = 1e-9


class _Approx:
    """A float in a row: sorts and prints as its value, compared to a tolerance later."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"~{self.value:.6g}"


def _normal(value: Any) -> Any:
    """One value in a form both engines' Arrow output agree on when they mean the same thing."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str | bytes):
        return value
    if isinstance(value, Decimal) and value.as_tuple().exponent == 0:  # DuckDB's HUGEINT sums
        return int(value)
    if isinstance(value, float | Decimal):
        return _Approx(float(value))
    if isinstance(value, datetime):  # an instant: naive UTC either way
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, list | tuple):  # order inside a list is part of what the user sees
        return tuple(_normal(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _normal(v)) for k, v in sorted(value.items()))
    return value


def _exact(value: Any) -> Any:
    if isinstance(value, _Approx):
        return "~"
    if isinstance(value, tuple):
        return tuple(_exact(v) for v in value)
    return value


def _floats(value: Any) -> list[float]:
    if isinstance(value, _Approx):
        return [value.value]
    if isinstance(value, tuple):
        return [f for v in value for f in _floats(v)]
    return []


def _close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=RELATIVE_TOLERANCE, abs_tol=ABSOLUTE_TOLERANCE)


def row_differences(
    expected: pa.Table, actual: pa.Table, *, ignore: tuple[str, ...] = (), shown: int = 5
) -> list[str]:
    """What differs between two tables read as sets of rows (duplicates counted); [] if nothing.

    Rows are paired by their exact part (every value but the floats), then by their floats,
    so two tables holding the same rows in any order pair up row by row.
    """
    columns = [c for c in expected.column_names if c not in ignore]
    if sorted(columns) != sorted(c for c in actual.column_names if c not in ignore):
        return [f"columns differ: {expected.column_names} vs {actual.column_names}"]
    if expected.num_rows != actual.num_rows:
        problems = [f"{expected.num_rows} rows vs {actual.num_rows}"]
    else:
        problems = []

    def rows(table: pa.Table) -> list[tuple[Any, ...]]:
        found = [tuple(_normal(r[c]) for c in columns) for r in table.select(columns).to_pylist()]
        return sorted(found, key=lambda r: (repr(_exact(r)), _floats(r)))

    left, right = rows(expected), rows(actual)
    left_keys = [repr(_exact(r)) for r in left]
    right_keys = [repr(_exact(r)) for r in right]
    if left_keys != right_keys:
        only_left = sorted(set(left_keys) - set(right_keys))
        only_right = sorted(set(right_keys) - set(left_keys))
        problems += [f"only in the first: {k}" for k in only_left[:shown]]
        problems += [f"only in the second: {k}" for k in only_right[:shown]]
        if not (only_left or only_right):
            problems.append("the same rows, repeated a different number of times")
        return problems
    for a, b in zip(left, right, strict=True):
        differing = {
            column: (x, y)
            for column, x, y in zip(columns, a, b, strict=True)
            if not all(_close(p, q) for p, q in zip(_floats(x), _floats(y), strict=True))
        }
        if differing:
            problems.append(f"row {_exact(a)[:3]}...: {differing}")
            if len(problems) >= shown:
                break
    return problems
