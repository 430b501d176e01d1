"""A small picture of a person's relations, drawn on the server as SVG (no script, no library).

The person sits in the middle; each related account is placed around them, nearer and joined by a
thicker line the stronger the relation, and coloured by what the kin engine suggests (relative,
friend, ...). Everything is plain SVG elements with classes (the stylesheet colours them), so it
passes a CSP without inline styles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

WIDTH = 760
HEIGHT = 460


@dataclass(frozen=True)
class Node:
    """One account on the picture."""

    label: str
    sublabel: str
    score: float  # 0..1, how strong the relation is
    kind: str  # the relation, used as a CSS class
    href: str | None


def _short(text: str, limit: int = 22) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _css(kind: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in kind.lower())


def relations_svg(person: str, nodes: list[Node], title: str) -> str:
    """The SVG markup of ``person`` and their related ``nodes`` (at most 16 are drawn)."""
    cx, cy = WIDTH / 2, HEIGHT / 2
    shown = nodes[:16]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="kin-graph-title"><title id="kin-graph-title">{escape(title)}</title>'
    ]
    placed: list[tuple[float, float, Node]] = []
    for i, node in enumerate(shown):
        angle = -math.pi / 2 + 2 * math.pi * i / max(len(shown), 1)
        strength = min(max(node.score, 0.0), 1.0)
        radius = 200 - 90 * strength
        x = cx + radius * 1.55 * math.cos(angle)
        y = cy + radius * math.sin(angle)
        placed.append((x, y, node))
    for x, y, node in placed:
        width = 1 + 5 * min(max(node.score, 0.0), 1.0)
        strong = " strong" if node.score >= 0.5 else ""
        parts.append(
            f'<line class="edge{strong} kind-{_css(node.kind)}" x1="{cx:.1f}" y1="{cy:.1f}" '
            f'x2="{x:.1f}" y2="{y:.1f}" stroke-width="{width:.1f}"/>'
        )
    parts.append(
        f'<g class="node person"><circle cx="{cx:.1f}" cy="{cy:.1f}" r="16"/>'
        f'<text x="{cx:.1f}" y="{cy + 34:.1f}" text-anchor="middle">'
        f"{escape(_short(person, 28))}</text></g>"
    )
    for x, y, node in placed:
        label = escape(_short(node.label))
        sub = escape(_short(node.sublabel, 28))
        inner = (
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="9"/>'
            f'<text x="{x:.1f}" y="{y + 24:.1f}" text-anchor="middle">{label}</text>'
            f'<text class="sub" x="{x:.1f}" y="{y + 38:.1f}" text-anchor="middle">{sub}</text>'
        )
        if node.href:
            inner = f'<a href="{escape(node.href)}">{inner}</a>'
        parts.append(f'<g class="node kind-{_css(node.kind)}">{inner}</g>')
    parts.append("</svg>")
    return "".join(parts)
