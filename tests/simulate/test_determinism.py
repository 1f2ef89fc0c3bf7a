"""Same seed, same bytes; another seed, other traffic."""

from __future__ import annotations

import gzip
from pathlib import Path

from distillguard.simulate import preset

from .support import run


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_writes_byte_identical_files(tmp_path: Path) -> None:
    run(preset("tiny", 0.25), tmp_path / "a")
    run(preset("tiny", 0.25), tmp_path / "b")
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert a.keys() == b.keys() and len(a) >= 8
    assert [name for name in a if a[name] != b[name]] == []


def test_another_seed_gives_other_traffic(tmp_path: Path) -> None:
    first, second = preset("tiny", 0.25), preset("tiny", 0.25)
    second.seed = first.seed + 1
    run(first, tmp_path / "a")
    run(second, tmp_path / "b")
    read = lambda root: gzip.decompress((root / "traffic" / "litellm-000.jsonl.gz").read_bytes())  # noqa: E731
    assert read(tmp_path / "a") != read(tmp_path / "b")


def test_gzip_headers_carry_no_timestamp(tiny: Path) -> None:
    for path in (tiny / "traffic").glob("*.gz"):
        header = path.read_bytes()[:10]
        assert header[4:8] == b"\0\0\0\0", f"{path.name}: gzip mtime is set"
