"""The analyst's HTML report: summary, campaigns, cluster graph, per-account evidence."""

from distillguard.report.data import ReportData, collect
from distillguard.report.render import render_html, write_report

__all__ = ["ReportData", "collect", "render_html", "write_report"]
