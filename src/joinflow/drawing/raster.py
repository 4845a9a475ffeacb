"""A ``Layout`` as PNG bytes, drawn with Pillow (``pip install 'joinflow[diagram]'``); no cairo,
no graphviz. Drawn at twice the size and scaled down, which smooths lines and text."""
from __future__ import annotations

import io
import math
from functools import lru_cache
from typing import Any

from .geometry import Box, Frame, Layout, Point, Route
from .style import (
    ATTRIBUTE_SIZE,
    EDGE_COLOR,
    EDGE_OPACITY,
    ENTITY_FILL,
    RENAMED_COLOR,
    SCHEMA_FRAME,
    line_height,
    style_of,
    text_width,
)

SUPERSAMPLE = 2


def _pillow() -> Any:
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError as exc:   # pragma: no cover - depends on the environment
        raise ImportError("PNG diagrams without graphviz need Pillow: pip install 'joinflow[diagram]'") from exc
    return Image, ImageDraw, ImageFont


@lru_cache(maxsize=64)
def _font(size: float) -> Any:
    return _pillow()[2].load_default(size=max(1.0, size))


def _rgba(colour: str, alpha: float = 1.0) -> tuple[int, int, int, int]:
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16), round(alpha * 255)


def png_size(layout: Layout, scale: float = 1.0) -> tuple[int, int]:
    return max(1, math.ceil(layout.width * scale)), max(1, math.ceil(layout.height * scale))


def render(layout: Layout, scale: float = 1.0) -> bytes:
    if scale <= 0:
        raise ValueError(f"scale must be positive, not {scale}")
    image_mod, draw_mod, _ = _pillow()
    size = png_size(layout, scale)
    k = scale * SUPERSAMPLE
    image = image_mod.new("RGB", (size[0] * SUPERSAMPLE, size[1] * SUPERSAMPLE), "white")
    pen = _Pen(draw_mod.Draw(image, "RGBA"), k)
    if layout.title:
        pen.text((12, 24 - 14 * 0.95), layout.title, 14, EDGE_COLOR, anchor="la")
    for f in sorted(layout.frames, key=lambda f: f.kind != "entity"):
        pen.frame(f)
    for r in layout.routes:
        pen.route(r)
    for b in layout.boxes:
        pen.box(b)
    image = image.resize(size, image_mod.Resampling.BOX)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=4)
    return buffer.getvalue()


class _Pen:
    def __init__(self, draw: Any, k: float) -> None:
        self.draw, self.k = draw, k

    def xy(self, p: Point) -> tuple[float, float]:
        return p[0] * self.k, p[1] * self.k

    def rect(self, x: float, y: float, w: float, h: float) -> list[float]:
        return [x * self.k, y * self.k, (x + w) * self.k, (y + h) * self.k]

    def text(self, at: Point, text: str, size: float, colour: str, anchor: str = "ms",
             fit: float | None = None) -> float:
        font = _font(size * self.k)
        if fit is not None and font.getlength(text) > fit * self.k:
            font = _font(size * self.k * fit * self.k / font.getlength(text))
        self.draw.text(self.xy(at), text, font=font, fill=_rgba(colour), anchor=anchor)
        return float(font.getlength(text)) / self.k

    def frame(self, f: Frame) -> None:
        box = self.rect(f.x, f.y, f.width, f.height)
        if f.kind == "entity":
            self.draw.rounded_rectangle(box, radius=8 * self.k, fill=_rgba(ENTITY_FILL))
            return
        self.dashed(_rounded_outline(f), _rgba(SCHEMA_FRAME), 1, (5, 2))
        self.text((f.x + f.width - 10, f.y + 16), f.label, 12, EDGE_COLOR, anchor="rs")

    def route(self, r: Route) -> None:
        colour = _rgba(RENAMED_COLOR if r.edge.renamed else EDGE_COLOR, EDGE_OPACITY)
        width = 2 if r.edge.one_to_one else 1
        self.dashed(r.polyline(), colour, width, None if r.edge.primary else (5, 3))
        if r.arrow:
            self.draw.polygon([self.xy(p) for p in r.arrow], fill=colour)
        if r.marker:
            x, y = self.xy(r.marker)
            d = 3 * self.k
            self.draw.ellipse([x - d, y - d, x + d, y + d], fill=_rgba(RENAMED_COLOR))

    def dashed(self, points: list[Point], colour: tuple[int, ...], width: float,
               dash: tuple[float, float] | None) -> None:
        line_width = max(1, round(width * self.k))
        if dash is None:
            self.draw.line([self.xy(p) for p in points], fill=colour, width=line_width, joint="curve")
            return
        on, off = dash
        phase, drawing = 0.0, True
        for (x1, y1), (x2, y2) in zip(points, points[1:]):
            length, done = math.hypot(x2 - x1, y2 - y1), 0.0
            while done < length:
                step = min(length - done, (on if drawing else off) - phase)
                if drawing:
                    a, b = done / length, (done + step) / length
                    self.draw.line([self.xy((x1 + (x2 - x1) * a, y1 + (y2 - y1) * a)),
                                    self.xy((x1 + (x2 - x1) * b, y1 + (y2 - y1) * b))], fill=colour, width=line_width)
                done += step
                phase += step
                if phase >= (on if drawing else off) - 1e-9:
                    phase, drawing = 0.0, not drawing

    def box(self, b: Box) -> None:
        style = style_of(b.node)
        fill, stroke = _rgba(style.fill), _rgba(style.stroke)
        width = max(1, round(self.k))
        if style.shape in ("ellipse", "dot"):
            self.draw.ellipse(self.rect(b.x, b.y, b.width, b.height), fill=fill, outline=stroke, width=width)
        elif style.shape == "box3d":
            x, y, w, h = b.x, b.y + 5, b.width - 5, b.height - 5
            self.draw.polygon([self.xy(p) for p in ((x, y), (x + 5, y - 5), (x + w + 5, y - 5), (x + w + 5, y + h - 5),
                                                    (x + w, y + h))], fill=fill, outline=stroke, width=width)
            self.draw.rectangle(self.rect(x, y, w, h), fill=fill, outline=stroke, width=width)
        else:
            radius = (min(b.height / 2, 16) if style.shape == "pill" else 6 if style.rounded else 0) * self.k
            self.draw.rounded_rectangle(self.rect(b.x, b.y, b.width, b.height), radius=radius, fill=fill,
                                        outline=stroke, width=width)
        if style.shape != "dot":
            self.labels(b)

    def labels(self, b: Box) -> None:
        node, style = b.node, style_of(b.node)
        size = style.font_size
        cx, cy = b.text_centre
        room = b.width * (0.7 if style.shape == "ellipse" else 1.0) - 8
        block = line_height(size) + (6 + len(node.attributes) * line_height(ATTRIBUTE_SIZE) if node.attributes else 0)
        top = cy - block / 2
        base = top + size * 0.95
        drawn = self.text((cx, base), node.label, size, style.text, fit=room)
        if node.introduces_dimension:
            self.draw.line([self.xy((cx - drawn / 2, base + 2)), self.xy((cx + drawn / 2, base + 2))],
                           fill=_rgba(style.text), width=max(1, round(self.k)))
        y = top + line_height(size) + 3
        if node.attributes:
            self.draw.line([self.xy((b.x + 8, y)), self.xy((b.x + b.width - 8, y))], fill=_rgba(style.stroke), width=1)
        left = cx - max((text_width(a, ATTRIBUTE_SIZE) for a in node.attributes), default=0.0) / 2
        for a in node.attributes:
            y += line_height(ATTRIBUTE_SIZE)
            self.text((left, y), a, ATTRIBUTE_SIZE, style.text, anchor="ls", fit=room)


def _rounded_outline(f: Frame, radius: float = 8.0, per_corner: int = 6) -> list[Point]:
    x0, y0, x1, y1 = f.x, f.y, f.x + f.width, f.y + f.height
    corners = ((x1 - radius, y0 + radius, -90), (x1 - radius, y1 - radius, 0), (x0 + radius, y1 - radius, 90),
               (x0 + radius, y0 + radius, 180))
    points: list[Point] = []
    for cx, cy, start in corners:
        for i in range(per_corner + 1):
            angle = math.radians(start + 90 * i / per_corner)
            points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return points + [points[0]]
