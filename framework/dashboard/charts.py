"""Charts as SVG, rendered on the server: no charting library, no CDN, nothing to run in the browser.

Only numbers and fixed strings go into the markup; the few texts (axis labels, tooltips) are escaped.
Colours are presentation attributes, so the dashboard's Content-Security-Policy (no inline style) holds.
"""

from __future__ import annotations

from markupsafe import Markup, escape

WIDTH = 720
HEIGHT = 160
_PAD_LEFT = 40
_PAD_BOTTOM = 20
_PAD_TOP = 8


def bin_series(values: list[int], bins: int) -> list[int]:
    """Sum consecutive values into `bins` buckets (oldest first); the last bucket ends with the last value."""
    if bins <= 0 or len(values) <= bins:
        return list(values)
    size = len(values) / bins
    out = [0] * bins
    for i, v in enumerate(values):
        out[min(int(i / size), bins - 1)] += v
    return out


def _nice_max(top: int) -> int:
    if top <= 4:
        return 4
    magnitude = 10 ** (len(str(top)) - 1)
    for step in (1, 2, 2.5, 5, 10):
        candidate = int(step * magnitude)
        if candidate >= top:
            return candidate
    return top


def bar_chart(
    values: list[int],
    *,
    color: str,
    label: str,
    start_label: str,
    end_label: str,
    tooltips: list[str] | None = None,
) -> Markup:
    """A bar chart of `values` (oldest first) with a y axis from 0 and labels under both ends."""
    n = max(len(values), 1)
    top = _nice_max(max(values, default=0))
    plot_w = WIDTH - _PAD_LEFT - 4
    plot_h = HEIGHT - _PAD_BOTTOM - _PAD_TOP
    slot = plot_w / n
    gap = 1 if slot > 3 else 0
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="none">',
        f"<title>{escape(label)}</title>",
    ]
    for frac in (0, 0.5, 1):
        y = _PAD_TOP + plot_h * (1 - frac)
        parts.append(
            f'<line x1="{_PAD_LEFT}" x2="{WIDTH - 4}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#e5e7eb" stroke-width="1"/>'
        )
        value = top * frac
        text = f"{value:g}" if value != int(value) else str(int(value))
        parts.append(
            f'<text x="{_PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#6b7280">{text}</text>'
        )
    for i, v in enumerate(values):
        h = 0.0 if top == 0 else plot_h * v / top
        x = _PAD_LEFT + i * slot
        y = _PAD_TOP + plot_h - h
        tip = tooltips[i] if tooltips and i < len(tooltips) else str(v)
        parts.append(
            f'<rect x="{x:.2f}" y="{y:.2f}" width="{max(slot - gap, 0.5):.2f}" height="{max(h, 0):.2f}" '
            f'fill="{escape(color)}"><title>{escape(tip)}</title></rect>'
        )
    base_y = HEIGHT - 5
    parts.append(
        f'<text x="{_PAD_LEFT}" y="{base_y}" font-size="11" fill="#6b7280">{escape(start_label)}</text>'
    )
    parts.append(
        f'<text x="{WIDTH - 4}" y="{base_y}" text-anchor="end" font-size="11" fill="#6b7280">'
        f"{escape(end_label)}</text>"
    )
    parts.append("</svg>")
    return Markup("".join(parts))
