"""The `distillguard` command: thin wiring only; the work happens in the packages."""

from __future__ import annotations

import typer

from distillguard.cli import (
    bench_cmd,
    collect_cmd,
    ingest_cmd,
    intel_cmd,
    scan_cmd,
    serve_cmd,
    simulate_cmd,
    watch_cmd,
)

app = typer.Typer(
    name="distillguard",
    help="Find model-distillation campaigns in LLM API gateway logs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command("settings")
def settings_command() -> None:
    """List every setting with its default and meaning (set them in distillguard.toml or DISTILLGUARD_*)."""
    from rich.table import Table

    from distillguard.cli.common import console
    from distillguard.config import describe_settings

    table = Table("setting", "default", "meaning", show_lines=False)
    for name, default, help_text in describe_settings():
        table.add_row(name, default, help_text)
    console.print(table)


for module in (ingest_cmd, simulate_cmd, scan_cmd, bench_cmd, serve_cmd, intel_cmd, watch_cmd):
    module.register(app)

collect_cmd.register(app)


def main() -> None:
    app()
