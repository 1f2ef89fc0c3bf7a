"""Normalisation every adapter shares: timestamps, typed fields, messages, SDK fingerprints.

Adapters turn one source record into a dict keyed by ``schema.EVENTS`` column
names plus three raw inputs (``api_key_id``, ``client_ip``, ``sdk_headers``) that
``batches.EventBatcher`` hashes or folds away. Everything that can go wrong with a
field raises ``RecordError`` with a reason an analyst can read; the caller
quarantines the record with that reason.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

# Epoch values are read by magnitude: seconds until ~5e9 (year 2128), then ms, µs, ns.
_EPOCH_SCALES = ((5e9, 1.0), (5e12, 1e3), (5e15, 1e6), (math.inf, 1e9))
_EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class RecordError(ValueError):
    """A record that cannot become an event; the message is the quarantine reason."""


# ------------------------------------------------------------------- timestamps
def parse_timestamp(value: Any, field: str) -> datetime:
    """A UTC datetime from epoch s/ms/µs/ns (number or digit string) or RFC 3339 text."""
    if value is None or value == "":
        raise RecordError(f"missing timestamp {field}")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        raise RecordError(f"{field}: expected a timestamp, got a boolean")
    if isinstance(value, int):
        return _from_epoch_int(value, field)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return _from_epoch_int(int(text), field)
        try:
            return _from_epoch(float(text), field)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise RecordError(f"{field}: {value[:40]!r} is not an RFC 3339 timestamp") from None
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return _in_range(parsed.astimezone(UTC), field)
    if isinstance(value, int | float):
        return _from_epoch(float(value), field)
    raise RecordError(f"{field}: expected a timestamp, got {type(value).__name__}")


def _from_epoch(number: float, field: str) -> datetime:
    if not math.isfinite(number) or number <= 0:
        raise RecordError(f"{field}: {number!r} is not a usable epoch timestamp")
    for limit, scale in _EPOCH_SCALES:
        if number < limit:
            return _in_range(datetime.fromtimestamp(number / scale, UTC), field)
    raise RecordError(f"{field}: {number!r} is out of range")  # pragma: no cover - inf handled above


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROS_PER = ((5e9, 1_000_000, 1), (5e12, 1000, 1), (5e15, 1, 1), (math.inf, 1, 1000))


def _from_epoch_int(number: int, field: str) -> datetime:
    """Integer epochs exactly (a float cannot hold nanoseconds since 1970)."""
    if number <= 0:
        raise RecordError(f"{field}: {number!r} is not a usable epoch timestamp")
    for limit, multiply, divide in _MICROS_PER:
        if number < limit:
            try:
                return _in_range(_EPOCH + timedelta(microseconds=number * multiply // divide), field)
            except OverflowError:
                break
    raise RecordError(f"{field}: {number!r} is out of range")


def _in_range(ts: datetime, field: str) -> datetime:
    if not _EARLIEST <= ts < _LATEST:
        raise RecordError(f"{field}: {ts.isoformat()} is outside 1990..2200")
    return ts


def optional_timestamp(value: Any, field: str) -> datetime | None:
    return None if value is None or value == "" else parse_timestamp(value, field)


# ------------------------------------------------------------------ typed fields
def as_text(value: Any) -> str | None:
    """Identifiers and labels: strings as they are, numbers as text, empty as None."""
    if value is None or isinstance(value, dict | list):
        return None
    text = value if isinstance(value, str) else str(value)
    return text or None


def required_text(value: Any, field: str) -> str:
    if isinstance(value, dict | list | bool):
        raise RecordError(f"{field}: expected a string, got {type(value).__name__}")
    text = as_text(value)
    if text is None or not text.strip():
        raise RecordError(f"missing required field {field}")
    return text


def as_int(value: Any, field: str) -> int | None:
    """An integer, or None when absent. Range against the column is checked per row
    (``ingest.limits.number_problem``), where the column's type is known."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            pass
        else:
            if not math.isfinite(number):
                raise RecordError(f"{field}: {_show(value)} is not a finite number")
            return int(number)
    raise RecordError(f"{field}: expected an integer, got {_show(value)}")


def as_float(value: Any, field: str) -> float | None:
    """A finite float, or None when absent; NaN and infinities are refused with the field named."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            raise RecordError(f"{field}: {_show(value)} is out of range for a float") from None
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise RecordError(f"{field}: expected a number, got {_show(value)}") from None
    else:
        raise RecordError(f"{field}: expected a number, got {_show(value)}")
    if not math.isfinite(number):
        raise RecordError(f"{field}: {_show(value)} is not a finite number")
    return number


def as_bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes"}
    if isinstance(value, dict | list):
        return bool(value)
    return bool(value)


def _show(value: Any) -> str:
    if isinstance(value, int) and value.bit_length() > 128:  # repr of a huge int is slow, then refused
        return f"an integer of {value.bit_length()} bits"
    return repr(value)[:40] if not isinstance(value, dict | list) else type(value).__name__


def first(*values: Any) -> Any:
    """The first value that is not None or empty."""
    for value in values:
        if value is not None and value != "" and value != {} and value != []:
            return value
    return None


def dig(obj: Any, *path: str | int) -> Any:
    """obj[path[0]][path[1]]..., or None where any step is missing or of the wrong type."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(obj, list) or len(obj) <= step:
                return None
        elif not isinstance(obj, dict):
            return None
        obj = obj[step] if isinstance(step, int) else obj.get(step)
    return obj


def status_of(code: int | None, failed: bool) -> str:
    return "error" if failed or (code is not None and code >= 400) else "success"


# ---------------------------------------------------------------------- messages
_TEXT_PART_TYPES = {"text", "input_text", "output_text"}


def content_text(content: Any) -> str | None:
    """Text of a message's content: a string, or the text parts of a part list joined by newlines.

    Images, tool calls and tool results are not prompt text; a content made only of
    them has no text (None).
    """
    if content is None:
        return None
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list):
        return str(content)
    texts: list[str] = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("type", "text") in _TEXT_PART_TYPES:
            text = part.get("text", part.get("content"))
            if isinstance(text, str):
                texts.append(text)
    return "\n".join(texts) if texts else None


def last_user_text(messages: Iterable[Any]) -> str | None:
    """The newest user turn that carries text (tool results sent as user turns are skipped)."""
    for message in reversed(list(messages)):
        if isinstance(message, dict) and message.get("role") == "user":
            text = content_text(message.get("content", message.get("parts")))
            if text is not None:
                return text
    return None


def system_text(messages: Iterable[Any]) -> str | None:
    parts = [
        content_text(m.get("content", m.get("parts")))
        for m in messages
        if isinstance(m, dict) and m.get("role") in ("system", "developer")
    ]
    joined = "\n".join(p for p in parts if p)
    return joined or None


CONTEXT_SEPARATOR = "\n\n"


def user_turn_texts(messages: Iterable[Any]) -> list[str]:
    """The text of every user turn, oldest first (tool results sent as user turns are skipped)."""
    texts = []
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "user":
            text = content_text(message.get("content", message.get("parts")))
            if text is not None:
                texts.append(text)
    return texts


def join_context(system: str | None, earlier_turns: Iterable[str]) -> str | None:
    """The request around its last user turn: the system prompt, then each earlier user turn,
    joined by a blank line. One definition for ingest and the live matcher, so a request
    scores the same in the scan and at the gateway."""
    parts = [part for part in (system, *earlier_turns) if part]
    return CONTEXT_SEPARATOR.join(parts) or None


def context_text(messages: Iterable[Any], system: str | None = None) -> str | None:
    """``events.context_text``: the system prompt and every user turn before the last one.

    An instruction to write out the reasoning, or to grade, sits as often in the system
    prompt or an earlier turn as in the last message; ``prompt_text`` (the last turn, which
    the fingerprints hash) stays as it was.
    """
    turns = user_turn_texts(list(messages))
    return join_context(system, turns[:-1])


def message_list(value: Any) -> list[Any]:
    """Messages from a list, a JSON string holding one, or a {"messages": [...]} wrapper."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [{"role": "user", "content": value}]
    if isinstance(value, dict):
        value = value.get("messages", [value] if "role" in value else [])
    return value if isinstance(value, list) else []


# ------------------------------------------------------------------ client / SDK
_STAINLESS = ("lang", "package-version", "os", "arch", "runtime", "runtime-version")


def sdk_fingerprint(headers: Mapping[str, Any] | None, user_agent: str | None) -> str | None:
    """A stable client fingerprint: Stainless SDK headers when present, else the UA product.

    ``lang=python;pkg=1.54.3;os=Linux;arch=x64;runtime=CPython/3.12.1`` for the
    official SDKs (which send x-stainless-*), ``ua=python-requests`` otherwise.
    """
    lowered = {str(k).lower(): v for k, v in (headers or {}).items()}
    stainless = {name: _header(lowered.get(f"x-stainless-{name}")) for name in _STAINLESS}
    if stainless["lang"] or stainless["package-version"]:
        return (
            f"lang={stainless['lang'] or ''};pkg={stainless['package-version'] or ''};"
            f"os={stainless['os'] or ''};arch={stainless['arch'] or ''};"
            f"runtime={stainless['runtime'] or ''}/{stainless['runtime-version'] or ''}"
        )
    agent = user_agent or _header(lowered.get("user-agent"))
    if not agent:
        return None
    return "ua=" + agent.strip().split("/")[0].split(" ")[0].lower()


def _header(value: Any) -> str | None:
    """A header value; OTel and some gateways store headers as one-element lists."""
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)


def header_map(headers: Any) -> dict[str, str]:
    if not isinstance(headers, dict):
        return {}
    return {str(k).lower(): v for k, v in ((k, _header(v)) for k, v in headers.items()) if v is not None}


# ------------------------------------------------------------------------ attrs
def stringify(value: Any, limit: int = 2000) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text[:limit]


def attrs_of(items: Mapping[str, Any] | None, skip: Iterable[str] = ()) -> dict[str, str]:
    """String map of whatever the source carries beyond the canonical columns."""
    if not items:
        return {}
    skipped = set(skip)
    return {str(k): stringify(v) for k, v in items.items() if k not in skipped and v is not None}


def mapping(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (odd sources send null or lists)."""
    return value if isinstance(value, dict) else {}
