"""Bar charts as inline SVG, rendered on the server: no script, no chart library, nothing
loaded from elsewhere (the pages' CSP allows none of that).

A chart is a picture of a table the page shows beside it, never the only way to the figures:

- the ``<svg>`` is ``role="img"``, named by its own ``<title>`` (``aria-labelledby``) and
  described by the data table (``aria-describedby`` = the table's id), so a screen reader
  announces one image with a name and reads the figures from the table;
- each series of a grouped chart has its own colour **and** its own pattern (stripes, dots,
  cross-hatching ...), repeated in the legend, so no series is told apart by colour alone
  (WCAG 1.4.1); the colours are dark enough against white for a graphical object (1.4.11);
- the value axis has round ticks (1, 2 or 5 times a power of ten; counts, so never below 1),
  and no picture is drawn for a period without events: :func:`bar_chart` returns a sentence
  saying so instead.

Every text that goes into the markup (titles, labels, series names) is escaped here; the
result is :class:`markupsafe.Markup`, safe to put into a template as it is. There are no
``style`` attributes (the CSP refuses inline style): colours and fonts are presentation
attributes (``fill``, ``font-size``), which the CSP does not govern. The size on the page comes
from the ``viewBox`` and ``hub-chart`` in ``/static/ui/hub.css``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from markupsafe import Markup, escape

WIDTH: Final = 720
HEIGHT: Final = 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 12, 16, 56
_FONT: Final = 'font-family="sans-serif" font-size="12"'
_ID: Final = re.compile(r"[a-z][a-z0-9-]*")
_MAX_BAR: Final = 64.0
"""The widest bar: one category alone is a bar, not a wall."""
_MAX_LABELS: Final = 16
"""At most this many category labels under the axis; with more categories (92 days) every
n-th is labelled, and the table has them all."""

PALETTE: Final = (
    "#154273",  # lintblauw
    "#ca005d",  # robijnrood
    "#275937",  # donkergroen
    "#a04600",  # donker oranje
    "#42145f",  # paars
    "#007bc7",  # hemelblauw
    "#673327",  # donkerbruin
    "#5f6b00",  # mosgroen
)
"""Series colours, each at least 3:1 against white (WCAG 1.4.11) and told apart by pattern."""

_PATTERNS: Final = (
    "",  # solid
    '<path d="M-2,2 l4,-4 M0,8 l8,-8 M6,10 l4,-4" stroke="#ffffff" stroke-width="2"/>',
    '<circle cx="4" cy="4" r="1.8" fill="#ffffff"/>',
    '<path d="M0,4 h8" stroke="#ffffff" stroke-width="2"/>',
    '<path d="M0,0 l8,8 M8,0 l-8,8" stroke="#ffffff" stroke-width="1.5"/>',
    '<path d="M4,0 v8" stroke="#ffffff" stroke-width="2"/>',
    '<path d="M0,4 h8 M4,0 v8" stroke="#ffffff" stroke-width="1.5"/>',
    '<path d="M-2,6 l4,4 M0,0 l8,8 M6,-2 l4,4" stroke="#ffffff" stroke-width="2"/>',
)
"""One pattern per series, drawn in white over the series' colour."""


@dataclass(frozen=True, slots=True)
class Series:
    """One named row of figures, a value per category."""

    name: str
    values: tuple[int, ...]


def nice_ticks(largest: int, *, most: int = 5) -> tuple[int, ...]:
    """The value axis' ticks from 0 up to at least ``largest``: at most ``most`` steps of 1, 2
    or 5 times a power of ten (counts have no fractions, so a step is at least 1)."""
    if largest <= 0:
        return (0, 1)
    rough = largest / most
    power = 10 ** max(0, math.floor(math.log10(rough))) if rough >= 1 else 1
    step = next(f * power for f in (1, 2, 5, 10) if f * power >= rough)
    top = math.ceil(largest / step) * step
    return tuple(range(0, top + 1, step))


def _fills(chart_id: str, count: int) -> tuple[str, list[str]]:
    """The ``<defs>`` with one pattern per series, and each series' ``fill`` value."""
    defs: list[str] = []
    fills: list[str] = []
    for index in range(count):
        colour = PALETTE[index % len(PALETTE)]
        pattern = _PATTERNS[index % len(_PATTERNS)]
        if not pattern:
            fills.append(colour)
            continue
        pattern_id = f"{chart_id}-p{index}"
        defs.append(
            f'<pattern id="{pattern_id}" patternUnits="userSpaceOnUse" width="8" height="8">'
            f'<rect width="8" height="8" fill="{colour}"/>{pattern}</pattern>'
        )
        fills.append(f"url(#{pattern_id})")
    return (f"<defs>{''.join(defs)}</defs>" if defs else ""), fills


def _legend(series: Sequence[Series], fills: Sequence[str], y: float) -> list[str]:
    """Swatches with each series' fill and its name, in rows under the axis labels."""
    parts: list[str] = []
    x: float = _LEFT
    for item, fill in zip(series, fills, strict=True):
        width = 22 + 7 * len(item.name)
        if x + width > WIDTH - _RIGHT and x > _LEFT:
            x, y = _LEFT, y + 18
        parts.append(
            f'<rect x="{x}" y="{y - 10}" width="14" height="12" fill="{fill}" '
            f'stroke="#000000" stroke-width="0.5"/>'
            f'<text x="{x + 18}" y="{y}" {_FONT} fill="#000000">{escape(item.name)}</text>'
        )
        x += width + 12
    return parts


def _legend_height(series: Sequence[Series]) -> int:
    """The extra height the legend's rows take."""
    rows, x = 1, float(_LEFT)
    for item in series:
        width = 22 + 7 * len(item.name)
        if x + width > WIDTH - _RIGHT and x > _LEFT:
            rows, x = rows + 1, float(_LEFT)
        x += width + 12
    return 18 * rows + 6


def _fmt(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def bar_chart(
    *,
    chart_id: str,
    title: str,
    table_id: str,
    categories: Sequence[str],
    series: Sequence[Series],
    empty: str,
    legend: bool | None = None,
) -> Markup:
    """A bar chart of ``series`` over ``categories`` (one bar per category; with several
    series the bars are stacked, bottom up in the order given), as an ``<svg>``.

    ``chart_id`` makes the ids inside unique on the page; ``table_id`` is the id of the data
    table the page shows beside it. When every value is 0 (or there is nothing to show) the
    answer is the sentence ``empty`` in a paragraph, not a chart. ``legend`` names the series
    under the chart; by default only when there are several (a single series is named by the
    title).
    """
    if not _ID.fullmatch(chart_id):
        raise ValueError("a chart id is lower-case letters, digits and hyphens")
    if any(len(s.values) != len(categories) for s in series):
        raise ValueError("every series needs one value per category")
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    if not categories or not series or not any(totals):
        return Markup('<p class="utrecht-paragraph hub-chart-empty">{}</p>').format(empty)
    if any(v < 0 for s in series for v in s.values):
        raise ValueError("counts are never negative")

    ticks = nice_ticks(max(totals))
    shows_legend = len(series) > 1 if legend is None else legend
    legend_height = _legend_height(series) if shows_legend else 0
    height = HEIGHT + legend_height
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    base = _TOP + plot_h
    band = plot_w / len(categories)
    bar = min(_MAX_BAR, max(1.0, band * 0.7))
    scale = plot_h / ticks[-1]
    defs, fills = _fills(chart_id, len(series))

    parts = [
        (
            f'<svg class="hub-chart" xmlns="http://www.w3.org/2000/svg" role="img" '
            f'viewBox="0 0 {WIDTH} {height}" preserveAspectRatio="xMinYMin meet" '
            f'aria-labelledby="{chart_id}-title" aria-describedby="{escape(table_id)}">'
        ),
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        defs,
    ]
    for tick in ticks:
        y = _fmt(base - tick * scale)
        parts.append(
            f'<line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y}" y2="{y}" '
            f'stroke="#767676" stroke-width="{1 if tick == 0 else 0.5}"/>'
            f'<text x="{_LEFT - 6}" y="{y}" dy="4" text-anchor="end" {_FONT} '
            f'fill="#000000">{tick}</text>'
        )
    every = math.ceil(len(categories) / _MAX_LABELS)
    for index, category in enumerate(categories):
        x = _LEFT + index * band + (band - bar) / 2
        bottom = float(base)
        for item, fill in zip(series, fills, strict=True):
            value = item.values[index]
            if not value:
                continue
            height_of = value * scale
            bottom -= height_of
            parts.append(
                f'<rect x="{_fmt(x)}" y="{_fmt(bottom)}" width="{_fmt(bar)}" '
                f'height="{_fmt(height_of)}" fill="{fill}" stroke="#ffffff" stroke-width="0.5">'
                f"<title>{escape(category)}, {escape(item.name)}: {value}</title></rect>"
            )
        centre = _fmt(x + bar / 2)
        if totals[index] and band >= 18:
            parts.append(
                f'<text x="{centre}" y="{_fmt(bottom - 4)}" text-anchor="middle" {_FONT} '
                f'fill="#000000">{totals[index]}</text>'
            )
        if index % every == 0:
            parts.append(
                f'<text x="{centre}" y="{base + 16}" text-anchor="middle" {_FONT} '
                f'fill="#000000">{escape(category)}</text>'
            )
    if shows_legend:
        parts.extend(_legend(series, fills, base + 40))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above went through escape()
