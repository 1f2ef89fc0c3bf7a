"""Rebuild the prompt classifier's weights (src/distillguard/data/prompt_classifier.npz).

    .venv/bin/python bench/train_prompt_classifier.py [--extra labelled.jsonl ...] [--corpus DIR]

Reads the hand-written examples in training/prompt_classifier/*.yaml (examples.yaml, then the
others in name order, lists under the same key appended), composes each
instruction with neutral questions and answers (so the model learns the request, not the
subject), fits one logistic regression per class, and writes only the non-zero buckets.
``--extra`` adds a provider's own labelled prompts, one JSON object a line:
``{"text": "...", "label": L}`` where L is a class of ``prompt_classifier.CLASSES`` or "ordinary".

Prints metrics on a held-out fifth of the instructions (trained again on everything
afterwards), on the paraphrase sets in tests/detectors (never trained on), and with
``--corpus`` (default ../shared/corpus when present) the share of real ordinary prompts each
class's classifier score lifts to 0.5 where the lexicon alone did not. Deterministic: the
same inputs give the same file.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from distillguard.detectors import prompt_classifier as pc
from distillguard.detectors import prompt_matcher
from distillguard.detectors.patterns import clip_text

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "training" / "prompt_classifier"
OUTPUT = ROOT / "src" / "distillguard" / "data" / pc.MODEL_FILE
LABELS = (*pc.CLASSES, "ordinary")
SEED = 20261125
C = 4.0  # inverse L2 strength; 1-10 gave the same held-out recall, higher overfits the few phrasings
# The probability at which a class score reaches 0.5: high, so the classifier alone calls a
# prompt caught only when confident; chosen so that at most ~0.05 % of the real corpus's
# ordinary prompts newly reach 0.5 in any class (docs/prompt-level.md has the numbers).
THRESHOLDS = {"cot_elicitation": 0.98, "rubric_grading": 0.92, "censorship_rewrite": 0.9, "critique": 0.95}


def _is_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def compose(data: dict[str, list[str]], seed: int = SEED) -> list[tuple[str, str, int]]:
    """(text, label, instruction index) rows: each instruction alone, after a question, before
    one, and with a supplied answer, for every class alike (so neither a question nor an
    answer is a cue by itself)."""
    rng = random.Random(seed)
    contexts, answers = data["contexts"], data["answers"]
    rows: list[tuple[str, str, int]] = []
    index = 0
    for label in LABELS:
        for text in data[label]:
            zh = _is_chinese(text)
            pool = [c for c in contexts if _is_chinese(c) == zh] if rng.random() < 0.8 else contexts
            question, other, answer = rng.choice(pool), rng.choice(contexts), rng.choice(answers)
            text = text.replace("{question}", question).replace("{answer}", answer)
            sep = "" if zh else " "
            rows += [
                (text, label, index),
                (f"{question}{sep}{text}", label, index),
                (f"{text}\n\n{other}", label, index),
                (f"{question}\n{'答案' if zh else 'Answer'}: {answer}\n{text}", label, index),
            ]
            index += 1
    # the material alone is ordinary too: code, numbers and tables are most of a real prompt
    rows += [(context, "ordinary", index + i) for i, context in enumerate(contexts)]
    return rows


def read_examples(folder: Path = EXAMPLES) -> dict[str, list[str]]:
    """Every examples file merged: examples.yaml first, then the others by name."""
    files = sorted(folder.glob("*.yaml"), key=lambda path: (path.name != "examples.yaml", path.name))
    merged: dict[str, list[str]] = {}
    for path in files:
        for key, values in (yaml.safe_load(path.read_text("utf-8")) or {}).items():
            merged.setdefault(key, []).extend(values or [])
    return merged


def read_extra(paths: list[Path]) -> list[tuple[str, str, int]]:
    rows = []
    for path in paths:
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            item = json.loads(line)
            if item.get("label") not in LABELS:
                raise SystemExit(f"{path}:{n}: label must be one of {', '.join(LABELS)}")
            rows.append((str(item["text"]), str(item["label"]), -n))
    return rows


def matrix(texts: list[str]) -> sparse.csr_matrix:
    """One row per text, exactly the features ``prompt_classifier.classify`` scores."""
    data, indices, indptr = [], [], [0]
    for text in texts:
        buckets, scale = pc.features(pc.normalise(clip_text(text)))
        unique, counts = np.unique(buckets, return_counts=True)
        indices.append(unique)
        data.append(counts * scale)
        indptr.append(indptr[-1] + len(unique))
    return sparse.csr_matrix(
        (np.concatenate(data or [np.zeros(0)]), np.concatenate(indices or [np.zeros(0, int)]), indptr),
        shape=(len(texts), pc.N_FEATURES),
    )


def fit(rows: list[tuple[str, str, int]]) -> bytes:
    """Train and return the npz bytes (float16 weights of the buckets any class uses)."""
    x = matrix([text for text, _, _ in rows])
    weights, bias = [], []
    for name in pc.CLASSES:
        y = np.array([label == name for _, label, _ in rows], dtype=int)
        model = LogisticRegression(C=C, class_weight="balanced", solver="lbfgs", max_iter=5000)
        model.fit(x, y)
        weights.append(model.coef_[0])
        bias.append(model.intercept_[0])
    dense = np.stack(weights, axis=1).astype(np.float16)
    used = np.flatnonzero(np.any(dense != 0, axis=1)).astype(np.int32)
    meta = {
        "classes": list(pc.CLASSES),
        "hash_version": pc.HASH_VERSION,
        "n_features": pc.N_FEATURES,
        "ngrams": list(pc.NGRAMS),
        "thresholds": THRESHOLDS,
        "examples": len(rows),
    }
    out = io.BytesIO()
    np.savez_compressed(
        out,
        buckets=used,
        weights=dense[used],
        bias=np.array(bias, np.float32),
        meta=np.array(json.dumps(meta)),
    )
    return out.getvalue()


def load(blob: bytes) -> pc.Model:
    with np.load(io.BytesIO(blob), allow_pickle=False) as raw:
        return pc.load_model(raw)


def match_prompt(text: str) -> prompt_matcher.PromptMatch:
    """The lexicon alone: the matcher with the classifier's part set to nothing."""
    original = prompt_matcher.scores_and_evidence
    prompt_matcher.scores_and_evidence = lambda clipped: (dict.fromkeys(pc.CLASSES, 0.0), [])  # type: ignore[assignment]
    try:
        return prompt_matcher.match_prompt(text)
    finally:
        prompt_matcher.scores_and_evidence = original  # type: ignore[assignment]


def _caught(model: pc.Model, text: str, name: str) -> bool:
    return pc.classify(clip_text(text), model)[name].score >= 0.5


def heldout_report(rows: list[tuple[str, str, int]]) -> None:
    """Train without every fifth instruction, score those instructions' rows."""
    train = [r for r in rows if r[2] % 5 != 0]
    test = [r for r in rows if r[2] % 5 == 0 and r[2] >= 0]
    model = load(fit(train))
    for name in pc.CLASSES:
        hits = [(label == name, _caught(model, text, name)) for text, label, _ in test]
        tp = sum(a and b for a, b in hits)
        positives = sum(a for a, _ in hits)
        flagged = sum(b for _, b in hits)
        print(f"  held-out fifth  {name:20s} recall {tp}/{positives}  false positives {flagged - tp}")


def paraphrase_report(model: pc.Model) -> None:
    """The test sets (never trained on): lexicon alone against lexicon plus classifier."""
    sys.path.insert(0, str(ROOT / "tests" / "detectors"))
    try:
        import classifier_heldout as held
        import cot_paraphrases as cot
    except ImportError:
        return
    sets = [
        ("cot PARAPHRASES", cot.PARAPHRASES, "cot_elicitation"),
        ("cot UNSEEN_COT", held.UNSEEN_COT, "cot_elicitation"),
        ("rubric UNSEEN", held.UNSEEN_RUBRIC, "rubric_grading"),
        ("censorship UNSEEN", held.UNSEEN_CENSORSHIP, "censorship_rewrite"),
    ]
    for title, texts, name in sets:
        lexicon = sum(getattr(match_prompt(t), name) >= 0.5 for t in texts)
        alone = sum(_caught(model, t, name) for t in texts)
        both = sum(
            max(getattr(match_prompt(t), name), pc.classify(clip_text(t), model)[name].score) >= 0.5
            for t in texts
        )
        print(f"  {title:20s} n={len(texts):3d}  lexicon {lexicon}  classifier {alone}  combined {both}")
    multilingual_report(model)
    ordinary = cot.ORDINARY + held.UNSEEN_ORDINARY
    for name in pc.CLASSES:
        wrong = [t for t in ordinary if _caught(model, t, name)]
        print(f"  ordinary look-alikes at >= 0.5 on {name}: {len(wrong)}/{len(ordinary)} {wrong[:3]}")


def multilingual_report(model: pc.Model) -> None:
    """Held-out recall per language and class (tests/detectors/multilingual_heldout.py)."""
    try:
        import multilingual_heldout as ml
    except ImportError:
        return
    for lang, per_class in ml.HELDOUT.items():
        cells = []
        for name, texts in per_class.items():
            lexicon = sum(getattr(match_prompt(t), name) >= 0.5 for t in texts)
            both = sum(
                max(getattr(match_prompt(t), name), pc.classify(clip_text(t), model)[name].score) >= 0.5
                for t in texts
            )
            cells.append(f"{name} {lexicon}->{both}/{len(texts)}")
        wrong = [t for t in ml.ORDINARY[lang] if any(_caught(model, t, name) for name in pc.CLASSES)]
        print(f"  {lang}: {'  '.join(cells)}  ordinary caught {len(wrong)}/{len(ml.ORDINARY[lang])}")


def corpus_report(model: pc.Model, corpus: Path) -> None:
    files = sorted(corpus.glob("*.jsonl.gz"))
    if not files:
        print(f"  corpus: no *.jsonl.gz in {corpus}, skipped")
        return
    texts = []
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            texts += [t for t in (json.loads(line).get("text") for line in handle) if isinstance(t, str)]
    lexicon = {name: 0 for name in pc.CLASSES}
    newly = {name: 0 for name in pc.CLASSES}
    spared: dict[str, list[float]] = {name: [] for name in pc.CLASSES}  # probabilities the lexicon left
    costs = []
    examples: dict[str, list[str]] = {name: [] for name in pc.CLASSES}
    for text in texts:
        lex = match_prompt(text)
        clipped = clip_text(text)
        started = time.perf_counter()
        found = pc.classify(clipped, model)
        costs.append(time.perf_counter() - started)
        for name in pc.CLASSES:
            before = getattr(lex, name) >= 0.5
            lexicon[name] += before
            if not before:
                spared[name].append(found[name].probability)
            if not before and found[name].score >= 0.5:
                newly[name] += 1
                examples[name].append(clipped[found[name].start : found[name].end][:100])
    n = len(texts)
    for name in pc.CLASSES:
        print(
            f"  corpus {name:20s} lexicon {lexicon[name]} ({lexicon[name] / n:.3%})  "
            f"newly by the classifier {newly[name]} ({newly[name] / n:.3%})  e.g. {examples[name][:3]}"
        )
        allowed = int(n * 0.0005)  # the budget: 0.05 % of the corpus newly at 0.5
        needed = sorted(spared[name], reverse=True)[allowed] if len(spared[name]) > allowed else 0.0
        print(f"    threshold for <= 0.05 % newly: probability > {needed:.4f} (now {model.thresholds[name]})")
    ms = np.array(costs) * 1e3
    print(
        f"  corpus: {n} prompts; classifier cost median {np.median(ms):.3f} ms, "
        f"p99 {np.percentile(ms, 99):.3f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--extra", type=Path, action="append", default=[], help="labelled JSONL to add")
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    data = read_examples()
    rows = compose(data) + read_extra(args.extra)
    print(f"{len(rows)} training rows")
    heldout_report(rows)
    blob = fit(rows)
    args.output.write_bytes(blob)
    print(f"wrote {args.output} ({len(blob) / 1024:.0f} KiB)")
    model = load(blob)
    paraphrase_report(model)
    if args.corpus.is_dir():
        corpus_report(model, args.corpus)


if __name__ == "__main__":
    main()
