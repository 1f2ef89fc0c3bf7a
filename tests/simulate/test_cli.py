"""`distillguard simulate` from the command line, including its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distillguard.cli import app
from distillguard.simulate import load_scenario, preset

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "scenarios"
runner = CliRunner()


def test_simulate_writes_the_layout_with_the_formats_asked_for(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "simulate",
            "--preset",
            "tiny",
            "--scale",
            "0.2",
            "--seed",
            "11",
            "--formats",
            "canonical,openai",
            "--out",
            str(tmp_path),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert m["seed"] == 11 and m["formats"] == ["canonical", "openai"]
    assert {p.name.split("-")[0] for p in (tmp_path / "traffic").iterdir()} == {"canonical", "openai"}
    for name in ("accounts.csv", "truth/events.parquet", "truth/accounts.csv", "truth/campaigns.json"):
        assert (tmp_path / name).is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "huge"], "unknown preset"),
        (["--preset", "tiny", "--formats", "csv"], "formats must be"),
        (["--preset", "tiny", "--corpus", "/nonexistent/corpus"], "/nonexistent/corpus"),
        (["--preset", "tiny", "--seed", "-3"], "seed must be"),
    ],
)
def test_bad_input_is_a_one_line_error(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["simulate", *args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_config_file_errors_name_the_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("preset: tiny\ncampaigns:\n  - name: x\n    events: 10\n    accounts: 2\n    speed: 3\n")
    result = runner.invoke(app, ["simulate", "--config", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "bad.yaml" in result.output and "speed" in result.output


def test_example_scenarios_load() -> None:
    examples = sorted(EXAMPLES.glob("*.yaml"))
    assert examples, f"no example scenarios in {EXAMPLES}"
    for path in examples:
        scenario = load_scenario(path, scale=0.01)
        assert scenario.populations or scenario.campaigns


def test_config_file_overrides_a_preset(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        'preset = "tiny"\nseed = 5\ndays = 2\nformats = ["litellm"]\n'
        '[[campaigns]]\nname = "solo"\nevents = 300\naccounts = 4\nordinary_share = 0.5\n'
        "goals = { rubric_grading = 1.0 }\n"
    )
    scenario = load_scenario(path)
    assert scenario.seed == 5 and scenario.days == 2 and scenario.formats == ["litellm"]
    (campaign,) = scenario.campaigns
    assert campaign.goals == {"rubric_grading": 1.0} and campaign.ordinary_share == 0.5
    assert len(scenario.populations) == len(preset("tiny").populations)


def test_an_unknown_knob_value_is_refused_with_its_name(tmp_path: Path) -> None:
    bad = tmp_path / "proxy.yaml"
    bad.write_text("preset: tiny\ncampaigns:\n  - {name: x, events: 10, accounts: 2, proxy: satellite}\n")
    result = runner.invoke(app, ["simulate", "--config", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "proxy" in result.output and "satellite" in result.output


def test_wrong_value_types_are_one_line_errors_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "types.yaml"
    bad.write_text("preset: tiny\nmodels:\n  - {name: m}\n")
    result = runner.invoke(app, ["simulate", "--config", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "types.yaml" in result.output and "Traceback" not in result.output


def test_scale_shrinks_a_files_own_campaigns_too() -> None:
    full = load_scenario(EXAMPLES / "hydra-20k.yaml")
    small = load_scenario(EXAMPLES / "hydra-20k.yaml", scale=0.01)
    assert small.campaigns[0].events == round(full.campaigns[0].events * 0.01)
    assert small.campaigns[0].accounts < full.campaigns[0].accounts
    assert small.name == "hydra-20k"
