"""Fixtures for report and output tests: a warehouse with hand-written scan results."""

from __future__ import annotations

import pytest
from planted_scan import Planted, plant_scan

from distillguard.warehouse import Warehouse


@pytest.fixture
def planted(warehouse: Warehouse) -> Planted:
    return plant_scan(warehouse)
