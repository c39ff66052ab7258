"""Line charts as inline SVG text, for the history page. Pure: values in, markup out.

A chart is one value per day for each named series: a line through the days that have one (a
missing value leaves a gap, not a drop to zero), a legend when there is more than one series, and a
red ring on flagged points. The y axis starts at zero. The markup names no URL and no font file, so
a page that inlines it needs no network.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import TypeGuard

__all__ = ["line_chart", "nice_ticks"]

WIDTH, HEIGHT = 720, 290
_LEFT, _TOP, _BOTTOM = 62, 30, 46
_LEGEND_KEY = 40  # the legend's line and gap, before a name
_CHAR = 6.2  # about the width of a character of the legend's 10 px text
_MAX_LABELS = 12  # day labels on the x axis; more days label every k-th
_MARKERS_UP_TO = 60  # points per series drawn with a marker
# Matplotlib's "tab10"; the next ten series take the same colours dashed, the ten after them dotted.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
DASHES = ("", ' stroke-dasharray="6 3"', ' stroke-dasharray="2 2"')
FLAG = "#c62828"


def nice_ticks(top: float, *, integer: bool = False, count: int = 6) -> list[float]:
    """Tick values from 0 to at least ``top`` at a round step (1, 2, 2.5 or 5 times a power of ten;
    a whole number for ``integer``), about ``count`` of them."""
    top = top if top > 0 and math.isfinite(top) else 1.0
    raw = top / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if integer:
        step = max(1.0, float(math.ceil(step)))
    ticks: list[float] = []
    while not ticks or ticks[-1] < top:
        ticks.append(round(step * len(ticks), 12))  # a multiple, not a sum: no drift
    return ticks


def line_chart(
    title: str,
    days: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    ylabel: str,
    flagged: Mapping[str, set[str]] | None = None,
    *,
    integer: bool = False,
) -> str:
    """An ``<svg>`` of ``series`` (name -> one value or None per day of ``days``) titled ``title``,
    its y axis labelled ``ylabel``; points of the days in ``flagged[name]`` ringed in red."""
    flagged = flagged or {}
    values = [v for vs in series.values() for v in vs if _drawn(v)]
    top = max(values, default=0.0)
    ticks = nice_ticks(top * (1.12 if integer else 1.05) if top > 0 else 0, integer=integer)
    legend = len(series) > 1
    right = WIDTH - (_LEGEND_KEY + 12 + _CHAR * max(map(len, series)) if legend else 16)
    bottom = HEIGHT - _BOTTOM
    x_of = _positions(len(days), _LEFT, right)

    def y_of(value: float) -> float:
        return bottom - (bottom - _TOP) * value / ticks[-1]

    out = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" font-family="system-ui,sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<text x="{(_LEFT + right) / 2:.1f}" y="18" text-anchor="middle" font-size="13" font-weight="600">'
        f"{escape(title)}</text>",
    ]
    for tick in ticks:
        y = y_of(tick)
        out.append(f'<line x1="{_LEFT}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e6ea"/>')
        out.append(f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#4b5563">{_number(tick)}</text>')
    out.append(
        f'<text transform="translate(16 {(_TOP + bottom) / 2:.1f}) rotate(-90)" text-anchor="middle" '
        f'fill="#4b5563">{escape(ylabel)}</text>'
    )
    out.append(f'<path d="M{_LEFT} {_TOP}V{bottom}H{right}" fill="none" stroke="#78818c"/>')
    out.extend(_day_labels(days, x_of, bottom))
    row = min(14.0, (HEIGHT - _TOP - 12) / max(len(series), 1))  # the legend's lines fit the chart
    for index, (name, points) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        stroke = f'stroke="{colour}"{DASHES[index // len(PALETTE) % len(DASHES)]}'
        drawn = [(i, x_of[i], y_of(v)) for i, v in enumerate(points) if _drawn(v)]
        out.extend(_line(drawn, colour, stroke))
        ringed = flagged.get(name, set())
        out.extend(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="7" fill="none" stroke="{FLAG}" stroke-width="2"/>'
            for i, x, y in drawn
            if days[i] in ringed
        )
        if legend:
            y = _TOP + 6 + row * index
            out.append(
                f'<line x1="{right + 12}" x2="{right + 34}" y1="{y:.1f}" y2="{y:.1f}" {stroke} stroke-width="2"/>'
            )
            out.append(f'<text x="{right + _LEGEND_KEY}" y="{y + 4:.1f}" font-size="10">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def _drawn(value: float | None) -> TypeGuard[float]:
    return value is not None and math.isfinite(value)


def _positions(count: int, left: float, right: float) -> list[float]:
    """x of each day: evenly spread, a lone day in the middle."""
    if count <= 1:
        return [(left + right) / 2] * count
    pad = 14
    return [left + pad + (right - left - 2 * pad) * i / (count - 1) for i in range(count)]


def _day_labels(days: Sequence[str], x_of: Sequence[float], bottom: float) -> list[str]:
    every = max(1, math.ceil(len(days) / _MAX_LABELS))
    slanted = len(days) > 8
    out = []
    for i in range(0, len(days), every):
        x, y = x_of[i], bottom + 15
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{bottom}" y2="{bottom + 4}" stroke="#78818c"/>')
        if slanted:
            out.append(
                f'<text transform="translate({x:.1f} {y:.1f}) rotate(-30)" text-anchor="end" '
                f'fill="#4b5563">{escape(days[i])}</text>'
            )
        else:
            out.append(f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" fill="#4b5563">{escape(days[i])}</text>')
    return out


def _line(drawn: Sequence[tuple[int, float, float]], colour: str, stroke: str) -> list[str]:
    """The series' line through its points (day index, x, y), broken where days are missing between
    them, and its markers."""
    out: list[str] = []
    run: list[str] = []
    previous = None
    for i, x, y in drawn:
        if previous is not None and i != previous + 1:
            out.append(_polyline(run, stroke))
            run = []
        run.append(f"{x:.1f},{y:.1f}")
        previous = i
    if run:
        out.append(_polyline(run, stroke))
    if len(drawn) <= _MARKERS_UP_TO:
        out.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>' for _, x, y in drawn)
    return out


def _polyline(points: Sequence[str], stroke: str) -> str:
    return f'<polyline points="{" ".join(points)}" fill="none" {stroke} stroke-width="1.6"/>'


def _number(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:g}"
