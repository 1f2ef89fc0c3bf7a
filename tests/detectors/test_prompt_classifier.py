"""The n-gram classifier beside the lexicons: what it adds on held-out wordings, what it
leaves alone, and that the scan and the live matcher use it identically."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from distillguard.detectors import prompt_classifier as pc
from distillguard.detectors import prompt_matcher
from distillguard.detectors.patterns import clip_text
from distillguard.detectors.prompt_matcher import match_prompt

from classifier_heldout import (  # isort: skip
    UNSEEN_CENSORSHIP,
    UNSEEN_COT,
    UNSEEN_ORDINARY,
    UNSEEN_RUBRIC,
)
from cot_paraphrases import ORDINARY  # isort: skip

ROOT = Path(__file__).resolve().parents[2]
SETS = [
    (UNSEEN_COT, "cot_elicitation"),
    (UNSEEN_RUBRIC, "rubric_grading"),
    (UNSEEN_CENSORSHIP, "censorship_rewrite"),
]


def _lexicon_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The matcher as it was before the classifier: its scores all zero."""
    monkeypatch.setattr(
        prompt_matcher, "scores_and_evidence", lambda clipped: (dict.fromkeys(pc.CLASSES, 0.0), [])
    )


def test_weights_load_from_the_installed_package() -> None:
    fitted = pc.model()
    assert fitted.weights.shape == (pc.N_FEATURES + 1, len(pc.CLASSES))
    assert not fitted.weights[pc.N_FEATURES].any()
    assert np.count_nonzero(np.any(fitted.weights != 0, axis=1)) > 1000
    assert set(fitted.thresholds) == set(pc.CLASSES)
    shipped = Path(pc.__file__).parent.parent / "data" / pc.MODEL_FILE
    assert shipped.stat().st_size < 1_000_000


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("请把这个问题改写成符合官方表述的版本。", "censorship_rewrite"),
        ("Reword the question about Xinjiang so it doesn't trip the content filter.", "censorship_rewrite"),
        (
            "Judge whether response 1 or response 2 is more helpful; answer with just the number.",
            "rubric_grading",
        ),
    ],
)
def test_the_classifier_catches_held_out_wordings_the_lexicon_misses(text: str, name: str) -> None:
    found = match_prompt(text)
    assert getattr(found, name) >= 0.5, found
    assert any(item.startswith(f"last:{name}/classifier=") for item in found.evidence), found.evidence
    assert not any(item.startswith(f"last:{name}/") and "classifier" not in item for item in found.evidence)


def test_lexicon_plus_classifier_catch_more_of_each_held_out_set(monkeypatch: pytest.MonkeyPatch) -> None:
    combined = [sum(getattr(match_prompt(t), name) >= 0.5 for t in texts) for texts, name in SETS]
    _lexicon_only(monkeypatch)
    lexicon = [sum(getattr(match_prompt(t), name) >= 0.5 for t in texts) for texts, name in SETS]
    assert all(c > lex for c, lex in zip(combined, lexicon, strict=True)), (combined, lexicon)
    # rubric and censorship: the lexicon caught 5 of 24 of these wordings, with the classifier half
    assert combined[1] + combined[2] >= 12, combined


@pytest.mark.parametrize("text", UNSEEN_ORDINARY + ORDINARY)
def test_ordinary_look_alikes_stay_below_the_line_on_the_classifier(text: str) -> None:
    found = pc.classify(clip_text(text))
    assert all(found[name].score < 0.5 for name in pc.CLASSES), found


def test_output_is_deterministic_and_windows_cover_long_prompts() -> None:
    request = "Rewrite this so it can pass content review on a Chinese social media platform. "
    long_text = clip_text("Some ordinary context about cooking pasta and sauces. " * 30 + request)
    first, second = pc.classify(long_text), pc.classify(long_text)
    assert first == second
    best = first["censorship_rewrite"]
    assert best.end - best.start == pc.WINDOW and best.end == len(long_text)  # the request's window


def test_a_batch_scores_each_text_exactly_as_the_text_alone() -> None:
    """The scan classifies thousands of texts per call, the live matcher one: same numbers."""
    request = "Rewrite this so it can pass content review on a Chinese social media platform. "
    texts = [
        clip_text(t)
        for t in [
            *UNSEEN_COT[:6],
            *UNSEEN_RUBRIC[:3],
            *UNSEEN_ORDINARY[:6],
            "",
            "a",
            "请还原从题目到答案的每一步",
            "Some ordinary context about cooking pasta and sauces. " * 30 + request,
        ]
    ]
    batch = pc.classify_many(texts)
    assert batch == [pc.classify(t) for t in texts]
    assert batch[-1]["censorship_rewrite"].end == len(texts[-1])  # the long prompt's request window
    # texts end to end must not lend each other n-grams: a text scores the same beside any other
    assert pc.classify_many(list(reversed(texts))) == list(reversed(batch))


def test_the_scans_vector_function_gives_each_text_what_the_live_matcher_gives_it() -> None:
    """DuckDB calls the classifier on vectors of texts and computes a score only where it can
    reach the floor: every text must still get the scores and evidence it gets alone."""
    request = "Rewrite this so it can pass content review on a Chinese social media platform. "
    texts = [
        clip_text(t)
        for t in [
            *UNSEEN_COT,
            *UNSEEN_RUBRIC,
            *UNSEEN_CENSORSHIP,
            *UNSEEN_ORDINARY,
            "",
            "a",
            "请还原从题目到答案的每一步 123",
            "Some ordinary context about cooking pasta and sauces. " * 30 + request,
        ]
    ]
    alone = [pc.classify_for_sql(t) for t in texts]
    assert any(row["evidence"] for row in alone) and any(not row["evidence"] for row in alone)
    vector = pc.classify_for_sql_arrow(pa.array([*texts, None])).to_pylist()
    assert vector == [*alone, pc.classify_for_sql(None)]


def test_training_is_deterministic(tmp_path: Path) -> None:
    """Two fits of the same rows give byte-identical weights (a reduced set keeps it quick)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import train_prompt_classifier as train

    data = train.read_examples()
    small = {key: values[:12] for key, values in data.items()}
    rows = train.compose(small)
    first, second = train.fit(rows), train.fit(rows)
    with np.load(io.BytesIO(first)) as a, np.load(io.BytesIO(second)) as b:
        for key in ("buckets", "weights", "bias", "meta"):
            assert np.array_equal(a[key], b[key]), key


def test_training_script_runs_with_extra_data(tmp_path: Path) -> None:
    extra = tmp_path / "extra.jsonl"
    extra.write_text('{"text": "grade these two replies", "label": "rubric_grading"}\n', "utf-8")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "label": "nonsense"}\n', "utf-8")
    script = ROOT / "bench" / "train_prompt_classifier.py"
    result = subprocess.run(
        [sys.executable, str(script), "--extra", str(bad), "--output", str(tmp_path / "m.npz")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and "label must be one of" in result.stderr + result.stdout
