"""Three published-style baselines distillguard is compared against, scored from the warehouse.

1. **Per-account rate limit**: an account is flagged when its busiest clock hour or
   busiest UTC day exceeds a limit. The SQL is the natural form.
2. **PRADA** (Juuti et al., 2019): per account, the minimum distance of each new
   query to the account's growing set of earlier queries; an attack shows as a
   distance distribution far from normal, so a Shapiro-Wilk statistic ``W`` below
   a threshold flags the account. Score ``1 - W``.
3. **MMD window test**: windows of an account's queries are compared with benign
   reference traffic by the maximum mean discrepancy (RBF kernel) over hashed
   n-gram embeddings; the threshold comes from benign-vs-benign windows.

Fair thresholds: the rate limit and PRADA take the threshold that hits the target
false-positive rate on a *calibration split* of benign accounts (half of them, by
a stable hash of the id), i.e. the best limit an operator with labelled history
could set. The MMD test needs no labels: its reference and null windows come from
the first part of the traffic (see ``mmd_window_test``).

Text features use only what the warehouse holds (``prompt_text``); events without
text are skipped by PRADA and MMD.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
from scipy import sparse
from scipy.stats import shapiro
from sklearn.feature_extraction.text import HashingVectorizer

from distillguard.bench.metrics import threshold_at_fpr
from distillguard.bench.outputs import DetectorOutput
from distillguard.engine import DuckDBEngine

# Words, or single CJK characters (Chinese has no spaces between words).
_TOKEN_PATTERN = r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]|\w+"


def calibration_split(accounts: Iterable[str]) -> set[str]:
    """Half the given accounts, chosen by a stable hash of the id (no randomness to leak)."""
    return {a for a in accounts if hashlib.blake2b(a.encode(), digest_size=2).digest()[0] % 2 == 0}


def _vectoriser() -> HashingVectorizer:
    return HashingVectorizer(
        n_features=2**18,
        token_pattern=_TOKEN_PATTERN,
        ngram_range=(1, 2),
        alternate_sign=False,
        norm="l2",
    )


# ------------------------------------------------------------------ rate limit
_PEAKS_SQL = """
WITH scoped AS (
    SELECT account_id, ts_start FROM events
    WHERE ts_start <= coalesce(CAST(? AS TIMESTAMPTZ), ts_start)
),
hourly AS (SELECT account_id, count(*) AS n FROM scoped GROUP BY account_id, date_trunc('hour', ts_start)),
daily AS (SELECT account_id, count(*) AS n FROM scoped GROUP BY account_id, date_trunc('day', ts_start))
SELECT h.account_id, h.peak_hour, d.peak_day
FROM (SELECT account_id, max(n) AS peak_hour FROM hourly GROUP BY 1) AS h
JOIN (SELECT account_id, max(n) AS peak_day FROM daily GROUP BY 1) AS d USING (account_id)
"""

# The moment a limit is crossed: the first event beyond the limit in its hour or day.
_CROSSING_SQL = """
WITH ranked AS (
    SELECT account_id, ts_start,
           row_number() OVER (PARTITION BY account_id, date_trunc('hour', ts_start) ORDER BY ts_start) AS nh,
           row_number() OVER (PARTITION BY account_id, date_trunc('day', ts_start) ORDER BY ts_start) AS nd
    FROM events
)
SELECT account_id, min(ts_start) AS crossed FROM ranked WHERE nh > ? OR nd > ? GROUP BY 1
"""


def rate_limit(engine: DuckDBEngine, *, calibration: set[str], target_fpr: float) -> DetectorOutput:
    """Per-account requests-per-hour and per-day limits, set at the target FPR on calibration accounts."""
    started = time.perf_counter()
    peaks = engine.to_arrow(_PEAKS_SQL, [None]).to_pylist()
    calib = [row for row in peaks if row["account_id"] in calibration]
    # Two tests share the FPR budget (Bonferroni), so the combined rule stays near the target.
    hour_limit = max(threshold_at_fpr([r["peak_hour"] for r in calib], target_fpr / 2), 1.0)
    day_limit = max(threshold_at_fpr([r["peak_day"] for r in calib], target_fpr / 2), 1.0)
    scores = {
        row["account_id"]: max(row["peak_hour"] / hour_limit, row["peak_day"] / day_limit) for row in peaks
    }
    flagged = {a for a, s in scores.items() if s > 1.0}
    crossings = engine.to_arrow(_CROSSING_SQL, [int(hour_limit), int(day_limit)]).to_pylist()
    return DetectorOutput(
        name="rate-limit",
        scores=scores,
        flagged=flagged,
        first_flag={r["account_id"]: _utc(r["crossed"]) for r in crossings},
        threshold=f"> {hour_limit:g} requests in a clock hour or > {day_limit:g} in a UTC day",
        seconds=time.perf_counter() - started,
    )


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --------------------------------------------------------------- query samples
@dataclass
class QuerySample:
    """The first ``cap`` queries with text of every account, in time order, embedded once."""

    accounts: list[str]
    offsets: np.ndarray  # rows of account i are offsets[i]:offsets[i+1]
    times: np.ndarray  # datetime64[us], per row
    vectors: sparse.csr_matrix  # l2-normalised hashed word 1-2-grams, per row

    def rows(self, i: int) -> slice:
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))


_SAMPLE_SQL = """
SELECT account_id, epoch_us(ts_start) AS ts_us, prompt_text FROM (
    SELECT account_id, ts_start, prompt_text,
           row_number() OVER (PARTITION BY account_id ORDER BY ts_start, event_id) AS k
    FROM events WHERE prompt_text IS NOT NULL AND prompt_text <> ''
) WHERE k <= ? ORDER BY account_id, ts_us
"""


def query_sample(engine: DuckDBEngine, *, cap: int) -> QuerySample:
    table: pa.Table = engine.to_arrow(_SAMPLE_SQL, [cap])
    accounts_col = table.column("account_id").to_numpy(zero_copy_only=False)
    texts = table.column("prompt_text").to_pylist()
    times = table.column("ts_us").to_numpy().astype("datetime64[us]")
    vectors = _vectoriser().transform(texts) if texts else sparse.csr_matrix((0, 2**18))
    del texts
    if accounts_col.size:
        starts = np.flatnonzero(np.r_[True, accounts_col[1:] != accounts_col[:-1]])
    else:
        starts = np.array([], dtype=int)
    return QuerySample(
        accounts=[str(a) for a in accounts_col[starts]],
        offsets=np.r_[starts, accounts_col.size].astype(int),
        times=times,
        vectors=sparse.csr_matrix(vectors),
    )


def _to_datetime(value: np.datetime64) -> datetime:
    micros = int(value.astype("datetime64[us]").astype("int64"))
    return datetime.fromtimestamp(micros / 1e6, tz=UTC)


# ----------------------------------------------------------------------- PRADA
def prada_distances(similarity: np.ndarray) -> np.ndarray:
    """PRADA's minimum-distance sequence for queries in time order (Juuti et al., Algorithm 1).

    Each query's distance is ``1 - max cosine similarity`` to the growing set; a
    query joins the growing set when its distance exceeds the threshold ``T``,
    which then ratchets up to ``max(T, mean(D) - std(D))`` over the distances so far.
    """
    n = similarity.shape[0]
    growing = [0]
    distances = np.zeros(max(n - 1, 0))
    total = total_sq = threshold = 0.0
    for i in range(1, n):
        d = float(np.clip(1.0 - similarity[i, growing].max(), 0.0, 2.0))
        distances[i - 1] = d
        total += d
        total_sq += d * d
        if d > threshold:
            growing.append(i)
            mean = total / i
            threshold = max(threshold, mean - float(np.sqrt(max(total_sq / i - mean * mean, 0.0))))
    return distances


def shapiro_w(distances: np.ndarray) -> float:
    """Shapiro-Wilk W; a distribution with no spread at all counts as maximally non-normal (0)."""
    if distances.size < 3 or float(np.ptp(distances)) < 1e-9:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(shapiro(distances).statistic)


def prada(
    sample: QuerySample, *, calibration: set[str], target_fpr: float, min_queries: int = 20, step: int = 5
) -> DetectorOutput:
    """PRADA over each account's first queries; accounts with fewer than ``min_queries`` are untestable."""
    started = time.perf_counter()
    scores: dict[str, float] = {}
    prefix_scores: dict[str, list[tuple[int, float]]] = {}
    for i, account in enumerate(sample.accounts):
        rows = sample.rows(i)
        x = sample.vectors[rows]
        if x.shape[0] < min_queries + 1:
            scores[account] = 0.0
            continue
        distances = prada_distances((x @ x.T).toarray())
        scores[account] = 1.0 - shapiro_w(distances)
        # PRADA raises its alarm as queries arrive: test growing prefixes of the distance list.
        prefix_scores[account] = [
            (k, 1.0 - shapiro_w(distances[:k])) for k in range(min_queries, distances.size + 1, step)
        ]
    threshold = threshold_at_fpr([s for a, s in scores.items() if a in calibration], target_fpr)
    first_flag: dict[str, datetime] = {}
    index = {a: i for i, a in enumerate(sample.accounts)}
    for account, prefixes in prefix_scores.items():
        for k, score in prefixes:
            if score > threshold:
                # distance k-1 belongs to query k (query 0 has no distance).
                first_flag[account] = _to_datetime(sample.times[sample.rows(index[account])][k])
                break
    return DetectorOutput(
        name="prada",
        scores=scores,
        flagged={a for a, s in scores.items() if s > threshold},
        first_flag=first_flag,
        threshold=f"Shapiro-Wilk W < {1 - threshold:.4f} over >= {min_queries} queries",
        seconds=time.perf_counter() - started,
    )


# ------------------------------------------------------------------------ MMD
def rbf_from_cosine(similarity: np.ndarray) -> np.ndarray:
    """Gaussian kernel on unit vectors: ||x-y||^2 = 2 - 2cos; bandwidth sigma^2 = 1 (median heuristic
    for sparse text vectors, whose typical squared distance is about 2)."""
    result: np.ndarray = np.exp(np.asarray(similarity) - 1.0)
    return result


def mmd_squared(window: sparse.csr_matrix, reference: sparse.csr_matrix, reference_term: float) -> float:
    """Unbiased MMD^2 estimate (within-window term without the diagonal)."""
    s = window.shape[0]
    kxx = rbf_from_cosine((window @ window.T).toarray())
    within = (kxx.sum() - np.trace(kxx)) / (s * (s - 1))
    cross = rbf_from_cosine((window @ reference.T).toarray()).mean()
    return float(within + reference_term - 2.0 * cross)


def window_statistic(window: sparse.csr_matrix, reference: sparse.csr_matrix, reference_term: float) -> float:
    """``sqrt(s) * MMD^2``: against a fixed reference sample the estimate's spread under the null
    shrinks like 1/sqrt(s), so the scaling lets short and long windows share one threshold."""
    return float(np.sqrt(window.shape[0])) * mmd_squared(window, reference, reference_term)


def _windows(n: int, size: int, minimum: int) -> list[slice]:
    spans = [slice(start, min(start + size, n)) for start in range(0, n, size)]
    return [s for s in spans if s.stop - s.start >= minimum]


def mmd_window_test(
    sample: QuerySample,
    *,
    target_fpr: float,
    reference_share: float = 0.2,
    reference_size: int = 300,
    window: int = 25,
    min_window: int = 5,
    seed: int = 7,
) -> DetectorOutput:
    """MMD of each account's query windows against reference traffic, thresholded by benign windows.

    Reference without labels: the first ``reference_share`` of the time span is
    assumed benign (a provider's history before the period under review).
    Reference accounts are split by a stable hash: one half supplies the pool of
    ``reference_size`` reference queries, the other half's windows (entirely
    inside the reference period) form the benign-vs-benign null distribution of
    per-account scores; the threshold is its ``1 - target_fpr`` quantile.
    """
    started = time.perf_counter()
    if sample.times.size == 0:
        return DetectorOutput("mmd", {}, set(), threshold="no prompt text in the warehouse")
    first, last = sample.times.min(), sample.times.max()
    cutoff = first + (last - first) * reference_share
    pool_half = calibration_split(sample.accounts)
    pool_rows = [
        r
        for i, a in enumerate(sample.accounts)
        if a in pool_half
        for r in range(sample.rows(i).start, sample.rows(i).stop)
        if sample.times[r] <= cutoff
    ]
    rng = np.random.default_rng(seed)
    size = min(reference_size, len(pool_rows))
    chosen: Any = rng.choice(np.asarray(pool_rows, dtype=int), size=size, replace=False) if size else []
    reference = sample.vectors[np.sort(np.asarray(chosen, dtype=int))]
    if reference.shape[0] < 2:
        return DetectorOutput("mmd", {}, set(), threshold="too little reference traffic")
    kyy = rbf_from_cosine((reference @ reference.T).toarray())
    reference_term = float((kyy.sum() - np.trace(kyy)) / (reference.shape[0] * (reference.shape[0] - 1)))

    scores: dict[str, float] = {}
    window_scores: dict[str, list[tuple[int, float]]] = {}
    null: list[float] = []
    for i, account in enumerate(sample.accounts):
        rows = sample.rows(i)
        x = sample.vectors[rows]
        spans = _windows(x.shape[0], window, min_window)
        values = [(span.stop - 1, window_statistic(x[span], reference, reference_term)) for span in spans]
        window_scores[account] = values
        scores[account] = max((v for _, v in values), default=0.0)
        if account not in pool_half:
            # Benign-vs-benign: the same windowing applied to this account's reference-period queries.
            early = int(np.count_nonzero(sample.times[rows] <= cutoff))
            early_spans = _windows(early, window, min_window)
            if early_spans:
                null.append(max(window_statistic(x[span], reference, reference_term) for span in early_spans))
    threshold = threshold_at_fpr(null, target_fpr) if null else float("inf")
    first_flag: dict[str, datetime] = {}
    for i, account in enumerate(sample.accounts):
        for end, value in window_scores[account]:
            if value > threshold:
                first_flag[account] = _to_datetime(sample.times[sample.rows(i).start + end])
                break
    return DetectorOutput(
        name="mmd",
        scores=scores,
        flagged={a for a, s in scores.items() if s > threshold},
        first_flag=first_flag,
        threshold=(
            f"sqrt(s)*MMD^2 > {threshold:.4f} (quantile {1 - target_fpr:g} of {len(null)} benign-vs-benign "
            f"reference windows; windows of {window} queries, at least {min_window})"
        ),
        seconds=time.perf_counter() - started,
        notes=[] if null else ["no reference windows: MMD flags nothing"],
    )
