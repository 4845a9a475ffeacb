"""What a renderer draws, in pixels: boxes, edge routes, frames. Produced by ``layout``."""
from __future__ import annotations

from dataclasses import dataclass

from .model import Edge, Node
from .style import ATTRIBUTE_SIZE, line_height, style_of, text_width

Point = tuple[float, float]
#: one path step from the current point: (end,) a straight line, (c1, c2, end) a cubic Bezier
Step = tuple[Point, ...]


@dataclass(frozen=True)
class Box:
    node: Node
    x: float        #: left
    y: float        #: top
    width: float
    height: float

    @property
    def centre(self) -> Point:
        return self.x + self.width / 2, self.y + self.height / 2

    @property
    def text_centre(self) -> Point:
        """Where the label goes: the centre, or the front face's for a 3-D box."""
        x, y = self.centre
        return (x - 2.5, y + 2.5) if style_of(self.node).shape == "box3d" else (x, y)

    def overlaps(self, other: Box) -> bool:
        return (self.x < other.x + other.width and other.x < self.x + self.width
                and self.y < other.y + other.height and other.y < self.y + self.height)


@dataclass(frozen=True)
class Route:
    edge: Edge
    start: Point
    steps: tuple[Step, ...]
    arrow: tuple[Point, ...] = ()   #: arrowhead triangle (tip first), empty for none
    marker: Point | None = None     #: a renamed foreign key's dot

    @property
    def end(self) -> Point:
        return self.steps[-1][-1] if self.steps else self.start

    def polyline(self, per_curve: int = 12) -> list[Point]:
        """The route flattened to points (curves sampled), for rasterising and tests."""
        points = [self.start]
        for step in self.steps:
            if len(step) == 1:
                points.append(step[0])
                continue
            p0, (c1, c2, p3) = points[-1], step
            for i in range(1, per_curve + 1):
                t = i / per_curve
                points.append(tuple(  # type: ignore[arg-type]
                    (1 - t) ** 3 * a + 3 * (1 - t) ** 2 * t * b + 3 * (1 - t) * t * t * c + t ** 3 * d
                    for a, b, c, d in zip(p0, c1, c2, p3)))
        return points


@dataclass(frozen=True)
class Frame:
    label: str
    x: float
    y: float
    width: float
    height: float
    kind: str   #: "schema" (dashed outline, label top right) or "entity" (a master and its parts)


@dataclass(frozen=True)
class Layout:
    width: float
    height: float
    boxes: tuple[Box, ...]
    routes: tuple[Route, ...]
    frames: tuple[Frame, ...] = ()
    title: str = ""

    def box(self, node_id: str) -> Box:
        for box in self.boxes:
            if box.node.id == node_id:
                return box
        raise KeyError(node_id)


def node_size(node: Node) -> tuple[float, float]:
    """Width and height of a node's shape, with room for its label and attribute lines."""
    style = style_of(node)
    if style.shape == "dot":
        return 10.0, 10.0
    width = text_width(node.label, style.font_size)
    height = line_height(style.font_size)
    if node.attributes:
        width = max([width] + [text_width(a, ATTRIBUTE_SIZE) for a in node.attributes])
        height += 6 + len(node.attributes) * line_height(ATTRIBUTE_SIZE)
    part = node.tier == "Part" and not node.collapsed
    width, height = width + (16 if part else 24), height + (8 if part else 14)
    if style.shape == "ellipse":
        width, height = width * 1.2, height * 1.12
    if style.shape == "pill":
        width += 16
    if style.shape == "box3d":
        width, height = width + 5, height + 5
    return round(width, 2), round(max(height, 22.0 if part else 35.0), 2)
