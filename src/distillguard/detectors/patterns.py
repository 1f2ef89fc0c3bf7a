"""Prompt patterns as data: YAML lexicons compiled to SQL and to a Python matcher.

The same compiled pattern objects feed both back ends, so the batch scan and the
real-time service can never disagree about a rule. Scores combine matched
pattern weights with a noisy-or: 1 - prod(1 - w). Texts are lower-cased and long
texts are cut to their head and tail (wrappers sit at either end of a prompt).

Request-side classes (``SCORED_DETECTORS``) score the whole request: the last user turn
and the context before it (system prompt and earlier turns, ``events.context_text``),
each part on its own, the larger counting. ``RESPONSE_DETECTORS`` score the response.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import re2  # google-re2
import yaml

from distillguard.detectors.spec import DetectorSpec
from distillguard.rules import REQUEST_SIGNAL_COLUMNS, RESPONSE_SIGNAL_COLUMNS

# Request-side classes, each a lexicon (patterns/<name>.yaml) plus the classifier's class;
# response-side classes, a lexicon over the response text (lists defined once, in rules).
SCORED_DETECTORS = REQUEST_SIGNAL_COLUMNS
RESPONSE_DETECTORS = RESPONSE_SIGNAL_COLUMNS
# Which part of the exchange a piece of evidence came from (the prefix of its string).
PART_LAST, PART_CONTEXT, PART_RESPONSE = "last", "context", "response"
HEAD_CHARS = 1500
TAIL_CHARS = 500
MAX_WEIGHT = 0.99  # keeps ln(1 - w) finite in SQL


@dataclass(frozen=True)
class Pattern:
    detector: str
    id: str
    lang: str
    weight: float
    regex: str

    @property
    def compiled(self) -> Any:  # an RE2 pattern: search() returns a match with group/start
        return compile_regex(self.regex)

    @property
    def label(self) -> str:
        return f"{self.detector}/{self.id}"


@dataclass(frozen=True)
class Lexicon:
    spec: DetectorSpec
    patterns: tuple[Pattern, ...]


@cache
def compile_regex(regex: str) -> Any:
    """RE2, the engine DuckDB's regexp functions use: the real-time matcher and the scan's SQL
    accept the same syntax and match the same way, in time linear in the text (Python's
    backtracking ``re`` spent 1.5 ms at p99 on real prompts against RE2's 0.46 ms)."""
    options = re2.Options()
    options.never_capture = True  # evidence is the whole match: groups would make RE2 leave its DFA
    return re2.compile(regex, options)


# RE2's memory budget for an existence test over a whole lexicon. With its default (8 MB) an
# alternation of every rule of a lexicon (cot_elicitation's is ~33k instructions) keeps too few
# DFA states: the DFA is flushed and rebuilt, or RE2 falls back to its NFA, 10-40 times slower
# on a 2,000-character prompt. On 4,000 real prompts 96 MB was the least that stopped the
# flushing; 128 MB leaves room for the lexicons to grow. It is a cap, not an allocation:
# states are built as texts need them (the process grew by a few MB), and when a cap is
# reached RE2 flushes its cache and still answers exactly.
GATE_MAX_MEM_BYTES = 128 << 20


@cache
def compile_gate(regexes: tuple[str, ...], *, whole_lexicon: bool = False) -> Any:
    """One RE2 alternation of ``regexes`` that says only whether any of them matches.

    ``A|B`` matches exactly where ``A`` or ``B`` does, so a text the gate does not match
    matches none of the rules. Built without capture groups (RE2 then answers from its DFA
    alone); a gate over a whole lexicon gets ``GATE_MAX_MEM_BYTES``, a smaller one RE2's default
    (it runs only on the few texts the whole lexicon's gate let through).
    """
    options = re2.Options()
    options.never_capture = True
    if whole_lexicon:
        options.max_mem = GATE_MAX_MEM_BYTES
    return re2.compile("|".join(f"(?:{regex})" for regex in regexes), options)


def gate_matches(gate: Any, encoded_text: bytes) -> bool:
    """Whether the gate matches anywhere in the UTF-8 text (bytes spare RE2's wrapper from
    encoding the text again for every gate and mapping offsets back to characters)."""
    return gate.search(encoded_text) is not None


def _load(name: str) -> dict[str, object]:
    text = resources.files("distillguard.detectors").joinpath("patterns", f"{name}.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"patterns/{name}.yaml: expected a mapping")
    return data


def clip_text_parameters() -> dict[str, object]:
    """The clipping every lexicon is matched under: part of each lexicon's spec."""
    return {"head_chars": HEAD_CHARS, "tail_chars": TAIL_CHARS, "max_weight": MAX_WEIGHT}


# Why the clipping and weight cap every lexicon shares have their values.
CLIP_WHY = {
    "part": "which part of the exchange the lexicon reads: the request (system prompt, every user turn) "
    "or the response",
    "head_chars": "the instruction of a harvesting wrapper sits at the start of a prompt; 1,500 characters "
    "hold it with the start of the item, and bound the regex cost of long pastes",
    "tail_chars": "or at its end (\"...then answer: <item>\" or \"<item> Now explain your reasoning\")",
    "max_weight": "no single pattern is certain; the cap keeps ln(1 - w) finite in SQL",
}
CLASSIFIER_WHY = {
    "classifier_threshold": "the classifier's score at which it counts, chosen at training so that ordinary "
    "corpus prompts stay within the false-positive budget (docs/prompt-level.md)",
    "classifier_window_chars": "the n-gram model reads windows of this size, so a short instruction inside "
    "a long paste is not averaged away",
    "classifier_floor": "below this score the classifier contributes nothing (its noise on ordinary text)",
}


def _spec(data: dict[str, object]) -> DetectorSpec:
    return DetectorSpec(
        id=str(data["id"]),
        title=str(data["title"]),
        level=str(data["level"]),
        description=" ".join(str(data["description"]).split()),
        known_false_positives=tuple(str(x) for x in data.get("known_false_positives", []) or []),  # type: ignore[attr-defined]
        references=tuple(str(x) for x in data.get("references", []) or []),  # type: ignore[attr-defined]
        parameters={"part": str(data.get("part", "request")), **clip_text_parameters()},
        why=dict(CLIP_WHY),
    )


def _pattern(detector: str, raw: dict[str, object]) -> Pattern:
    weight = float(raw["weight"])  # type: ignore[arg-type]
    if not 0 < weight <= MAX_WEIGHT:
        raise ValueError(f"{detector}/{raw['id']}: weight must be in (0, {MAX_WEIGHT}]")
    pattern = Pattern(detector, str(raw["id"]), str(raw.get("lang", "any")), weight, str(raw["regex"]))
    pattern.compiled  # noqa: B018 - fail at load time on a bad regex, naming the rule
    return pattern


@cache
def lexicon(name: str) -> Lexicon:
    """A scored detector's spec and patterns (``SCORED_DETECTORS`` and ``RESPONSE_DETECTORS``)."""
    data = _load(name)
    raw_patterns = data["patterns"]
    assert isinstance(raw_patterns, list)
    return Lexicon(_spec(data), tuple(_pattern(name, raw) for raw in raw_patterns))


@cache
def capability_lexicon() -> tuple[DetectorSpec, dict[str, tuple[Pattern, ...]]]:
    """The capability spec and, per category in priority order, its patterns."""
    data = _load("capability")
    categories = data["categories"]
    assert isinstance(categories, dict)
    return _spec(data), {
        str(name): tuple(_pattern(f"capability.{name}", raw) for raw in rules)
        for name, rules in categories.items()
    }


def clip_text(text: str) -> str:
    """Lower-cased head and tail of a prompt: what every pattern is matched against."""
    if len(text) > HEAD_CHARS + TAIL_CHARS:
        text = text[:HEAD_CHARS] + " \n " + text[-TAIL_CHARS:]
    return text.lower()


CLIP_TEXT_SQL = (
    "lower(CASE WHEN length({col}) > {limit} THEN left({col}, {head}) || ' \n ' || right({col}, {tail}) "
    "ELSE {col} END)"
)


def clip_text_sql(column: str) -> str:
    return CLIP_TEXT_SQL.format(col=column, limit=HEAD_CHARS + TAIL_CHARS, head=HEAD_CHARS, tail=TAIL_CHARS)
