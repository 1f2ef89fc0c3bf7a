"""docs/detectors.md, generated from the detector specs in the order the scan runs them.

``python -m distillguard.scan.docs --write`` rewrites the file; a test fails when the
file and the specs disagree, so the catalogue a provider reads is the configuration
the code runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from distillguard.detectors.catalogue import lexicon_counts
from distillguard.detectors.spec import DetectorSpec
from distillguard.scan.registry import ACCOUNT_SIGNALS, catalogue

HEADER = """# Detector catalogue

Generated from the detector specs by `python -m distillguard.scan.docs --write`; do not
edit by hand (a test compares this file with the specs). Every number a detector uses
is a parameter below, with the reason for its value. How the evidence is combined into
risk, verdicts and reasons is in [scoring.md](scoring.md); measurements are in
[BENCHMARKS.md](BENCHMARKS.md).
"""


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int) and abs(value) >= 10_000:
        return f"{value:,}"
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def spec_markdown(spec: DetectorSpec, *, weight_note: str = "") -> list[str]:
    lines = [f"### `{spec.id}`: {spec.title}", "", spec.description, ""]
    if weight_note:
        lines += [weight_note, ""]
    patterns = lexicon_counts(spec.id)
    if patterns:
        lines += [f"Patterns: {patterns} (`src/distillguard/detectors/patterns/{spec.id}.yaml`).", ""]
    if spec.parameters:
        lines += ["| parameter | value | why |", "|---|---|---|"]
        for name, value in spec.parameters.items():
            lines.append(f"| `{name}` | {_cell(_value(value))} | {_cell(spec.why.get(name, ''))} |")
        lines.append("")
    if spec.known_false_positives:
        lines += ["Known false positives:", *(f"- {fp}" for fp in spec.known_false_positives), ""]
    if spec.references:
        lines += ["References:", *(f"- {ref}" for ref in spec.references), ""]
    return lines


def _weight_notes() -> dict[str, str]:
    notes = {}
    for signal in ACCOUNT_SIGNALS:
        if signal.shown_only:
            notes[signal.id] = "Shown as evidence when its score reaches 0.5; not part of risk."
        else:
            kind = "against" if signal.weight < 0 else "for"
            notes[signal.id] = (
                f"Evidence {kind} harvesting: at full score it moves the subject's log-odds by "
                f"{signal.weight:+g}. Behaviour group: {signal.group}."
            )
    return notes


def render(levels: Iterable[tuple[str, list[DetectorSpec]]] | None = None) -> str:
    notes = _weight_notes()
    lines = [HEADER]
    for title, specs in levels if levels is not None else catalogue():
        lines += [f"## {title}", ""]
        for spec in specs:
            lines += spec_markdown(spec, weight_note=notes.get(spec.id, ""))
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite docs/detectors.md in place")
    parser.add_argument("--path", type=Path, default=Path("docs/detectors.md"))
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        args.path.write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
