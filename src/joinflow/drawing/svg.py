"""A ``Layout`` as SVG text. Every label and tooltip is escaped; numbers are rounded, so the
same layout always gives the same bytes."""
from __future__ import annotations

import re
from xml.sax.saxutils import escape, quoteattr

from .geometry import Box, Frame, Layout, Route
from .style import (
    ATTRIBUTE_SIZE,
    EDGE_COLOR,
    EDGE_OPACITY,
    ENTITY_FILL,
    FONT_FAMILY,
    RENAMED_COLOR,
    SCHEMA_FRAME,
    line_height,
    style_of,
    text_width,
)

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean(text: str) -> str:
    """Text as XML character data: escaped, characters XML cannot hold dropped."""
    return escape(_NOT_XML.sub("", text))


def attr(text: str) -> str:
    return quoteattr(_NOT_XML.sub("", text))


def num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def render(layout: Layout) -> str:
    w, h = num(layout.width), num(layout.height)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}pt" height="{h}pt" viewBox="0 0 {w} {h}" '
           f'font-family="{FONT_FAMILY}">',
           f"<title>{clean(layout.title or 'diagram')}</title>",
           f'<rect x="0" y="0" width="{w}" height="{h}" fill="white"/>']
    if layout.title:
        out.append(f'<text x="12" y="24" font-size="14" font-weight="bold" fill="{EDGE_COLOR}">'
                   f"{clean(layout.title)}</text>")
    out += [_frame(f, f"cluster_entity_{k}") for k, f in enumerate(x for x in layout.frames if x.kind == "entity")]
    out += [_frame(f, f"cluster_{k}") for k, f in enumerate(x for x in layout.frames if x.kind == "schema")]
    out += [_route(r) for r in layout.routes]
    out += [_box(b, i) for i, b in enumerate(layout.boxes)]
    out.append("</svg>")
    return "\n".join(out)


def _frame(f: Frame, name: str) -> str:
    rect = f'x="{num(f.x)}" y="{num(f.y)}" width="{num(f.width)}" height="{num(f.height)}" rx="8"'
    if f.kind == "entity":
        return f'<rect class="entity" id="{name}" {rect} fill="{ENTITY_FILL}"/>'
    label = (f'<text x="{num(f.x + f.width - 10)}" y="{num(f.y + 16)}" text-anchor="end" font-size="12" '
             f'fill="{EDGE_COLOR}">{clean(f.label)}</text>')
    return (f'<g class="schema" id="{name}"><rect {rect} fill="none" stroke="{SCHEMA_FRAME}" stroke-dasharray="5,2"/>'
            f"{label}</g>")


def path_data(r: Route) -> str:
    parts = [f"M{num(r.start[0])},{num(r.start[1])}"]
    for step in r.steps:
        points = " ".join(f"{num(x)},{num(y)}" for x, y in step)
        parts.append(("L" if len(step) == 1 else "C") + points)
    return " ".join(parts)


def _route(r: Route) -> str:
    colour = RENAMED_COLOR if r.edge.renamed else EDGE_COLOR
    dash = "" if r.edge.primary else ' stroke-dasharray="5,3"'
    width = 2 if r.edge.one_to_one else 1
    title = f"<title>{clean(r.edge.label)}</title>" if r.edge.label else ""
    kind = "primary" if r.edge.primary else "secondary"
    out = [f'<g class="edge {kind}" data-parent={attr(r.edge.parent)} data-child={attr(r.edge.child)}>{title}',
           f'<path d="{path_data(r)}" fill="none" stroke="{colour}" stroke-opacity="{EDGE_OPACITY}" '
           f'stroke-width="{width}"{dash}/>']
    if r.arrow:
        points = " ".join(f"{num(x)},{num(y)}" for x, y in r.arrow)
        out.append(f'<polygon points="{points}" fill="{colour}" fill-opacity="{EDGE_OPACITY}"/>')
    if r.marker:
        out.append(f'<circle cx="{num(r.marker[0])}" cy="{num(r.marker[1])}" r="3" fill="{RENAMED_COLOR}"/>')
    return "".join(out) + "</g>"


def _shape(b: Box) -> str:
    style = style_of(b.node)
    paint = f'fill="{style.fill}" stroke="{style.stroke}"'
    cx, cy = b.centre
    if style.shape == "ellipse":
        return f'<ellipse cx="{num(cx)}" cy="{num(cy)}" rx="{num(b.width / 2)}" ry="{num(b.height / 2)}" {paint}/>'
    if style.shape == "dot":
        return f'<circle cx="{num(cx)}" cy="{num(cy)}" r="{num(b.width / 2)}" {paint}/>'
    if style.shape == "box3d":
        x, y, w, h = b.x, b.y + 5, b.width - 5, b.height - 5
        back = f"{num(x)},{num(y)} {num(x + 5)},{num(y - 5)} {num(x + w + 5)},{num(y - 5)} " \
               f"{num(x + w + 5)},{num(y + h - 5)} {num(x + w)},{num(y + h)}"
        return (f'<polygon points="{back}" {paint}/>'
                f'<rect x="{num(x)}" y="{num(y)}" width="{num(w)}" height="{num(h)}" {paint}/>')
    radius = f' rx="{num(min(b.height / 2, 16))}"' if style.shape == "pill" else ' rx="6"' if style.rounded else ""
    return f'<rect x="{num(b.x)}" y="{num(b.y)}" width="{num(b.width)}" height="{num(b.height)}"{radius} {paint}/>'


def _box(b: Box, i: int) -> str:
    node, style = b.node, style_of(b.node)
    out = [f'<g class="node {node.tier.lower()}" id="node{i}" data-id={attr(node.id)}>',
           f"<title>{clean(node.tooltip or node.id)}</title>", _shape(b)]
    if style.shape != "dot":
        out += text_lines(b)
    return "".join(out) + "</g>"


def text_lines(b: Box) -> list[str]:
    node, style = b.node, style_of(b.node)
    size = style.font_size
    cx, cy = b.text_centre
    lines = 1 + len(node.attributes)
    block = line_height(size) + (6 + len(node.attributes) * line_height(ATTRIBUTE_SIZE) if node.attributes else 0)
    top = cy - block / 2 if lines > 1 else cy - line_height(size) / 2
    base = top + size * 0.95
    out = [f'<text x="{num(cx)}" y="{num(base)}" text-anchor="middle" font-size="{num(size)}" '
           f'fill="{style.text}">{clean(node.label)}</text>']
    if node.introduces_dimension:
        half = text_width(node.label, size) / 2 / 1.06
        out.append(f'<line x1="{num(cx - half)}" y1="{num(base + 2)}" x2="{num(cx + half)}" y2="{num(base + 2)}" '
                   f'stroke="{style.text}" stroke-width="1"/>')
    if node.attributes:
        width = max(text_width(a, ATTRIBUTE_SIZE) for a in node.attributes)
        left, y = cx - width / 2, top + line_height(size) + 3
        out.append(f'<line x1="{num(left)}" y1="{num(y)}" x2="{num(left + width)}" y2="{num(y)}" '
                   f'stroke="{style.stroke}" stroke-width="0.5"/>')
        for a in node.attributes:
            y += line_height(ATTRIBUTE_SIZE)
            out.append(f'<text x="{num(left)}" y="{num(y)}" font-size="{num(ATTRIBUTE_SIZE)}" '
                       f'fill="{style.text}">{clean(a)}</text>')
    return out
