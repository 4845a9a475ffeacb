"""``layout(graph)``: pixel coordinates for every table, foreign key and frame, in pure Python.

The picture is computed in (along, across) coordinates — along a layer and across the layers —
and turned into (x, y) at the end, so "TB" and "LR" share every step. A master and its parts
form one *unit* placed as a single vertex (parts sit beside their master on its layer, on a
shaded background, joined to it by a comb of short lines); the units go through the layered
placement of ``layers.py``; edges leave a table from its lower (right) side and enter the next
from its upper (left) side, spread over the middle of the shape, as S-curves between layers and
straight lines through the layers they cross, so they pass between tables, never through one."""
from __future__ import annotations

from dataclasses import dataclass

from .geometry import Box, Frame, Layout, Point, Route, Step, node_size
from .layers import Layered, acyclic, assign_ranks, order_layers, place_layers, split_long_edges
from .model import Edge, Graph
from .style import style_of, text_width

GAP = 24.0          # between neighbouring tables on a layer
DUMMY_GAP = 10.0    # between an edge passing a layer and its neighbours
LAYER_GAP = {"TB": 46.0, "LR": 64.0}
FRAME_PAD = 12.0
LABEL = 20.0        # room for a schema frame's label
ENTITY_PAD = 6.0
INNER_GAP = 12.0    # between a master and its parts
COMB = 6.0          # where the master-part comb runs, past the members
ARROW = 7.0
MARGIN = 12.0
TITLE = 26.0


@dataclass
class _Unit:
    members: list[int]       # node indices, the master first
    offsets: list[float]     # each member's centre from the unit's leading edge
    along: float
    across: float
    group: int


class _Axes:
    """Sizes and points between (along, across) and (x, y)."""

    def __init__(self, direction: str) -> None:
        self.lr = direction == "LR"

    def split(self, size: tuple[float, float]) -> tuple[float, float]:
        return (size[1], size[0]) if self.lr else size

    def point(self, along: float, across: float) -> Point:
        return (across, along) if self.lr else (along, across)


def layout(graph: Graph) -> Layout:
    axes = _Axes(graph.direction)
    index = {n.id: i for i, n in enumerate(graph.nodes)}
    sizes = [axes.split(node_size(n)) for n in graph.nodes]
    group_of = _groups(graph, index)
    units, unit_of = _units(graph, index, sizes, group_of)
    outer = [e for e in graph.edges if unit_of[index[e.parent]] != unit_of[index[e.child]]]
    arcs = [(unit_of[index[e.parent]], unit_of[index[e.child]], 1.0) for e in outer]
    fixed, flipped = acyclic(len(units), arcs)
    ranks = _settle_loners(assign_ranks(len(units), fixed), fixed, units)
    layered = split_long_edges(ranks, fixed, [u.group for u in units])
    layers = order_layers(layered, fixed)
    pos = place_layers(layers, layered, fixed, [u.along for u in units], GAP, DUMMY_GAP)
    label_room = _shift_groups(graph, units, layered, pos, axes)
    centres, thickness = _layer_centres(layers, layered, units, graph.direction, bool(graph.groups))
    place = _Placement(graph, axes, index, sizes, units, unit_of, outer, layered, pos, centres, thickness)
    routes = [place.route(e, k, k in flipped, graph.arrowheads) for k, e in enumerate(outer)]
    routes += [place.comb(e) for e in graph.edges if unit_of[index[e.parent]] == unit_of[index[e.child]]]
    frames = place.entity_frames() + place.group_frames(label_room)
    return _finish(graph, place.boxes(), routes, frames)


def _groups(graph: Graph, index: dict[str, int]) -> list[int]:
    group = [len(graph.groups)] * len(graph.nodes)
    for g, (_, members) in enumerate(graph.groups):
        for node_id in members:
            group[index[node_id]] = g
    return group


def _units(graph: Graph, index: dict[str, int], sizes: list[tuple[float, float]],
           group_of: list[int]) -> tuple[list[_Unit], list[int]]:
    """Masters with their parts as one unit each; every other node on its own."""
    parts: dict[int, list[int]] = {}
    for i, node in enumerate(graph.nodes):
        master = index.get(node.master or "")
        if node.tier == "Part" and master is not None and graph.nodes[master].tier != "Part" \
                and not _detour(graph, node.master or "", node.id):
            parts.setdefault(master, []).append(i)
    inside = {p for ps in parts.values() for p in ps}
    units: list[_Unit] = []
    unit_of = [0] * len(graph.nodes)
    for i in range(len(graph.nodes)):
        if i in inside:
            continue
        members = [i] + parts.get(i, [])
        for m in members:
            unit_of[m] = len(units)
        units.append(_unit(members, sizes, group_of[i]))
    return units, unit_of


def _detour(graph: Graph, master: str, part: str) -> bool:
    """Whether the part also hangs below its master through another table (it cannot share its layer)."""
    children: dict[str, list[str]] = {}
    for e in graph.edges:
        children.setdefault(e.parent, []).append(e.child)
    others = {e.parent for e in graph.edges if e.child == part and e.parent != master}
    seen, todo = {master}, [c for c in children.get(master, []) if c != part]
    while todo:
        current = todo.pop()
        if current in others:
            return True
        if current not in seen:
            seen.add(current)
            todo += [c for c in children.get(current, []) if c != part]
    return False


def _settle_loners(rank: list[int], arcs: list[tuple[int, int, float]], units: list[_Unit]) -> list[int]:
    """A table with no foreign key in the picture goes to the first layer its group uses."""
    linked = {u for arc in arcs for u in arc[:2]}
    first: dict[int, int] = {}
    for u in sorted(linked):
        first[units[u].group] = min(first.get(units[u].group, rank[u]), rank[u])
    return [r if u in linked else first.get(units[u].group, 0) for u, r in enumerate(rank)]


def _unit(members: list[int], sizes: list[tuple[float, float]], group: int) -> _Unit:
    if len(members) == 1:
        along, across = sizes[members[0]]
        return _Unit(members, [along / 2], along, across, group)
    offsets, cursor = [], ENTITY_PAD
    for m in members:
        offsets.append(cursor + sizes[m][0] / 2)
        cursor += sizes[m][0] + INNER_GAP
    across = max(sizes[m][1] for m in members) + 2 * (ENTITY_PAD + COMB)
    return _Unit(members, offsets, cursor - INNER_GAP + ENTITY_PAD, across, group)


def _shift_groups(graph: Graph, units: list[_Unit], layered: Layered, pos: list[float], axes: _Axes) -> float:
    """Set the groups side by side (each starts at 0 along); room left for frames and labels."""
    if not graph.groups:
        return 0.0
    label_room = LABEL if axes.lr else 0.0
    offset = 0.0
    for g in sorted(set(layered.group)):
        vertices = [v for v in range(layered.size) if layered.group[v] == g]
        right = max(pos[v] + (units[v].along / 2 if v < len(units) else 0.0) for v in vertices)
        framed = g < len(graph.groups)
        if framed and not axes.lr:
            right = max(right, text_width(graph.groups[g][0], 12) + 2 * FRAME_PAD)
        start = offset + (FRAME_PAD + label_room if framed else 0.0)
        for v in vertices:
            pos[v] += start
        offset = start + right + (FRAME_PAD if framed else 0.0) + GAP
    return label_room


def _layer_centres(layers: list[list[int]], layered: Layered, units: list[_Unit], direction: str,
                   framed: bool) -> tuple[list[float], list[float]]:
    gap = LAYER_GAP[direction] + (LABEL + 2 * FRAME_PAD - 12 if framed and direction == "TB" else 0)
    thickness = [max([units[v].across for v in layer if v < len(units)], default=0.0) for layer in layers]
    centres, cursor = [], 0.0
    for t in thickness:
        centres.append(cursor + t / 2)
        cursor += t + gap
    return centres, thickness


class _Placement:
    """Abstract positions of members, ports and routes once layers are placed."""

    def __init__(self, graph: Graph, axes: _Axes, index: dict[str, int], sizes: list[tuple[float, float]],
                 units: list[_Unit], unit_of: list[int], outer: list[Edge], layered: Layered, pos: list[float],
                 centres: list[float], thickness: list[float]) -> None:
        self.graph, self.axes, self.index, self.sizes, self.outer = graph, axes, index, sizes, outer
        self.units, self.unit_of, self.layered, self.pos = units, unit_of, layered, pos
        self.centres, self.thickness = centres, thickness
        self.ports: dict[tuple[int, str, int], float] = {}
        self._assign_ports()

    def member_centre(self, node: int) -> tuple[float, float]:
        unit = self.units[self.unit_of[node]]
        u = self.unit_of[node]
        along = self.pos[u] - unit.along / 2 + unit.offsets[unit.members.index(node)]
        return along, self.centres[self.layered.rank[u]]

    def _chain_ends(self, k: int) -> tuple[int, int]:
        e = self.outer[k]
        upper, lower = self.index[e.parent], self.index[e.child]
        chain = self.layered.chains[k]
        return (upper, lower) if self.unit_of[upper] == chain[0] else (lower, upper)

    def _assign_ports(self) -> None:
        sides: dict[tuple[int, str], list[tuple[float, int]]] = {}
        for k, chain in enumerate(self.layered.chains):
            upper, lower = self._chain_ends(k)
            nxt = self.pos[chain[1]] if len(chain) > 2 else self.member_centre(lower)[0]
            prev = self.pos[chain[-2]] if len(chain) > 2 else self.member_centre(upper)[0]
            sides.setdefault((upper, "out"), []).append((nxt, k))
            sides.setdefault((lower, "in"), []).append((prev, k))
        for (node, side), ends in sides.items():
            ends.sort()
            along = self.sizes[node][0]
            spacing = min(10.0, along * 0.5 / max(len(ends) - 1, 1))
            for i, (_, k) in enumerate(ends):
                self.ports[(node, side, k)] = (i - (len(ends) - 1) / 2) * spacing

    def port(self, node: int, side: str, k: int) -> tuple[float, float]:
        along, across = self.member_centre(node)
        offset = self.ports[(node, side, k)]
        half_a, half_c = self.sizes[node][0] / 2, self.sizes[node][1] / 2
        if style_of(self.graph.nodes[node]).shape in ("ellipse", "dot"):
            half_c *= max(0.0, 1 - (offset / half_a) ** 2) ** 0.5
        return along + offset, across + (half_c if side == "out" else -half_c)

    def route(self, edge: Edge, k: int, flipped: bool, arrowheads: bool) -> Route:
        chain = self.layered.chains[k]
        upper, lower = self._chain_ends(k)
        points = [self.port(upper, "out", k)]
        pieces: list[tuple[str, Point, Point]] = []
        for d in chain[1:-1]:
            r = self.layered.rank[d]
            entry = (self.pos[d], self.centres[r] - self.thickness[r] / 2)
            leave = (self.pos[d], self.centres[r] + self.thickness[r] / 2)
            pieces += [("curve", points[-1], entry), ("line", entry, leave)]
            points.append(leave)
        pieces.append(("curve", points[-1], self.port(lower, "in", k)))
        if flipped:
            pieces = [(kind, b, a) for kind, a, b in reversed(pieces)]
        return self._route(edge, pieces, arrowheads)

    def _route(self, edge: Edge, pieces: list[tuple[str, Point, Point]], arrowheads: bool) -> Route:
        arrow: tuple[Point, ...] = ()
        if arrowheads:
            kind, a, (ta, tc) = pieces[-1]
            sign = 1.0 if tc >= a[1] else -1.0
            base = tc - sign * ARROW
            arrow = tuple(self.axes.point(*p) for p in ((ta, tc), (ta - 3.5, base), (ta + 3.5, base)))
            pieces[-1] = (kind, a, (ta, base))
        steps: list[Step] = []
        for kind, (a1, c1), (a2, c2) in pieces:
            if kind == "line" or abs(a1 - a2) < 0.5:
                steps.append((self.axes.point(a2, c2),))
            else:
                mid = (c1 + c2) / 2
                steps.append((self.axes.point(a1, mid), self.axes.point(a2, mid), self.axes.point(a2, c2)))
        marker = None
        if edge.renamed:
            _, (a1, c1), (a2, c2) = pieces[len(pieces) // 2]
            marker = self.axes.point((a1 + a2) / 2, (c1 + c2) / 2)
        return Route(edge, self.axes.point(*pieces[0][1]), tuple(steps), arrow, marker)

    def comb(self, edge: Edge) -> Route:
        """A master-part (or part-part) link inside a unit: down, across, and up again."""
        upper, lower = self.index[edge.parent], self.index[edge.child]
        (a1, c1), (a2, c2) = self.member_centre(upper), self.member_centre(lower)
        bus = c1 + max(self.sizes[m][1] for m in self.units[self.unit_of[upper]].members) / 2 + COMB
        pieces = [("line", (a1, c1 + self.sizes[upper][1] / 2), (a1, bus)), ("line", (a1, bus), (a2, bus)),
                  ("line", (a2, bus), (a2, c2 + self.sizes[lower][1] / 2))]
        return self._route(edge, pieces, False)

    def boxes(self) -> list[Box]:
        out = []
        for i, node in enumerate(self.graph.nodes):
            along, across = self.member_centre(i)
            sa, sc = self.sizes[i]
            x, y = self.axes.point(along - sa / 2, across - sc / 2)
            w, h = self.axes.point(sa, sc)
            out.append(Box(node, x, y, w, h))
        return out

    def entity_frames(self) -> list[Frame]:
        frames = []
        for u, unit in enumerate(self.units):
            if len(unit.members) > 1:
                along, across = self.pos[u] - unit.along / 2, self.centres[self.layered.rank[u]] - unit.across / 2
                x, y = self.axes.point(along, across)
                w, h = self.axes.point(unit.along, unit.across)
                frames.append(Frame("", x, y, w, h, "entity"))
        return frames

    def group_frames(self, label_room: float) -> list[Frame]:
        frames = []
        for g, (name, members) in enumerate(self.graph.groups):
            units = sorted({u for u in (self.unit_of[self.index[m]] for m in members) if self.units[u].group == g})
            if not units:
                continue
            lo_a = min(self.pos[u] - self.units[u].along / 2 for u in units) - FRAME_PAD - label_room
            hi_a = max(self.pos[u] + self.units[u].along / 2 for u in units) + FRAME_PAD
            lo_c = min(self.centres[self.layered.rank[u]] - self.units[u].across / 2 for u in units) - FRAME_PAD
            hi_c = max(self.centres[self.layered.rank[u]] + self.units[u].across / 2 for u in units) + FRAME_PAD
            if not self.axes.lr:
                lo_c -= LABEL
            else:
                hi_c = max(hi_c, lo_c + text_width(name, 12) + 2 * FRAME_PAD)
            x, y = self.axes.point(lo_a, lo_c)
            w, h = self.axes.point(hi_a - lo_a, hi_c - lo_c)
            frames.append(Frame(name, x, y, w, h, "schema"))
        return frames


def _finish(graph: Graph, boxes: list[Box], routes: list[Route], frames: list[Frame]) -> Layout:
    """Shift everything to the margin (below the title) and round, so output is stable."""
    xs = [b.x for b in boxes] + [f.x for f in frames] + [p[0] for r in routes for p in r.polyline(4)]
    ys = [b.y for b in boxes] + [f.y for f in frames] + [p[1] for r in routes for p in r.polyline(4)]
    x0 = min(xs, default=0.0) - MARGIN
    y0 = min(ys, default=0.0) - MARGIN - (TITLE if graph.title else 0.0)
    right = max([b.x + b.width for b in boxes] + [f.x + f.width for f in frames] + xs, default=0.0)
    bottom = max([b.y + b.height for b in boxes] + [f.y + f.height for f in frames] + ys, default=0.0)
    if graph.title:
        right = max(right, x0 + MARGIN + text_width(graph.title, 14))

    def p(point: Point) -> Point:
        return round(point[0] - x0, 2), round(point[1] - y0, 2)

    boxes = [Box(b.node, *p((b.x, b.y)), round(b.width, 2), round(b.height, 2)) for b in boxes]
    frames = [Frame(f.label, *p((f.x, f.y)), round(f.width, 2), round(f.height, 2), f.kind) for f in frames]
    routes = [Route(r.edge, p(r.start), tuple(tuple(p(q) for q in s) for s in r.steps),
                    tuple(p(q) for q in r.arrow), p(r.marker) if r.marker else None) for r in routes]
    return Layout(round(right - x0 + MARGIN, 2), round(bottom - y0 + MARGIN, 2), tuple(boxes), tuple(routes),
                  tuple(frames), graph.title)

