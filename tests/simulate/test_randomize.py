"""Randomised scenarios: a seed names one scenario; 200 seeds reach every shape and both range ends."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.simulate import load_scenario
from distillguard.simulate.randomize import LOOKALIKE_NAMES, SHAPES, draw_scenario, scenario_dict
from distillguard.simulate.scenario import DIURNAL_STYLES, LANGUAGES, Scenario

SEEDS = range(200)


@pytest.fixture(scope="module")
def drawn() -> list[Scenario]:
    return [draw_scenario(seed, "small") for seed in SEEDS]  # each validates as it is drawn


def test_a_seed_reproduces_its_scenario_and_another_seed_differs() -> None:
    assert scenario_dict(draw_scenario(12, "small")) == scenario_dict(draw_scenario(12, "small"))
    assert scenario_dict(draw_scenario(12, "small")) != scenario_dict(draw_scenario(13, "small"))
    assert scenario_dict(draw_scenario(12, "small")) != scenario_dict(draw_scenario(12, "medium"))


def test_every_shape_and_lookalike_is_drawn_and_some_scenarios_are_benign_only(drawn: list[Scenario]) -> None:
    shapes = Counter(c.name.rsplit("-", 1)[0] for s in drawn for c in s.campaigns)
    lookalikes = Counter(p.name for s in drawn for p in s.populations if p.name)
    assert set(shapes) == set(SHAPES)
    assert set(lookalikes) == set(LOOKALIKE_NAMES)
    counts = Counter(len(s.campaigns) for s in drawn)
    assert set(counts) == {0, 1, 2, 3, 4}


def test_sizes_stay_within_their_budget(drawn: list[Scenario]) -> None:
    totals = [sum(p.events for p in s.populations) + sum(c.events for c in s.campaigns) for s in drawn]
    assert min(totals) >= 10_000 and max(totals) <= 70_000  # "small": 20-60k, campaigns may fall short
    assert min(s.days for s in drawn) < 3.5 and max(s.days for s in drawn) > 6.5


def test_campaign_knobs_reach_both_ends_of_their_ranges(drawn: list[Scenario]) -> None:
    campaigns = [c for s in drawn for c in s.campaigns]
    for knob, low, high in (
        ("paraphrase", 0.1, 0.9),
        ("ordinary_share", 0.05, 0.45),
        ("sdk_diversity", 0.1, 0.9),
        ("jitter", 0.1, 0.9),
    ):
        values = [getattr(c, knob) for c in campaigns]
        assert min(values) <= low and max(values) >= high, knob
    assert max(c.ordinary_share for c in campaigns) <= 0.5
    assert {c.proxy for c in campaigns} == {"datacenter", "residential"}
    assert {c.diurnal for c in campaigns} == set(DIURNAL_STYLES)
    assert {c.own_card for c in campaigns} == {True, False}
    assert {c.own_address for c in campaigns} == {True, False}
    shares = [c.own_address_share for c in campaigns if c.own_address_share]
    assert min(shares) <= 0.2 and max(shares) >= 0.9  # some accounts of a fleet, up to all of them
    assert {c.ban_after_days is None for c in campaigns} == {True, False}
    assert {c.pivot is None for c in campaigns} == {True, False}
    assert any(c.languages == {"en": 1.0} for c in campaigns)
    assert any(c.languages == {"zh": 1.0} for c in campaigns)
    assert any(len(c.languages) == 2 for c in campaigns)
    assert {lang for c in campaigns for lang in c.languages} == set(LANGUAGES)
    localisation = {p.language for s in drawn for p in s.populations if p.name == "localisation"}
    assert localisation == set(LANGUAGES) - {"en"}
    assert any(c.account_age_days is not None and "enterprise" in c.pathways for c in campaigns)
    assert {c.signup_burst_size == 1 for c in campaigns if c.requests_per_account is None} == {True, False}


def test_per_account_rates_go_down_to_a_few_requests_a_day(drawn: list[Scenario]) -> None:
    rates = []
    for s in drawn:
        for c in s.campaigns:
            if c.requests_per_account is None and c.succession_days is None:
                rates.append(c.events / c.accounts / max(0.5, (c.end_day or s.days) - c.onset_day))
    assert min(rates) <= 6 and max(rates) >= 100
    swarms = [c for s in drawn for c in s.campaigns if c.requests_per_account is not None]
    assert all(2 <= c.requests_per_account[0] <= c.requests_per_account[1] <= 6 for c in swarms)  # type: ignore[index]


def test_the_written_scenario_reruns_to_the_same_bytes(tmp_path: Path) -> None:
    seed = next(s for s in range(50) if draw_scenario(s, "tiny").campaigns)
    runner = CliRunner()
    first = runner.invoke(
        app,
        [
            "simulate",
            "--randomize",
            "--seed",
            str(seed),
            "--size",
            "tiny",
            "--out",
            str(tmp_path / "a"),
            "--quiet",
        ],
    )
    assert first.exit_code == 0, first.output
    written = tmp_path / "a" / "scenario.yaml"
    assert scenario_dict(load_scenario(written)) == scenario_dict(draw_scenario(seed, "tiny"))
    again = runner.invoke(
        app, ["simulate", "--config", str(written), "--out", str(tmp_path / "b"), "--quiet"]
    )
    assert again.exit_code == 0, again.output
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files = [f for f in files if f.name not in ("manifest.json", "scenario.yaml")]  # manifest names the file
    assert len(files) >= 5
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_an_unknown_size_is_refused_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["simulate", "--randomize", "--size", "huge", "--out", str(tmp_path), "--quiet"]
    )
    assert result.exit_code != 0 and "--size must be one of" in result.output
