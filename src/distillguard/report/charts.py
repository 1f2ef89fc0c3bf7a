"""Inline SVG charts for the report: no JavaScript, no external assets.

Each function returns ``Markup`` (safe to drop into an autoescaped template);
every piece of text that came from data is escaped here, because model names
and capability labels come from logs an attacker writes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

# Colour-blind-safe palette (Okabe-Ito), then greys for the long tail.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999")
VERDICT_COLOURS = {"ok": "#8fbf8f", "watch": "#E69F00", "extraction": "#C0392B"}
OTHER = "other"


def _fmt(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}"


def series_colours(names: Sequence[str]) -> dict[str, str]:
    colours = {}
    for i, name in enumerate(names):
        colours[name] = "#bbbbbb" if name == OTHER else PALETTE[i % len(PALETTE)]
    return colours


def top_series(timeline: Sequence[dict[str, Any]], *, key: str = "by_model", keep: int = 5) -> list[str]:
    """The ``keep`` largest series of a timeline; the rest are drawn as 'other'."""
    totals: dict[str, int] = {}
    for point in timeline:
        for name, n in point.get(key, {}).items():
            totals[name] = totals.get(name, 0) + int(n)
    ranked = sorted(totals, key=lambda name: (-totals[name], name))
    return ranked if len(ranked) <= keep else [*ranked[: keep - 1], OTHER]


def _legend(colours: dict[str, str], x: float, y: float) -> list[str]:
    parts = []
    for name, colour in colours.items():
        parts.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14:.1f}" y="{y:.1f}" class="lg">{escape(name)}</text>')
        x += 24 + 7 * min(len(name), 28)
    return parts


def timeline_svg(
    timeline: Sequence[dict[str, Any]],
    *,
    key: str = "by_model",
    series: Sequence[str] | None = None,
    colours: dict[str, str] | None = None,
    marker: tuple[str, str] | None = None,
    title: str = "",
    width: int = 780,
    height: int = 210,
) -> Markup:
    """Stacked bars of events per time bucket, split by ``key`` (model or verdict).

    ``marker`` is ``(iso_time, label)``: a dashed line at that bucket, used for
    the moment a campaign switched to a newly released model.
    """
    if not timeline:
        return Markup('<p class="muted">No traffic in this window.</p>')
    names = list(series) if series is not None else top_series(timeline, key=key)
    colours = colours or series_colours(names)
    left, right, top, bottom = 48, 10, 26, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(int(p["events"]) for p in timeline) or 1
    step = plot_w / len(timeline)
    bar_w = max(step * 0.85, 0.6)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title or 'events over time')}</title>",
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" class="axis"/>',
        f'<text x="{left - 6}" y="{top + 4}" class="tick" text-anchor="end">{_fmt(peak)}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" class="tick" text-anchor="end">0</text>',
    ]
    for i, point in enumerate(timeline):
        x = left + i * step
        y: float = top + plot_h
        split = point.get(key, {})
        grouped: dict[str, int] = {}
        for name, n in split.items():
            target = name if name in colours else OTHER
            grouped[target] = grouped.get(target, 0) + int(n)
        for name in names:
            n = grouped.get(name, 0)
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            parts.append(
                f'<rect x="{x:.2f}" y="{y:.2f}" width="{bar_w:.2f}" height="{h:.2f}" '
                f'fill="{colours.get(name, "#bbbbbb")}"><title>{escape(point["t"])} · {escape(name)}: '
                f"{n}</title></rect>"
            )
    ticks = min(6, len(timeline))
    for j in range(ticks):
        i = round(j * (len(timeline) - 1) / max(ticks - 1, 1))
        label = str(timeline[i]["t"])[:16].replace("T", " ")
        x = left + i * step + bar_w / 2
        anchor = "start" if j == 0 else ("end" if j == ticks - 1 else "middle")
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 14}" class="tick" text-anchor="{anchor}">'
            f"{escape(label)}</text>"
        )
    if marker is not None:
        at, label = marker
        index = _bucket_index(timeline, at)
        if index is not None:
            x = left + index * step
            parts.append(
                f'<line x1="{x:.1f}" y1="{top - 18}" x2="{x:.1f}" y2="{top + plot_h}" class="marker"/>'
            )
            anchor = "end" if index > len(timeline) * 0.6 else "start"
            dx = -4 if anchor == "end" else 4
            parts.append(
                f'<text x="{x + dx:.1f}" y="{top - 8}" class="marker-label" text-anchor="{anchor}">'
                f"{escape(label)}</text>"
            )
    drawn = {name for point in timeline for name, n in point.get(key, {}).items() if n}
    present = {name if name in colours else OTHER for name in drawn}
    parts.extend(_legend({n: colours[n] for n in names if n in present and n in colours}, left, height - 4))
    parts.append("</svg>")
    return Markup("".join(parts))


def _bucket_index(timeline: Sequence[dict[str, Any]], at: str) -> int | None:
    """Index of the bucket holding ISO time ``at`` (buckets are sorted ISO strings)."""
    index = None
    for i, point in enumerate(timeline):
        if str(point["t"]) <= at:
            index = i
    return index


def bars_svg(
    items: Sequence[tuple[str, float]],
    *,
    title: str = "",
    colour: str = "#0072B2",
    width: int = 380,
    percent_of: float | None = None,
) -> Markup:
    """Horizontal bars, one per (label, value), largest first as given."""
    if not items:
        return Markup('<p class="muted">No data.</p>')
    row_h, label_w = 20, 120
    height = row_h * len(items) + 8
    peak = max(v for _, v in items) or 1
    plot_w = width - label_w - 70
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title or "bars")}</title>'
    ]
    for i, (label, value) in enumerate(items):
        y = 4 + i * row_h
        w = plot_w * value / peak
        shown = f"{100 * value / percent_of:.1f}%" if percent_of else _fmt(value)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 13}" class="tick" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 2}" width="{max(w, 1):.1f}" height="{row_h - 6}" fill="{colour}">'
            f"<title>{escape(label)}: {value:g}</title></rect>"
            f'<text x="{label_w + w + 4:.1f}" y="{y + 13}" class="tick">{escape(shown)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def histogram_svg(
    bins: Sequence[dict[str, int]],
    *,
    watch: float,
    extraction: float,
    width: int = 780,
    height: int = 200,
) -> Markup:
    """Accounts per risk bin, stacked by verdict, on a log scale (benign accounts dominate).

    ``bins[i]`` covers risk [i/len, (i+1)/len) and maps verdict -> accounts.
    """
    if not bins or not any(sum(b.values()) for b in bins):
        return Markup('<p class="muted">No scored accounts.</p>')
    left, right, top, bottom = 48, 10, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(sum(b.values()) for b in bins)
    scale = math.log10(peak + 1) or 1.0
    step = plot_w / len(bins)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg"><title>accounts by risk (log scale)</title>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" class="axis"/>',
        f'<text x="{left - 6}" y="{top + 8}" class="tick" text-anchor="end">{_fmt(peak)}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" class="tick" text-anchor="end">0</text>',
    ]
    for i, counts in enumerate(bins):
        total = sum(counts.values())
        if not total:
            continue
        full = plot_h * math.log10(total + 1) / scale
        y: float = top + plot_h
        x = left + i * step + 1
        for verdict in ("ok", "watch", "extraction"):
            n = counts.get(verdict, 0)
            if not n:
                continue
            h = full * n / total
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{step - 2:.1f}" height="{h:.1f}" '
                f'fill="{VERDICT_COLOURS[verdict]}"><title>risk {i / len(bins):.2f}–{(i + 1) / len(bins):.2f}'
                f" · {verdict}: {n} accounts</title></rect>"
            )
    for value, name in ((watch, "watch"), (extraction, "extraction")):
        x = left + plot_w * value
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" class="marker"/>'
            f'<text x="{x + 3:.1f}" y="{top + 10}" class="marker-label">{name} ≥ {value:g}</text>'
        )
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = left + plot_w * tick
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 14}" class="tick" text-anchor="middle">{tick:g}</text>'
        )
    parts.extend(_legend(VERDICT_COLOURS, left, height - 4))
    parts.append("</svg>")
    return Markup("".join(parts))
