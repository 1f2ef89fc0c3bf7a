"""What a prompt regex needs of a text before it can match: cheap tests the scan runs first.

Two necessary conditions, read from the parsed pattern and never guessed: a non-ASCII
character (a Chinese rule cannot match an ASCII-only text), and one of a few literal strings
(``required_atoms``: "write out your full reasoning" cannot match a text without
"reasoning", "thinking", ...). A text failing either is skipped without running the regex,
so the scan's scores are exactly those of running every regex (the parity test holds it).
Anything the analysis does not understand gives no condition, never a wrong one.
"""

from __future__ import annotations

import re._constants as sre_constants
import re._parser as sre_parser
from typing import Any

# Syntax that RE2 and Python's parser read differently (POSIX classes, quoting, Unicode
# classes, braced hex): a pattern using any of it is never gated.
_UNSHARED_SYNTAX = ("[:", "\\Q", "\\p", "\\P", "\\x{", "\\C")


def needs_non_ascii(regex: str) -> bool:
    """Whether every match of ``regex`` contains a non-ASCII character (a Chinese rule, say).

    Read conservatively from the parsed pattern: anything not understood counts as "no",
    so a pattern is only ever gated when no ASCII-only text can match it.
    """
    if any(token in regex for token in _UNSHARED_SYNTAX):
        return False
    try:
        parsed = sre_parser.parse(regex)
    except Exception:  # RE2-only syntax Python cannot read: simply not gated
        return False
    if parsed.state.flags & ~sre_constants.SRE_FLAG_UNICODE:  # (?i) may fold a non-ASCII letter to ASCII
        return False
    return _items_need_non_ascii(list(parsed))


def _items_need_non_ascii(items: list[tuple[Any, Any]]) -> bool:
    """A sequence needs a non-ASCII character when one of its parts does."""
    return any(_item_needs_non_ascii(op, arg) for op, arg in items)


def _item_needs_non_ascii(op: Any, arg: Any) -> bool:
    c = sre_constants
    if op is c.LITERAL:
        return bool(arg > 127)
    if op is c.IN:  # a class of non-ASCII characters only
        return bool(arg) and all(
            (kind is c.LITERAL and value > 127) or (kind is c.RANGE and value[0] > 127) for kind, value in arg
        )
    if op is c.BRANCH:
        return all(_items_need_non_ascii(list(branch)) for branch in arg[1])
    if op is c.SUBPATTERN:  # (?i:...) and other scoped flags: not gated, as above
        return not arg[1] and not arg[2] and _items_need_non_ascii(list(arg[3]))
    if op in (c.MAX_REPEAT, c.MIN_REPEAT):
        return bool(arg[0] >= 1) and _items_need_non_ascii(list(arg[2]))
    return False


MAX_ATOMS = 48  # more alternatives than this and the literal test costs about what the regex does
MIN_ATOM_BYTES = 3  # shorter atoms ("a", "of") are in nearly every text; one CJK character is 3 bytes


def required_atoms(regex: str) -> frozenset[str] | None:
    """Literal strings one of which every match of ``regex`` contains, or None when unknown.

    For a sequence the most selective part is kept (the one whose shortest atom is longest):
    a run of literal characters, an alternation whose every branch has atoms, a group, or a
    repeat that must occur at least once. Case folding, look-around-free RE2-only syntax and
    anything else unread give None: the regex then simply runs on every text.
    """
    if any(token in regex for token in _UNSHARED_SYNTAX):
        return None
    try:
        parsed = sre_parser.parse(regex)
    except Exception:
        return None
    if parsed.state.flags & ~sre_constants.SRE_FLAG_UNICODE:
        return None
    found = _sequence_atoms(list(parsed))
    if found is None or len(found) > MAX_ATOMS or min(len(a.encode()) for a in found) < MIN_ATOM_BYTES:
        return None
    return frozenset(found)


def _sequence_atoms(items: list[tuple[Any, Any]]) -> set[str] | None:
    c = sre_constants
    options: list[set[str]] = []
    run: list[str] = []
    for op, arg in [*items, (None, None)]:
        if op is c.LITERAL:
            run.append(chr(arg))
            continue
        if run:
            options.append({"".join(run)})
            run = []
        if op is not None:
            inner = _item_atoms(op, arg)
            if inner is not None:
                options.append(inner)
    if not options:
        return None
    return max(options, key=lambda atoms: (min(len(a.encode()) for a in atoms), -len(atoms)))


def _item_atoms(op: Any, arg: Any) -> set[str] | None:
    c = sre_constants
    if op is c.BRANCH:
        union: set[str] = set()
        for branch in arg[1]:
            atoms = _sequence_atoms(list(branch))
            if atoms is None:
                return None
            union |= atoms
        return union
    if op is c.SUBPATTERN:
        return None if arg[1] or arg[2] else _sequence_atoms(list(arg[3]))
    if op in (c.MAX_REPEAT, c.MIN_REPEAT) and arg[0] >= 1:
        return _sequence_atoms(list(arg[2]))
    if op is c.IN and arg and len(arg) <= 4 and all(kind is c.LITERAL for kind, _ in arg):
        return {chr(value) for _, value in arg}
    return None


def atoms_regex(atoms: frozenset[str]) -> str:
    """An alternation of the literal atoms: one fast pass (no repeats, no classes) over a text."""
    special = set("\\.^$|?*+()[]{}")
    return "|".join("".join("\\" + ch if ch in special else ch for ch in atom) for atom in sorted(atoms))
