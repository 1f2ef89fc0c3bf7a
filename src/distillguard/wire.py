"""The one text normalisation at the trust boundary.

Every string that comes from outside (a log record, a live request body or header, a
partner's STIX object) passes through ``clean_text`` before it reaches a matcher, a
hash, the audit log or the warehouse. Ingest, the decision service, the LiteLLM hook's
service side and intel import all call this function, so the batch scan and the live
decision see the same characters and give the same prompt the same score.

What it does, and why:

- **invalid UTF-8** (bytes in): decoded with U+FFFD for each bad sequence, so one bad
  byte costs a character, never the record;
- **lone surrogates** (JSON ``"\\udfff"`` decodes to one): a valid pair is joined into
  its character, a lone one becomes U+FFFD. Python strings can hold them, but UTF-8
  encoders (RE2, hashing, JSON writers) raise on them, and an exception must never be
  what decides a request;
- **NUL and other control characters** (C0 except tab, newline, carriage return; DEL;
  C1): removed. They carry no meaning in a prompt, break C string APIs and terminals,
  and can be used to split a phrase so that a matcher misses it;
- **overlong input**: cut to ``max_chars`` (a setting at each call site), so memory and
  matcher time stay bounded by configuration, not by the sender.

Format characters (RTL marks, zero-width joiners) and combining marks are kept: they
are ordinary text in many languages; the detectors decide what they mean.

The clean path costs one C-level UTF-8 encode and one regex scan that finds nothing;
no copy is made when there is nothing to change.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

# A default for call sites that have no setting of their own: far above any real
# prompt a decision or an identifier needs, low enough that one hostile record stays
# a few megabytes.
DEFAULT_MAX_CHARS: Final = 1_000_000
# Identifiers (account ids, key ids, header values): nobody's id is longer than this.
IDENTIFIER_MAX_CHARS: Final = 512

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: str | bytes, *, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """``value`` as text that every encoder, matcher and store accepts (see the module docstring)."""
    if isinstance(value, bytes | bytearray):
        text = bytes(value[: max_chars * 4]).decode("utf-8", "replace")
    else:
        text = value
    if len(text) > max_chars:
        text = text[:max_chars]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _mend_surrogates(text)
    if _CONTROL.search(text):
        text = _CONTROL.sub("", text)
    return text


def clean_optional(value: object, *, max_chars: int = DEFAULT_MAX_CHARS) -> str | None:
    """``clean_text`` for an optional field: None stays None, other non-strings become their text."""
    if value is None:
        return None
    if not isinstance(value, str | bytes):
        value = str(value)
    return clean_text(value, max_chars=max_chars)


def clean_identifier(value: object) -> str | None:
    """An account id, key id or header value: cleaned and stripped; '' is None.

    One longer than IDENTIFIER_MAX_CHARS keeps its start and gains a digest of the whole, so two
    long ids never become one (a cut alone would let one id stand for another).
    """
    if value is None:
        return None
    text = clean_text(value if isinstance(value, str | bytes) else str(value)).strip()
    if len(text) > IDENTIFIER_MAX_CHARS:
        digest = hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()
        text = f"{text[: IDENTIFIER_MAX_CHARS - 40]}...#{digest}"
    return text or None


def _mend_surrogates(text: str) -> str:
    # UTF-16 round trip: a high+low pair written as two code points becomes its character;
    # any surrogate left alone cannot be decoded and turns into U+FFFD.
    mended = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return _SURROGATE.sub("\ufffd", mended)  # belt and braces: never hand a surrogate on


def clean_json(value: object, *, max_chars: int = DEFAULT_MAX_CHARS) -> object:
    """A parsed JSON value with every string (keys too) through ``clean_text``; other values as they are.

    For objects from outside that are stored or matched whole (a partner's STIX object).
    Nesting is bounded by the JSON parser that made ``value``; a deeper structure raises
    RecursionError, which callers treat as a malformed object.
    """
    if isinstance(value, str):
        return clean_text(value, max_chars=max_chars)
    if isinstance(value, dict):
        return {
            clean_text(str(k), max_chars=max_chars): clean_json(v, max_chars=max_chars)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [clean_json(v, max_chars=max_chars) for v in value]
    return value
