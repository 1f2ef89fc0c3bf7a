"""The README's promises: CI runs exactly its test command, and its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from distillguard.cli import app

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.DOTALL)
    return [line.strip() for block in blocks[:2] for line in block.splitlines() if line.strip()]


def test_ci_runs_exactly_the_readmes_test_command() -> None:
    demo, tests = _readme_commands()
    ci_lines = [
        ln
        for ln in (ROOT / ".ci/run").read_text().splitlines()
        if ln and not ln.startswith(("#", "set ", "cd "))
    ]
    assert ci_lines[-1] == tests
    assert demo.endswith("distillguard demo")


def test_every_command_the_readme_lists_exists() -> None:
    text = (ROOT / "README.md").read_text()
    listed = set(re.findall(r"^\| `([a-z]+)", text, flags=re.MULTILINE))
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    missing = {name for name in listed if f" {name} " not in result.output}
    assert not missing, f"README lists commands the CLI lacks: {missing}"
