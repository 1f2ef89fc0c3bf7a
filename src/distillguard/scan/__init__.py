"""The scan core: the detector registry, the thin pipeline, scoring, calibration, findings.

``scan(warehouse, config)`` runs every registered detector over the warehouse and
replaces the output tables (docs/architecture.md).
"""

from distillguard.scan.pipeline import KEPT_TABLES, ScanResult, scan, sql_steps, until_literal

__all__ = ["KEPT_TABLES", "ScanResult", "scan", "sql_steps", "until_literal"]
