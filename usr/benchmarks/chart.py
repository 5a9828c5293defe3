"""One SVG chart per benchmark table: each row a figure, each configuration a dot on
a log scale of × its baseline (1× drawn), the row's target as a red tick, so that a
run reads at a glance and two runs compare side by side.  No dependencies.

    write_svg(path, title, rows)   rows: [Row(label, {config: ratio or None}, target)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from pathlib import Path

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf"]
LABEL_W, PLOT_W, ROW_H, TOP, LEGEND_H = 330, 520, 26, 54, 26


@dataclass
class Row:
    label: str
    ratios: dict[str, float | None]  # configuration -> hermit / baseline (None: no figure)
    target: float | None = None  # the bound on the ratio, if the row has one


def _span(rows: list[Row]) -> tuple[float, float]:
    """Decades that hold every ratio, every target and 1×."""
    values = [v for r in rows for v in r.ratios.values() if v and v > 0]
    values += [r.target for r in rows if r.target] + [1.0]
    lo, hi = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    return float(lo), float(max(hi, lo + 1))


def write_svg(path: Path, title: str, rows: list[Row], baseline: str = "native") -> None:
    configs = list(dict.fromkeys(c for r in rows for c in r.ratios))
    color = {c: COLORS[i % len(COLORS)] for i, c in enumerate(configs)}
    lo, hi = _span(rows)

    def x(v: float) -> float:
        return LABEL_W + (math.log10(v) - lo) / (hi - lo) * PLOT_W

    height = TOP + ROW_H * len(rows) + LEGEND_H + 24
    width = LABEL_W + PLOT_W + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="20" font-size="15" font-weight="bold">{escape(title)}</text>',
           f'<text x="10" y="38" fill="#555">× {escape(baseline)}, log scale; '
           'red tick: the target</text>']
    bottom = TOP + ROW_H * len(rows)
    for d in range(int(lo), int(hi) + 1):
        gx = x(10.0 ** d)
        out.append(f'<line x1="{gx:.1f}" y1="{TOP - 6}" x2="{gx:.1f}" y2="{bottom}" '
                   f'stroke="{"#000" if d == 0 else "#ddd"}"/>')
        out.append(f'<text x="{gx:.1f}" y="{bottom + 14}" text-anchor="middle" '
                   f'fill="#555">{10.0 ** d:g}×</text>')
    for i, r in enumerate(rows):
        cy = TOP + ROW_H * i + ROW_H / 2
        out.append(f'<text x="{LABEL_W - 8}" y="{cy + 4:.1f}" text-anchor="end">'
                   f'{escape(r.label)}</text>')
        if r.target:
            tx = x(r.target)
            out.append(f'<line x1="{tx:.1f}" y1="{cy - 9:.1f}" x2="{tx:.1f}" y2="{cy + 9:.1f}" '
                       'stroke="red" stroke-width="2"/>')
        for j, c in enumerate(configs):
            v = r.ratios.get(c)
            if v is None:  # no figure (a failure or n/a): the tables say why
                continue
            dy = (j - (len(configs) - 1) / 2) * 4
            if v <= 0:  # nothing at all (a share of 0): a hollow dot at the left edge
                out.append(f'<circle cx="{LABEL_W}" cy="{cy + dy:.1f}" r="4" fill="none" '
                           f'stroke="{color[c]}"><title>{escape(c)}: 0</title></circle>')
                continue
            cx = min(max(x(v), LABEL_W), LABEL_W + PLOT_W)
            out.append(f'<circle cx="{cx:.1f}" cy="{cy + dy:.1f}" r="4" fill="{color[c]}">'
                       f'<title>{escape(c)}: {v:.3g}×</title></circle>')
    ly = bottom + 34
    lx = 10.0
    for c in configs:
        out.append(f'<circle cx="{lx + 5:.1f}" cy="{ly - 4}" r="5" fill="{color[c]}"/>')
        out.append(f'<text x="{lx + 14:.1f}" y="{ly}">{escape(c)}</text>')
        lx += 24 + 7 * len(c)
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")
