"""Prompt-level detectors as SQL steps over ``events`` → table ``prompt_signals``.

Built from the same compiled lexicons as ``prompt_matcher``; no rule is written
twice. Template families group prompts that share a scaffold: the normalised
head or tail of the prompt (where a harvesting wrapper sits around a varying
question) once it recurs with enough distinct fillings, else the skeleton hash.
"""

from __future__ import annotations

import hashlib
from functools import cache

import pyarrow as pa

from distillguard.detectors.patterns import (
    PART_CONTEXT,
    PART_LAST,
    PART_RESPONSE,
    RESPONSE_DETECTORS,
    SCORED_DETECTORS,
    Pattern,
    capability_lexicon,
    clip_text_sql,
    lexicon,
)
from distillguard.detectors.prompt_classifier import (
    PROMPT_CLASSIFIER_RETURNS,
    PROMPT_CLASSIFIER_SQL,
    classifier_fingerprint,
    classify_for_sql,
    classify_for_sql_arrow,
)
from distillguard.detectors.prompt_matcher import (
    EVIDENCE_EXCERPT_CHARS,
    GATE_PATTERNS,  # rules per gate: one RE2 pass instead of a dozen where none matches
    TOOL_REQUEST_WEIGHT,
)
from distillguard.detectors.regex_gates import atoms_regex, required_atoms
from distillguard.detectors.regex_gates import needs_non_ascii as _needs_non_ascii
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

# The classifier beside the engine (``prompt_steps(classified=True)``): the step whose texts
# it reads, and the table ``(text, clf)`` the scores then read its result from.
CLASSIFIER_INPUT = "_request_new"
CLASSIFIED_TABLE = "_request_classified"
CLASSIFY_BATCH_TEXTS = 50_000  # texts per call: bounds the Python strings held at once


def classifier_texts_sql() -> str:
    """The distinct request texts the classifier reads, once ``CLASSIFIER_INPUT`` exists."""
    return f"SELECT DISTINCT t FROM {CLASSIFIER_INPUT}"


def classify_texts(texts: pa.Array | pa.ChunkedArray) -> pa.Table:
    """``CLASSIFIED_TABLE``'s rows: each text beside what the SQL function gives for it.

    The same function the SQL calls (``classify_for_sql_arrow``), on larger batches: its
    numbers do not depend on how texts are batched (``prompt_classifier``'s sums are exact).
    """
    column = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    parts = [
        classify_for_sql_arrow(column.slice(start, CLASSIFY_BATCH_TEXTS))
        for start in range(0, len(column), CLASSIFY_BATCH_TEXTS)
    ]
    result = pa.concat_arrays(parts) if parts else classify_for_sql_arrow(column)
    return pa.table({"text": column, "clf": result})


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
    why={
        "scaffold_chars": "a harvesting wrapper's fixed instruction fits in the first or last forty "
        "characters, around a varying item",
        "scaffold_min_prompt_chars": "shorter prompts are all scaffold: their masked skeleton is the family",
        "scaffold_min_variants": "an opening shared by five different prompts is a template, not a "
        "coincidence of phrasing",
    },
)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _column(pattern: Pattern) -> str:
    return "m_" + "".join(ch if ch.isalnum() else "_" for ch in pattern.label)


def _all_patterns() -> list[Pattern]:
    """Every pattern the prompt level runs: request-side, response-side and capability."""
    scored = [p for name in (*SCORED_DETECTORS, *RESPONSE_DETECTORS) for p in lexicon(name).patterns]
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
    # Cut, then lower-case: DuckDB's lower() maps each code point to one code point with no
    # context, so this is the lower-cased text's head or tail without lower-casing the rest
    # of a long prompt (tests/detectors/test_prompt_level.py holds the equivalence).
    cut = f"lower({side}(prompt_text, {SCAFFOLD_CHARS}))"
    return (
        f"CASE WHEN length(prompt_text) >= {SCAFFOLD_MIN_PROMPT_CHARS} "
        f"THEN md5(regexp_replace({cut}, '[0-9]+', '0', 'g')) END"
    )


# A part with at most this many rules that can match ASCII text gets one alternation of them
# all, run first: the response side's fifteen took one pass where its three gates took three.
# The request side's hundred do not fit: RE2's automaton for them outgrows its memory and
# falls back to its slow engine (a hundred times the cost), so its gates run on their own.
PART_GATE_PATTERNS = 16


ANY_RULE = "g_any_rule"  # the part gate's column


def _part_gate(patterns: list[Pattern]) -> str | None:
    """One pass that says whether any rule that can match an ASCII text matches at all, or None.

    ``A|B|C`` matches exactly where one of them does, so a gate behind it that sees false
    could not have matched: the scores cannot change. The rules that need a non-ASCII text
    keep their own gates (they only run on non-ASCII texts, a small share).
    """
    ascii_possible = [p for p in patterns if not _needs_non_ascii(p.regex)]
    if not 1 < len(ascii_possible) <= PART_GATE_PATTERNS:
        return None
    union = "|".join(f"(?:{p.regex})" for p in ascii_possible)
    return f"regexp_matches(t, {_literal(union)})"


def _gates(patterns: list[Pattern]) -> tuple[dict[str, str], dict[str, str]]:
    """Gate columns (one alternation of up to ``GATE_PATTERNS`` rules each) and each rule's gate.

    Most distinct texts match no rule at all; one pass of the rules' alternation settles that
    for a dozen of them at once, and a rule runs on its own only where its gate matched
    (``A|B`` matches exactly where ``A`` or ``B`` does, so the scores cannot change). Where
    every rule of a gate has required literals (``regex_gates.required_atoms``), a pass over
    those literals alone comes first: it is a plain string search, far cheaper than the rules'
    bounded repeats, and a text without any of them cannot match. Rules are gated with their
    own lexicon and script, so the non-ASCII skip still applies.
    """
    groups: dict[tuple[str, bool, bool], list[tuple[Pattern, frozenset[str] | None]]] = {}
    for pattern in patterns:
        atoms = required_atoms(pattern.regex)
        key = (pattern.detector, _needs_non_ascii(pattern.regex), atoms is not None)
        groups.setdefault(key, []).append((pattern, atoms))
    gates: dict[str, str] = {}
    gate_of: dict[str, str] = {}
    part_gate = _part_gate(patterns)
    for (detector, non_ascii, has_atoms), members in groups.items():
        for start in range(0, len(members), GATE_PATTERNS):
            chunk = members[start : start + GATE_PATTERNS]
            label = "".join(ch if ch.isalnum() else "_" for ch in detector)
            name = f"g_{label}_{int(non_ascii)}{int(has_atoms)}_{start}"
            union = "|".join(f"(?:{p.regex})" for p, _ in chunk)
            found = f"regexp_matches(t, {_literal(union)})"
            conditions = ["non_ascii"] if non_ascii else [ANY_RULE] if part_gate is not None else []
            if has_atoms:
                literals = frozenset().union(*(atoms or frozenset() for _, atoms in chunk))
                conditions.append(f"regexp_matches(t, {_literal(atoms_regex(literals))})")
            gates[name] = (
                f"CASE WHEN {' AND '.join(conditions)} THEN {found} ELSE false END" if conditions else found
            )
            gate_of.update({p.label: name for p, _ in chunk})
    return gates, gate_of


def _part_steps(
    part: str,
    texts_sql: str,
    names: tuple[str, ...],
    *,
    classifier: bool,
    capability: bool = False,
    key: str = "md5(t)",
    classified: str | None = None,
) -> list[SqlStep]:
    """Matches, then scores and evidence, for each text of one part.

    ``texts_sql`` selects the texts as ``t`` (with ``tool_count`` when the capability is
    scored, since it depends on the request's tools), and ``key`` says what the output is
    keyed by. Requests are distinct clipped texts keyed by ``md5(t)``: campaigns (and chat
    apps) repeat prompts, and the regexes are most of the prompt level's time. Responses are
    all but unique (823k distinct of 823k on the medium preset), so finding the distinct ones
    costs more than it saves: they are matched per event, keyed by ``event_id``. Scores and
    evidence read the matches as a subquery of the same step: each regex column is computed
    once in its own projection and only read above it, each matched text is extracted once,
    only texts that matched a rule build evidence, and no text is written out in between
    (writing every clipped response again cost more than scoring them, medium preset).

    ``classified`` names a table ``(text, clf)`` holding the classifier's result for every
    text (``classify_texts``), computed outside the engine while it matches: the matches
    are then a table of their own and the scores join the classifier's columns to them.
    """
    scored = [p for name in names for p in lexicon(name).patterns]
    patterns = scored + ([p for ps in capability_lexicon()[1].values() for p in ps] if capability else [])
    gates, gate_of = _gates(patterns)
    part_gate = _part_gate(patterns)
    any_rule = f", {part_gate} AS {ANY_RULE}" if part_gate else ""
    gate_columns = ",\n  ".join(f"{sql} AS {name}" for name, sql in gates.items())
    matches = ",\n  ".join(
        f"CASE WHEN {gate_of[p.label]} THEN {_match_sql(p)} ELSE false END AS {_column(p)}" for p in patterns
    )
    keys = ", ".join(["t", *(["k"] if key == "k" else []), *(["tool_count"] if capability else [])])
    scored_gates = dict.fromkeys(gate_of[p.label] for p in scored)
    any_scored = " OR ".join(scored_gates) or "false"
    clf = f",\n  {PROMPT_CLASSIFIER_SQL}(t) AS clf" if classifier and not classified else ""
    score_columns = ",\n                   ".join(
        (
            f"greatest({_score_sql(lexicon(name).patterns)}, clf.{name})"
            if classifier
            else _score_sql(lexicon(name).patterns)
        )
        + f" AS {name}"
        for name in names
    )
    evidence_items = ", ".join(_evidence_sql(p) for p in scored)
    learned = "clf.evidence" if classifier else "[]::VARCHAR[]"
    found = ",\n                       ".join(_found_sql(p) for p in scored)
    capability_column = f"{_capability_sql()} AS capability," if capability else ""
    matches_sql = f"""
            WITH texts AS ({texts_sql}),
            flagged AS (SELECT *, octet_length(encode(t)) > length(t) AS non_ascii{any_rule} FROM texts),
            gated AS (SELECT *,\n  {gate_columns}\nFROM flagged)
            SELECT {keys},\n  {matches},\n  {any_scored} AS any_scored{clf}\nFROM gated
            """
    matched = f"({matches_sql}) AS matched"
    classifier_columns = ""
    if classified:
        matched = f"_{part}_matches AS matched LEFT JOIN {classified} AS c ON c.text = matched.t"
        classifier_columns = "c.clf,"
    scores = [
        SqlStep(
            f"_{part}_scores",
            f"""
            SELECT {key} AS k, {"tool_count," if capability else ""}
                   {score_columns},
                   {capability_column}
                   list_concat(
                       CASE WHEN any_scored THEN list_filter([{evidence_items}], x -> x IS NOT NULL)
                            ELSE []::VARCHAR[] END,
                       {learned}
                   ) AS evidence
            FROM (
                SELECT matched.*, {classifier_columns}
                       {found}
                FROM {matched}
            ) AS m
            """,
            functions=(CLASSIFIER_FUNCTION,) if classifier and not classified else (),
        ),
    ]
    if classified:
        return [SqlStep(f"_{part}_matches", matches_sql), *scores]
    return scores


def _distinct_clipped_sql(column: str, where: str) -> str:
    """The distinct clipped non-empty texts of an events column, as ``t``."""
    joiner = "AND" if where else "WHERE"
    return (
        f"SELECT DISTINCT {clip_text_sql(column)} AS t FROM events {where} "
        f"{joiner} {column} IS NOT NULL AND {column} <> ''"
    )


def _event_clipped_sql(column: str, where: str) -> str:
    """Each event's clipped non-empty text of an events column, as ``t``, keyed by ``event_id``."""
    joiner = "AND" if where else "WHERE"
    return (
        f"SELECT event_id AS k, {clip_text_sql(column)} AS t FROM events {where} "
        f"{joiner} {column} IS NOT NULL AND {column} <> ''"
    )


def _part_key_sql(column: str) -> str:
    return f"CASE WHEN {column} IS NOT NULL AND {column} <> '' THEN md5({clip_text_sql(column)}) END"


def prompt_steps(
    config: object | None = None,
    *,
    until_literal: str | None = None,
    remembered: str | None = None,
    classified: bool = False,
) -> list[SqlStep]:
    """SQL steps from ``events`` to ``prompt_signals`` (schema.PROMPT_SIGNALS).

    Request-side classes score the last user turn and the context (system prompt and
    earlier turns) each on its own and take the larger; ``response_trace`` scores the
    response. ``until_literal`` (a SQL timestamp expression) limits the work to events up
    to a streaming checkpoint, so template families only count what had been seen by then.

    ``remembered`` (a ``ruleset_version``) reads the matches earlier scans left in
    ``prompt_matches`` under that version and matches only the texts and responses it does
    not hold; ``remember_sql`` then adds what this run matched. Template families are counted
    over the whole window every time, as they depend on every prompt in it.

    ``classified`` leaves the n-gram classifier to the caller: the steps read its result
    from ``CLASSIFIED_TABLE`` (``classify_texts`` over ``classifier_texts_sql()``, once the
    ``CLASSIFIER_INPUT`` step has run) instead of calling it from SQL. Same numbers; the
    caller can run it beside the engine, not inside it, where every engine thread waits for
    Python's lock to call it (a third more CPU time on the medium preset).
    """
    where = f"WHERE ts_start <= {until_literal}" if until_literal else ""
    # The last turns and the contexts are matched in one pass over their distinct texts: one
    # set of rules (compiled once), and a text that is both is matched once. The capability
    # depends on the request's tools, so a last turn is keyed with whether it had any; a
    # context is matched as a text without tools (its capability is not read).
    request_texts = f"""
        SELECT DISTINCT t, CASE WHEN tool_count > 0 THEN 1 ELSE 0 END AS tool_count FROM _prompt_text
        UNION
        SELECT t, 0 AS tool_count FROM ({_distinct_clipped_sql("context_text", where)}) AS contexts
    """
    response_texts = _event_clipped_sql("response_text", where)
    request_scores, response_scores = "_request_scores", "_response_scores"
    known: list[SqlStep] = []
    new_texts: list[SqlStep] = []
    if remembered is not None:
        # What was matched before is left out by a join on the remembered keys (the build side
        # of the join): NOT EXISTS made DuckDB buffer every event's response text first.
        # The new texts are a table of their own: the matching then reads a plain table, as
        # it does without remembered matches (read straight off the join it ran far slower).
        new_texts = [
            SqlStep(
                "_request_new",
                f"""
                SELECT r.t, r.tool_count FROM ({request_texts}) AS r
                LEFT JOIN ({_remembered_sql(remembered, "request")}) AS c
                  ON c.match_key = md5(r.t) AND c.tool_count = r.tool_count
                WHERE c.match_key IS NULL
                """,
            ),
            SqlStep(
                "_response_new",
                f"""
                SELECT e.k, e.t FROM ({response_texts}) AS e
                LEFT JOIN ({_remembered_sql(remembered, PART_RESPONSE)}) AS c ON c.match_key = e.k
                WHERE c.match_key IS NULL
                """,
            ),
        ]
        request_texts, response_texts = "SELECT * FROM _request_new", "SELECT * FROM _response_new"
        request_scores, response_scores = "_request_known", "_response_known"
        known = _known_steps(remembered)
    elif classified:  # the texts the classifier reads are the texts the rules read
        new_texts = [SqlStep(CLASSIFIER_INPUT, request_texts)]
        request_texts = f"SELECT * FROM {CLASSIFIER_INPUT}"
    request_steps = _part_steps(
        "request",
        request_texts,
        SCORED_DETECTORS,
        classifier=True,
        capability=True,
        classified=CLASSIFIED_TABLE if classified else None,
    )
    response_steps = _part_steps(PART_RESPONSE, response_texts, RESPONSE_DETECTORS, classifier=False, key="k")
    # With the classifier outside the engine, responses are matched first: the engine works
    # on them (and on the requests' rules) while the classifier reads the requests.
    matching = [*response_steps, *request_steps] if classified else [*request_steps, *response_steps]
    greatest = ",\n                   ".join(
        f"greatest(s.{name}, coalesce(cs.{name}, 0.0)) AS {name}" for name in SCORED_DETECTORS
    )
    responses = ",\n                   ".join(
        f"coalesce(rs.{name}, 0.0) AS {name}" for name in RESPONSE_DETECTORS
    )
    return [
        # prompt_text itself is not carried: everything downstream reads the clipped text
        # or the scaffold keys, and a million full prompts are the widest column here. The
        # context is carried as the key of its clipped text only; responses join by event.
        SqlStep(
            "_prompt_text",
            f"""
            SELECT event_id, account_id, ts_start, coalesce(tool_count, 0) AS tool_count,
                   skeleton_hash, prompt_hash,
                   coalesce({clip_text_sql("prompt_text")}, '') AS t,
                   {_part_key_sql("context_text")} AS context_key,
                   {_scaffold_key_sql("left")} AS head_key,
                   {_scaffold_key_sql("right")} AS tail_key
            FROM events {where}
            """,
        ),
        *new_texts,
        *matching,
        *known,
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
                   {greatest},
                   {responses},
                   s.capability,
                   CASE
                     WHEN coalesce(h.variants, 0) >= {SCAFFOLD_MIN_VARIANTS}
                          AND coalesce(h.variants, 0) >= coalesce(tl.variants, 0)
                       THEN 'h' || left(m.head_key, 16)
                     WHEN coalesce(tl.variants, 0) >= {SCAFFOLD_MIN_VARIANTS} THEN 't' || left(m.tail_key, 16)
                     WHEN m.skeleton_hash IS NOT NULL THEN 's' || left(m.skeleton_hash, 16)
                   END AS template_family,
                   list_concat(
                       list_transform(s.evidence, x -> {_literal(PART_LAST + ":")} || x),
                       list_transform(coalesce(cs.evidence, []), x -> {_literal(PART_CONTEXT + ":")} || x),
                       list_transform(coalesce(rs.evidence, []), x -> {_literal(PART_RESPONSE + ":")} || x)
                   ) AS evidence
            FROM _prompt_text AS m
            JOIN {request_scores} AS s
              ON s.k = md5(m.t) AND s.tool_count = CASE WHEN m.tool_count > 0 THEN 1 ELSE 0 END
            LEFT JOIN {request_scores} AS cs ON cs.k = m.context_key AND cs.tool_count = 0
            LEFT JOIN {response_scores} AS rs ON rs.k = m.event_id
            LEFT JOIN _scaffold_variants AS h ON h.key = 'h' || m.head_key
            LEFT JOIN _scaffold_variants AS tl ON tl.key = 't' || m.tail_key
            """,
        ),
    ]


PROMPT_WORK_TABLES = (
    "_prompt_text",
    *(
        f"_{part}_{kind}"
        for part in ("request", PART_RESPONSE)
        for kind in ("new", "scores", "known")
    ),
    "_scaffold_variants",
)


# ---------------------------------------------------------------- remembered matches
REMEMBERED_TABLE = "prompt_matches"  # schema.PROMPT_MATCHES
# Bump when what a remembered row means changes in a way the SQL and the model file do not show.
REMEMBERED_FORMAT = 1
_REQUEST_COLUMNS = ("tool_count", *SCORED_DETECTORS, "capability", "evidence")
_RESPONSE_COLUMNS = (*RESPONSE_DETECTORS, "evidence")


@cache
def ruleset_version() -> str:
    """A digest of everything a remembered match depends on.

    The matching SQL of both parts (every rule's regex and weight, the clipping, the gates,
    the evidence format), the classifier's weights file and its window and floor: change any
    of them and the version changes, so no match computed under other rules is ever read.
    """
    digest = hashlib.sha256(f"format {REMEMBERED_FORMAT}\n".encode())
    digest.update(clip_text_sql("text").encode())  # what is matched: the clipped text
    for step in (
        *_part_steps("request", "texts", SCORED_DETECTORS, classifier=True, capability=True),
        *_part_steps(PART_RESPONSE, "texts", RESPONSE_DETECTORS, classifier=False, key="k"),
    ):
        digest.update(step.sql.encode())
    digest.update(classifier_fingerprint().encode())
    return digest.hexdigest()[:32]


def _remembered_sql(version: str, part: str) -> str:
    """The keys of one part's remembered matches under ``version``."""
    return (
        f"SELECT match_key, tool_count FROM {REMEMBERED_TABLE} "
        f"WHERE ruleset_version = {_literal(version)} AND part = {_literal(part)}"
    )


def _known_steps(version: str) -> list[SqlStep]:
    """What earlier scans matched under ``version`` beside what this one matched (views)."""
    steps = []
    for part, columns in (("request", _REQUEST_COLUMNS), (PART_RESPONSE, _RESPONSE_COLUMNS)):
        listed = ", ".join(columns)
        steps.append(
            SqlStep(
                f"_{part}_known",
                f"""
                SELECT match_key AS k, {listed} FROM {REMEMBERED_TABLE}
                WHERE ruleset_version = {_literal(version)} AND part = {_literal(part)}
                UNION ALL
                SELECT k, {listed} FROM _{part}_scores
                """,
                materialise=False,
            )
        )
    return steps


def remember_sql(version: str) -> list[str]:
    """Statements that add this run's new matches to ``prompt_matches`` (after ``prompt_steps``)."""
    statements = []
    for part, columns in (("request", _REQUEST_COLUMNS), (PART_RESPONSE, _RESPONSE_COLUMNS)):
        listed = ", ".join(columns)
        statements.append(
            f"INSERT INTO {REMEMBERED_TABLE} (ruleset_version, part, match_key, {listed}) "
            f"SELECT {_literal(version)}, {_literal(part)}, k, {listed} FROM _{part}_scores"
        )
    return statements


def forget_sql(version: str) -> str:
    """Drops matches made under any other version (a rule, clipping or model change)."""
    return f"DELETE FROM {REMEMBERED_TABLE} WHERE ruleset_version <> {_literal(version)}"
