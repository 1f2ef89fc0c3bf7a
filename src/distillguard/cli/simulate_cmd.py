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
        randomize: Annotated[
            bool,
            typer.Option(
                "--randomize",
                help="Draw every population and campaign knob from wide ranges (seeded by --seed); "
                "the drawn scenario is written to OUT/scenario.yaml for --config.",
            ),
        ] = False,
        size: Annotated[
            str, typer.Option("--size", help="With --randomize: tiny | small (20-60k events) | medium.")
        ] = "small",
    ) -> None:
        """Simulate gateway traffic: benign hard negatives, distillation campaigns, ground truth."""
        from distillguard.simulate import ScenarioError, load_scenario, preset, simulate
        from distillguard.simulate.prompts import CorpusError
        from distillguard.simulate.randomize import draw_scenario, dump_scenario

        if scale <= 0:
            raise fail("--scale must be positive")
        if randomize and config_file is not None:
            raise fail("give --randomize or --config, not both")
        try:
            if randomize:
                scenario = draw_scenario(7 if seed is None else seed, size)
            else:
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
            if randomize:
                out.mkdir(parents=True, exist_ok=True)
                dump_scenario(scenario, out / "scenario.yaml")
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
