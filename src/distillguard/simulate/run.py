"""Run a scenario: build the actors, then stream hour by hour, chunk by chunk, to disk.

Memory is bounded by one hour of event indices (integers) plus one chunk of
exchanges (``scenario.chunk_events``); a 28.8M-event run never holds more.
Everything random is seeded from (seed, hour, group, chunk), never from global
state or the clock, so the same seed writes byte-identical files.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from distillguard.simulate.actors import DATACENTER_ASNS, RESIDENTIAL_ASNS, Group, Network, hex_ids
from distillguard.simulate.campaigns import build_campaign
from distillguard.simulate.exchange import ExchangeBuilder
from distillguard.simulate.populations import build_population
from distillguard.simulate.prompts import PromptFactory, load_corpus
from distillguard.simulate.scenario import Scenario, validate
from distillguard.simulate.schedule import expected_curve, sample_hour
from distillguard.simulate.sinks import Sinks
from distillguard.simulate.truth import EndUserTruth, TruthWriter, write_accounts, write_json

Progress = Callable[[str], None]


@dataclass
class RunStats:
    events: int = 0
    by_group: dict[int, int] = field(default_factory=dict)
    first_us: dict[int, int] = field(default_factory=dict)
    last_us: dict[int, int] = field(default_factory=dict)
    max_buffered: int = 0
    max_truth_rows: int = 0
    files: list[Path] = field(default_factory=list)


def build_groups(scenario: Scenario) -> tuple[list[Group], Network]:
    rng = np.random.default_rng([scenario.seed, 1])
    net = Network(rng)
    asns = RESIDENTIAL_ASNS[: max(1, scenario.residential_pool_asns)]
    resi_pool = net.add(max(1, scenario.residential_pool_asns) * 60, asns)
    hosting = DATACENTER_ASNS[: max(1, scenario.datacenter_pool_asns)]
    dc_pool = net.add(max(1, scenario.datacenter_pool_asns) * 40, hosting)
    pools = (resi_pool, dc_pool)
    groups: list[Group] = []
    for pop in scenario.populations:
        groups.append(build_population(scenario, pop, len(groups), rng, net, pools))
    for index, campaign in enumerate(scenario.campaigns):
        groups.append(build_campaign(scenario, campaign, index, len(groups), rng, net, pools))
    for g in groups:
        if g.kind != "ci_bots" and not len(g.fixed_events):
            g.curve = expected_curve(scenario, g)
    return groups, net


def simulate(scenario: Scenario, out: Path, *, progress: Progress | None = None) -> dict[str, Any]:
    """Write the data set for ``scenario`` into ``out`` (replacing traffic/, truth/); returns the manifest."""
    return run_scenario(scenario, out, progress=progress)[0]


def run_scenario(
    scenario: Scenario, out: Path, *, progress: Progress | None = None
) -> tuple[dict[str, Any], RunStats]:
    """``simulate`` plus the run's statistics (buffer high-water marks, files written)."""
    validate(scenario)
    say = progress or (lambda _msg: None)
    factory = PromptFactory(load_corpus(Path(scenario.corpus)) if scenario.corpus else None)
    for sub in ("traffic", "truth"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    (out / "truth").mkdir(parents=True)
    groups, net = build_groups(scenario)
    say(f"{len(groups)} groups, {sum(g.size for g in groups)} accounts; streaming {scenario.hours} hours")
    builder = ExchangeBuilder(scenario, groups, net, factory)
    sinks = Sinks(
        out / "traffic",
        scenario.formats,
        seed=scenario.seed,
        per_file=scenario.events_per_file,
        otel_legacy_share=scenario.otel_legacy_share,
        anthropic_share=scenario.anthropic_share,
    )
    truth = TruthWriter(out / "truth" / "events.parquet")
    stats = RunStats()
    end_users = EndUserTruth()
    try:
        _stream(scenario, groups, builder, sinks, truth, end_users, stats, say)
    finally:
        stats.files = sinks.close()
        truth.close()
    stats.max_buffered = sinks.max_buffered
    stats.max_truth_rows = truth.max_rows_per_group
    accounts = write_accounts(out, groups)
    end_users.write(out / "truth" / "end_users.csv")
    manifest = _manifest(scenario, groups, stats, accounts)
    write_json(out / "truth" / "campaigns.json", manifest["campaigns"])
    write_json(out / "manifest.json", manifest)
    return manifest, stats


def _stream(
    scenario: Scenario,
    groups: list[Group],
    builder: ExchangeBuilder,
    sinks: Sinks,
    truth: TruthWriter,
    end_users: EndUserTruth,
    stats: RunStats,
    say: Progress,
) -> None:
    id_salt = scenario.seed * 0x9E3779B97F4A7C15 + 0xD1B54A32D192ED03
    for hour in range(scenario.hours):
        parts = [(g, *sample_hour(scenario, g, hour)) for g in groups]
        gid = np.concatenate([np.full(len(acc), g.gid, dtype=np.int64) for g, acc, _ in parts])
        acc = np.concatenate([acc for _, acc, _ in parts])
        ts = np.concatenate([t for _, _, t in parts])
        order = np.lexsort((acc, gid, ts))
        gid, acc, ts = gid[order], acc[order], ts[order]
        for chunk_no, lo in enumerate(range(0, len(ts), scenario.chunk_events)):
            hi = min(len(ts), lo + scenario.chunk_events)
            r = random.Random(f"{scenario.seed}/{hour}/{chunk_no}")
            ids = hex_ids(stats.events, hi - lo, id_salt)
            event_ids: list[str] = []
            accounts: list[str] = []
            populations: list[str] = []
            campaigns: list[str | None] = []
            goals: list[str | None] = []
            for k in range(lo, hi):
                g = groups[int(gid[k])]
                ex = builder.build(r, g, int(acc[k]), int(ts[k]), ids[k - lo])
                event_ids.append(sinks.write(ex))
                accounts.append(ex["account_id"])
                populations.append(g.population)
                campaigns.append(g.campaign_id)  # the account's label; resold end users: end_users.csv
                if ex["end_user_id"] is not None:
                    end_users.add(g, ex)
                goals.append(ex["goal"])
            sinks.flush()
            truth.write(event_ids, accounts, populations, campaigns, goals, ts[lo:hi] + builder.start_us)
            stats.events += hi - lo
            for g_id, count in zip(*np.unique(gid[lo:hi], return_counts=True), strict=True):
                stats.by_group[int(g_id)] = stats.by_group.get(int(g_id), 0) + int(count)
            for g_id in np.unique(gid[lo:hi]):
                sel = ts[lo:hi][gid[lo:hi] == g_id]
                stats.first_us.setdefault(int(g_id), int(sel.min()))
                stats.last_us[int(g_id)] = int(sel.max())
        if hour % 24 == 23:
            say(f"day {hour // 24 + 1}: {stats.events:,} events")


def _iso(scenario: Scenario, us: int | None) -> str | None:
    return None if us is None else (scenario.start + timedelta(microseconds=us)).isoformat()


def _manifest(scenario: Scenario, groups: list[Group], stats: RunStats, accounts: int) -> dict[str, Any]:
    populations: dict[str, dict[str, int]] = {}
    campaigns = []
    for g in groups:
        entry = populations.setdefault(g.population, {"accounts": 0, "events": 0})
        entry["accounts"] += g.size
        entry["events"] += stats.by_group.get(g.gid, 0)
        if g.campaign_id is None:
            continue
        c = g.config
        pivot = None
        if getattr(c, "pivot", None) is not None:
            model = next(m for m in scenario.models if m.name == c.pivot.model)  # type: ignore[union-attr]
            at = scenario.start + timedelta(days=model.released_day or 0.0, hours=c.pivot.delay_hours)  # type: ignore[union-attr]
            pivot = {"model": model.name, "at": at.isoformat()}
        campaigns.append(
            {
                "campaign_id": g.campaign_id,
                "name": g.label,
                "accounts": g.size,
                "events": stats.by_group.get(g.gid, 0),
                "onset": _iso(scenario, stats.first_us.get(g.gid)),
                "end": _iso(scenario, stats.last_us.get(g.gid)),
                "goals": list(c.goals),  # type: ignore[union-attr]
                "pivot": pivot,
            }
        )
    start: datetime = scenario.start
    return {
        "preset": scenario.name,
        "seed": scenario.seed,
        "formats": list(scenario.formats),
        "start": start.isoformat(),
        "end": (start + timedelta(hours=scenario.hours)).isoformat(),
        "events": stats.events,
        "accounts": accounts,
        "populations": populations,
        "campaigns": campaigns,
        "model_releases": [
            {"model": m.name, "at": (start + timedelta(days=m.released_day)).isoformat()}
            for m in scenario.models
            if m.released_day is not None
        ],
    }
