"""Layered (Sugiyama-style) placement on integer vertices, free of geometry and styling.

1. ``acyclic``: reverse the edges that close a cycle (foreign keys rarely do), so ranks exist.
2. ``assign_ranks``: longest path from the sources, then vertices with more children than
   parents sink next to their children (a lookup table sits just above its first user).
3. ``split_long_edges``: an edge spanning several ranks becomes a chain through dummy vertices.
4. ``order_layers``: barycenter sweeps down and up plus adjacent swaps; the order with the
   fewest crossings wins. Vertices of one group stay contiguous, groups in a fixed order.
5. ``place_layers``: positions along each layer minimising the squared distance to the
   neighbours' positions under minimum separations (isotonic regression), sweeping both ways.

Everything is deterministic: ties fall back to vertex numbers, which follow the input order."""
from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

Arc = tuple[int, int, float]   # (upper vertex, lower vertex, weight)


def acyclic(n: int, arcs: Sequence[tuple[int, int, float]]) -> tuple[list[Arc], set[int]]:
    """The arcs with those closing a cycle reversed, and the indices of the reversed ones."""
    out: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for i, (u, v, _) in enumerate(arcs):
        out[u].append((v, i))
    state = [0] * n   # 0 new, 1 on the stack, 2 done
    flipped: set[int] = set()
    for root in range(n):
        if state[root]:
            continue
        stack = [(root, iter(out[root]))]
        state[root] = 1
        while stack:
            vertex, todo = stack[-1]
            step = next(todo, None)
            if step is None:
                state[vertex] = 2
                stack.pop()
            elif state[step[0]] == 1:
                flipped.add(step[1])
            elif state[step[0]] == 0:
                state[step[0]] = 1
                stack.append((step[0], iter(out[step[0]])))
    fixed = [(v, u, w) if i in flipped else (u, v, w) for i, (u, v, w) in enumerate(arcs)]
    return fixed, flipped


def _topological(n: int, arcs: Sequence[Arc]) -> list[int]:
    indegree = [0] * n
    out: list[list[int]] = [[] for _ in range(n)]
    for u, v, _ in arcs:
        out[u].append(v)
        indegree[v] += 1
    ready = [v for v in range(n) if not indegree[v]]
    heapq.heapify(ready)
    order = []
    while ready:
        vertex = heapq.heappop(ready)
        order.append(vertex)
        for child in out[vertex]:
            indegree[child] -= 1
            if not indegree[child]:
                heapq.heappush(ready, child)
    return order


def assign_ranks(n: int, arcs: Sequence[Arc]) -> list[int]:
    parents: list[list[int]] = [[] for _ in range(n)]
    children: list[list[int]] = [[] for _ in range(n)]
    for u, v, _ in arcs:
        parents[v].append(u)
        children[u].append(v)
    order = _topological(n, arcs)
    rank = [0] * n
    for vertex in order:
        rank[vertex] = max((rank[p] + 1 for p in parents[vertex]), default=0)
    for vertex in reversed(order):
        if children[vertex] and len(children[vertex]) >= len(parents[vertex]):
            rank[vertex] = max(rank[vertex], min(rank[c] for c in children[vertex]) - 1)
    return rank


@dataclass
class Layered:
    """Vertices ``0..n-1`` are the real ones, the rest dummies; ``chains[i]`` is arc i's path."""
    rank: list[int]
    chains: list[list[int]]
    group: list[int]

    @property
    def size(self) -> int:
        return len(self.rank)


def split_long_edges(rank: list[int], arcs: Sequence[Arc], group: list[int]) -> Layered:
    rank, group = list(rank), list(group)
    chains = []
    for u, v, _ in arcs:
        chain = [u]
        for r in range(rank[u] + 1, rank[v]):
            rank.append(r)
            group.append(group[v])
            chain.append(len(rank) - 1)
        chains.append(chain + [v])
    return Layered(rank, chains, group)


def _neighbours(layered: Layered, arcs: Sequence[Arc]) -> tuple[list[dict[int, float]], list[dict[int, float]]]:
    up: list[dict[int, float]] = [{} for _ in range(layered.size)]
    down: list[dict[int, float]] = [{} for _ in range(layered.size)]
    for chain, (_, _, weight) in zip(layered.chains, arcs):
        for a, b in zip(chain, chain[1:]):
            down[a][b] = down[a].get(b, 0.0) + weight
            up[b][a] = up[b].get(a, 0.0) + weight
    return up, down


def _crossings(upper: list[int], lower: list[int], down: list[dict[int, float]]) -> int:
    where = {v: i for i, v in enumerate(lower)}
    ends = sorted((i, where[b]) for i, a in enumerate(upper) for b in down[a] if b in where)
    count = 0
    for k, (_, b1) in enumerate(ends):
        count += sum(1 for _, b2 in ends[k + 1:] if b2 < b1)
    return count


def _total_crossings(layers: list[list[int]], down: list[dict[int, float]]) -> int:
    return sum(_crossings(a, b, down) for a, b in zip(layers, layers[1:]))


def _sweep(layers: list[list[int]], near: list[dict[int, float]], group: list[int], rows: range) -> None:
    for r in rows:
        reference = layers[r - 1] if rows.step > 0 else layers[r + 1]
        where = {v: i for i, v in enumerate(reference)}

        stretch = len(reference) / max(len(layers[r]), 1)

        def key(item: tuple[int, int], where: dict[int, int] = where, stretch: float = stretch
                ) -> tuple[int, float, int]:
            position, vertex = item
            links = [(where[o], w) for o, w in near[vertex].items() if o in where]
            weight = sum(w for _, w in links)
            centre = sum(p * w for p, w in links) / weight if weight else position * stretch
            return group[vertex], centre, position

        layers[r] = [v for _, v in sorted(enumerate(layers[r]), key=key)]


def _transpose(layers: list[list[int]], up: list[dict[int, float]], down: list[dict[int, float]],
               group: list[int]) -> None:
    def pair_cost(a: int, b: int, r: int) -> int:
        cost = 0
        for near, other in ((up, r - 1), (down, r + 1)):
            if 0 <= other < len(layers):
                where = {v: i for i, v in enumerate(layers[other])}
                pa = [where[x] for x in near[a] if x in where]
                pb = [where[x] for x in near[b] if x in where]
                cost += sum(1 for x in pa for y in pb if x > y)
        return cost

    for r, layer in enumerate(layers):
        for i in range(len(layer) - 1):
            a, b = layer[i], layer[i + 1]
            if group[a] == group[b] and pair_cost(b, a, r) < pair_cost(a, b, r):
                layer[i], layer[i + 1] = b, a


def order_layers(layered: Layered, arcs: Sequence[Arc], sweeps: int = 8) -> list[list[int]]:
    up, down = _neighbours(layered, arcs)
    height = max(layered.rank, default=-1) + 1
    layers: list[list[int]] = [[] for _ in range(height)]
    for vertex in sorted(range(layered.size), key=lambda v: (layered.group[v], v)):
        layers[layered.rank[vertex]].append(vertex)
    _sweep(layers, up, layered.group, range(1, height))
    best, best_count = [list(x) for x in layers], _total_crossings(layers, down)
    for _ in range(sweeps):
        _sweep(layers, down, layered.group, range(height - 2, -1, -1))
        _sweep(layers, up, layered.group, range(1, height))
        _transpose(layers, up, down, layered.group)
        count = _total_crossings(layers, down)
        if count < best_count:
            best, best_count = [list(x) for x in layers], count
        if not best_count:
            break
    return best


def _isotonic(target: list[float], weight: list[float]) -> list[float]:
    """Non-decreasing values nearest (weighted least squares) to ``target``: pool adjacent violators."""
    blocks: list[list[float]] = []   # [mean, total weight, count]
    for t, w in zip(target, weight):
        blocks.append([t, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    out: list[float] = []
    for mean, _, count in blocks:
        out += [mean] * int(count)
    return out


def _fit(layer: list[int], desired: list[float], weight: list[float], gaps: list[float]) -> list[float]:
    offsets = [0.0]
    for gap in gaps:
        offsets.append(offsets[-1] + gap)
    fitted = _isotonic([d - o for d, o in zip(desired, offsets)], weight)
    return [f + o for f, o in zip(fitted, offsets)]


def place_layers(layers: list[list[int]], layered: Layered, arcs: Sequence[Arc], extent: Sequence[float],
                 gap: float, dummy_gap: float) -> list[float]:
    """Centre of every vertex along its layer; ``extent`` is each real vertex's size. Each group
    is placed on its own, its leftmost edge at 0 (the caller sets the groups side by side)."""
    up, down = _neighbours(layered, arcs)
    pos = [0.0] * layered.size
    for g in sorted(set(layered.group)):
        def mine(near: list[dict[int, float]], g: int = g) -> list[dict[int, float]]:
            return [{o: w for o, w in d.items() if layered.group[o] == g} for d in near]
        sub = [[v for v in layer if layered.group[v] == g] for layer in layers]
        _place_group([x for x in sub if x], mine(up), mine(down), extent, gap, dummy_gap, pos)
    return pos


def _place_group(layers: list[list[int]], up: list[dict[int, float]], down: list[dict[int, float]],
                 extent: Sequence[float], gap: float, dummy_gap: float, pos: list[float], sweeps: int = 10) -> None:
    n = len(extent)

    def size(v: int) -> float:
        return extent[v] if v < n else 0.0

    def gaps(layer: list[int]) -> list[float]:
        return [(size(a) + size(b)) / 2 + (gap if a < n and b < n else dummy_gap) for a, b in zip(layer, layer[1:])]

    def relax(layer: list[int], nears: Sequence[list[dict[int, float]]]) -> None:
        desired, weight = [], []
        for i, v in enumerate(layer):
            links = [(pos[o], w * _straightness(v, o, n)) for near in nears for o, w in near[v].items()]
            total = sum(w for _, w in links)
            if total:
                desired.append(sum(p * w for p, w in links) / total)
            else:   # nothing pulls it: stay close to the previous vertex
                desired.append(desired[-1] + (size(layer[i - 1]) + size(v)) / 2 + gap if i else pos[v])
            weight.append(total or 0.05)
        for v, x in zip(layer, _fit(layer, desired, weight, gaps(layer))):
            pos[v] = x

    for layer in layers:
        for v, x in zip(layer, _fit(layer, [0.0] * len(layer), [1.0] * len(layer), gaps(layer))):
            pos[v] = x
    for _ in range(sweeps):
        for layer in layers[1:]:
            relax(layer, (up,))
        for layer in reversed(layers[:-1]):
            relax(layer, (down,))
    for layer in layers:
        relax(layer, (up, down))
    left = min(pos[v] - size(v) / 2 for layer in layers for v in layer)
    for layer in layers:
        for v in layer:
            pos[v] -= left


def _straightness(a: int, b: int, n: int) -> float:
    """Weight of keeping a segment vertical: long edges (between dummies) count most."""
    return 8.0 if a >= n and b >= n else 2.0 if a >= n or b >= n else 1.0
