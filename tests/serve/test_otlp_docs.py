"""docs/collect.md describes every setting and metric the receiver has (a new one must be documented)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from tests.serve.otlp_support import receiver_config, running_receiver

from distillguard.config import SETTINGS

DOCS = (Path(__file__).resolve().parents[2] / "docs" / "collect.md").read_text()


def test_every_collect_setting_is_described() -> None:
    names = {s.name for s in SETTINGS}
    missing = {name for name in names if name.startswith("collect_") and f"`{name}`" not in DOCS}
    missing |= {name for name in re.findall(r"`(collect_\w+)`", DOCS) if name not in names}
    assert not missing, f"docs/collect.md and the settings disagree on {missing}"


def test_every_metric_is_described(tmp_path: Path) -> None:
    with running_receiver(receiver_config(tmp_path)) as receiver:
        text = httpx.get(receiver.url + "/metrics", timeout=10).text
    exported = {
        re.sub(r"_total$", "", name)
        for name in re.findall(r"^# TYPE (distillguard_\w+) ", text, re.M)
        if not name.endswith("_created")
    }
    assert exported and all(f"`{name}" in DOCS for name in exported), exported
