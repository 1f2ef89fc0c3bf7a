"""Write the verdict-threshold calibration table from a randomised scenario matrix.

    distillguard bench --matrix 20 --seed 1 --size small --external-seeds '' --out /tmp/m
    python bench/calibrate_thresholds.py /tmp/m/results.json

For each candidate threshold, the benign flag rate of every *randomised* run (never the
external generator: that is validation) is read from ``results.json``; the table keeps the
worst and the median and is written to ``src/distillguard/data/calibration.json`` with the
command, date and runs that produced it. A scan picks the lowest threshold whose worst-case
rate is within its target (``scan/calibration.py``).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from datetime import UTC, datetime
from pathlib import Path

TABLE = Path(__file__).resolve().parents[1] / "src" / "distillguard" / "data" / "calibration.json"


def table(results: dict) -> dict:
    runs = [r for r in results["runs"] if r.get("kind") == "randomised" and r.get("benign_rate_at")]
    if not runs:
        raise SystemExit("no randomised run with benign_rate_at in results.json (re-run the matrix)")
    grid = sorted({float(t) for r in runs for t in r["benign_rate_at"]})
    points = []
    for t in grid:
        rates = [float(r["benign_rate_at"][f"{t:g}"]) for r in runs if f"{t:g}" in r["benign_rate_at"]]
        points.append(
            {
                "threshold": t,
                "worst_benign_rate": max(rates),
                "median_benign_rate": statistics.median(rates),
            }
        )
    return {
        "measured": {
            "runs": [r["run"] for r in runs],
            "options": results.get("options", {}),
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
            "machine": f"{platform.machine()}, {platform.system()}",
        },
        "points": points,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", type=Path, help="results.json of `distillguard bench --matrix`")
    parser.add_argument("--out", type=Path, default=TABLE)
    args = parser.parse_args()
    document = table(json.loads(args.results.read_text(encoding="utf-8")))
    args.out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    for p in document["points"]:
        print(
            f"risk >= {p['threshold']:<6g} worst benign rate {p['worst_benign_rate']:.4%}  "
            f"median {p['median_benign_rate']:.4%}"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
