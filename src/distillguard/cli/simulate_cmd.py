"""`distillguard simulate`: write a simulated data set with ground truth (see docs/simulator.md)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from distillguard.cli.common import console, fail


def register(app: typer.Typer) -> None:
    """Add this group's commands to the main app."""

    @app.command("simulate")
    def simulate_command(
        out: Annotated[Path, typer.Option("--out", help="Directory to write the data set into.")],
        preset_name: Annotated[
            str,
            typer.Option(
                "--preset",
                help="tiny | small | medium | large | reasoning-grading-censorship | "
                "agentic-mixed | coding-pivot | evasion",
            ),
        ] = "small",
        config_file: Annotated[
            Path | None, typer.Option("--config", help="YAML or TOML scenario (may start from `preset:`).")
        ] = None,
        seed: Annotated[
            int | None, typer.Option("--seed", help="Random seed (same seed, same bytes).")
        ] = None,
        formats: Annotated[
            str | None,
            typer.Option("--formats", help="Comma list of litellm,otel,openai,canonical (split by API key)."),
        ] = None,
        corpus: Annotated[
            Path | None,
            typer.Option("--corpus", help="Directory of real prompts (gzip JSONL with text, category)."),
        ] = None,
        scale: Annotated[float, typer.Option("--scale", help="Multiply the preset's event counts.")] = 1.0,
        quiet: Annotated[bool, typer.Option("--quiet", help="No progress output.")] = False,
    ) -> None:
        """Simulate gateway traffic: benign hard negatives, distillation campaigns, ground truth."""
        from distillguard.simulate import ScenarioError, load_scenario, preset, simulate
        from distillguard.simulate.prompts import CorpusError

        if scale <= 0:
            raise fail("--scale must be positive")
        try:
            scenario = (
                load_scenario(config_file, scale=scale)
                if config_file is not None
                else preset(preset_name, scale)
            )
            if seed is not None:
                scenario.seed = seed
            if formats is not None:
                scenario.formats = [f.strip() for f in formats.split(",") if f.strip()]
            if corpus is not None:
                scenario.corpus = str(corpus)
            started = time.perf_counter()
            manifest = simulate(scenario, out, progress=None if quiet else (lambda m: console.print(m)))
        except (ScenarioError, CorpusError) as exc:
            raise fail(str(exc)) from None
        except OSError as exc:
            raise fail(f"{exc.filename or out}: {exc.strerror or exc}") from None
        seconds = time.perf_counter() - started
        if not quiet:
            attackers = manifest["populations"].get("attacker", {}).get("events", 0)
            console.print(
                f"wrote {manifest['events']:,} events "
                f"({attackers:,} from {len(manifest['campaigns'])} campaigns) "
                f"and {manifest['accounts']:,} accounts to {out} in {seconds:.1f} s"
            )
