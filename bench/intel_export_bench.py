"""How fast a 100k-indicator STIX export, its import and its validation run.

    .venv/bin/python bench/intel_export_bench.py [--indicators 100000] [--validate-sample 2000]

Indicators are synthesised directly as harvested intel (100 campaigns, the mix of
kinds a real export has), so the figure isolates the STIX side: building the JSON,
writing it, importing it into a fresh warehouse (checks, quarantine logic,
idempotent upsert) and validating with the OASIS stix2-validator. For scale, the
same indicators are also built with the ``stix2`` library for a sample.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from distillguard.intel.indicators import GroupIntel, Indicator, IntelHarvest
from distillguard.intel.privacy import SharePolicy, community_hash, serialise_community_minhash
from distillguard.intel.stix_export import build_bundle, validate_bundle
from distillguard.intel.stix_import import import_bundle
from distillguard.warehouse import Warehouse

KINDS = ("asn", "sdk", "user_agent", "payment", "email_domain", "template")


def synthetic_harvest(indicators: int, groups: int, key: bytes, seed: int = 1) -> IntelHarvest:
    rng = random.Random(seed)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    out = []
    per_group = indicators // groups
    for g in range(groups):
        first = start + timedelta(hours=g)
        group = GroupIntel(
            group_id=f"campaign-{g}",
            group_kind="campaign",
            accounts=500,
            events=100_000,
            risk=0.9,
            first_seen=first,
            last_seen=first + timedelta(days=3),
            capability_focus=["reasoning", "coding"],
            techniques={"cot_elicitation": 0.6},
            timeline=[("2026-03-01", 50_000), ("2026-03-02", 50_000)],
        )
        for i in range(per_group):
            kind = KINDS[i % len(KINDS)]
            if kind == "template":
                value = serialise_community_minhash(key, [rng.getrandbits(32) for _ in range(64)])
                form = "minhash-community"
            else:
                value, form = community_hash(key, kind, f"{g}-{i}"), "community-hmac"
            group.indicators.append(
                Indicator(
                    kind,
                    form,
                    value,
                    accounts=rng.randint(2, 50),
                    events=rng.randint(10, 5000),
                    first_seen=first,
                    last_seen=first + timedelta(days=2),
                    exclusivity=0.9,
                    confidence=80,
                )
            )
        out.append(group)
    return IntelHarvest(out, [])


def stix2_library_seconds(harvest: IntelHarvest, sample: int) -> float:
    """Seconds the stix2 library needs for ``sample`` of the same indicators (for comparison)."""
    import stix2

    indicators = [i for g in harvest.groups for i in g.indicators][:sample]
    started = time.perf_counter()
    for ind in indicators:
        stix2.Indicator(
            pattern=f"[x-distillguard-fingerprint:kind = '{ind.kind}' AND x-distillguard-fingerprint:value = "
            f"'{ind.value}']",
            pattern_type="stix",
            valid_from=ind.first_seen,
            confidence=ind.confidence,
            allow_custom=True,
        )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--indicators", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--validate-sample", type=int, default=2000, help="objects passed to stix2-validator")
    parser.add_argument("--stix2-sample", type=int, default=2000)
    args = parser.parse_args()
    key = b"bench-community-key"
    policy = SharePolicy(
        tlp="amber", share_raw_infrastructure=False, min_accounts_for_template=5, validity_days=30, key=key
    )
    harvest = synthetic_harvest(args.indicators, args.groups, key)
    results: dict[str, object] = {
        "indicators": args.indicators,
        "machine": platform.processor() or platform.machine(),
    }

    started = time.perf_counter()
    result = build_bundle(harvest, policy, identity_name="bench provider")
    text = result.to_json()
    results["export_s"] = round(time.perf_counter() - started, 2)
    results["objects"] = len(result.bundle["objects"])
    results["bundle_mb"] = round(len(text) / 1e6, 1)

    sample_objects = result.bundle["objects"][: args.validate_sample]
    sample = json.dumps({**result.bundle, "objects": sample_objects})
    started = time.perf_counter()
    errors = validate_bundle(sample)
    elapsed = time.perf_counter() - started
    results["validator_errors"] = len(errors)
    results["validator_objects_per_s"] = round(len(sample_objects) / elapsed)

    with tempfile.TemporaryDirectory() as tmp, Warehouse.open(Path(tmp) / "import.duckdb") as wh:
        started = time.perf_counter()
        report = import_bundle(wh, text, source="bench.json", max_bundle_bytes=2_000_000_000)
        results["import_s"] = round(time.perf_counter() - started, 2)
        results["import_quarantined"] = len(report.quarantined)
        started = time.perf_counter()
        again = import_bundle(wh, text, source="bench.json", max_bundle_bytes=2_000_000_000)
        results["reimport_s"] = round(time.perf_counter() - started, 2)
        results["reimport_new_objects"] = again.stored

    seconds = stix2_library_seconds(harvest, args.stix2_sample)
    results["stix2_library_indicators_per_s"] = round(args.stix2_sample / seconds)
    results["our_indicators_per_s"] = round(args.indicators / float(results["export_s"]))  # type: ignore[arg-type]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
