"""placeholder"""

from pathlib import Path
from typing import Any


def usable(path: Path) -> bool:
    return False


def ingest_canonical_jsonl(warehouse: Any, path: Path, *, config: Any, report: Any) -> bool:
    return False
