"""No copyleft licence may enter the runtime dependency tree (users embed us)."""

from __future__ import annotations

import importlib.metadata as metadata
import re

_NAME = re.compile(r"^[A-Za-z0-9_.-]+")


def _licence(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    parts = [meta.get("License-Expression") or "", (meta.get("License") or "")[:200]]
    parts += [c for c in meta.get_all("Classifier") or [] if c.startswith("License")]
    return " ".join(parts)


def _runtime_tree(root: str) -> dict[str, str]:
    found: dict[str, str] = {}
    stack = [root]
    while stack:
        name = stack.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        key = dist.metadata["Name"].lower()
        if key in found:
            continue
        found[key] = _licence(dist)
        for requirement in dist.requires or []:
            if "extra ==" in requirement:
                continue
            match = _NAME.match(requirement)
            if match:
                stack.append(match.group(0))
    return found


def test_runtime_dependencies_are_permissively_licensed() -> None:
    tree = _runtime_tree("distillguard")
    assert "duckdb" in tree and "pyarrow" in tree
    copyleft = {name: text for name, text in tree.items() if re.search(r"\b(A|L)?GPL", text)}
    assert not copyleft, f"copyleft licences in the runtime tree: {copyleft}"
