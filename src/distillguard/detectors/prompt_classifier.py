"""A learned classifier on hashed character n-grams, beside the prompt lexicons.

The lexicons (``patterns/*.yaml``) name the wordings someone thought of; this model
scores the wordings nobody wrote a rule for. Features are character 2- to 4-grams of
the clipped, lower-cased prompt (``patterns.clip_text``; digits folded to 0), hashed
into 2**18 buckets: character n-grams need no tokenizer for Chinese and survive
paraphrase and inflection. One logistic regression per class (one-vs-rest against
ordinary prompts and the other classes) is trained by ``bench/train_prompt_classifier.py``
from ``training/prompt_classifier/`` and shipped as ``data/prompt_classifier.npz``
(only the non-zero buckets).

A request is a sentence or two inside a prompt that may be thousands of characters of
question, code or document, so the model scores windows of ``WINDOW`` characters (half
overlapping) and a class takes its best window: the request is not diluted by the text
around it, and the window is the evidence span. The window's probability ``p`` becomes a
class score ``sigmoid(logit(p) - logit(threshold))``, which reaches 0.5, the line the
account level counts as caught, exactly at the class's operating point (chosen on real
ordinary prompts, see docs/detectors.md); below ``FLOOR`` it contributes nothing. The
prompt's class score is the larger of the lexicon's and this one: both read the same
cue, so adding them (noisy-or) would count it twice.

This module is the one implementation: the real-time matcher calls ``classify`` and the
batch scan calls it through the SQL function ``PROMPT_CLASSIFIER_SQL`` on each distinct
clipped text, so both produce the same numbers and evidence.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

CLASSES = ("cot_elicitation", "rubric_grading", "censorship_rewrite")
N_FEATURES = 2**18
NGRAMS = (2, 3, 4)
WINDOW = 320  # characters per scored window: a request and a little around it
STRIDE = WINDOW // 2
FLOOR = 0.3  # class scores below this are left to the lexicon (and not shown as evidence)
HASH_VERSION = 1  # bump when the hashing changes: old weights are then refused
EVIDENCE_EXCERPT_CHARS = 80
MODEL_FILE = "prompt_classifier.npz"

_P = np.uint64(0x100000001B3)  # FNV prime: mixes each code point into the running n-gram hash
_M = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing multiplier: spreads hashes over the buckets
_SALT = {
    n: np.uint64(0xA24BAED4963EE407 * n % 2**64) for n in NGRAMS
}  # a 2-gram never collides with a 3-gram by design
_SHIFT = np.uint64(64 - int(math.log2(N_FEATURES)))
_DIGITS = str.maketrans("123456789", "000000000")  # "the answer is 42" and "is 17" read alike


@dataclass(frozen=True)
class ClassScore:
    score: float  # in [0, 1]; 0.0 below FLOOR
    probability: float  # the model's probability on the best window
    start: int  # the best window in the clipped text
    end: int


def normalise(clipped: str) -> str:
    """What the n-grams are taken from: the clipped text with digits folded."""
    return clipped.translate(_DIGITS)


def ngram_buckets(text: str) -> list[np.ndarray]:
    """Per n in NGRAMS, the bucket of the n-gram starting at each position (int64).

    Stable across processes and platforms (no Python ``hash``): a polynomial hash of the
    code points, wrapping at 64 bits, then Fibonacci hashing into the buckets.
    """
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    found = []
    running = codes
    for n in range(2, max(NGRAMS) + 1):
        if len(codes) < n:
            break
        running = running[:-1] * _P + codes[n - 1 :]
        if n in NGRAMS:
            found.append((((running ^ _SALT[n]) * _M) >> _SHIFT).astype(np.int64))
    return found


def features(text: str) -> tuple[np.ndarray, float]:
    """A whole (short) text's buckets and its scale, 1/sqrt(n-grams): one training row.

    ``classify`` computes exactly this on each window of a longer text.
    """
    found = ngram_buckets(text)
    buckets = np.concatenate(found) if found else np.zeros(0, np.int64)
    return buckets, 1.0 / math.sqrt(max(len(buckets), 1))


def windows(length: int) -> list[tuple[int, int]]:
    """Half-overlapping windows over a text of ``length`` characters (one if it is short)."""
    if length <= WINDOW:
        return [(0, length)]
    spans = [(start, start + WINDOW) for start in range(0, length - WINDOW, STRIDE)]
    spans.append((length - WINDOW, length))
    return spans


@dataclass(frozen=True)
class Model:
    weights: np.ndarray  # (N_FEATURES, len(CLASSES)) float32, dense in memory
    bias: np.ndarray  # (len(CLASSES),)
    thresholds: dict[str, float]  # the probability at which a class score reaches 0.5


def load_model(raw: Any) -> Model:
    """A model from an ``np.load``-ed npz (the package's own or a retrained one)."""
    meta = json.loads(str(raw["meta"]))
    if meta.get("hash_version") != HASH_VERSION or tuple(meta.get("classes", ())) != CLASSES:
        raise ValueError(f"prompt classifier weights are for hash version {meta.get('hash_version')}")
    if meta.get("n_features") != N_FEATURES or tuple(meta.get("ngrams", ())) != NGRAMS:
        raise ValueError("prompt classifier weights were trained on other features")
    weights = np.zeros((N_FEATURES, len(CLASSES)), dtype=np.float32)
    weights[raw["buckets"].astype(np.int64)] = raw["weights"].astype(np.float32)
    bias = raw["bias"].astype(np.float64)
    return Model(weights, bias, {name: float(meta["thresholds"][name]) for name in CLASSES})


@cache
def model() -> Model:
    """The shipped weights, read once."""
    path = resources.files("distillguard").joinpath("data", MODEL_FILE)
    with path.open("rb") as handle, np.load(handle, allow_pickle=False) as raw:
        return load_model(raw)


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def class_score(probability: float, threshold: float) -> float:
    """sigmoid(logit(p) - logit(threshold)), rounded; 0.0 below FLOOR."""
    p = min(max(probability, 1e-9), 1 - 1e-9)
    score = 1.0 / (1.0 + math.exp(_logit(threshold) - _logit(p)))
    score = round(score, 6)
    return score if score >= FLOOR else 0.0


def classify(clipped: str, fitted: Model | None = None) -> dict[str, ClassScore]:
    """Class scores of a clipped prompt (``patterns.clip_text``), each with its best window.

    A window's n-grams are those starting inside it (a 4-gram may end just past it).
    Each n-gram's weights are looked up once and summed per window through a running
    sum over positions, so the cost is one pass over the text however many windows.
    """
    fitted = fitted or model()
    text = normalise(clipped)
    found = ngram_buckets(text)
    spans = windows(len(text))
    if len(spans) == 1:  # most prompts: one window, no running sums
        count = sum(len(b) for b in found)
        total = sum(
            (fitted.weights.take(b, axis=0).sum(axis=0, dtype=np.float64) for b in found), np.zeros(3)
        )
        logits = (fitted.bias + total / math.sqrt(max(count, 1))).reshape(1, -1)
    else:
        per_position = np.zeros((len(text) + 1, len(CLASSES)), dtype=np.float64)
        for buckets in found:
            # take() rather than fancy indexing: 6x faster on a few thousand rows of a 3 MB array
            per_position[1 : len(buckets) + 1] += fitted.weights.take(buckets, axis=0)
        running = np.cumsum(per_position, axis=0)
        starts = np.array([s for s, _ in spans])
        ends = np.array([e for _, e in spans])
        counts = sum(np.clip(np.minimum(ends, len(b)) - starts, 0, None) for b in found)
        scale = 1.0 / np.sqrt(np.maximum(counts, 1))
        logits = fitted.bias + (running[ends] - running[starts]) * scale[:, None]
    best = np.argmax(logits, axis=0)  # ties go to the earliest window
    result = {}
    for i, name in enumerate(CLASSES):
        w = int(best[i])
        probability = 1.0 / (1.0 + math.exp(-float(logits[w, i])))
        score = class_score(probability, fitted.thresholds[name])
        result[name] = ClassScore(score, probability, spans[w][0], spans[w][1])
    return result


def evidence(name: str, found: ClassScore, clipped: str) -> str:
    """Like a pattern's evidence (``detector/rule:start-end:excerpt``), the rule naming the
    classifier and its score, the span its best window."""
    excerpt = clipped[found.start : found.end][:EVIDENCE_EXCERPT_CHARS]
    return f"{name}/classifier={found.score:.2f}:{found.start}-{found.end}:{excerpt}"


def scores_and_evidence(clipped: str) -> tuple[dict[str, float], list[str]]:
    """Each class's classifier score and the evidence of those above the floor."""
    found = classify(clipped)
    scores = {name: found[name].score for name in CLASSES}
    return scores, [evidence(name, found[name], clipped) for name in CLASSES if found[name].score > 0]


# The batch scan's entry point: DuckDB calls it once per distinct clipped text.
PROMPT_CLASSIFIER_SQL = "distillguard_prompt_classifier"
PROMPT_CLASSIFIER_RETURNS = (
    "STRUCT(cot_elicitation DOUBLE, rubric_grading DOUBLE, censorship_rewrite DOUBLE, evidence VARCHAR[])"
)


def classify_for_sql(clipped: str | None) -> dict[str, object]:
    scores, found = scores_and_evidence(clipped or "")
    return {**scores, "evidence": found}
