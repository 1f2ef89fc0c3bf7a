"""Prompt text: variety beyond exact matching, shared topic pools, and benign look-alike wrappers."""

from __future__ import annotations

import gzip
import json
import random
from collections import defaultdict
from pathlib import Path

from distillguard.fingerprints import skeleton_hash
from distillguard.simulate import preset
from distillguard.simulate.prompts import PromptFactory, load_corpus

from .support import all_records, manifest, run, truth_events


def _prompts(data: Path, *, goals_only: bool = False) -> dict[str, list[str]]:
    """Prompt text (newest user turn) per campaign name / benign population."""
    names = {c["campaign_id"]: c["name"] for c in manifest(data)["campaigns"]}
    truth = {row["event_id"]: row for row in truth_events(data)}
    out: dict[str, list[str]] = defaultdict(list)
    for record in all_records(data):
        if record.fmt != "canonical":
            continue
        row = truth[record.event_id]
        if goals_only and row["goal"] is None:
            continue
        out[names.get(row["campaign_id"], row["population"])].append(record.raw["prompt_text"])
    return out


def test_paraphrased_campaign_prompts_are_not_exact_or_skeleton_duplicates(tiny: Path) -> None:
    prompts = _prompts(tiny, goals_only=True)["evasion"]
    assert len(prompts) > 30
    assert len(set(prompts)) / len(prompts) > 0.9
    assert len({skeleton_hash(p) for p in prompts}) / len(prompts) > 0.6


def test_wrapper_phrases_alone_do_not_separate_the_classes(tiny: Path) -> None:
    prompts = _prompts(tiny)
    benign = [
        p
        for name, texts in prompts.items()
        if name in {"developers", "university", "routers", "enterprises", "startups", "eval_harness"}
        for p in texts
    ]
    lowered = [p.lower() for p in benign]
    assert any("step by step" in p for p in lowered), "benign users also ask for step-by-step explanations"
    assert any("grade" in p or "score" in p for p in lowered), "students ask for grading of their essays"
    assert any("tiananmen" in p or "taiwan" in p or "xinjiang" in p for p in lowered), (
        "and ask sensitive questions"
    )


def test_both_languages_appear_in_campaign_traffic(tiny: Path) -> None:
    campaign = [
        p for name, texts in _prompts(tiny).items() if name == "reasoning-grading-censorship" for p in texts
    ]
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in p) for p in campaign)
    assert any(p.isascii() for p in campaign)


def _from_corpus(prompts: list[str], openings: set[str]) -> int:
    """Prompts containing a corpus text's first 40 characters (wrappers add text around it)."""
    return sum(1 for p in prompts if any(p[i : i + 40] in openings for i in range(min(len(p), 400))))


def test_corpus_prompts_feed_both_benign_users_and_campaigns(tmp_path: Path, shared_corpus: Path) -> None:
    corpus = load_corpus(shared_corpus, per_category=3_000)
    assert {"coding", "math", "tool_use"} <= corpus.rows.keys() and corpus.zh
    picked = PromptFactory(corpus).base(random.Random(1), "tool_use")
    assert picked.tools and picked.tools[0]["type"] == "function"
    scenario = preset("tiny", 0.15)
    scenario.formats = ["canonical"]
    scenario.corpus = str(shared_corpus)
    run(scenario, tmp_path)
    openings = set()
    for path in sorted(shared_corpus.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            openings.update(t[:40] for t in (json.loads(line)["text"] for line in handle) if len(t) >= 40)
    prompts = _prompts(tmp_path)
    benign = [p for name in ("developers", "routers", "enterprises", "eval_harness") for p in prompts[name]]
    attack = [
        p
        for name in ("reasoning-grading-censorship", "agentic-mixed", "coding-pivot", "evasion")
        for p in prompts[name]
    ]
    assert _from_corpus(benign, openings) > 0.2 * len(benign)
    assert _from_corpus(attack, openings) > 0.2 * len(attack)
