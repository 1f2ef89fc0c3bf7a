"""Prompt-level detectors as SQL steps over ``events`` → table ``prompt_signals``.

Built from the same compiled lexicons as ``prompt_matcher``; no rule is written
twice. Template families group prompts that share a scaffold: the normalised
head or tail of the prompt (where a harvesting wrapper sits around a varying
question) once it recurs with enough distinct fillings, else the skeleton hash.
"""

from __future__ import annotations

import re._constants as sre_constants
import re._parser as sre_parser
from typing import Any

from distillguard.detectors.patterns import (
    SCORED_DETECTORS,
    Pattern,
    capability_lexicon,
    clip_text_sql,
    lexicon,
)
from distillguard.detectors.prompt_classifier import (
    PROMPT_CLASSIFIER_RETURNS,
    PROMPT_CLASSIFIER_SQL,
    classify_for_sql,
    classify_for_sql_arrow,
)
from distillguard.detectors.prompt_matcher import EVIDENCE_EXCERPT_CHARS, TOOL_REQUEST_WEIGHT
from distillguard.detectors.spec import DetectorSpec
from distillguard.engine.base import SqlFunction, SqlStep

# The n-gram classifier is Python; the scan calls the same function the live matcher does.
CLASSIFIER_FUNCTION = SqlFunction(
    PROMPT_CLASSIFIER_SQL,
    classify_for_sql,
    ("VARCHAR",),
    PROMPT_CLASSIFIER_RETURNS,
    arrow_function=classify_for_sql_arrow,
)

SCAFFOLD_CHARS = 40  # head/tail characters that make a scaffold key
SCAFFOLD_MIN_PROMPT_CHARS = 100  # shorter prompts are all scaffold: use the skeleton
SCAFFOLD_MIN_VARIANTS = 5  # distinct prompts sharing a head/tail before it is a family

TEMPLATE_FAMILY_SPEC = DetectorSpec(
    id="template_family",
    title="Template families",
    level="prompt",
    description=(
        "Prompts that share a scaffold with slots filled in: the same masked skeleton, or the same "
        "normalised opening or closing text recurring around many different questions."
    ),
    known_false_positives=(
        "evaluation harnesses and CI bots reuse one template by design",
        "apps with a fixed prompt template for all their end users",
    ),
    parameters={
        "scaffold_chars": SCAFFOLD_CHARS,
        "scaffold_min_prompt_chars": SCAFFOLD_MIN_PROMPT_CHARS,
        "scaffold_min_variants": SCAFFOLD_MIN_VARIANTS,
    },
)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _column(pattern: Pattern) -> str:
    return "m_" + "".join(ch if ch.isalnum() else "_" for ch in pattern.label)


def _all_patterns() -> list[Pattern]:
    scored = [p for name in SCORED_DETECTORS for p in lexicon(name).patterns]
    _, categories = capability_lexicon()
    return scored + [p for patterns in categories.values() for p in patterns]


def _noisy_or_sql(terms: list[str]) -> str:
    """1 - prod(1 - w) as 1 - exp(sum(ln(1 - w))) over matched terms."""
    if not terms:
        return "0.0"
    return f"round(1 - exp({' + '.join(terms)}), 6)"


def _score_sql(patterns: tuple[Pattern, ...], *, extra: str | None = None) -> str:
    terms = [f"(CASE WHEN {_column(p)} THEN {_literal_float(p.weight)} ELSE 0 END)" for p in patterns]
    if extra:
        terms.append(extra)
    return _noisy_or_sql(terms)


def _literal_float(weight: float) -> str:
    # ln(1 - w) precomputed in SQL from the literal so both back ends use the same number
    return f"ln(1 - {weight!r})"


# Syntax that RE2 and Python's parser read differently (POSIX classes, quoting, Unicode
# classes, braced hex): a pattern using any of it is never gated.
_UNSHARED_SYNTAX = ("[:", "\\Q", "\\p", "\\P", "\\x{", "\\C")


def _needs_non_ascii(regex: str) -> bool:
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


def _match_sql(pattern: Pattern) -> str:
    """``regexp_matches`` on the text, skipped on ASCII-only texts when it cannot match them.

    Nine in ten distinct prompts are ASCII, and the Chinese rules are a third of the
    patterns; the test costs a byte count, the regex a full scan of the text.
    """
    found = f"regexp_matches(t, {_literal(pattern.regex)})"
    if _needs_non_ascii(pattern.regex):
        return f"CASE WHEN non_ascii THEN {found} ELSE false END"
    return found


def _found_sql(pattern: Pattern) -> str:
    """The matched text, extracted once per text (and only where the pattern matched)."""
    return (
        f"CASE WHEN {_column(pattern)} THEN regexp_extract(t, {_literal(pattern.regex)}) END "
        f"AS {_found_column(pattern)}"
    )


def _found_column(pattern: Pattern) -> str:
    return "f" + _column(pattern)[1:]


def _evidence_sql(pattern: Pattern) -> str:
    found = _found_column(pattern)
    start = f"(strpos(t, {found}) - 1)"
    return (
        f"CASE WHEN {_column(pattern)} THEN {_literal(pattern.label + ':')} || CAST({start} AS VARCHAR) "
        f"|| '-' || CAST({start} + length({found}) AS VARCHAR) || ':' "
        f"|| left({found}, {EVIDENCE_EXCERPT_CHARS}) END"
    )


def _capability_sql() -> str:
    _, categories = capability_lexicon()
    scores = {
        name: _score_sql(
            patterns,
            extra=f"(CASE WHEN tool_count > 0 THEN {_literal_float(TOOL_REQUEST_WEIGHT)} ELSE 0 END)"
            if name == "tool_use"
            else None,
        )
        for name, patterns in categories.items()
    }
    best = "greatest(" + ", ".join(scores.values()) + ")"
    branches = " ".join(f"WHEN {score} >= {best} - 1e-12 THEN '{name}'" for name, score in scores.items())
    return f"CASE WHEN {best} <= 0 THEN 'general' {branches} END"


def _scaffold_key_sql(side: str) -> str:
    cut = f"{side}(lower(prompt_text), {SCAFFOLD_CHARS})"
    return (
        f"CASE WHEN length(prompt_text) >= {SCAFFOLD_MIN_PROMPT_CHARS} "
        f"THEN md5(regexp_replace({cut}, '[0-9]+', '0', 'g')) END"
    )


def prompt_steps(config: object | None = None, *, until_literal: str | None = None) -> list[SqlStep]:
    """SQL steps from ``events`` to ``prompt_signals`` (schema.PROMPT_SIGNALS).

    ``until_literal`` (a SQL timestamp expression) limits the work to events up to a
    streaming checkpoint, so template families only count what had been seen by then.
    """
    where = f"WHERE ts_start <= {until_literal}" if until_literal else ""
    patterns = _all_patterns()
    matches = ",\n  ".join(f"{_match_sql(p)} AS {_column(p)}" for p in patterns)
    # a class scores the larger of its lexicon's noisy-or and the classifier (prompt_classifier)
    scored = {
        name: f"greatest({_score_sql(lexicon(name).patterns)}, clf.{name})" for name in SCORED_DETECTORS
    }
    scored_patterns = [p for name in SCORED_DETECTORS for p in lexicon(name).patterns]
    evidence_items = ", ".join(_evidence_sql(p) for p in scored_patterns)
    found = ",\n                       ".join(_found_sql(p) for p in scored_patterns)
    return [
        # prompt_text itself is not carried: everything downstream reads the clipped text
        # or the scaffold keys, and a million full prompts are the widest column here.
        SqlStep(
            "_prompt_text",
            f"""
            SELECT event_id, account_id, ts_start, coalesce(tool_count, 0) AS tool_count,
                   skeleton_hash, prompt_hash,
                   coalesce({clip_text_sql("prompt_text")}, '') AS t,
                   {_scaffold_key_sql("left")} AS head_key,
                   {_scaffold_key_sql("right")} AS tail_key
            FROM events {where}
            """,
        ),
        # Each distinct clipped text is matched once: campaigns (and chat apps) repeat
        # prompts, and the regexes are most of the prompt level's time. Whether the request
        # carried tools is kept with the text because the capability depends on it.
        SqlStep(
            "_prompt_matches",
            f"""
            WITH texts AS (
                SELECT DISTINCT t, CASE WHEN tool_count > 0 THEN 1 ELSE 0 END AS tool_count
                FROM _prompt_text
            ),
            flagged AS (SELECT t, tool_count, octet_length(encode(t)) > length(t) AS non_ascii FROM texts)
            SELECT t, tool_count,\n  {matches},\n  {PROMPT_CLASSIFIER_SQL}(t) AS clf\nFROM flagged
            """,
            functions=(CLASSIFIER_FUNCTION,),
        ),
        # Scores and evidence per distinct text too (a separate step, so each regex column
        # is computed once and only read here): the evidence extracts run once per text
        # instead of once per event, and once per pattern (the inner select) instead of
        # once for each of the four places the evidence string uses the matched text.
        SqlStep(
            "_prompt_scores",
            f"""
            SELECT t, tool_count,
                   {scored["cot_elicitation"]} AS cot_elicitation,
                   {scored["rubric_grading"]} AS rubric_grading,
                   {scored["censorship_rewrite"]} AS censorship_rewrite,
                   {_capability_sql()} AS capability,
                   list_concat(list_filter([{evidence_items}], x -> x IS NOT NULL), clf.evidence) AS evidence
            FROM (
                SELECT *,
                       {found}
                FROM _prompt_matches
            ) AS m
            """,
        ),
        SqlStep(
            "_scaffold_variants",
            """
            SELECT key, count(DISTINCT prompt_hash) AS variants FROM (
                SELECT 'h' || head_key AS key, prompt_hash FROM _prompt_text WHERE head_key IS NOT NULL
                UNION ALL
                SELECT 't' || tail_key AS key, prompt_hash FROM _prompt_text WHERE tail_key IS NOT NULL
            ) AS keys
            GROUP BY key
            """,
        ),
        SqlStep(
            "prompt_signals",
            f"""
            SELECT m.event_id, m.account_id, m.ts_start,
                   s.cot_elicitation, s.rubric_grading, s.censorship_rewrite, s.capability,
                   CASE
                     WHEN coalesce(h.variants, 0) >= {SCAFFOLD_MIN_VARIANTS}
                          AND coalesce(h.variants, 0) >= coalesce(tl.variants, 0)
                       THEN 'h' || left(m.head_key, 16)
                     WHEN coalesce(tl.variants, 0) >= {SCAFFOLD_MIN_VARIANTS} THEN 't' || left(m.tail_key, 16)
                     WHEN m.skeleton_hash IS NOT NULL THEN 's' || left(m.skeleton_hash, 16)
                   END AS template_family,
                   s.evidence
            FROM _prompt_text AS m
            JOIN _prompt_scores AS s
              ON s.t = m.t AND s.tool_count = CASE WHEN m.tool_count > 0 THEN 1 ELSE 0 END
            LEFT JOIN _scaffold_variants AS h ON h.key = 'h' || m.head_key
            LEFT JOIN _scaffold_variants AS tl ON tl.key = 't' || m.tail_key
            """,
        ),
    ]


PROMPT_WORK_TABLES = ("_prompt_text", "_prompt_matches", "_prompt_scores", "_scaffold_variants")
