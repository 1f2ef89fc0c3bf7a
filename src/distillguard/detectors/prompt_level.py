"""Prompt-level detectors as SQL steps over ``events`` → table ``prompt_signals``.

Built from the same compiled lexicons as ``prompt_matcher``; no rule is written
twice. Template families group prompts that share a scaffold: the normalised
head or tail of the prompt (where a harvesting wrapper sits around a varying
question) once it recurs with enough distinct fillings, else the skeleton hash.
"""

from __future__ import annotations

from distillguard.detectors.patterns import (
    SCORED_DETECTORS,
    Pattern,
    capability_lexicon,
    clip_text_sql,
    lexicon,
)
from distillguard.detectors.prompt_matcher import EVIDENCE_EXCERPT_CHARS, TOOL_REQUEST_WEIGHT
from distillguard.detectors.spec import DetectorSpec
from distillguard.engine.base import SqlStep

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


def _evidence_sql(pattern: Pattern) -> str:
    found = f"regexp_extract(t, {_literal(pattern.regex)})"
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
    matches = ",\n  ".join(f"regexp_matches(t, {_literal(p.regex)}) AS {_column(p)}" for p in patterns)
    scored = {name: _score_sql(lexicon(name).patterns) for name in SCORED_DETECTORS}
    evidence_items = ", ".join(_evidence_sql(p) for name in SCORED_DETECTORS for p in lexicon(name).patterns)
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
            )
            SELECT t, tool_count,\n  {matches}\nFROM texts
            """,
        ),
        # Scores and evidence per distinct text too (a separate step, so each regex column
        # is computed once and only read here): the evidence extracts run once per text
        # instead of once per event.
        SqlStep(
            "_prompt_scores",
            f"""
            SELECT t, tool_count,
                   {scored["cot_elicitation"]} AS cot_elicitation,
                   {scored["rubric_grading"]} AS rubric_grading,
                   {scored["censorship_rewrite"]} AS censorship_rewrite,
                   {_capability_sql()} AS capability,
                   list_filter([{evidence_items}], x -> x IS NOT NULL) AS evidence
            FROM _prompt_matches
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
