"""`distillguard bench`: detection quality, timing and memory against ground truth and baselines."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this group's commands to the main app."""

    @app.command("bench")
    def bench_command(
        preset: Annotated[
            str | None, typer.Option("--preset", help="Simulate this preset first (tiny, medium, ...).")
        ] = None,
        data: Annotated[
            Path | None, typer.Option("--data", help="An existing data set from `distillguard simulate`.")
        ] = None,
        out: Annotated[
            Path | None, typer.Option("--out", help="Where results.json, results.md and the warehouse go.")
        ] = None,
        scale: Annotated[
            float | None, typer.Option("--scale", help="Passed to simulate: scale the preset's size.")
        ] = None,
        corpus: Annotated[
            Path | None, typer.Option("--corpus", help="Passed to simulate: a real prompt corpus directory.")
        ] = None,
        seed: Annotated[int | None, typer.Option("--seed", help="Passed to simulate.")] = None,
        checkpoint_hours: Annotated[
            float,
            typer.Option(
                "--checkpoint-hours",
                help="Streaming replay step in hours (plus probes after each onset); 0 skips it.",
            ),
        ] = 6.0,
        max_checkpoints: Annotated[
            int, typer.Option("--max-checkpoints", help="Most regular replay scans (the step widens to fit).")
        ] = 48,
        target_fpr: Annotated[
            float,
            typer.Option("--target-fpr", help="False-positive rate the baselines' thresholds are set for."),
        ] = 0.001,
        with_baselines: Annotated[
            bool,
            typer.Option(
                "--baselines/--no-baselines",
                help="Also run the rate-limit, PRADA and MMD baselines (skip: time distillguard alone).",
            ),
        ] = True,
    ) -> None:
        """Score distillguard and three baselines on a simulated data set (truth/ is read only here)."""
        from distillguard.bench import BenchError, BenchOptions, run_bench
        from distillguard.bench.tables import print_report
        from distillguard.bench.truth import TruthError
        from distillguard.cli.common import console, fail, user_errors

        options = BenchOptions(
            preset=preset,
            data=data,
            out=out,
            scale=scale,
            corpus=corpus,
            checkpoint_hours=checkpoint_hours,
            max_checkpoints=max_checkpoints,
            target_fpr=target_fpr,
            seed=seed,
            baselines=with_baselines,
            command="distillguard " + shlex.join(sys.argv[1:]),
        )

        def progress(message: str) -> None:
            console.print(f"[dim]{message}[/]", highlight=False)

        with user_errors():
            try:
                results = run_bench(options, progress=progress)
            except (BenchError, TruthError) as exc:
                raise fail(str(exc)) from None
        # The tables are the command's output: stdout, and wide enough to read when piped to a file.
        from rich.console import Console

        stdout = Console()
        print_report(results, stdout if stdout.is_terminal else Console(width=220))
        console.print(f"results: {results['out']}/results.json and results.md")
