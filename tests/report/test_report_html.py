"""report.html: real content, hostile text escaped, self-contained, capped."""

from __future__ import annotations

import re

import pytest
from planted_scan import HOSTILE, Planted

from distillguard.config import Config
from distillguard.report import collect, render_html
from distillguard.report.data import redact_prompt
from distillguard.warehouse import Warehouse


def _html(warehouse: Warehouse, config: Config) -> str:
    return render_html(collect(warehouse, config))


def test_report_shows_campaign_clusters_accounts_and_charts(
    warehouse: Warehouse, config: Config, planted: Planted
) -> None:
    html = _html(warehouse, config)
    assert f'id="campaign-{planted.campaign_id}"' in html
    for cluster in planted.clusters:
        assert f'id="cluster-{cluster}"' in html
    flagged = re.findall(r'<details class="account" data-verdict="(\w+)" id="account-([^"]+)"', html)
    assert {account for _, account in flagged} == {*planted.attackers, planted.benign[1]}
    assert dict(flagged)["watch"] == planted.benign[1]
    assert re.search(r'id="stat-flagged">12<', html)
    assert re.search(r'id="stat-campaigns">1<', html)
    # campaign timeline marks the move to the new model; the graph draws every hydra account
    assert f"moved to {planted.pivot_model}" in html
    graph = html[html.index('<svg id="cluster-graph"') :]
    graph = graph[: graph.index("</svg>")]
    assert graph.count('class="node"') >= len(planted.attackers)
    assert 'data-kind="payment"' in graph
    # the benign account sharing the hydra's IP prefix is drawn, and drawn as ok
    assert re.search(rf'data-verdict="ok"><title>{planted.bystander} ', graph)


def test_hostile_prompt_and_indicator_text_are_escaped(
    warehouse: Warehouse, config: Config, planted: Planted
) -> None:
    html = _html(warehouse, config)
    assert HOSTILE not in html
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert html.count("<script>") == 1  # ours, the filter script


def test_report_is_self_contained(warehouse: Warehouse, config: Config, planted: Planted) -> None:
    html = _html(warehouse, config)
    assert "<link" not in html
    assert not re.search(r"<script[^>]+src=", html)
    urls = set(re.findall(r"https?://[^\s\"'<>]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}


def test_fingerprints_only_storage_shows_no_prompt_text(
    warehouse: Warehouse, config: Config, planted: Planted
) -> None:
    html = _html(warehouse, config.with_overrides(text_storage="fingerprints-only"))
    assert "show your full reasoning before the answer" not in html
    assert "text not shown (text_storage = fingerprints-only)" in html


def test_sample_prompts_mask_emails_and_are_cut(
    warehouse: Warehouse, config: Config, planted: Planted
) -> None:
    html = _html(warehouse, config.with_overrides(report_prompt_excerpt_chars=60))
    assert "a@b.com" not in html
    assert "first 60 of" in html


def test_lists_are_capped_by_settings(warehouse: Warehouse, config: Config, planted: Planted) -> None:
    capped = config.with_overrides(
        report_max_accounts_rows=3, report_max_clusters_rows=1, report_graph_max_nodes=5
    )
    html = _html(warehouse, capped)
    assert html.count('<details class="account"') == 3
    assert html.count('<tr id="cluster-') == 1
    assert html.count('class="node"') <= 5


@pytest.mark.parametrize(
    ("text", "storage", "expected"),
    [
        ("mail me at x.y@corp.example.com", "store", "mail me at [email]"),
        ("card 4111 1111 1111 1111 ok", "store", "card [number] ok"),
        ("short", "fingerprints-only", None),
    ],
)
def test_redact_prompt(text: str, storage: str, expected: str | None) -> None:
    assert redact_prompt(text, text_storage=storage, max_chars=100)[0] == expected


def test_each_account_lists_what_it_shares_and_with_how_many(
    warehouse: Warehouse, config: Config, planted: Planted
) -> None:
    data = collect(warehouse, config)
    first = next(a for a in data.accounts if a.account_id == planted.attackers[0])
    # strongest evidence first; the bystander shares the IP prefix but is outside the cluster
    assert first.shared[:2] == [
        "payment fingerprint pay-0 shared with 5 accounts (5 in its cluster)",
        "IP prefix pfx-hydra-0 shared with 6 accounts (5 in its cluster)",
    ]
    html = render_html(data)
    assert "payment fingerprint pay-0 shared with 5 accounts (5 in its cluster)" in html


def test_a_scan_that_found_nothing_still_reports_clearly(
    warehouse: Warehouse, config: Config, planted: Planted
) -> None:
    for table in ("campaigns", "clusters"):
        warehouse.engine.execute(f"DELETE FROM {table}")
    warehouse.engine.execute(
        "UPDATE account_scores SET risk = 0.1, verdict = 'ok', cluster_id = NULL, campaign_id = NULL, "
        "reasons = []"
    )
    html = _html(warehouse, config)
    assert "No campaigns found in this window." in html
    assert "No account reached watch or extraction." in html
    assert "No flagged clusters to draw." in html
    assert re.search(r'id="stat-flagged">0<', html)
