"""The decision service's Prometheus metrics, in a registry of their own (docs/serve.md lists them)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from distillguard.serve.decider import DecideResult

LATENCY_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.00075,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.5,
    1.0,
)


class Metrics:
    """Prometheus metrics in a registry of their own (tests create many apps)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.decisions = Counter(
            "distillguard_decisions",
            "Decisions by decided and enforced action.",
            ["action", "enforced_action"],
            registry=r,
        )
        self.latency = Histogram(
            "distillguard_decision_latency_seconds",
            "Time in the handler per decision.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter("distillguard_decision_errors", "Decisions answered by on_error.", registry=r)
        self.shed = Counter(
            "distillguard_shed_requests",
            "Requests shed past serve_max_inflight or serve_shed_lag_ms.",
            ["cause"],
            registry=r,
        )
        self.loop_lag = Gauge(
            "distillguard_event_loop_lag_seconds", "How far behind the event loop runs.", registry=r
        )
        self.bad_requests = Counter("distillguard_bad_requests", "Refused requests.", ["status"], registry=r)
        self.reloads = Counter("distillguard_verdict_reloads", "Warehouse reloads.", ["outcome"], registry=r)
        self.inflight = Gauge("distillguard_inflight_decisions", "Decisions in progress.", registry=r)
        self.state_degraded = Gauge(
            "distillguard_state_degraded",
            "1 when the state store runs degraded (e.g. Redis down).",
            registry=r,
        )
        self.subjects = Gauge("distillguard_subjects_loaded", "Subjects in the state store.", registry=r)
        self.policy_failing = Gauge(
            "distillguard_policy_reload_failing",
            "1 when the last policy file edit failed to load.",
            registry=r,
        )
        self.audit_failures = Gauge(
            "distillguard_audit_write_failures",
            "Audit records the disk refused at first (they wait in the spool and are retried).",
            registry=r,
        )
        self.audit_spooled = Gauge(
            "distillguard_audit_spooled_records",
            "Audit records waiting in the spool to be written.",
            registry=r,
        )
        self.audit_dropped = Gauge(
            "distillguard_audit_dropped_records",
            "Audit records lost because the spool was full (serve_audit_spool_records).",
            registry=r,
        )

    def count(self, result: DecideResult, endpoint: str, started: float) -> None:
        self.decisions.labels(result.decided_action, result.action).inc()
        self.latency.labels(endpoint).observe(time.perf_counter() - started)
        if result.error:
            self.errors.inc()
