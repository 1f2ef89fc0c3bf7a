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
        matrix: Annotated[
            int | None,
            typer.Option(
                "--matrix",
                help="Run N randomised scenarios (seeds --seed..) plus the external generator, "
                "scan each with `distillguard scan`, and report the median and the worst.",
            ),
        ] = None,
        size: Annotated[str, typer.Option("--size", help="With --matrix: tiny | small | medium.")] = "small",
        external_scale: Annotated[
            float, typer.Option("--external-scale", help="With --matrix: external_traffic.py --scale.")
        ] = 1.0,
        external_seeds: Annotated[
            str, typer.Option("--external-seeds", help="With --matrix: comma list; empty skips it.")
        ] = "7,8,9",
        shared_eval: Annotated[
            Path | None,
            typer.Option(
                "--shared-eval", help="With --matrix: folder of external_traffic.py (default ../shared/eval)."
            ),
        ] = None,
        keep: Annotated[
            bool, typer.Option("--keep", help="With --matrix: keep each run's data and warehouse.")
        ] = False,
    ) -> None:
        """Score distillguard and three baselines on a simulated data set (truth/ is read only here)."""
        if matrix is not None:
            _run_matrix(matrix, seed, size, external_scale, external_seeds, shared_eval, keep, out)
            return
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


def _run_matrix(
    scenarios: int,
    seed: int | None,
    size: str,
    external_scale: float,
    external_seeds: str,
    shared_eval: Path | None,
    keep: bool,
    out: Path | None,
) -> None:
    from rich.console import Console
    from rich.table import Table

    from distillguard.bench.matrix import MatrixOptions, run_matrix
    from distillguard.bench.matrix_report import COLUMNS, summary_rows, table_rows, worst_rows
    from distillguard.cli.common import console, fail

    if out is None:
        raise fail("--matrix needs --out (results.json and matrix.md go there)")
    if scenarios < 0 or external_scale <= 0:
        raise fail("--matrix must be >= 0 and --external-scale positive")
    try:
        seeds = [int(s) for s in external_seeds.split(",") if s.strip()]
    except ValueError:
        raise fail(f"--external-seeds: expected a comma list of integers, got {external_seeds!r}") from None
    options = MatrixOptions(
        out=out,
        scenarios=scenarios,
        base_seed=1 if seed is None else seed,
        size=size,
        external_scale=external_scale,
        external_seeds=seeds,
        shared_eval=shared_eval,
        keep=keep,
    )
    results = run_matrix(options, progress=lambda m: console.print(f"[dim]{m}[/]", highlight=False))
    stdout = Console() if Console().is_terminal else Console(width=220)
    table = Table(title="scenario matrix")
    for column in COLUMNS:
        table.add_column(column)
    for row in table_rows(results["runs"]):
        table.add_row(*row)
    stdout.print(table)
    medians = Table(title="median")
    for column in ("group", "recall", "FPR", "worst-pop. FPR", "EWR", "TPR@0.1%", "AUROC"):
        medians.add_column(column)
    for row in summary_rows(results["summary"]):
        medians.add_row(*row)
    stdout.print(medians)
    worst = Table(title="worst scenario")
    for column in ("group", "worst by", "run", "value"):
        worst.add_column(column)
    for row in worst_rows(results["summary"]):
        worst.add_row(*row)
    stdout.print(worst)
    for note in results["notes"]:
        console.print(note)
    console.print(f"results: {out}/results.json and matrix.md")
