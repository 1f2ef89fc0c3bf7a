"""One declarative table of settings.

Each setting has a name (units in the name: ``_ms``, ``_rows``, ``_hours``), a
default, and help text. Values come from, in rising precedence: the defaults
below, a TOML file (``distillguard.toml`` in the working directory or the path in
``DISTILLGUARD_CONFIG``), environment variables ``DISTILLGUARD_<NAME>``, and
explicit overrides from the command line.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    choices: tuple[str, ...] = ()


SETTINGS: tuple[Setting, ...] = (
    # storage ----------------------------------------------------------------
    Setting("db_path", "distillguard.duckdb", "DuckDB warehouse file."),
    Setting(
        "text_storage",
        "store",
        "Whether raw prompt and response text is stored ('store') or only fingerprints "
        "('fingerprints-only'). Fingerprints are always computed.",
        ("store", "fingerprints-only"),
    ),
    Setting(
        "hmac_secret",
        "",
        "Deployment secret for keyed hashes of API keys and IPs. Empty: read or create "
        "the file named by secret_file.",
    ),
    Setting(
        "secret_file",
        "",
        "File holding the deployment secret; empty means '<db_path without suffix>.secret'.",
    ),
    # ingest -----------------------------------------------------------------
    Setting("batch_size_rows", 20_000, "Rows per Arrow batch written to the warehouse."),
    Setting(
        "max_prompt_chars",
        200_000,
        "Prompt and response text longer than this is truncated at rest (fingerprints use the "
        "full text); the original length stays in prompt_chars/response_chars.",
    ),
    Setting(
        "ingest_memory_limit",
        "2GB",
        "DuckDB memory limit while ingest writes to the warehouse (it spills to disk beyond it). "
        "Without it DuckDB keeps pages cached up to 80% of RAM, so ingest memory grows with the "
        "database; empty keeps the engine's.",
    ),
    Setting(
        "ingest_parallel_files",
        0,
        "Files batch ingest stages at once, and chunks of follow mode's backlogs, each in a "
        "staging database of its own under a 1 GB DuckDB limit (JSON parsing runs beside the "
        "warehouse writes; files and chunks are still written in order); 0 = one per CPU core "
        "(at most 4).",
    ),
    Setting(
        "max_text_chars",
        1_000_000,
        "Text longer than this is cut at the trust boundary (wire.clean_text) by ingest and the decision "
        "service alike, before it is fingerprinted or matched: bounds memory and time for one hostile "
        "record. The original length stays in prompt_chars/response_chars.",
    ),
    Setting(
        "max_record_bytes",
        64_000_000,
        "A single input record (line) larger than this is quarantined unread, so memory stays bounded.",
    ),
    # follow mode and watch ---------------------------------------------------
    Setting(
        "follow_batch_rows",
        5_000,
        "Follow mode commits once this many records are pending (with their offsets, in one "
        "transaction): large enough that a commit's fixed cost is amortised at tens of thousands of "
        "events/s, small enough that a crash re-reads only seconds of traffic.",
    ),
    Setting(
        "follow_batch_seconds",
        1.0,
        "Follow mode commits pending records at least this often, however few: at a trickle of "
        "traffic a record still reaches the warehouse (and the next detection pass) within a second.",
    ),
    Setting(
        "follow_poll_ms",
        200,
        "How often follow mode looks for new lines and files when the last look found none; a fifth "
        "of follow_batch_seconds keeps the added latency small at negligible CPU.",
    ),
    Setting(
        "follow_read_bytes",
        4_000_000,
        "Bytes read from one file per look, so one busy file cannot starve the others and memory "
        "stays bounded (a longer record is read on in further looks up to max_record_bytes).",
    ),
    Setting(
        "follow_sql_lines",
        20_000,
        "A JSON-lines file of a format batch ingest maps in SQL, with at least this many complete "
        "lines pending (a backlog, a burst), has them read by that SQL path in one chunk instead of "
        "line by line; 0 turns it off. A chunk pays the fixed cost of an SQL stage (0.5-1.5 s of "
        "CPU) and saves a little per record after that: SQL costs what the adapters cost at about "
        "10k records (canonical) to 20k (LiteLLM) (bench/ingest_bench.py --break-even); OpenAI log "
        "and Langfuse break even later (40-60k), so a chunk of 20k-60k of those costs about what "
        "the line path does (36k OpenAI-log lines: 10.4 s against 9.7, docs/BENCHMARKS.md). Fewer "
        "lines are read sooner line by line.",
    ),
    Setting(
        "follow_settle_seconds",
        2.0,
        "A compressed file (a rotated gzip or zstd segment) is read once it has not changed for this "
        "long: its last frame is only complete when the compressor has finished writing it.",
    ),
    Setting(
        "follow_rotated_grace_seconds",
        60.0,
        "A followed file renamed out of the followed paths is still read through its open handle "
        "until it has not grown for this long: its writer appends to it until it reopens the log "
        "(logrotate's postrotate signal), which takes seconds, not minutes.",
    ),
    Setting(
        "follow_head_bytes",
        256,
        "Bytes at a file's start hashed to tell a reused inode from the file read before; a log "
        "line is longer, so two different logs almost never share them.",
    ),
    Setting(
        "watch_every_seconds",
        60.0,
        "`distillguard watch` re-scans this often when new events arrived (never when none did): a "
        "campaign at thousands of requests a minute is flagged within about one interval plus one pass.",
    ),
    Setting(
        "litellm_account_fields",
        "user_api_key_org_id,user_api_key_team_id,user_api_key_user_id,user_api_key_hash",
        "LiteLLM metadata fields tried in order to find the account id.",
    ),
    # detection --------------------------------------------------------------
    Setting(
        "target_benign_flag_rate",
        0.001,
        "Share of benign accounts the scan may expect to call 'extraction': the extraction threshold is "
        "the lowest risk (not below risk_extraction_threshold) whose expected benign flag rate, reading "
        "risks as probabilities, stays within it.",
    ),
    Setting(
        "target_benign_watch_rate",
        0.01,
        "Share of benign accounts the scan may expect to put on 'watch' (threshold chosen likewise).",
    ),
    Setting(
        "risk_watch_threshold",
        0.4,
        "Floor under the calibrated watch threshold: no lower risk is ever 'watch'.",
    ),
    Setting(
        "scan_memory_limit",
        "5GB",
        "DuckDB memory limit while `scan` runs (it spills to disk beyond it); empty keeps the engine's.",
    ),
    Setting(
        "risk_extraction_threshold",
        0.6,
        "Floor under the calibrated extraction threshold: no lower risk is ever 'extraction'.",
    ),
    # report -----------------------------------------------------------------
    Setting("report_max_accounts_rows", 200, "Flagged accounts shown with full evidence in report.html."),
    Setting("report_max_clusters_rows", 100, "Clusters listed in report.html (highest risk first)."),
    Setting("report_sample_prompts", 3, "Sample prompts shown per account in report.html."),
    Setting("report_prompt_excerpt_chars", 300, "Sample prompts in report.html are cut to this length."),
    Setting("report_graph_max_nodes", 240, "Accounts drawn in the report's cluster graph."),
    # intel ------------------------------------------------------------------
    Setting(
        "intel_community_key",
        "",
        "HMAC key shared inside the sharing community (distinct from hmac_secret).",
    ),
    Setting(
        "intel_min_accounts_for_template",
        5,
        "A prompt-template fingerprint is shared only once seen across at least this many accounts.",
    ),
    Setting("intel_share_raw_infrastructure", False, "Share raw IP prefixes / ASNs instead of hashes."),
    Setting(
        "intel_tlp",
        "amber",
        "TLP 2.0 level marked on every exported STIX object.",
        ("clear", "green", "amber", "amber+strict", "red"),
    ),
    Setting("intel_identity_name", "distillguard provider", "Name of our identity object in STIX bundles."),
    Setting("intel_indicator_validity_days", 30, "Exported indicators are valid this long after last seen."),
    Setting("intel_template_match_jaccard", 0.6, "MinHash Jaccard at which a partner template matches."),
    Setting("intel_max_bundle_bytes", 256_000_000, "Imported bundles larger than this are rejected."),
    Setting("intel_max_object_bytes", 262_144, "Imported STIX objects larger than this are quarantined."),
    Setting("taxii_max_request_bytes", 16_000_000, "TAXII requests with larger bodies get 413."),
    Setting("taxii_page_size", 1000, "Most objects a TAXII objects/manifest page returns."),
    Setting("taxii_discovery_requires_auth", False, "Whether TAXII discovery also needs an API key."),
    # decision service (serve) ----------------------------------------------
    Setting("serve_host", "127.0.0.1", "Address `distillguard serve` listens on."),
    Setting("serve_port", 8787, "Port `distillguard serve` listens on."),
    Setting("serve_policy_path", "", "Decision policy YAML; empty uses the built-in default policy."),
    Setting(
        "serve_state_url",
        "",
        "Where live state is shared: empty keeps it in process; redis://host:port/db shares it "
        "across replicas.",
    ),
    Setting(
        "serve_audit_path", "", "Append-only audit log (JSONL); empty means '<db_path stem>.audit.jsonl'."
    ),
    Setting("serve_audit_fsync_interval_ms", 100, "Audit records are fsynced at least this often."),
    Setting(
        "serve_audit_spool_records",
        100_000,
        "Audit records the service keeps in memory while the disk refuses writes, retried in order; "
        "past this many the oldest are dropped (counted in /metrics). About a minute of peak traffic.",
    ),
    Setting(
        "serve_max_body_bytes", 1_000_000, "Requests to the decision service with larger bodies get 413."
    ),
    Setting(
        "serve_redis_timeout_ms", 25, "A Redis call slower than this counts as failed; the snapshot answers."
    ),
    Setting(
        "serve_max_inflight",
        512,
        "Decisions in progress past which new ones are shed (answered by the policy's on_error choice).",
    ),
    Setting(
        "serve_shed_lag_ms",
        50,
        "When the service's event loop runs this far behind (requests queueing past saturation), new "
        "decisions are shed: answered at once by the policy's on_error choice instead of waiting.",
    ),
    Setting("serve_policy_check_interval_ms", 1000, "How often the policy file is checked for changes."),
    Setting("serve_admin_token", "", "Bearer token required by /v1/admin/* endpoints; empty: loopback only."),
    Setting(
        "serve_gateway_tokens",
        "",
        "Comma-separated bearer tokens, one per gateway, required by /v1/decide and /v1/auth. Empty: "
        "loopback callers only, and serve refuses to listen on any other address (docs/security.md).",
    ),
    Setting(
        "serve_trust_identity_headers",
        False,
        "Whether /v1/auth takes the account from X-Account-Id / X-Api-Key-Id. Only for a gateway that "
        "authenticates clients itself and strips their copies; by default the account comes from the "
        "client's API key, forwarded as X-Client-Authorization.",
    ),
    Setting("serve_tls_cert_path", "", "TLS certificate (PEM) for serve; empty serves plain HTTP."),
    Setting("serve_tls_key_path", "", "Private key (PEM) of serve_tls_cert_path."),
    Setting(
        "serve_tls_client_ca_path",
        "",
        "CA (PEM) whose client certificates gateways must present (mutual TLS); counts as the "
        "gateway credential. Needs serve_tls_cert_path.",
    ),
    Setting("serve_verdict_ttl_hours", 72, "Verdicts published from a scan expire after this many hours."),
    # collect: the OTLP/HTTP receiver (docs/collect.md) ------------------------
    Setting("collect_host", "127.0.0.1", "Address `distillguard collect` (OTLP/HTTP receiver) listens on."),
    Setting("collect_port", 4318, "Port `distillguard collect` listens on (4318 is OTLP/HTTP's own port)."),
    Setting(
        "collect_tokens",
        "",
        "Comma-separated bearer tokens, one per sender (Collector or SDK), required by POST /v1/traces. "
        "Empty: `distillguard collect` refuses to start, and the receiver refuses every request.",
    ),
    Setting(
        "collect_max_body_bytes",
        20_971_520,
        "OTLP requests larger than this, compressed or after gunzip, get 413 (20 MiB, the Collector's own "
        "default request limit, so a Collector's batches always fit).",
    ),
    Setting(
        "collect_flush_interval_ms",
        250,
        "Received spans are written at least this often (sooner when batch_size_rows are waiting). A "
        "sender's export is answered once its spans are written, so this is latency it adds, and a "
        "sender that waits for each answer (an SDK's batch processor) sends at most one export per "
        "interval; each flush opens and closes the warehouse (about 0.1 s), which bounds it below.",
    ),
    Setting(
        "collect_ack_timeout_ms",
        8000,
        "An export whose spans are not written within this long (warehouse locked by a scan) gets 503 "
        "with Retry-After; its spans stay queued and a retry counts them as duplicates. Below the "
        "exporters' default 10 s timeout, so they see the 503 rather than a timeout.",
    ),
    Setting(
        "collect_max_pending_bytes",
        268_435_456,
        "Converted spans waiting to be written are held in memory up to this many bytes (Arrow size); "
        "beyond it exports get 503 with Retry-After, so a stalled warehouse costs bounded memory.",
    ),
    Setting(
        "collect_max_concurrent_requests",
        4,
        "Exports decoded at once; more wait unread on their sockets. Bounds memory to about this many "
        "times collect_max_body_bytes (decoded spans take several times their wire size).",
    ),
    Setting(
        "collect_workers",
        0,
        "Processes that decode and convert exports (pure Python, so threads would share one core); "
        "0 = one per CPU core (at most 8), 1 = none: decoding runs in the receiver's own threads.",
    ),
    Setting("collect_tls_cert_path", "", "TLS certificate (PEM) for collect; empty serves plain HTTP."),
    Setting("collect_tls_key_path", "", "Private key (PEM) of collect_tls_cert_path."),
)

_BY_NAME = {s.name: s for s in SETTINGS}

# Settings that no longer do anything. A deployment's file or environment may still set
# them: that is said once on stderr and the value ignored, rather than refused (an upgrade
# must not stop a scan) or silently accepted (a setting that pretends to work misleads).
RETIRED: dict[str, str] = {
    "ingest_workers": "fingerprints are computed by DuckDB's own threads during ingest",
}
_warned_retired: set[str] = set()


def _retired(name: str) -> bool:
    """True (after saying so once) when ``name`` is a retired setting."""
    if name not in RETIRED:
        return False
    if name not in _warned_retired:
        _warned_retired.add(name)
        print(f"distillguard: setting {name} is no longer used ({RETIRED[name]}); ignored", file=sys.stderr)
    return True


class ConfigError(ValueError):
    """A setting has an unknown name or a value of the wrong type."""


_MEMORY_SIZE = re.compile(r"\d+(\.\d+)?\s*[KMGT]i?B", re.IGNORECASE)


def memory_limit(config: Config, name: str) -> str:
    """The memory-limit setting ``name`` ('6GB', '800MB'), or '' to keep the engine's default."""
    value = str(getattr(config, name, "") or "").strip()
    if value and not _MEMORY_SIZE.fullmatch(value):
        raise ConfigError(f"{name} must look like '6GB' or '800MB', not {value!r}")
    return value


@dataclass
class Config:
    values: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def with_overrides(self, **overrides: Any) -> Config:
        merged = dict(self.values)
        for name, value in overrides.items():
            if value is None or _retired(name):
                continue
            merged[name] = _coerce(_setting(name), value)
        return Config(merged)


def _setting(name: str) -> Setting:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ConfigError(f"unknown setting {name!r}") from None


def _coerce(setting: Setting, value: Any) -> Any:
    default = setting.default
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in {"1", "0", "true", "false", "yes", "no"}:
                    raise ValueError(value)
                value = lowered in {"1", "true", "yes"}
            value = bool(value)
        elif isinstance(default, int):
            value = int(value)
        elif isinstance(default, float):
            value = float(value)
        else:
            value = str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {setting.name}: {value!r} is not a {type(default).__name__}") from None
    if setting.choices and value not in setting.choices:
        raise ConfigError(f"setting {setting.name}: {value!r} is not one of {', '.join(setting.choices)}")
    return value


def load_config(path: str | Path | None = None, **overrides: Any) -> Config:
    """Defaults, then the TOML file, then DISTILLGUARD_* variables, then overrides."""
    values = {s.name: s.default for s in SETTINGS}
    file_path = Path(path) if path else Path(os.environ.get("DISTILLGUARD_CONFIG", "distillguard.toml"))
    if file_path.exists():
        with file_path.open("rb") as handle:
            try:
                data = tomllib.load(handle)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{file_path}: {exc}") from None
        for name, value in data.items():
            if not _retired(name):
                values[name] = _coerce(_setting(name), value)
    elif path:
        raise ConfigError(f"{file_path}: no such config file")
    for setting in SETTINGS:
        env_value = os.environ.get(f"DISTILLGUARD_{setting.name.upper()}")
        if env_value is not None:
            values[setting.name] = _coerce(setting, env_value)
    for name in RETIRED:
        if f"DISTILLGUARD_{name.upper()}" in os.environ:
            _retired(name)
    return Config(values).with_overrides(**overrides)


def secret_path(config: Config) -> Path:
    if config.secret_file:
        return Path(config.secret_file)
    return Path(config.db_path).with_suffix(".secret")


def deployment_secret(config: Config, *, announce: bool = True) -> bytes:
    """The key for hashing API keys and IPs at rest.

    Taken from the setting when given; otherwise read from the secret file, which
    is created with a fresh random key on first use (mode 0600) and announced on
    stderr, because losing it makes old hashes unmatchable with new ones.
    """
    if config.hmac_secret:
        return str(config.hmac_secret).encode()
    path = secret_path(config)
    if path.exists():
        return path.read_text().strip().encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    if announce:
        print(
            f"distillguard: generated a new hashing secret in {path}; keep it with the database "
            "(set DISTILLGUARD_HMAC_SECRET to manage it yourself).",
            file=sys.stderr,
        )
    return key.encode()


def describe_settings() -> list[tuple[str, str, str]]:
    """(name, default, help) rows for `distillguard config` and the docs."""
    return [(s.name, repr(s.default), s.help) for s in SETTINGS]
