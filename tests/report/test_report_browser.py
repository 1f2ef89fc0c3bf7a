"""report.html opened in a real headless Chromium (Debian package): content renders, no script errors."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from planted_scan import Planted

from distillguard.config import Config
from distillguard.report import write_report
from distillguard.warehouse import Warehouse
from support.servers import require_program

pytestmark = pytest.mark.integration


def _chromium(chromium: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--enable-logging=stderr",
            "--v=0",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def report(warehouse: Warehouse, config: Config, planted: Planted, tmp_path: Path) -> Path:
    return write_report(warehouse, config, tmp_path / "out")


def test_report_renders_real_content_in_chromium(report: Path, planted: Planted, tmp_path: Path) -> None:
    chromium = require_program("chromium", "chromium")
    done = _chromium(chromium, tmp_path, "--dump-dom", report.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    # The script ran to its end (it marks the document), so the filters are wired.
    assert 'data-report-ready="1"' in dom
    assert re.search(r"Uncaught|Refused to|SyntaxError|ReferenceError", done.stderr) is None, done.stderr[
        -2000:
    ]
    assert f'<h3 class="campaign-name">{planted.campaign_id}</h3>' in dom
    for account in planted.attackers:
        assert f'id="account-{account}"' in dom
    assert dom.count("<svg") >= 4  # traffic, risk histogram, campaign timeline + capabilities, graph
    assert dom.count('class="node"') >= len(planted.attackers)
    # the hostile prompt arrived as text, not as elements
    assert "&lt;script&gt;alert('pwned')&lt;/script&gt;&lt;img src=x" in dom
    assert dom.count("<script") == 1 and "<img" not in dom


def test_report_screenshot_is_not_blank(report: Path, tmp_path: Path) -> None:
    chromium = require_program("chromium", "chromium")
    shot = tmp_path / "report.png"
    done = _chromium(
        chromium,
        tmp_path,
        "--hide-scrollbars",
        "--window-size=1280,1600",
        f"--screenshot={shot}",
        report.as_uri(),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # A rendered report with charts compresses far worse than a blank page (a few KB).
    assert len(data) > 50_000
