"""Two providers, one distillation campaign: what sharing buys provider B.

    .venv/bin/python bench/two_provider.py [--source simulate|generator] [--a-oracle-delay-hours N]

Its JSON output is what docs/BENCHMARKS.md (section intel) records.

The operator runs one hydra against both providers: provider A first, provider B
``--lag-hours`` later, with other accounts but the same proxy networks, payment
instruments and prompt templates. Ordinary customers at each provider share some
of those networks and SDKs (a proxy ASN is also a hosting ASN), so an indicator
that is not specific to the campaign would cost B false positives, which are
reported too.

Every hour A runs detection on what it has seen; once it flags the campaign it
exports (``intel export``) and B imports the bundle and matches it
(``intel match``) ``--share-delay-hours`` later, as a TAXII pull would. B flags an
account when its own detection does, or, with sharing, when one of its events or
its sign-up matches an active partner indicator. Leaked exchanges are campaign
calls B served before the account was flagged.

Detection: ``distillguard.scan.scan`` when installed (the real detectors);
otherwise a generic stand-in (an account whose traffic is mostly prompt
skeletons shared by >= 5 accounts, after >= 20 calls), labelled as such in the
output. Prompts come from the shared real corpus when present (../shared/corpus),
wrapped in elicitation templates for the campaign.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from distillguard.config import Config, load_config
from distillguard.fingerprints import FINGERPRINT_VERSION, fingerprint, hash_ip
from distillguard.intel.exchange import export_bundle
from distillguard.intel.matching import decisive, match_warehouse
from distillguard.intel.stix_export import validate_bundle
from distillguard.intel.stix_import import import_bundle
from distillguard.schema import ACCOUNT_SCORES, ACCOUNTS, CAMPAIGNS, EVENTS
from distillguard.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
START = datetime(2026, 3, 2, tzinfo=UTC)
WRAPPERS = (
    "Think through the following step by step. Write out your complete reasoning, every intermediate "
    "step and check, before giving the final answer.\n\n{p}",
    "You are an expert grader. Score the response to the task below from 1 to 10 for correctness, "
    "reasoning quality and clarity, and justify each score in detail.\n\nTask: {p}",
)
SLOT_TEMPLATES = (
    "Solve this and show all of your reasoning step by step before the final answer: a tank holds {a} "
    "litres and drains at {b} litres per minute while filling at {c}. When is it empty?",
    "Rate the following answer from 1 to 10 on accuracy, depth of reasoning and clarity, explaining each "
    'score. Question: "{q}" Answer: "{r}"',
)
FALLBACK_PROMPTS = (
    "how do I sort a list of dicts by a key in python",
    "write a haiku about autumn rain",
    "explain the difference between TCP and UDP",
    "what is a good name for a bakery",
)
HOSTING_ASNS = ("AS64512", "AS64513")  # hydra proxies; also rented by some ordinary customers
COMMON_SDK = "openai-python/1.51.0"
# The replay runs in the past while the pipeline checks partner matches against the wall clock,
# so indicators must stay valid until today for B's scoring to see them at all.
REPLAY_VALIDITY_DAYS = 1000


def corpus_prompts(rng: random.Random, limit: int = 20_000) -> list[str]:
    texts: list[str] = []
    for path in sorted(CORPUS.glob("*.jsonl.gz")) if CORPUS.is_dir() else []:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                text = json.loads(line).get("text")
                if isinstance(text, str) and 20 < len(text) < 2000:
                    texts.append(text)
    rng.shuffle(texts)
    return texts[:limit] or list(FALLBACK_PROMPTS)


@dataclass
class Provider:
    name: str
    config: Config
    warehouse: Warehouse
    campaign_accounts: set[str]
    benign_accounts: set[str]
    truth_campaign: dict[str, str] | None = None  # for the --a-oracle-delay-hours scenario only


def build_provider(
    name: str,
    tmp: Path,
    rng: random.Random,
    prompts: list[str],
    *,
    onset: datetime,
    hydra: int,
    benign: int,
    days: int,
    community_key: str,
) -> Provider:
    config = load_config(
        db_path=str(tmp / f"{name}.duckdb"),
        hmac_secret=f"{name}-local-secret",
        intel_community_key=community_key,
        intel_indicator_validity_days=REPLAY_VALIDITY_DAYS,
    )
    wh = Warehouse.open(config.db_path)
    secret = f"{name}-local-secret".encode()
    events, accounts = [], []
    campaign, ordinary = set(), set()
    cards = [f"card-hydra-{i}" for i in range(8)]
    for i in range(hydra + benign):
        attacker = i < hydra
        account = f"{name[0]}-{'h' if attacker else 'c'}{i:05d}"
        (campaign if attacker else ordinary).add(account)
        created = (
            onset + timedelta(minutes=rng.randint(0, 600))
            if attacker
            else START - timedelta(days=rng.randint(5, 400))
        )
        accounts.append(
            {
                "account_id": account,
                "created_at": created,
                "country": "US",
                "email_domain": "mail.example" if attacker else f"org{rng.randint(0, 300)}.example",
                "payment_fingerprint": rng.choice(cards) if attacker else f"card-{name[0]}-{i}",
                "verification": "email" if attacker else rng.choice(["phone", "id"]),
                "plan": "paygo",
            }
        )
        if attacker:
            begin, calls = created + timedelta(minutes=rng.randint(5, 60)), rng.randint(40, 90)
            span = timedelta(hours=rng.uniform(20, 48))
        else:
            begin, calls = START, rng.randint(5, 60)
            span = timedelta(days=days)
        uses_hosting = attacker or rng.random() < 0.05
        for n in range(calls):
            ts = begin + span * (n / calls) + timedelta(seconds=rng.randint(0, 600))
            if attacker and rng.random() < 0.5:
                text = rng.choice(SLOT_TEMPLATES).format(
                    a=rng.randint(50, 900),
                    b=rng.randint(2, 40),
                    c=rng.randint(1, 30),
                    q=rng.choice(prompts)[:80],
                    r=f"about {rng.randint(2, 99)}",
                )
            elif attacker:
                text = rng.choice(WRAPPERS).format(p=rng.choice(prompts))
            else:
                text = rng.choice(prompts)
            ip = (
                f"198.18.{rng.randint(0, 3)}.{rng.randint(1, 254)}"
                if uses_hosting
                else f"10.{i % 250}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            )
            ph, sh, mh = fingerprint(text)
            ip_hash, prefix_hash = hash_ip(secret, ip)
            events.append(
                {
                    "event_id": f"{account}-{n}",
                    "source_format": "canonical",
                    "ts_start": ts,
                    "account_id": account,
                    "client_ip_hash": ip_hash,
                    "ip_prefix_hash": prefix_hash,
                    "asn": rng.choice(HOSTING_ASNS) if uses_hosting else f"AS{65000 + i % 300}",
                    "user_agent": "python-httpx/0.27"
                    if attacker
                    else rng.choice(["python-httpx/0.27", "Mozilla/5.0"]),
                    "sdk_fingerprint": COMMON_SDK if attacker or rng.random() < 0.4 else f"sdk-{i % 7}",
                    "prompt_text": text,
                    "prompt_hash": ph,
                    "skeleton_hash": sh,
                    "prompt_minhash": mh,
                    "fingerprint_version": FINGERPRINT_VERSION,
                }
            )
    wh.insert_events(pa.Table.from_pylist(events, schema=EVENTS))
    wh.upsert_accounts(pa.Table.from_pylist(accounts, schema=ACCOUNTS))
    return Provider(name, config, wh, campaign, ordinary)


def simulated_providers(
    args: argparse.Namespace, tmp: Path, key: str
) -> tuple[Provider, Provider, Provider, datetime, int]:
    """One simulated data set split between two providers by account; B's hydra arrives later.

    Ground truth is read only to build the scenario (which accounts belong to the
    operator, so B's half can be delayed by ``--lag-hours``) and to score; detection
    never sees it.
    """
    import csv
    import hashlib
    import subprocess
    import sys

    out = tmp / "sim"
    cmd = [
        str(Path(sys.executable).parent / "distillguard"),
        "simulate",
        "--preset",
        args.preset,
        "--seed",
        str(args.seed),
        "--formats",
        "canonical",
        "--out",
        str(out),
        "--quiet",
    ]
    if CORPUS.is_dir():
        cmd += ["--corpus", str(CORPUS)]
    subprocess.run(cmd, check=True, capture_output=True)
    with (out / "truth" / "accounts.csv").open() as handle:
        rows_truth = list(csv.DictReader(handle))
    truth = {r["account_id"]: r["role"] == "attacker" for r in rows_truth}
    truth_campaign = {
        r["account_id"]: r["campaign_id"] or "operator" for r in rows_truth if truth[r["account_id"]]
    }
    side = {acc: "ab"[hashlib.sha256(acc.encode()).digest()[0] % 2] for acc in truth}
    lag = timedelta(hours=args.lag_hours)
    providers = []
    for name in ("a", "b", "b2"):
        config = load_config(
            db_path=str(tmp / f"{name}.duckdb"),
            hmac_secret=f"{name}-local-secret",
            intel_community_key=key,
            intel_indicator_validity_days=REPLAY_VALIDITY_DAYS,
        )
        wh = Warehouse.open(config.db_path)
        secret = f"{name}-local-secret".encode()
        mine = {acc for acc, s in side.items() if s == name[0]}
        shift = {acc: lag for acc in mine if truth[acc] and name != "a"}
        _load_canonical(wh, out, mine, shift, secret)
        with (out / "accounts.csv").open() as handle:
            rows = [
                {
                    **r,
                    "created_at": datetime.fromisoformat(r["created_at"])
                    + shift.get(r["account_id"], timedelta()),
                    "payment_fingerprint": r["payment_fingerprint"] or None,
                }
                for r in csv.DictReader(handle)
                if r["account_id"] in mine
            ]
        wh.upsert_accounts(pa.Table.from_pylist(rows, schema=ACCOUNTS))
        campaign = {acc for acc in mine if truth[acc]}
        providers.append(Provider(name, config, wh, campaign, mine - campaign, truth_campaign))
    manifest = json.loads((out / "manifest.json").read_text())
    start = datetime.fromisoformat(manifest["start"])
    hours = int((datetime.fromisoformat(manifest["end"]) - start + lag).total_seconds() // 3600)
    return providers[0], providers[1], providers[2], start, hours


def _load_canonical(
    wh: Warehouse, out: Path, mine: set[str], shift: dict[str, timedelta], secret: bytes
) -> None:
    """Canonical JSONL into the warehouse (the ingest package does this when installed)."""
    names = set(EVENTS.names)
    batch: list[dict[str, object]] = []
    for path in sorted((out / "traffic").glob("canonical-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                account = record["account_id"]
                if account not in mine:
                    continue
                row = {k: v for k, v in record.items() if k in names}
                for column in ("ts_start", "ts_end"):
                    if row.get(column):
                        row[column] = datetime.fromisoformat(
                            str(row[column]).replace("Z", "+00:00")
                        ) + shift.get(account, timedelta())
                row["client_ip_hash"], row["ip_prefix_hash"] = hash_ip(secret, record.get("client_ip"))
                text = record.get("prompt_text")
                row["prompt_hash"], row["skeleton_hash"], row["prompt_minhash"] = fingerprint(text)
                row["fingerprint_version"] = FINGERPRINT_VERSION if text is not None else None
                row["attrs"] = None
                batch.append(row)
    wh.insert_events(pa.Table.from_pylist(batch, schema=EVENTS))


# ------------------------------------------------------------------ detection
USE_STANDIN = False  # set from --detector standin


def _pipeline():  # type: ignore[no-untyped-def]
    if USE_STANDIN:
        return None
    try:
        from distillguard.scan import scan
    except ImportError:
        return None
    return scan


STANDIN_SQL = """
WITH seen AS (SELECT * FROM events WHERE ts_start <= ?),
shared AS (SELECT skeleton_hash FROM seen GROUP BY 1 HAVING count(DISTINCT account_id) >= 5),
per_account AS (
    SELECT account_id, count(*) AS calls,
           avg(CASE WHEN skeleton_hash IN (SELECT skeleton_hash FROM shared) THEN 1.0 ELSE 0.0 END)
               AS templated
    FROM seen GROUP BY 1
)
SELECT account_id FROM per_account WHERE calls >= 20 AND templated >= 0.3
"""


def oracle_detect(p: Provider, until: datetime, delay: timedelta) -> set[str]:
    """Provider A's detection taken as given: each operator account, ``delay`` after its first call.

    Used to measure what the *shared indicators* catch at B independently of how
    good A's detectors are; reported as such.
    """
    assert p.truth_campaign is not None
    rows = p.warehouse.engine.to_arrow("SELECT account_id, min(ts_start) AS first FROM events GROUP BY 1")
    first = {str(r["account_id"]): r["first"] for r in rows.to_pylist()}
    flagged = {a for a in p.campaign_accounts if a in first and first[a] + delay <= until}
    scores = [
        {
            "account_id": a,
            "risk": 0.9,
            "verdict": "extraction",
            "cluster_id": None,
            "campaign_id": p.truth_campaign[a],
            "events": None,
            "reasons": ["given"],
        }
        for a in sorted(flagged)
    ]
    p.warehouse.replace_table("account_scores", pa.Table.from_pylist(scores, schema=ACCOUNT_SCORES))
    return flagged


FLAG_VERDICTS: tuple[str, ...] = ()  # set from --flag-verdicts


def detect(p: Provider, until: datetime) -> set[str]:
    """Accounts flagged by detection on events up to ``until``; writes the tables export reads."""
    scan = _pipeline()
    if scan is not None:
        scan(p.warehouse, p.config, until=until)
        verdicts = FLAG_VERDICTS or ("extraction",)
        rows = p.warehouse.engine.to_arrow(
            f"SELECT account_id FROM account_scores WHERE verdict IN ({', '.join('?' for _ in verdicts)})",
            list(verdicts),
        )
        return {str(a) for a in rows.column(0).to_pylist()}
    flagged = {str(a) for a in p.warehouse.engine.to_arrow(STANDIN_SQL, [until]).column(0).to_pylist()}
    scores = [
        {
            "account_id": a,
            "risk": 0.9,
            "verdict": "extraction",
            "cluster_id": "standin",
            "campaign_id": "standin-campaign",
            "events": None,
            "reasons": ["stand-in: templated traffic"],
        }
        for a in sorted(flagged)
    ]
    p.warehouse.replace_table("account_scores", pa.Table.from_pylist(scores, schema=ACCOUNT_SCORES))
    p.warehouse.replace_table(
        "campaigns",
        pa.Table.from_pylist(
            [
                {
                    "campaign_id": "standin-campaign",
                    "accounts": len(flagged),
                    "risk": 0.9,
                    "capability_focus": [],
                }
            ],
            schema=CAMPAIGNS,
        ),
    )
    return flagged


def leaked(p: Provider, flag_time: dict[str, datetime]) -> int:
    """Campaign calls served before the account was flagged (all of them if never flagged)."""
    never = datetime.max.replace(tzinfo=UTC)
    p.warehouse.engine.register("_campaign", pa.table({"account_id": sorted(p.campaign_accounts)}))
    try:
        rows = p.warehouse.engine.to_arrow(
            "SELECT account_id, ts_start FROM events JOIN _campaign USING (account_id)"
        ).to_pylist()
    finally:
        p.warehouse.engine.unregister("_campaign")
    return sum(1 for r in rows if r["ts_start"] < flag_time.get(str(r["account_id"]), never))


def campaign_flagged_at(
    flag_time: dict[str, datetime], campaign: set[str], share: float = 0.1
) -> datetime | None:
    times = sorted(t for a, t in flag_time.items() if a in campaign)
    needed = max(1, int(share * len(campaign)))
    return times[needed - 1] if len(times) >= needed else None


def run(args: argparse.Namespace) -> dict[str, object]:
    rng = random.Random(args.seed)
    prompts = corpus_prompts(rng)
    mode = "scan.scan" if _pipeline() is not None else "stand-in detector"
    tmp = Path(tempfile.mkdtemp(prefix="dg-two-provider-"))
    key = "two-provider-community-key"
    # B twice, from the same data: one never sees partner intel (the pipeline reads
    # partner_matches as evidence when the table exists), the other imports A's bundles.
    if args.source == "simulate":
        a, b, b2, start, hours = simulated_providers(args, tmp, key)
    else:
        a, b, b2 = (
            build_provider(
                name,
                tmp,
                random.Random(args.seed + (name != "a")),
                prompts,
                onset=START + timedelta(hours=6 + (0 if name == "a" else args.lag_hours)),
                hydra=args.hydra,
                benign=args.benign,
                days=args.days,
                community_key=key,
            )
            for name in ("a", "b", "b2")
        )
        start, hours = START, 24 * args.days
    own: dict[str, datetime] = {}
    shared: dict[str, datetime] = {}  # decisive partner matches at B
    b2_detected: dict[str, datetime] = {}  # B's detectors with partner evidence available
    fp_kinds: dict[str, str] = {}  # benign B account -> indicator kinds that flagged it
    first_share: datetime | None = None
    bundle_bytes = 0
    started = time.perf_counter()
    for hour in range(0, hours + 1, args.step_hours):
        now = start + timedelta(hours=hour)
        a_flagged = (
            oracle_detect(a, now, timedelta(hours=args.a_oracle_delay_hours))
            if args.a_oracle_delay_hours is not None
            else detect(a, now)
        )
        if first_share is None and len(a_flagged & a.campaign_accounts) >= max(
            1, len(a.campaign_accounts) // 10
        ):
            first_share = now + timedelta(hours=args.share_delay_hours)
        if first_share is not None and now >= first_share:
            bundle = export_bundle(a.warehouse, a.config, record=True, now=now).to_json()
            bundle_bytes = len(bundle)
            import_bundle(b2.warehouse, bundle, source="provider-a", partner="provider-a")
            match_warehouse(b2.warehouse, b2.config, now=now)
            rows = b2.warehouse.engine.to_arrow(
                "SELECT m.account_id, list(DISTINCT m.indicator_kind) AS kinds FROM partner_matches m "
                "WHERE EXISTS (SELECT 1 FROM events e WHERE e.account_id = m.account_id AND e.ts_start <= ?) "
                "GROUP BY 1",
                [now],
            ).to_pylist()
            for row in rows:
                if decisive(set(row["kinds"])):  # one weak identifier alone is evidence, not a flag
                    shared.setdefault(str(row["account_id"]), now)
                    if str(row["account_id"]) in b.benign_accounts:
                        fp_kinds.setdefault(str(row["account_id"]), "+".join(sorted(row["kinds"])))
        for acc in detect(b, now):
            own.setdefault(acc, now)
        for acc in detect(b2, now):  # B's own detectors, with partner matches as evidence
            b2_detected.setdefault(acc, now)
    with_sharing = dict(b2_detected)
    for acc, t in shared.items():
        with_sharing[acc] = min(t, with_sharing.get(acc, t))
    b_own_at = campaign_flagged_at(own, b.campaign_accounts)
    b_shared_at = campaign_flagged_at(with_sharing, b.campaign_accounts)
    total = leaked(b, {})
    result = {
        "detection": mode if _pipeline() is None else f"{mode}, flagged = verdict in {args.flag_verdicts}",
        "a_detection": "given: each operator account flagged "
        f"{args.a_oracle_delay_hours} h after its first call"
        if args.a_oracle_delay_hours is not None
        else mode,
        "seed": args.seed,
        "lag_hours": args.lag_hours,
        "source": args.source if args.source == "generator" else f"simulate --preset {args.preset}",
        "a_accounts (campaign/benign)": f"{len(a.campaign_accounts)}/{len(a.benign_accounts)}",
        "b_accounts (campaign/benign)": f"{len(b.campaign_accounts)}/{len(b.benign_accounts)}",
        "b_campaign_calls": total,
        "a_shared_first_at": first_share.isoformat() if first_share else None,
        "b_flags_campaign_alone_at": b_own_at.isoformat() if b_own_at else None,
        "b_flags_campaign_with_sharing_at": b_shared_at.isoformat() if b_shared_at else None,
        "hours_earlier": round((b_own_at - b_shared_at).total_seconds() / 3600, 1)
        if b_own_at and b_shared_at
        else None,
        "b_leaked_calls_alone": leaked(b, own),
        "b_leaked_calls_with_sharing": leaked(b, with_sharing),
        "b_campaign_accounts_flagged_alone": len(set(own) & b.campaign_accounts),
        "b_campaign_accounts_flagged_with_sharing": len(set(with_sharing) & b.campaign_accounts),
        "b_benign_accounts_flagged_by_partner_intel": len(set(shared) & b.benign_accounts),
        "b_benign_accounts_flagged_alone": len(set(own) & b.benign_accounts),
        "b_benign_accounts_flagged_with_sharing": len(set(with_sharing) & b.benign_accounts),
        "b_benign_flagged_by_partner_intel_kinds": dict(Counter(fp_kinds.values())),
        "last_bundle_kb": round(bundle_bytes / 1024, 1),
        "bundle_leaks": privacy_scan(bundle, a) if first_share else [],
        "last_bundle_validator_errors": len(validate_bundle(bundle)) if first_share else None,
        "seconds": round(time.perf_counter() - started, 1),
    }
    for provider in (a, b, b2):
        provider.warehouse.close()
    return result


def privacy_scan(bundle: str, a: Provider) -> list[str]:
    """What of A's private data appears in the last shared bundle (should be nothing)."""
    found = []
    if re.search(r"\b(?:\d{1,3}\.){3}\d{1,3}\b", bundle):
        found.append("IPv4 address")
    if re.search(r"[\w.+-]+@[\w-]+\.[\w.-]+", bundle):
        found.append("e-mail address")
    if any(acc in bundle for acc in a.campaign_accounts | a.benign_accounts):
        found.append("account id")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--lag-hours", type=int, default=24)
    parser.add_argument("--share-delay-hours", type=int, default=1)
    parser.add_argument("--step-hours", type=int, default=1)
    parser.add_argument("--hydra", type=int, default=60)
    parser.add_argument("--benign", type=int, default=300)
    parser.add_argument("--days", type=int, default=4)
    parser.add_argument(
        "--source",
        choices=("simulate", "generator"),
        default="simulate",
        help="`distillguard simulate` traffic split between two providers, or the built-in generator",
    )
    parser.add_argument(
        "--a-oracle-delay-hours",
        type=int,
        default=None,
        help="take A's detection as given (operator accounts flagged N h after their first call)",
    )
    parser.add_argument("--preset", default="tiny", help="simulator preset (with --source simulate)")
    parser.add_argument(
        "--flag-verdicts",
        default="watch,extraction",
        help="pipeline verdicts that count as flagged (both providers alike)",
    )
    parser.add_argument(
        "--detector",
        choices=("auto", "standin"),
        default="auto",
        help="auto: distillguard.scan.scan when importable, else the stand-in",
    )
    args = parser.parse_args()
    global FLAG_VERDICTS, USE_STANDIN
    USE_STANDIN = args.detector == "standin"
    FLAG_VERDICTS = tuple(v for v in args.flag_verdicts.split(",") if v)
    result = run(args)
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
