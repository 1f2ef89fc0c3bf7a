"""An established account collecting reasoning traces and grades together, beside a labelling
company collecting grades alone at the same volume.

Neither has a sibling, a proxy or a young account: what sets the harvester apart is that
its collection feeds a training pipeline (traces for fine-tuning, grades for a reward
model), while the labelling company does one job.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.detectors.test_pipeline_planted import START, Planted, _Builder, account_scores, plant

from distillguard.config import Config
from distillguard.scan import pipeline
from distillguard.warehouse import Warehouse

TRACE = (0.9, 0.0, 0.0)
GRADE = (0.0, 0.9, 0.0)
REQUESTS = 100


def _established(b: _Builder, account_id: str, *, kinds: tuple[tuple[float, float, float], ...]) -> list[str]:
    account = b.account(
        account_id,
        created=START - timedelta(days=600),
        plan="enterprise",
        verification="enterprise",
        payment=f"card-{account_id}",
    )
    for k in range(REQUESTS):
        scores = kinds[k % len(kinds)]
        ask = "Grade this answer against the rubric" if scores is GRADE else "Reason step by step about"
        b.event(
            account,
            # two nightly batch runs
            START + timedelta(days=k // (REQUESTS // 2), hours=1, seconds=40 * (k % (REQUESTS // 2))),
            f"{ask}: item {k * 7919}",
            ip="198.51.100.60" if account_id.endswith("harvest") else "198.51.100.61",
            scores=scores,
            capability="reasoning",
            template=None,
            max_tokens=4096,
            output_tokens=1200,
            messages=1,
            asn="AS64510",
            sdk=f"python/{account_id}",
        )
    return [account]


@pytest.fixture
def planted(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> tuple[Planted, list[str]]:
    return plant(
        warehouse,
        monkeypatch,
        lambda b: _established(b, "acct-nightly-harvest", kinds=(TRACE, GRADE)),
        {"labelling": lambda b: _established(b, "acct-labelling", kinds=(GRADE,))},
    )


def test_an_established_account_collecting_traces_and_grades_is_extraction_and_a_labeller_is_not(
    warehouse: Warehouse, config: Config, planted: tuple[Planted, list[str]]
) -> None:
    pipeline.scan(warehouse, config)
    scores = account_scores(warehouse)
    harvester, labeller = scores["acct-nightly-harvest"], scores["acct-labelling"]
    assert harvester["verdict"] == "extraction" and harvester["cluster_id"] is None, harvester
    assert any(r.startswith("account.harvest_breadth") for r in harvester["reasons"]), harvester["reasons"]
    assert labeller["verdict"] != "extraction", labeller
    assert not any(r.startswith("account.harvest_breadth") for r in labeller["reasons"])
