"""What every adapter row must satisfy before it is batched: numbers the warehouse can hold, clean text.

An adapter reads numbers as Python ints and floats, which have no bounds; the warehouse
columns do (``schema.EVENTS``: int32, int64, float64). One ``max_tokens: 10**30`` used to
reach the Arrow conversion of a whole batch and stop the run there, losing the good
records beside it. ``number_problem`` checks one row against the column types, so such a
record is quarantined alone, with the field named. ``clean_strings`` passes every text
field through ``wire.clean_text``, the normalisation the decision service applies to the
same prompt, so both paths hash and score the same characters, and one record's text is
bounded (setting ``max_text_chars``) before fingerprints are computed over it.
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa

from distillguard.schema import EVENTS
from distillguard.wire import clean_text


def _int_bounds(data_type: pa.DataType) -> tuple[int, int]:
    bits = data_type.bit_width
    if pa.types.is_unsigned_integer(data_type):
        return 0, 2**bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


INT_BOUNDS: dict[str, tuple[int, int]] = {
    f.name: _int_bounds(f.type) for f in EVENTS if pa.types.is_integer(f.type)
}
FLOAT_COLUMNS: frozenset[str] = frozenset(f.name for f in EVENTS if pa.types.is_floating(f.type))


def number_problem(row: dict[str, Any]) -> str | None:
    """Why a numeric field of ``row`` cannot be stored (naming the field), or None."""
    for name, (low, high) in INT_BOUNDS.items():
        value = row.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and not low <= value <= high:
            return f"{name}: {_short(value)} is out of range for its column ({low} to {high})"
    for name in FLOAT_COLUMNS:
        value = row.get(name)
        if isinstance(value, float) and not math.isfinite(value):
            return f"{name}: {value} is not a finite number"
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**1023:
            return f"{name}: {_short(value)} is out of range for a float"
    return None


LENGTH_COLUMNS = {"prompt_text": "prompt_chars", "response_text": "response_chars"}


def clean_strings(row: dict[str, Any], *, max_chars: int) -> None:
    """Every top-level text field of ``row`` through ``wire.clean_text``, in place.

    A prompt or response cut at ``max_chars`` keeps its original length in its ``*_chars``
    column, as the at-rest truncation does, so the cut is visible.
    """
    for name, value in list(row.items()):
        if isinstance(value, str):
            length_column = LENGTH_COLUMNS.get(name)
            if length_column and len(value) > max_chars and row.get(length_column) is None:
                row[length_column] = len(value)
            row[name] = clean_text(value, max_chars=max_chars)
        elif isinstance(value, dict | list):  # attrs maps and the like reach Arrow too
            row[name] = _clean_nested(value, max_chars=max_chars)


def _clean_nested(value: Any, *, max_chars: int) -> Any:
    if isinstance(value, str):
        return clean_text(value, max_chars=max_chars)
    if isinstance(value, dict):
        return {
            (clean_text(k, max_chars=max_chars) if isinstance(k, str) else k): _clean_nested(
                v, max_chars=max_chars
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_clean_nested(v, max_chars=max_chars) for v in value]
    return value


def _short(value: int) -> str:
    text = str(value) if value.bit_length() < 200 else f"an integer of {value.bit_length()} bits"
    return text if len(text) <= 40 else text[:37] + "..."
