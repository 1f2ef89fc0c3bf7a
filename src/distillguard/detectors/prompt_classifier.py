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
ordinary prompts, see docs/prompt-level.md); below ``FLOOR`` it contributes nothing. The
prompt's class score is the larger of the lexicon's and this one: both read the same
cue, so adding them (noisy-or) would count it twice.

This module is the one implementation: the real-time matcher calls ``classify`` and the
batch scan calls it through the SQL function ``PROMPT_CLASSIFIER_SQL`` on each distinct
clipped text, so both produce the same numbers and evidence.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from typing import Any

import numpy as np
import pyarrow as pa

CLASSES = ("cot_elicitation", "rubric_grading", "censorship_rewrite", "critique")
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
_DIGIT_ONE, _DIGIT_NINE, _DIGIT_ZERO = np.uint64(ord("1")), np.uint64(ord("9")), np.uint64(ord("0"))


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
    return [buckets for _, buckets in _code_ngram_buckets(text)]


def _code_ngram_buckets(text: str, *, fold_digits: bool = False) -> list[tuple[int, np.ndarray]]:
    """(n, buckets) for each n in NGRAMS over ``text``'s code points (a batch passes its texts
    laid end to end and masks the n-grams that cross from one text into the next).

    ``fold_digits`` does ``normalise``'s folding on the code points: one array operation
    instead of a ``str.translate`` per text.
    """
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if fold_digits:
        codes[(codes >= _DIGIT_ONE) & (codes <= _DIGIT_NINE)] = _DIGIT_ZERO
    found = []
    running = codes
    for n in range(2, max(NGRAMS) + 1):
        if len(codes) < n:
            break
        running = running[:-1] * _P + codes[n - 1 :]
        if n in NGRAMS:
            found.append((n, (((running ^ _SALT[n]) * _M) >> _SHIFT).astype(np.int64)))
    return found


def features(text: str) -> tuple[np.ndarray, float]:
    """A whole (short) text's buckets and its scale, 1/sqrt(n-grams): one training row.

    ``classify`` computes exactly this on each window of a longer text.
    """
    found = ngram_buckets(text)
    buckets = np.concatenate(found) if found else np.zeros(0, np.int64)
    return buckets, 1.0 / math.sqrt(max(len(buckets), 1))


def window_scale(starts: np.ndarray, ends: np.ndarray, text_length: int | np.ndarray) -> np.ndarray:
    """1/sqrt(n-grams starting in each window), live and batch alike: an n-gram starts inside
    its window and may end just past it, never past its own text (``text_length``, one length
    or one per window). ``np.maximum`` rather than ``np.clip``: the same integers, without the
    dtype-limit checks that were a fifth of a short prompt's classification."""
    ngrams = sum(np.maximum(np.minimum(ends, text_length - n + 1) - starts, 0) for n in NGRAMS)
    return 1.0 / np.sqrt(np.maximum(ngrams, 1))


def windows(length: int) -> list[tuple[int, int]]:
    """Half-overlapping windows over a text of ``length`` characters (one if it is short)."""
    if length <= WINDOW:
        return [(0, length)]
    spans = [(start, start + WINDOW) for start in range(0, length - WINDOW, STRIDE)]
    spans.append((length - WINDOW, length))
    return spans


@dataclass(frozen=True)
class Model:
    weights: np.ndarray  # (N_FEATURES + 1, len(CLASSES)) float32, dense; the last row is zeros
    bias: np.ndarray  # (len(CLASSES),)
    thresholds: dict[str, float]  # the probability at which a class score reaches 0.5

    @cached_property
    def columns(self) -> np.ndarray:
        """The weights one class per contiguous row: the batch looks each class up on its own."""
        return np.ascontiguousarray(self.weights.T)


def load_model(raw: Any) -> Model:
    """A model from an ``np.load``-ed npz (the package's own or a retrained one)."""
    meta = json.loads(str(raw["meta"]))
    if meta.get("hash_version") != HASH_VERSION or tuple(meta.get("classes", ())) != CLASSES:
        raise ValueError(f"prompt classifier weights are for hash version {meta.get('hash_version')}")
    if meta.get("n_features") != N_FEATURES or tuple(meta.get("ngrams", ())) != NGRAMS:
        raise ValueError("prompt classifier weights were trained on other features")
    # one extra all-zero row: where an n-gram would run into the next text of a batch
    weights = np.zeros((N_FEATURES + 1, len(CLASSES)), dtype=np.float32)
    # Rounded to float16 whatever the file holds: sums of float16 values in float64 are exact,
    # which is what lets a batch score each text exactly as the text alone does.
    weights[raw["buckets"].astype(np.int64)] = raw["weights"].astype(np.float16).astype(np.float32)
    bias = raw["bias"].astype(np.float64)
    return Model(weights, bias, {name: float(meta["thresholds"][name]) for name in CLASSES})


@cache
def classifier_fingerprint() -> str:
    """A digest of the shipped weights and the constants the scores depend on (the scan's
    remembered matches are only valid under the same ones)."""
    path = resources.files("distillguard").joinpath("data", MODEL_FILE)
    digest = hashlib.sha256(path.read_bytes())
    digest.update(repr((CLASSES, NGRAMS, N_FEATURES, WINDOW, STRIDE, FLOOR, HASH_VERSION)).encode())
    digest.update(repr(EVIDENCE_EXCERPT_CHARS).encode())
    return digest.hexdigest()


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

    The live path: ``classify_many``'s arithmetic for a single text without its batch
    bookkeeping, which costs more than the work on a short prompt. The window sums are
    exact, so the scores are identical to the batch's (a test holds them to it).
    """
    fitted = fitted or model()
    text = clipped or ""
    # ``normalise``'s digit folding done on the code points (str.translate cost more than the
    # rest of the arithmetic on a 2,000-character prompt)
    found = [buckets for _, buckets in _code_ngram_buckets(text, fold_digits=True)]
    spans = windows(len(text))
    starts = np.array([start for start, _ in spans], dtype=np.int64)
    ends = np.array([end for _, end in spans], dtype=np.int64)
    scale = window_scale(starts, ends, len(text))
    if len(spans) == 1:  # most prompts: one window, no running sums
        sums = np.zeros(len(CLASSES), dtype=np.float64)
        for buckets in found:
            sums += fitted.weights.take(buckets, axis=0).sum(axis=0, dtype=np.float64)
        logits = fitted.bias + sums[None, :] * scale[:, None]
    else:
        per_position = np.zeros((len(text) + 1, len(CLASSES)), dtype=np.float64)
        for buckets in found:
            per_position[1 : len(buckets) + 1] += fitted.weights.take(buckets, axis=0)
        cumulative = np.cumsum(per_position, axis=0)
        logits = fitted.bias + (cumulative[ends] - cumulative[starts]) * scale[:, None]
    best = np.argmax(logits, axis=0)  # ties go to the earliest window, as in the batch
    probabilities = 1.0 / (1.0 + np.exp(-logits[best, np.arange(len(CLASSES))]))
    return {
        name: ClassScore(
            class_score(float(probabilities[i]), fitted.thresholds[name]),
            float(probabilities[i]),
            int(starts[best[i]]),
            int(ends[best[i]]),
        )
        for i, name in enumerate(CLASSES)
    }


def classify_many(clipped_texts: Sequence[str], fitted: Model | None = None) -> list[dict[str, ClassScore]]:
    """``classify`` for many texts at once, with the same numbers (the scan's arithmetic).

    The texts are laid end to end and every step is one numpy operation over all of
    them: a per-call loop costs more in numpy overhead than the arithmetic (the scan
    meets hundreds of thousands of distinct prompts). A window's n-grams are those
    starting inside it (a 4-gram may end just past it, never past its own text); each
    n-gram's weights are looked up once and windows are differences of one running sum.
    """
    fitted = fitted or model()
    results: list[dict[str, ClassScore]] = []
    for batch in _batches([t or "" for t in clipped_texts]):
        best = _best_windows(batch, fitted)
        probabilities = best.probability
        for k in range(len(batch)):
            results.append(
                {
                    name: ClassScore(
                        class_score(float(probabilities[k, i]), fitted.thresholds[name]),
                        float(probabilities[k, i]),
                        int(best.start[k, i]),
                        int(best.end[k, i]),
                    )
                    for i, name in enumerate(CLASSES)
                }
            )
    return results


_BATCH_CHARS = 1_000_000  # bounds a batch's arrays (~100 MB) and keeps its sums exact (< 2**53)


@dataclass(frozen=True)
class _Best:
    """Per text and class: the best window's logit and span (arrays of shape (texts, classes))."""

    logit: np.ndarray
    start: np.ndarray
    end: np.ndarray

    @property
    def probability(self) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit))


def _batches(texts: Sequence[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    chars = 0
    for text in texts:
        if batch and chars + len(text) > _BATCH_CHARS:
            yield batch
            batch, chars = [], 0
        batch.append(text)
        chars += len(text)
    if batch:
        yield batch


def _window_spans(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``windows`` for every text at once: starts, ends and how many windows each text has."""
    extra = np.maximum(lengths - WINDOW, 0)
    counts = np.where(lengths > WINDOW, (extra + STRIDE - 1) // STRIDE + 1, 1)
    first = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(counts[:-1], out=first[1:])
    owner = np.repeat(np.arange(len(lengths)), counts)
    index = np.arange(len(owner)) - first[owner]  # which window of its text
    last = index == counts[owner] - 1
    long = lengths[owner] > WINDOW
    starts = np.where(long & last, extra[owner], index * STRIDE)
    ends = np.where(long, starts + WINDOW, lengths[owner])
    return starts, ends, counts


def _best_windows(texts: list[str], fitted: Model) -> _Best:
    """The arithmetic of ``classify`` for a batch of clipped texts laid end to end (their
    digits folded here, as ``normalise`` does).

    Every step is one numpy operation over the batch. Per class the weights are looked up
    as contiguous rows (``Model.columns``) and summed into one running sum per class, so
    each window is a difference of two running sums; the weights are float16 values, so
    these float64 sums are exact whatever their order and a text scores the same alone.
    """
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    total = int(offsets[-1])
    # how many characters remain in each position's own text from there (n-grams must fit)
    remaining = np.repeat(offsets[1:], lengths) - np.arange(total)
    running_sums = np.zeros((len(CLASSES), total + 1), dtype=np.float64)
    for n, buckets in _code_ngram_buckets("".join(texts), fold_digits=True):
        buckets[remaining[: len(buckets)] < n] = N_FEATURES  # runs into the next text: the zero row
        for c in range(len(CLASSES)):
            running_sums[c, 1 : len(buckets) + 1] += fitted.columns[c].take(buckets)
    np.cumsum(running_sums, axis=1, out=running_sums)
    starts, ends, counts = _window_spans(lengths)
    window_owner = np.repeat(np.arange(len(texts)), counts)
    base = offsets[:-1][window_owner]
    text_length = lengths[window_owner]
    scale = window_scale(starts, ends, text_length)
    logits = fitted.bias + (running_sums[:, base + ends] - running_sums[:, base + starts]).T * scale[:, None]
    if len(logits) == len(texts):  # every text one window: nothing to choose
        spans = np.broadcast_to(starts[:, None], logits.shape), np.broadcast_to(ends[:, None], logits.shape)
        return _Best(logits, *spans)
    first_window = np.zeros(len(texts), dtype=np.int64)
    np.cumsum(counts[:-1], out=first_window[1:])
    best_logit = np.maximum.reduceat(logits, first_window, axis=0)
    # the earliest window reaching the best logit (what argmax gives for one text)
    is_best = logits == best_logit[window_owner]
    position = np.where(is_best, np.arange(len(starts))[:, None], len(starts))
    best = np.minimum.reduceat(position, first_window, axis=0)
    return _Best(best_logit, starts[best], ends[best])


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
    "STRUCT(" + ", ".join(f"{name} DOUBLE" for name in CLASSES) + ", evidence VARCHAR[])"
)


def classify_for_sql(clipped: str | None) -> dict[str, object]:
    """One text (engines that call a scalar function row by row, e.g. Spark)."""
    scores, found = scores_and_evidence(clipped or "")
    return {**scores, "evidence": found}


def classify_for_sql_arrow(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A whole vector of texts (DuckDB's Arrow UDFs): ``classify_many``'s numbers, no objects.

    Most texts score nothing: a class score is computed exactly (``class_score``) only where
    the best window's logit can reach ``FLOOR`` (with a margin far above rounding), and the
    rest are 0.0 as ``class_score`` would make them. Evidence is built for the scored texts.
    """
    fitted = model()
    clipped = [t or "" for t in texts.to_pylist()]
    scores = np.zeros((len(clipped), len(CLASSES)), dtype=np.float64)
    starts = np.zeros_like(scores, dtype=np.int64)
    ends = np.zeros_like(starts)
    done = 0
    for batch in _batches(clipped):
        best = _best_windows(batch, fitted)
        probabilities = best.probability
        for i, name in enumerate(CLASSES):
            line = _logit(fitted.thresholds[name]) + _FLOOR_LOGIT - _FLOOR_MARGIN
            for k in np.flatnonzero(best.logit[:, i] >= line):
                scores[done + k, i] = class_score(float(probabilities[k, i]), fitted.thresholds[name])
        starts[done : done + len(batch)] = best.start
        ends[done : done + len(batch)] = best.end
        done += len(batch)
    evidence_lists: list[list[str]] = [[] for _ in clipped]
    for k in np.flatnonzero(scores.any(axis=1)):
        text = clipped[k]
        evidence_lists[k] = [
            evidence(name, ClassScore(float(scores[k, i]), 0.0, int(starts[k, i]), int(ends[k, i])), text)
            for i, name in enumerate(CLASSES)
            if scores[k, i] > 0
        ]
    arrays = [pa.array(scores[:, i], pa.float64()) for i in range(len(CLASSES))]
    arrays.append(pa.array(evidence_lists, pa.list_(pa.string())))
    return pa.StructArray.from_arrays(arrays, names=[*CLASSES, "evidence"])


# A class score reaches FLOOR where logit(p) - logit(threshold) reaches logit(FLOOR); below a
# margin under that line (a hundred times any rounding of the logit) the score is 0.0.
_FLOOR_LOGIT = math.log(FLOOR / (1.0 - FLOOR))
_FLOOR_MARGIN = 0.01
