"""Arrow schemas of every table distillguard reads or writes.

This is the one place column names are defined. Adapters build rows against
``EVENTS``; detectors write ``PROMPT_SIGNALS`` / ``ACCOUNT_SCORES`` / ``CLUSTERS`` /
``CAMPAIGNS``; the decision service and intel exchange read them. Everything
else refers to these names instead of spelling strings of its own.
"""

from __future__ import annotations

import pyarrow as pa

# Fingerprint layout shared by ingest, detectors, serve and intel.
MINHASH_PERMUTATIONS = 64

_TS = pa.timestamp("us", tz="UTC")
_ATTRS = pa.map_(pa.string(), pa.string())

# --------------------------------------------------------------------------- events
# One row per API call, whatever log format it came from.
EVENTS = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("source_format", pa.string(), nullable=False),
        pa.field("ts_start", _TS, nullable=False),
        pa.field("ts_end", _TS),
        pa.field("latency_ms", pa.float64()),
        # identity -----------------------------------------------------------
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("project_id", pa.string()),
        pa.field("api_key_hash", pa.string()),  # keyed HMAC, never the raw key
        pa.field("end_user_id", pa.string()),
        pa.field("session_id", pa.string()),
        # network ------------------------------------------------------------
        pa.field("client_ip_hash", pa.string()),  # keyed HMAC of the full address
        pa.field("ip_prefix_hash", pa.string()),  # keyed HMAC of the /24 (v4) or /48 (v6)
        # The same prefix under the sharing community's key (intel_community_key), so partners
        # can match proxy ranges without anyone revealing an address; null when no key is set.
        pa.field("ip_prefix_community_hash", pa.string()),
        pa.field("asn", pa.string()),
        pa.field("country", pa.string()),
        pa.field("user_agent", pa.string()),
        pa.field("sdk_fingerprint", pa.string()),  # x-stainless-* and similar, normalised
        # request ------------------------------------------------------------
        pa.field("endpoint", pa.string()),
        pa.field("model_requested", pa.string()),
        pa.field("model_served", pa.string()),
        pa.field("temperature", pa.float64()),
        pa.field("top_p", pa.float64()),
        pa.field("max_tokens", pa.int64()),
        pa.field("n", pa.int32()),
        pa.field("seed", pa.int64()),
        pa.field("stream", pa.bool_()),
        pa.field("logprobs", pa.bool_()),
        pa.field("tool_count", pa.int32()),
        pa.field("reasoning_effort", pa.string()),
        pa.field("message_count", pa.int32()),
        pa.field("system_prompt_hash", pa.string()),
        # usage and outcome --------------------------------------------------
        pa.field("input_tokens", pa.int64()),
        pa.field("output_tokens", pa.int64()),
        pa.field("reasoning_tokens", pa.int64()),
        pa.field("cached_tokens", pa.int64()),
        pa.field("cost_usd", pa.float64()),
        pa.field("status", pa.string()),  # success | error
        pa.field("status_code", pa.int32()),
        pa.field("finish_reason", pa.string()),
        # content (text is nullable: privacy setting) -------------------------
        pa.field("prompt_text", pa.string()),  # the last user turn (what the fingerprints hash)
        # the system prompt and every user turn before the last, in order, joined by a blank line
        pa.field("context_text", pa.string()),
        pa.field("response_text", pa.string()),
        pa.field("prompt_chars", pa.int64()),
        pa.field("response_chars", pa.int64()),
        pa.field("prompt_hash", pa.string()),
        pa.field("skeleton_hash", pa.string()),
        pa.field("prompt_minhash", pa.list_(pa.uint32())),
        pa.field("fingerprint_version", pa.string()),
        # provenance ---------------------------------------------------------
        pa.field("attrs", _ATTRS),
        pa.field("ingest_file", pa.string()),
        pa.field("ingest_line", pa.int64()),
        # derived at ingest by rules.request_shape_sql (the string the decision service computes
        # live with rules.request_shape), so scans group by it instead of rebuilding it per pass
        pa.field("request_shape", pa.string()),
    ]
)

# Columns an adapter must fill; a record without them is quarantined.
EVENTS_REQUIRED = ("event_id", "ts_start", "account_id")

# ------------------------------------------------------------------------- accounts
ACCOUNT_VERIFICATION = ("none", "email", "phone", "id", "enterprise")
ACCOUNT_PLANS = ("free", "paygo", "startup", "education", "research", "enterprise")

ACCOUNTS = pa.schema(
    [
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("created_at", _TS),
        pa.field("country", pa.string()),
        pa.field("email_domain", pa.string()),
        pa.field("payment_fingerprint", pa.string()),
        pa.field("verification", pa.string()),
        pa.field("plan", pa.string()),
        pa.field("attrs", _ATTRS),  # extra columns of the source file, kept
    ]
)

# The columns of a provider's account-record file (CSV/JSONL/Parquet); other columns go to attrs.
ACCOUNT_FILE_COLUMNS = tuple(field.name for field in ACCOUNTS if field.name != "attrs")

# ----------------------------------------------------------------------- quarantine
QUARANTINE = pa.schema(
    [
        pa.field("file", pa.string(), nullable=False),
        pa.field("line", pa.int64()),  # 1-based line, or record index for Parquet
        pa.field("byte_offset", pa.int64()),
        pa.field("source_format", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw_excerpt", pa.string()),  # first 512 characters, for the analyst
        pa.field("quarantined_at", _TS, nullable=False),
    ]
)

# Ingest bookkeeping: which files were read, so a re-run is visibly idempotent.
INGEST_RUNS = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("file", pa.string(), nullable=False),
        pa.field("source_format", pa.string()),
        pa.field("records_read", pa.int64()),
        pa.field("stored", pa.int64()),
        pa.field("duplicates", pa.int64()),
        pa.field("quarantined", pa.int64()),
        pa.field("finished_at", _TS),
    ]
)

# Follow mode (`ingest --follow`): how far each followed file has been read. Written in the
# same transaction as the rows it covers, so a restart after any crash resumes exactly there.
# A file is known by device and inode (its path changes on rotation) plus a hash of its first
# bytes (an inode is reused once a rotated file is deleted).
FOLLOW_OFFSETS = pa.schema(
    [
        pa.field("file_key", pa.string(), nullable=False),  # "device:inode"
        pa.field("head_hash", pa.string()),  # sha256 of the first follow_head_bytes
        pa.field("path", pa.string(), nullable=False),  # where it was last seen
        pa.field("source_format", pa.string()),
        pa.field("compressed", pa.bool_()),
        pa.field("byte_offset", pa.int64()),  # bytes consumed (whole lines only); plain files
        pa.field("lines", pa.int64()),  # lines consumed (compressed files resume by line)
        pa.field("records_read", pa.int64()),  # cumulative, so read = stored + duplicates + quarantined
        pa.field("stored", pa.int64()),
        pa.field("duplicates", pa.int64()),
        pa.field("quarantined", pa.int64()),
        pa.field("updated_at", _TS),
    ]
)

# ------------------------------------------------------------------ detection output
# Prompt level: one row per event. Scores are in [0, 1]; evidence is the matched
# spans as "part:detector/rule:start-end:excerpt" strings, so a reviewer sees why, where
# part is last (the last user turn), context (system prompt and earlier turns) or response.
PROMPT_SIGNALS = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("ts_start", _TS, nullable=False),
        pa.field("cot_elicitation", pa.float64()),
        pa.field("rubric_grading", pa.float64()),
        pa.field("censorship_rewrite", pa.float64()),
        pa.field("critique", pa.float64()),  # critique of a reasoning trace, autograding
        pa.field(
            "response_trace", pa.float64()
        ),  # the RESPONSE is a training artefact (trace, grade, rewrite)
        pa.field("capability", pa.string()),
        pa.field("template_family", pa.string()),
        pa.field("evidence", pa.list_(pa.string())),
    ]
)

# Prompt-level matches remembered between scans, so a scan (a watch pass) only matches what it
# has not seen: each distinct clipped request text (a last turn or a context, keyed by its md5
# and whether the request had tools) and each event's response (keyed by event_id). Rows hold
# the same scores, capability and evidence the scan's SQL computes, under one version of the
# rules, clipping and classifier (``prompt_level.ruleset_version``): a change gives a new
# version, and rows of any other version are deleted before they could be read.
PROMPT_MATCHES = pa.schema(
    [
        pa.field("ruleset_version", pa.string(), nullable=False),
        pa.field("part", pa.string(), nullable=False),  # request or response
        pa.field("match_key", pa.string(), nullable=False),  # md5 of the clipped text, or event_id
        pa.field("tool_count", pa.int32()),  # requests: 1 when the request had tools, else 0
        pa.field("cot_elicitation", pa.float64()),
        pa.field("rubric_grading", pa.float64()),
        pa.field("censorship_rewrite", pa.float64()),
        pa.field("critique", pa.float64()),
        pa.field("response_trace", pa.float64()),
        pa.field("capability", pa.string()),
        pa.field("evidence", pa.list_(pa.string())),
    ]
)

CAPABILITIES = (
    "reasoning",
    "math",
    "coding",
    "agentic",
    "tool_use",
    "computer_use",
    "data_analysis",
    "vision",
    "sensitive",
    "general",
)

VERDICTS = ("ok", "watch", "extraction")

# Account level: one row per account over the scanned window.
ACCOUNT_SCORES = pa.schema(
    [
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("risk", pa.float64(), nullable=False),
        pa.field("verdict", pa.string(), nullable=False),
        pa.field("cluster_id", pa.string()),
        pa.field("campaign_id", pa.string()),
        pa.field("events", pa.int64()),
        pa.field("reasons", pa.list_(pa.string())),
        # The parts of the risk on the log-odds scale: the subject's own evidence, what its
        # cluster and its cohort added (a reviewer sees where a verdict came from, and a
        # re-weighting of the evidence can be checked against labels without re-scanning).
        pa.field("own_logit", pa.float64()),
        pa.field("cluster_logit", pa.float64()),
        pa.field("cohort_logit", pa.float64()),
    ]
)

# Every scored subject: accounts and the end users of accounts that serve many. The same
# columns as ACCOUNT_SCORES, with the subject named and ``account_id`` the account it is in.
SUBJECT_SCORES = pa.schema(
    [
        pa.field("subject_kind", pa.string(), nullable=False),  # account | end_user
        pa.field("subject_id", pa.string(), nullable=False),  # account id, or "<account>/<end user>"
        *ACCOUNT_SCORES,
    ]
)

# The verdict thresholds the last scan calibrated (one row), read by the outputs and report.
SCAN_THRESHOLDS = pa.schema(
    [
        pa.field("watch", pa.float64(), nullable=False),
        pa.field("extraction", pa.float64(), nullable=False),
        pa.field("expected_benign_flag_rate", pa.float64()),
        pa.field("expected_benign_watch_rate", pa.float64()),
        pa.field("scanned_at", _TS),
    ]
)

CLUSTERS = pa.schema(
    [
        pa.field("cluster_id", pa.string(), nullable=False),
        pa.field("accounts", pa.int64()),
        pa.field("events", pa.int64()),
        pa.field("risk", pa.float64()),
        pa.field("verdict", pa.string()),
        pa.field("campaign_id", pa.string()),
        pa.field("top_indicators", pa.list_(pa.string())),
    ]
)

CAMPAIGNS = pa.schema(
    [
        pa.field("campaign_id", pa.string(), nullable=False),
        pa.field("first_seen", _TS),
        pa.field("last_seen", _TS),
        pa.field("accounts", pa.int64()),
        pa.field("events", pa.int64()),
        pa.field("risk", pa.float64()),
        pa.field("capability_focus", pa.list_(pa.string())),
        pa.field("evidence", pa.list_(pa.string())),
    ]
)

# Every finding, at any level, as one row with its reasons (the audit trail).
FINDINGS = pa.schema(
    [
        pa.field("finding_id", pa.string(), nullable=False),
        pa.field("level", pa.string(), nullable=False),  # prompt | account | cluster | campaign
        pa.field("subject_id", pa.string(), nullable=False),
        pa.field("detector_id", pa.string(), nullable=False),
        pa.field("score", pa.float64()),
        pa.field("value", pa.float64()),  # the number behind the finding
        pa.field("reason", pa.string(), nullable=False),
        pa.field("created_at", _TS),
    ]
)

# ------------------------------------------------------------------------ decisions
DECISION_ACTIONS = ("allow", "challenge", "throttle", "degrade", "block")
DECISION_SUBJECT_KINDS = ("account", "api_key", "ip_prefix", "cluster", "global")

DECISIONS = pa.schema(
    [
        pa.field("subject_kind", pa.string(), nullable=False),
        pa.field("subject_id", pa.string(), nullable=False),
        pa.field("action", pa.string(), nullable=False),
        pa.field("risk", pa.float64()),
        pa.field("reasons", pa.list_(pa.string())),
        pa.field("source", pa.string()),  # rule or detector id that produced it
        pa.field("expires_at", _TS),
    ]
)

# Partner intelligence matched against our own accounts (written by intel/, read by
# scoring as evidence: "seen at partner X as part of campaign Y").
PARTNER_MATCHES = pa.schema(
    [
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("indicator_id", pa.string(), nullable=False),
        pa.field("partner", pa.string()),
        pa.field("partner_campaign", pa.string()),
        pa.field("indicator_kind", pa.string()),  # ip_prefix | asn | payment | sdk | template | ...
        pa.field("confidence", pa.float64()),
        pa.field("reason", pa.string()),
        pa.field("valid_until", _TS),
    ]
)

# Campaign ids persist across scans: which accounts a campaign id was given to
# (written by scan.scan, read back so a re-scan reuses the same ids).
CAMPAIGN_REGISTRY = pa.schema(
    [
        pa.field("campaign_id", pa.string(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("first_registered", _TS),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "events": EVENTS,
    "accounts": ACCOUNTS,
    "quarantine": QUARANTINE,
    "ingest_runs": INGEST_RUNS,
    "follow_offsets": FOLLOW_OFFSETS,
    "prompt_signals": PROMPT_SIGNALS,
    "prompt_matches": PROMPT_MATCHES,
    "account_scores": ACCOUNT_SCORES,
    "clusters": CLUSTERS,
    "campaigns": CAMPAIGNS,
    "findings": FINDINGS,
    "decisions": DECISIONS,
    "partner_matches": PARTNER_MATCHES,
    "campaign_registry": CAMPAIGN_REGISTRY,
}


def column_names(schema: pa.Schema) -> list[str]:
    """The schema's column names in order (for SQL select lists)."""
    return [field.name for field in schema]


# ---------------------------------------------------------------------------- intel
# Indicators imported from partners (STIX), one row per indicator id; the newest
# ``modified`` wins, revoked/expired rows are kept (audit) but never matched.
PARTNER_INDICATORS = pa.schema(
    [
        pa.field("indicator_id", pa.string(), nullable=False),
        pa.field("partner", pa.string()),
        pa.field("partner_campaign", pa.string()),
        pa.field("indicator_kind", pa.string()),  # ip_prefix | asn | payment | sdk | template | ...
        pa.field("value_form", pa.string()),  # raw | community-hmac | minhash-community
        pa.field("value", pa.string()),
        pa.field("pattern", pa.string()),
        pa.field("confidence", pa.float64()),
        pa.field("valid_from", _TS),
        pa.field("valid_until", _TS),
        pa.field("modified", _TS),
        pa.field("revoked", pa.bool_()),
        pa.field("source", pa.string()),  # bundle file or TAXII collection URL
        pa.field("imported_at", _TS),
    ]
)

# STIX objects an import refused, with the reason (nothing is dropped silently).
INTEL_QUARANTINE = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("object_id", pa.string()),
        pa.field("object_type", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw_excerpt", pa.string()),
        pa.field("quarantined_at", _TS, nullable=False),
    ]
)

# The TAXII server's object store: one row per (collection, object id, version).
TAXII_OBJECTS = pa.schema(
    [
        pa.field("collection_id", pa.string(), nullable=False),
        pa.field("object_id", pa.string(), nullable=False),
        pa.field("object_type", pa.string()),
        pa.field("version", pa.string(), nullable=False),  # modified, else created, else date_added
        pa.field("spec_version", pa.string()),
        pa.field("date_added", _TS, nullable=False),
        pa.field("added_by", pa.string()),
        pa.field("body", pa.string(), nullable=False),  # the object's JSON
    ]
)

TAXII_STATUS = pa.schema(
    [
        pa.field("status_id", pa.string(), nullable=False),
        pa.field("collection_id", pa.string()),
        pa.field("partner", pa.string()),
        pa.field("request_timestamp", _TS),
        pa.field("body", pa.string(), nullable=False),  # the status resource's JSON
    ]
)

# Which STIX ids we have published, so a later export can revoke what disappeared.
INTEL_EXPORTED = pa.schema(
    [
        pa.field("object_id", pa.string(), nullable=False),
        pa.field("object_type", pa.string()),
        pa.field("first_exported", _TS),
        pa.field("last_exported", _TS),
        pa.field("revoked", pa.bool_()),
        pa.field("body", pa.string()),
    ]
)

# Every STIX object an import accepted (any type), so later pages can reference it.
PARTNER_OBJECTS = pa.schema(
    [
        pa.field("object_id", pa.string(), nullable=False),
        pa.field("object_type", pa.string()),
        pa.field("modified", pa.string()),  # STIX timestamp text, or created for immutable objects
        pa.field("partner", pa.string()),
        pa.field("source", pa.string()),
        pa.field("body", pa.string(), nullable=False),
    ]
)

# Where each incremental `intel pull` stopped (TAXII X-TAXII-Date-Added-Last).
INTEL_PULL_STATE = pa.schema(
    [
        pa.field("collection_url", pa.string(), nullable=False),
        pa.field("added_last", pa.string()),
        pa.field("pulled_at", _TS),
    ]
)

INTEL_TABLES: dict[str, pa.Schema] = {
    "intel_pull_state": INTEL_PULL_STATE,
    "partner_objects": PARTNER_OBJECTS,
    "partner_indicators": PARTNER_INDICATORS,
    "intel_quarantine": INTEL_QUARANTINE,
    "taxii_objects": TAXII_OBJECTS,
    "taxii_status": TAXII_STATUS,
    "intel_exported": INTEL_EXPORTED,
}
TABLES.update(INTEL_TABLES)
