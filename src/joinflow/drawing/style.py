"""DataJoint's visual conventions as data: a (fill, stroke, text) colour triple and a shape per
tier, edge colours, and the text metrics every renderer sizes its boxes with.

Colours follow DataJoint 2.x's light theme; names of tables that introduce a dimension (their
primary key adds attributes of their own) are underlined."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace

from .model import Node

FONT_FAMILY = "Helvetica,Arial,sans-serif"


@dataclass(frozen=True)
class TierStyle:
    fill: str
    stroke: str
    text: str
    shape: str          #: "box", "ellipse", "pill", "dot" (alias) or "box3d" (collapsed schema)
    font_size: float
    rounded: bool = True


TIER_STYLES: dict[str, TierStyle] = {
    "Manual": TierStyle("#E8F0E9", "#3E7A52", "#28513A", "box", 12),
    "Lookup": TierStyle("#F0F0F1", "#808285", "#5A5C5F", "box", 12),
    "Imported": TierStyle("#E0F4FC", "#00A0DF", "#00537A", "ellipse", 12),
    "Computed": TierStyle("#FFEDE5", "#FF5113", "#B23200", "ellipse", 12),
    "Part": TierStyle("#FFFFFF", "#B9BBBE", "#55585C", "box", 10),
    "Alias": TierStyle("#F6C89C", "#C77D3A", "#C77D3A", "dot", 8),
    "Other": TierStyle("#FFFDE7", "#C9BC5B", "#6B6420", "box", 12),
}
COLLAPSED = TierStyle("#EDEEF0", "#808890", "#404040", "box3d", 12, rounded=False)

EDGE_COLOR = "#171C39"
EDGE_OPACITY = 0.62            #: DataJoint's edge alpha 0x9E
RENAMED_COLOR = "#C77D3A"      #: amber: a renamed foreign key
SCHEMA_FRAME = "#171D3A"
ENTITY_FILL = "#F3F5F8"        #: behind a master and its parts
ATTRIBUTE_SIZE = 9.0


def style_of(node: Node) -> TierStyle:
    """The node's look; an ellipse tier with attribute lines becomes a pill (a box with round
    ends), which holds lines without the space an ellipse wastes."""
    if node.collapsed:
        return COLLAPSED
    style = TIER_STYLES[node.tier]
    return replace(style, shape="pill") if style.shape == "ellipse" and node.attributes else style


# Helvetica advance widths (thousandths of an em), ASCII 32..126.
_WIDTHS = (
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
)


def text_width(text: str, size: float) -> float:
    """Width of ``text`` set in Helvetica at ``size``, with 6% to spare for a fallback font."""
    total = 0
    for ch in text:
        code = ord(ch)
        if 32 <= code <= 126:
            total += _WIDTHS[code - 32]
        elif unicodedata.east_asian_width(ch) in "WF":
            total += 1000
        elif not unicodedata.combining(ch):
            total += 600
    return total / 1000 * size * 1.06


def line_height(size: float) -> float:
    return size * 1.25
