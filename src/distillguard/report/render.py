"""Render the self-contained HTML report (inline CSS, inline SVG, a few lines of JS).

Prompts, account ids and model names are attacker-controlled text, so the
Jinja environment autoescapes everything; charts escape their own labels and
come in as ``Markup``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from distillguard.config import Config
from distillguard.outputs import CampaignDetail
from distillguard.report.charts import (
    OTHER,
    VERDICT_COLOURS,
    bars_svg,
    histogram_svg,
    series_colours,
    timeline_svg,
)
from distillguard.report.data import ReportData, collect
from distillguard.report.graph_svg import EDGE_COLOURS, EDGE_LABELS, graph_svg
from distillguard.warehouse import Warehouse

CAMPAIGN_ACCOUNTS_SHOWN = 60
SIGNAL_LABELS = {
    "cot_elicitation": "chain-of-thought elicitation",
    "rubric_grading": "rubric grading / reward-model",
    "censorship_rewrite": "censorship-safe rewrite",
}


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("distillguard.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["n"] = lambda value: f"{int(value or 0):,}"
    env.filters["pct"] = lambda value: f"{100 * float(value or 0):.1f}%"
    env.filters["risk"] = lambda value: f"{float(value or 0):.2f}"
    env.filters["when"] = lambda value: (str(value)[:16].replace("T", " ") + " UTC") if value else "–"
    return env


def model_colours(campaigns: list[CampaignDetail], *, keep: int = 7) -> dict[str, str]:
    """One colour per model across the whole report, so a model reads the same in every chart."""
    totals: dict[str, int] = {}
    for campaign in campaigns:
        for model in campaign.models:
            totals[model["model"]] = totals.get(model["model"], 0) + int(model["events"])
    ranked = sorted(totals, key=lambda name: (-totals[name], name))[:keep]
    return series_colours([*ranked, OTHER])


def campaign_view(campaign: CampaignDetail, colours: dict[str, str] | None = None) -> dict[str, Any]:
    """A campaign plus its charts, ready for the template."""
    marker = None
    if campaign.pivot is not None:
        p = campaign.pivot
        marker = (p.at, f"moved to {p.model}: {100 * p.share_24h:.0f}% of the next 24 h")
    capabilities = sorted(campaign.capability_mix.items(), key=lambda kv: -kv[1])[:8]
    total = sum(campaign.capability_mix.values()) or None
    shown = [m["model"] for m in campaign.models if m["model"] in colours] if colours else None
    return {
        "c": campaign,
        "timeline_svg": timeline_svg(
            campaign.timeline,
            series=[*shown, OTHER] if shown is not None else None,
            colours=colours,
            marker=marker,
            title=f"{campaign.campaign_id}: events per {campaign.bucket}",
        ),
        "capability_svg": bars_svg(
            capabilities, title=f"{campaign.campaign_id}: events by capability", percent_of=total
        ),
        "signals": [(SIGNAL_LABELS.get(name, name), share) for name, share in campaign.signal_shares.items()],
        "accounts_shown": campaign.account_ids[:CAMPAIGN_ACCOUNTS_SHOWN],
        "accounts_more": max(0, len(campaign.account_ids) - CAMPAIGN_ACCOUNTS_SHOWN),
    }


def render_html(data: ReportData) -> str:
    template = _environment().get_template("report.html.j2")
    colours = model_colours(data.campaigns)
    return template.render(
        d=data,
        s=data.summary,
        campaigns=[campaign_view(c, colours) for c in data.campaigns],
        traffic_svg=timeline_svg(
            data.traffic,
            key="by_verdict",
            series=["ok", "watch", "extraction"],
            colours=dict(VERDICT_COLOURS),
            title=f"all traffic per {data.traffic_bucket}, by the account's verdict",
        ),
        histogram_svg=histogram_svg(
            data.risk_bins, watch=data.watch_threshold, extraction=data.extraction_threshold
        ),
        graph_svg=graph_svg(data.graph),
        verdict_colours=VERDICT_COLOURS,
        edge_colours=EDGE_COLOURS,
        edge_labels=EDGE_LABELS,
    )


def write_report(warehouse: Warehouse, config: Config, out_dir: Path, *, source: str = "") -> Path:
    """Collect, render and write ``out_dir/report.html``; returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.html"
    path.write_text(render_html(collect(warehouse, config, source=source)), encoding="utf-8")
    return path
