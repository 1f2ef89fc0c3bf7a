"""The privacy scan on traffic from `distillguard simulate` (raw IPs, real prompts, many accounts).

The detection tables are written from the simulator's ground truth here, standing in for the
scan pipeline: this test is about what the export lets out, not about detection.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest

from distillguard.config import Config, deployment_secret
from distillguard.fingerprints import FINGERPRINT_VERSION, fingerprint, hash_ip
from distillguard.intel.exchange import export_bundle
from distillguard.intel.stix_export import validate_bundle
from distillguard.schema import ACCOUNT_SCORES, ACCOUNTS, EVENTS
from distillguard.warehouse import Warehouse

IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")


def _simulate(out: Path) -> None:
    cmd = [
        str(Path(sys.executable).parent / "distillguard"),
        "simulate",
        "--preset",
        "tiny",
        "--seed",
        "11",
        "--formats",
        "canonical",
        "--out",
        str(out),
        "--quiet",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.skip(f"`distillguard simulate` unavailable: {done.stderr.strip()[-200:]}")


def _load(wh: Warehouse, out: Path, secret: bytes) -> tuple[list[str], list[str]]:
    rows, prompts, ips = [], [], []
    for path in sorted((out / "traffic").glob("canonical-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                text = record.get("prompt_text")
                ph, sh, mh = fingerprint(text)
                ip_hash, prefix_hash = hash_ip(secret, record.get("client_ip"))
                rows.append(
                    {
                        "event_id": record["event_id"],
                        "source_format": "canonical",
                        "account_id": record["account_id"],
                        "ts_start": datetime.fromisoformat(record["ts_start"].replace("Z", "+00:00")),
                        "client_ip_hash": ip_hash,
                        "ip_prefix_hash": prefix_hash,
                        "asn": record.get("asn"),
                        "user_agent": record.get("user_agent"),
                        "sdk_fingerprint": record.get("sdk_fingerprint"),
                        "prompt_text": text,
                        "prompt_chars": len(text) if text else None,
                        "prompt_hash": ph,
                        "skeleton_hash": sh,
                        "prompt_minhash": mh,
                        "fingerprint_version": FINGERPRINT_VERSION,
                    }
                )
                if text:
                    prompts.append(text)
                if record.get("client_ip"):
                    ips.append(record["client_ip"])
    wh.insert_events(pa.Table.from_pylist(rows, schema=EVENTS))
    with (out / "accounts.csv").open() as handle:
        accounts = [
            {
                **r,
                "created_at": datetime.fromisoformat(r["created_at"]),
                "payment_fingerprint": r["payment_fingerprint"] or None,
            }
            for r in csv.DictReader(handle)
        ]
    wh.upsert_accounts(pa.Table.from_pylist(accounts, schema=ACCOUNTS))
    return prompts, ips


def test_bundle_from_simulated_traffic_leaks_nothing(
    tmp_path: Path, warehouse: Warehouse, config: Config
) -> None:
    out = tmp_path / "sim"
    _simulate(out)
    intel = config.with_overrides(intel_community_key="sim-community-key")
    prompts, _ips = _load(warehouse, out, deployment_secret(intel))
    with (out / "truth" / "accounts.csv").open() as handle:
        truth = list(csv.DictReader(handle))
    scores = [
        {
            "account_id": r["account_id"],
            "risk": 0.9 if r["campaign_id"] else 0.1,
            "verdict": "extraction" if r["campaign_id"] else "ok",
            "cluster_id": None,
            "campaign_id": r["campaign_id"] or None,
            "events": None,
            "reasons": [],
        }
        for r in truth
    ]
    warehouse.replace_table("account_scores", pa.Table.from_pylist(scores, schema=ACCOUNT_SCORES))
    bundle = export_bundle(warehouse, intel, record=False)
    shared = bundle.to_json()
    assert bundle.counts.get("indicator", 0) > 0, "nothing to scan: the export shared no indicator"
    assert validate_bundle(shared) == []
    assert not IPV4.findall(shared)
    assert not re.findall(r"[\w.+-]+@[\w-]+\.[\w.-]+", shared)
    assert not [r["account_id"] for r in truth if r["account_id"] in shared]
    assert not [c for c in {r["campaign_id"] for r in truth if r["campaign_id"]} if c in shared]
    words = " ".join(re.findall(r"\w+", shared.lower()))
    windows = set()
    for text in prompts:
        tokens = re.findall(r"\w+", text.lower())
        windows.update(" ".join(tokens[i : i + 6]) for i in range(len(tokens) - 5))
    assert not [w for w in windows if w in words], "prompt text left in the bundle"
