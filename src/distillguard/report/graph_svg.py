"""The account graph as an inline SVG: a seeded force-directed layout in numpy.

Nodes are accounts coloured by verdict; edges are indicators two accounts share
(payment fingerprint, IP prefix, SDK fingerprint, prompt template), coloured by
kind. The layout is Fruchterman-Reingold, written out here (a few dozen lines)
rather than pulling in a graph library for one picture; nodes start near their
cluster's anchor on a circle so hydras separate visibly.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from markupsafe import Markup, escape

from distillguard.report.charts import VERDICT_COLOURS

# Strongest evidence first: an edge of several kinds is drawn in the first one's colour.
EDGE_KINDS = ("payment", "ip_prefix", "template", "sdk")
EDGE_COLOURS = {"payment": "#7B3294", "ip_prefix": "#0072B2", "template": "#E69F00", "sdk": "#009E73"}
# How hard a link pulls its two accounts together in the layout: a shared SDK is
# weak evidence and must not glue separate hydras into one blob.
EDGE_PULL = {"payment": 1.0, "ip_prefix": 0.8, "template": 0.5, "sdk": 0.15}
EDGE_LABELS = {
    "payment": "shared payment fingerprint",
    "ip_prefix": "shared IP prefix",
    "template": "shared prompt template",
    "sdk": "shared SDK fingerprint",
}


@dataclass
class GraphNode:
    account_id: str
    verdict: str
    risk: float
    cluster_id: str | None
    events: int


@dataclass
class GraphEdge:
    a: str
    b: str
    kinds: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return min(self.kinds, key=EDGE_KINDS.index)


@dataclass
class AccountGraph:
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    clusters_shown: int = 0
    clusters_total: int = 0


def ring_edges(members: Sequence[str], *, salt: str = "") -> list[tuple[str, str]]:
    """Edges linking accounts that share one indicator value.

    A full clique of m accounts has m²/2 edges, far too many to draw. Two rings
    through the members in two pseudo-random (hashed, so reproducible) orders
    keep the group connected with at most 2m edges, and, unlike one sorted
    ring, lay out as a compact blob rather than a circle.
    """
    unique = sorted(set(members))
    m = len(unique)
    if m < 2:
        return []
    pairs: set[tuple[str, str]] = set()
    for round_ in ("a", "b") if m > 3 else ("a",):
        ordered = sorted(
            unique,
            key=lambda account: hashlib.blake2b(
                f"{salt}|{round_}|{account}".encode(), digest_size=8
            ).digest(),
        )
        for i in range(m if m > 2 else 1):
            a, b = ordered[i], ordered[(i + 1) % m]
            pairs.add((a, b) if a < b else (b, a))
    return sorted(pairs)


def layout(graph: AccountGraph, *, iterations: int = 200, seed: int = 7) -> np.ndarray:
    """Positions in [0, 1]² for ``graph.nodes`` (same order)."""
    n = len(graph.nodes)
    if n == 0:
        return np.zeros((0, 2))
    rng = np.random.default_rng(seed)
    clusters = sorted({node.cluster_id or "" for node in graph.nodes})
    anchor = {
        c: (
            0.5 + 0.35 * math.cos(2 * math.pi * i / len(clusters)),
            0.5 + 0.35 * math.sin(2 * math.pi * i / len(clusters)),
        )
        for i, c in enumerate(clusters)
    }
    if len(clusters) == 1:
        anchor = {clusters[0]: (0.5, 0.5)}
    pos = np.array([anchor[node.cluster_id or ""] for node in graph.nodes]) + rng.normal(0, 0.06, (n, 2))
    index = {node.account_id: i for i, node in enumerate(graph.nodes)}
    drawn = [e for e in graph.edges if e.a in index and e.b in index]
    edges = np.array([(index[e.a], index[e.b]) for e in drawn], dtype=int).reshape(-1, 2)
    weight = np.array([max(EDGE_PULL.get(k, 0.5) for k in e.kinds) for e in drawn])
    k = 0.6 / math.sqrt(n)
    temperature = 0.1
    for _ in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]
        distance = np.maximum(np.linalg.norm(delta, axis=-1), 1e-3)
        force = (k * k / distance**2)[:, :, None] * delta  # repulsion between all pairs
        displacement = force.sum(axis=1)
        if len(edges):
            d = pos[edges[:, 0]] - pos[edges[:, 1]]
            length = np.maximum(np.linalg.norm(d, axis=1), 1e-3)
            pull = (weight * length / k)[:, None] * d  # attraction along edges
            np.add.at(displacement, edges[:, 0], -pull)
            np.add.at(displacement, edges[:, 1], pull)
        # gentle gravity so unconnected accounts do not drift off the canvas
        displacement += (0.5 - pos) * 0.05 / k
        length = np.maximum(np.linalg.norm(displacement, axis=1), 1e-9)
        pos += displacement / length[:, None] * np.minimum(length, temperature)[:, None]
        temperature *= 0.98
    # One scale for both axes, so blobs keep their shape; then centre the drawing.
    low, high = pos.min(axis=0), pos.max(axis=0)
    span = float(max((high - low).max(), 1e-9))
    result: np.ndarray = (pos - low) / span + (1.0 - (high - low) / span) / 2
    return result


def graph_svg(graph: AccountGraph, *, width: int = 900, height: int = 560) -> Markup:
    if not graph.nodes:
        return Markup('<p class="muted">No flagged clusters to draw.</p>')
    pad = 24
    pos = layout(graph)
    xy = {
        node.account_id: (pad + p[0] * (width - 2 * pad), pad + p[1] * (height - 2 * pad - 30))
        for node, p in zip(graph.nodes, pos, strict=True)
    }
    parts = [
        f'<svg id="cluster-graph" class="graph" role="img" viewBox="0 0 {width} {height}" width="100%" '
        'xmlns="http://www.w3.org/2000/svg"><title>accounts linked by shared indicators</title>'
        '<g class="edges">'
    ]
    for edge in graph.edges:
        if edge.a not in xy or edge.b not in xy:
            continue
        (x1, y1), (x2, y2) = xy[edge.a], xy[edge.b]
        kinds = ", ".join(EDGE_LABELS.get(k, k) for k in edge.kinds)
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" class="edge" '
            f'data-kind="{escape(edge.kind)}" stroke="{EDGE_COLOURS.get(edge.kind, "#999")}">'
            f"<title>{escape(edge.a)} — {escape(edge.b)}: {escape(kinds)}</title></line>"
        )
    parts.append('</g><g class="nodes">')
    for node in graph.nodes:
        x, y = xy[node.account_id]
        radius = 3 + min(6.0, math.log10(node.events + 1) * 1.6)
        colour = VERDICT_COLOURS.get(node.verdict, "#999")
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}" fill="{colour}" class="node" '
            f'data-verdict="{escape(node.verdict)}"><title>{escape(node.account_id)} · '
            f"{escape(node.verdict)} · risk {node.risk:.2f} · cluster {escape(node.cluster_id or '-')} · "
            f"{node.events} events"
            "</title></circle>"
        )
    parts.append("</g>")
    x = float(pad)
    y = height - 10
    for verdict, colour in VERDICT_COLOURS.items():
        parts.append(
            f'<circle cx="{x + 5:.1f}" cy="{y - 4}" r="5" fill="{colour}"/>'
            f'<text x="{x + 14:.1f}" y="{y}" class="lg">{verdict}</text>'
        )
        x += 30 + 7 * len(verdict)
    for kind in EDGE_KINDS:
        parts.append(
            f'<line x1="{x:.1f}" y1="{y - 4}" x2="{x + 18:.1f}" y2="{y - 4}" stroke="{EDGE_COLOURS[kind]}" '
            f'stroke-width="2.5"/><text x="{x + 22:.1f}" y="{y}" class="lg">{EDGE_LABELS[kind]}</text>'
        )
        x += 34 + 6.2 * len(EDGE_LABELS[kind])
    parts.append("</svg>")
    return Markup("".join(parts))
