"""A sampling profile's outputs: folded stacks, a flame graph, a top-functions table.

A profile is a count per stack, each stack a tuple of frame names from the
outermost in.  Folded stacks are one `frame;frame;frame count` line per stack (what
flamegraph.pl, inferno and speedscope read); the flame graph is a self-contained SVG
(no script: a <title> per box says its name and share when the pointer rests on it).
"""

from __future__ import annotations

import html
import zlib
from collections import Counter

FOLDED = "hermit-profile.folded"
SVG = "hermit-profile.svg"
WIDTH, ROW, FONT = 1200, 17, 11


def folded(stacks: Counter) -> str:
    lines = [f"{';'.join(s)} {n}" for s, n in sorted(stacks.items()) if s and n > 0]
    return "\n".join(lines) + "\n" if lines else ""


def top(stacks: Counter, limit: int = 15) -> list[tuple[str, int, int]]:
    """(function, self samples, total samples) for the functions with most self time."""
    own, total = Counter(), Counter()
    for s, n in stacks.items():
        if not s:
            continue
        own[s[-1]] += n
        for name in set(s):
            total[name] += n
    return [(name, n, total[name]) for name, n in own.most_common(limit)]


def table(stacks: Counter, limit: int = 15) -> str:
    all_ = sum(stacks.values())
    if not all_:
        return "hermit: profile: no samples (the program ended before the first one?)"
    rows = [f"{'self':>6} {'total':>6}  function", *(
        f"{n / all_:6.1%} {t / all_:6.1%}  {name}" for name, n, t in top(stacks, limit))]
    return "\n".join(rows)


def _color(name: str) -> str:
    """Warm colours, stable per name; the kernel's and the host's frames in blue."""
    h = zlib.crc32(name.encode())
    if name.startswith("["):
        return f"rgb({90 + h % 40},{140 + h % 50},{210 + h % 40})"
    return f"rgb({205 + h % 50},{90 + (h >> 8) % 120},{40 + (h >> 16) % 50})"


def _tree(stacks: Counter) -> dict:
    root: dict = {"n": 0, "kids": {}}
    for s, n in stacks.items():
        root["n"] += n
        node = root
        for name in s:
            node = node["kids"].setdefault(name, {"n": 0, "kids": {}})
            node["n"] += n
    return root


def svg(stacks: Counter, title: str) -> str:
    root = _tree(stacks)
    total = root["n"] or 1

    def depth(node: dict) -> int:
        return 1 + max((depth(k) for k in node["kids"].values()), default=0)

    rows = depth(root)
    height = (rows + 2) * ROW + 10
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'font-family="monospace" font-size="{FONT}">',
           '<rect width="100%" height="100%" fill="#f8f8f8"/>',
           f'<text x="{WIDTH / 2}" y="{ROW}" text-anchor="middle" font-size="{FONT + 3}">'
           f"{html.escape(title)}</text>"]
    scale = (WIDTH - 20) / total

    def draw(name: str, node: dict, x: float, level: int) -> None:
        w = node["n"] * scale
        if w >= 0.3:
            y = height - (level + 1) * ROW
            label = html.escape(name)
            share = f"{name} ({node['n']} samples, {node['n'] / total:.1%})"
            out.append(f'<g><title>{html.escape(share)}</title><rect x="{x:.1f}" y="{y}" '
                       f'width="{w:.1f}" height="{ROW - 1}" fill="{_color(name)}" rx="2"/>')
            fits = int(w / (FONT * 0.62))
            if fits >= 3:
                text = label if len(name) <= fits else html.escape(name[: fits - 2]) + ".."
                out.append(f'<text x="{x + 3:.1f}" y="{y + ROW - 5}">{text}</text>')
            out.append("</g>")
        for kid_name, kid in sorted(node["kids"].items()):
            draw(kid_name, kid, x, level + 1)
            x += kid["n"] * scale

    x = 10.0
    for name, kid in sorted(root["kids"].items()):
        draw(name, kid, x, 0)
        x += kid["n"] * scale
    out.append("</svg>")
    return "\n".join(out) + "\n"
