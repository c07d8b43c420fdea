"""Generate BPMN diagram interchange (BPMNDI) for hand-written BPMN 2.0 semantics.

Diagrams in ``processes/`` are written as semantics only (process, laneSet, tasks, gateways, events,
sequence flows, embedded subprocesses).  Modellers such as bpmn-js and Camunda Modeler need shapes and
edges to open them, so this module draws them:

* every lane is a horizontal band, stacked top to bottom in document order (nested lanes are bands inside
  their parent lane); flow nodes that no lane references go in an unlabelled band at the bottom;
* a flow node's column is its rank: the longest path from the start event(s) along sequence flows, with
  loop-closing (back) flows ignored; nodes with the same rank in the same band stack vertically, ordered
  by the barycentre of their predecessors (and by which of a gateway's flows leads to them, so that the
  targets of a gateway stack in the order of its flows), and a band grows to fit them;
* an embedded subprocess is drawn expanded, sized to hold its own children (laid out by the same rule,
  not in lanes, with room at the bottom for its loop or multi-instance marker) and occupies one column of
  its parent, which is widened to fit it;
* boundary events sit on the bottom edge of their host;
* sequence flows leave the right middle of their source and enter the left middle of their target.  They
  run vertically only in the channels between columns, each flow on a track (x) of its own there, in the
  order that crosses least, and a channel widens to fit its tracks; they run horizontally along rows
  (straight on when the cells in between are empty) or else along corridors between rows, again each on
  a track of its own; loops run back below the nodes.  So no two flows share a line unless they have the
  same source or the same target (a fan-out's first stub, a fan-in's last one);
* event and gateway names go below the shape, inside the band (and subprocess) it is in; a flow's name
  goes beside its own first horizontal segment, near its source, clear of shapes and other labels (a
  channel is widened when there is no room).

With a ``collaboration`` the plane shows it, each participant as a pool stacked top to bottom (a
participant without a process is a thin empty pool) with its message flows; without one the plane shows
the process.  A process that no participant shows (or, without a collaboration, every process after the
first) gets a ``BPMNDiagram`` of its own.  Data objects, data stores, text annotations and associations
are not drawn (they stay in the semantics; modellers simply do not show them).

Run ``python -m app.engine.layout FILE.bpmn ...`` to rewrite files in place and
``python -m app.engine.layout --check FILE.bpmn ...`` to fail (exit 1) when a file has elements without
DI.  Any existing ``bpmndi:BPMNDiagram`` is replaced; everything else is kept as it is.  Input is parsed
without entity expansion or network access, and a file with a DOCTYPE is refused (:class:`LayoutError`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from lxml import etree

from app.engine.bpmn_names import (
    BPMN_NS,
    BPMNDI_NS,
    DC_NS,
    DI_NS,
    EVENT_TAGS,
    FLOW_NODE_TAGS,
    GATEWAY_TAGS,
    SUBPROCESS_TAGS,
)

_PREFERRED_PREFIXES = {BPMNDI_NS: "bpmndi", DC_NS: "dc", DI_NS: "di"}

# Standard shape sizes (width, height).
TASK_SIZE = (100, 80)
EVENT_SIZE = (36, 36)
GATEWAY_SIZE = (50, 50)
SUBPROCESS_MIN_SIZE = (200, 120)

ORIGIN_X = 160  # left edge of the first pool / lane
ORIGIN_Y = 80  # top edge of the first pool / lane
POOL_HEADER = 30  # the vertical name strip at the left of a pool
LANE_HEADER = 30  # the vertical name strip at the left of a lane
MARGIN_X = 50  # least space between the headers and the first column, and after the last column
COLUMN_MIN_WIDTH = 100  # a column is as wide as its widest node, at least this
H_GAP = 50  # least gap between columns: the channel that vertical runs of flows use
TRACK_X = 20  # between the vertical runs of different flows in one channel
CHANNEL_LEAD = 15  # least space between a column and the first vertical run in the channel after it
CHANNEL_TAIL = 25  # least space between the last vertical run in a channel and the next column
ROW_GAP = 40  # least vertical gap between nodes stacked in one band
CORRIDOR_PAD = 24  # between a corridor's horizontal tracks and the rows (and labels) above and below
TRACK_Y = 20  # between the horizontal runs of different flows in one corridor
LABEL_CLEAR = 10  # least space between the labels hanging below a row and the next row
BAND_PAD = 30  # space above the first and below the last row of a lane band
MIN_BAND_HEIGHT = 150  # minimum height of a lane (or of a pool without lanes)
SUB_BAND_PAD = 20  # the same, inside a subprocess
SUB_PAD_X = 50  # least space between a subprocess's border and its first / last column
SUB_PAD_TOP = 20  # room for the subprocess's name above its children
SUB_PAD_BOTTOM = 24  # keeps the children clear of the loop / multi-instance marker at the bottom centre
LOOP_FIRST = 30  # least distance from the lowest row of a band to its first loop channel
LOOP_STEP = 15  # distance between loop channels in one band
LEG_STEP = 12  # between the legs of the flows leaving several boundary events of one host
POOL_GAP = 60  # vertical gap between pools
BLACK_BOX_HEIGHT = 60  # a participant without a process
LABEL_WIDTH = 90  # external label width of events and gateways
LINE_HEIGHT = 14
CHAR_WIDTH = 6  # rough width of a character in the modellers' 11-12px label font
LABEL_GAP = 5  # between a shape and its label below
EDGE_LABEL_GAP = 3  # between a flow's line and its label
LABEL_PASSES = 12  # rounds of making room in channels for flow labels that do not fit
LABEL_ROOM_STEP = 20  # room added to a channel in one round
LABEL_ROOM_MAX = 160  # and at most this much in all
CROSSING_COST = 1000  # ordering tracks: one flow's line crossing another's
CLASH_COST = 1_000_000  # ... and two flows (not from one source or into one target) on one line
CROSSING_CLUTTER = 100  # placing a label: another flow's line (or a lane border) crossing it
EXACT_ORDER_MAX = 10  # order the tracks of a channel exactly up to this many, greedily beyond
DOGLEG_ROUNDS = 6  # rounds of splitting vertical runs that cannot avoid another flow's line
LEG_KEYS = 1000  # leg levels per column in one row (see _Container._leg_key)

Point = tuple[int, int]
# A level in a band, in top to bottom order: (band, 2k + 1, 0) is the middle of row k and (band, 2k + 1, leg)
# the legs below it, (band, 2k, track) the tracks of the corridor above row k, (band, 2n + 1, i) loop i.
YKey = tuple[int, int, int]
Adjacency = dict[str, list[tuple[str, str]]]  # node id -> (flow id, target id) for each outgoing flow


class LayoutError(ValueError):
    """The input is not a BPMN document this module can (or may safely) lay out."""


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle in diagram coordinates."""

    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h

    @property
    def cx(self) -> int:
        return self.x + self.w // 2

    @property
    def cy(self) -> int:
        return self.y + self.h // 2

    def moved(self, dx: int, dy: int) -> Box:
        return Box(self.x + dx, self.y + dy, self.w, self.h)


@dataclass
class _Shape:
    element_id: str
    bounds: Box
    attrs: dict[str, str] = field(default_factory=dict)
    label: Box | None = None


@dataclass
class _Edge:
    element_id: str
    points: list[Point]
    label: Box | None = None


@dataclass
class _Plane:
    element_id: str
    shapes: list[_Shape] = field(default_factory=list)
    edges: list[_Edge] = field(default_factory=list)


def _q(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


def _bpmn_local(el: Any) -> str | None:
    """The local name of a BPMN-namespace element, or None for anything else (comments, extensions)."""
    if not isinstance(el.tag, str):
        return None
    qname = etree.QName(el)
    return qname.localname if qname.namespace == BPMN_NS else None


def _even(value: int) -> int:
    return value + (value % 2)


def _wrap(text: str, max_chars: int) -> list[str]:
    """Greedy word wrap, as a rough estimate of how a modeller breaks a label."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= max_chars or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines or [""]


def _label_below(box: Box, name: str) -> Box:
    lines = _wrap(name, LABEL_WIDTH // CHAR_WIDTH)
    return Box(box.cx - LABEL_WIDTH // 2, box.bottom + LABEL_GAP, LABEL_WIDTH, LINE_HEIGHT * len(lines))


def _label_height(name: str | None) -> int:
    if not name or not name.strip():
        return 0
    return LINE_HEIGHT * len(_wrap(name, LABEL_WIDTH // CHAR_WIDTH))


def _shape_size(local: str) -> tuple[int, int]:
    if local in EVENT_TAGS:
        return EVENT_SIZE
    if local in GATEWAY_TAGS:
        return GATEWAY_SIZE
    return TASK_SIZE


def _simplify(points: list[Point]) -> list[Point]:
    """Drop repeated points and the middle of three collinear points."""
    out: list[Point] = []
    for p in points:
        if out and out[-1] == p:
            continue
        if len(out) >= 2:
            a, b = out[-2], out[-1]
            if (a[0] == b[0] == p[0]) or (a[1] == b[1] == p[1]):
                out[-1] = p
                continue
        out.append(p)
    return out


def _reachable(node: str, adjacency: Adjacency) -> set[str]:
    """Nodes reachable from ``node`` by one or more flows."""
    seen: set[str] = set()
    todo = [t for _, t in adjacency[node]]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(t for _, t in adjacency[current])
    return seen


def _loop_closing_flows(nodes: list[str], adjacency: Adjacency, starts: list[str]) -> set[str]:
    """The flows to leave out so that the rest is acyclic: one per loop, where it returns to its start.

    Only flows inside a strongly connected set of nodes (a loop) can close a loop.  In each such set a
    depth-first search starts at the node nearest the start event (the loop's entry, in breadth-first
    steps; ties by document order), and a flow back to a node still on the search stack closes the loop.
    """
    index = {n: i for i, n in enumerate(nodes)}
    has_incoming = {t for edges in adjacency.values() for _, t in edges}
    distance: dict[str, int] = {}
    for root in [*starts, *(n for n in nodes if n not in has_incoming), *nodes]:
        if root in distance:
            continue
        distance[root] = 0
        queue = deque([root])
        while queue:
            current = queue.popleft()
            for _, t in adjacency[current]:
                if t not in distance:
                    distance[t] = distance[current] + 1
                    queue.append(t)

    reach = {n: _reachable(n, adjacency) for n in nodes}
    component = {n: frozenset({n} | {m for m in reach[n] if n in reach[m]}) for n in nodes}
    back: set[str] = set()
    done: set[frozenset[str]] = set()
    for members in (component[n] for n in nodes):
        if members in done:
            continue
        done.add(members)
        entry = min(members, key=lambda n: (distance[n], index[n]))
        if entry not in reach[entry]:
            continue  # a single node without a flow to itself: no loop
        on_stack = {entry}
        visited = {entry}
        stack: list[tuple[str, Iterator[tuple[str, str]]]] = [(entry, iter(adjacency[entry]))]
        while stack:
            current, edges = stack[-1]
            step = next(edges, None)
            if step is None:
                on_stack.discard(current)
                stack.pop()
                continue
            flow_id, target = step
            if target not in members:
                continue
            if target in on_stack:
                back.add(flow_id)
            elif target not in visited:
                visited.add(target)
                on_stack.add(target)
                stack.append((target, iter(adjacency[target])))
    return back


@dataclass(eq=False)
class _Step:
    """Run horizontally to the flow's own track in ``channel``, then vertically to ``level``."""

    channel: int
    level: YKey
    corridor: tuple[int, int] | None = None  # (band, k) when ``level`` is a track of the corridor above row k


@dataclass(eq=False)
class _Route:
    """How one sequence flow is drawn: rows, corridors and channel steps first, coordinates later.

    A route leaves its source horizontally at level ``start`` (the source's row, or for a flow leaving a
    boundary event the leg below its host) and follows its steps; the last step's level is the target's
    row, which it enters from the left.
    """

    flow_id: str
    source: str  # the flow's sourceRef: a node, or a boundary event on one
    target: str
    name: str
    index: int  # document order
    start: YKey
    steps: list[_Step] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    label: Box | None = None

    def shares_an_end(self, other: _Route) -> bool:
        return self.source == other.source or self.target == other.target


@dataclass(eq=False)
class _Net:
    """One vertical run of a route in a channel, with the levels its horizontal runs meet it at.

    ``pins`` holds (level, side): the horizontal run at that level goes off to the left ("L") or to the
    right ("R") of the vertical run.
    """

    route: _Route
    step: _Step
    pins: tuple[tuple[YKey, str], tuple[YKey, str]]

    @property
    def low(self) -> YKey:
        return min(self.pins[0][0], self.pins[1][0])

    @property
    def high(self) -> YKey:
        return max(self.pins[0][0], self.pins[1][0])


def _net_cost(a: _Net, b: _Net) -> int:
    """The cost of putting ``a``'s vertical run left of ``b``'s in one channel: crossings and clashes.

    A horizontal run of ``b`` that goes off to the left passes ``a``'s vertical run, and one of ``a`` that
    goes off to the right passes ``b``'s: strictly inside the other run's span it crosses it, and at the
    end of that span it runs along the other flow's own horizontal run (a clash: two flows drawn on one
    line), which is only acceptable between flows from one source or into one target.
    """
    cost = 0
    allowed = a.route.shares_an_end(b.route)
    for level, side in b.pins:
        if side == "L":
            if a.low < level < a.high:
                cost += CROSSING_COST
            elif level in (a.low, a.high) and not allowed:
                cost += CLASH_COST
    for level, side in a.pins:
        if side == "R":
            if b.low < level < b.high:
                cost += CROSSING_COST
            elif level in (b.low, b.high) and not allowed:
                cost += CLASH_COST
    return cost


def _best_order(costs: list[list[int]]) -> list[int]:
    """An order of 0..n-1 with the least total ``costs[i][j]`` over the pairs where i comes before j.

    Exact (dynamic programming over subsets) for a few items, greedy insertion and swaps beyond that.
    """
    n = len(costs)
    if n <= 1:
        return list(range(n))
    if n <= EXACT_ORDER_MAX:
        size = 1 << n
        best = [-1] * size
        choice = [-1] * size
        best[0] = 0
        for mask in range(size):
            base = best[mask]
            if base < 0:
                continue
            members = [i for i in range(n) if mask >> i & 1]
            for k in range(n):
                bit = 1 << k
                if mask & bit:
                    continue
                total = base + sum(costs[i][k] for i in members)
                if best[mask | bit] < 0 or total < best[mask | bit]:
                    best[mask | bit] = total
                    choice[mask | bit] = k
        order: list[int] = []
        mask = size - 1
        while mask:
            k = choice[mask]
            order.append(k)
            mask ^= 1 << k
        return order[::-1]

    def cost_of(seq: list[int]) -> int:
        return sum(costs[seq[i]][seq[j]] for i in range(len(seq)) for j in range(i + 1, len(seq)))

    order = []
    for k in range(n):
        order = min(([*order[:p], k, *order[p:]] for p in range(len(order) + 1)), key=cost_of)
    improved = True
    while improved:
        improved = False
        for p in range(n - 1):
            a, b = order[p], order[p + 1]
            if costs[b][a] < costs[a][b]:
                order[p], order[p + 1] = b, a
                improved = True
    return order


def _text_size(name: str) -> tuple[int, int]:
    lines = _wrap(name, LABEL_WIDTH // CHAR_WIDTH)
    return min(LABEL_WIDTH, max(len(line) for line in lines) * CHAR_WIDTH + 6), LINE_HEIGHT * len(lines)


def _crosses(box: Box, p: Point, q: Point) -> bool:
    """Whether the orthogonal segment p-q touches the inside of ``box``."""
    (x1, y1), (x2, y2) = p, q
    if y1 == y2:
        return box.y < y1 < box.bottom and min(x1, x2) < box.right and max(x1, x2) > box.x
    return box.x < x1 < box.right and min(y1, y2) < box.bottom and max(y1, y2) > box.y


class _Container:
    """Ranks, orders, measures and routes the flow nodes directly inside one process or subprocess.

    :meth:`measure` lays the content out relative to its own top left corner (0, 0); :meth:`place` then
    moves it to where its parent puts it.
    """

    def __init__(self, element: Any, band_pad: int, min_band_height: int, margin: int) -> None:
        self.element = element
        self.band_pad = band_pad
        self.min_band_height = min_band_height
        self.margin = margin
        self.nodes: dict[str, Any] = {}  # ranked flow nodes, document order
        self.boundaries: dict[str, list[str]] = {}  # host id -> boundary event ids
        self.boundary_elements: dict[str, Any] = {}
        self.host_of: dict[str, str] = {}
        self.flows: list[tuple[str, str, str, Any]] = []  # id, source, target, element
        self.children: dict[str, _Container] = {}
        pending_boundaries: list[tuple[str, Any]] = []
        for child in element:
            local = _bpmn_local(child)
            child_id = child.get("id")
            if local is None or not child_id:
                continue
            if local == "boundaryEvent":
                pending_boundaries.append((child_id, child))
            elif local in FLOW_NODE_TAGS:
                self.nodes[child_id] = child
                if local in SUBPROCESS_TAGS:
                    self.children[child_id] = _Container(child, SUB_BAND_PAD, 0, SUB_PAD_X)
            elif local == "sequenceFlow":
                self.flows.append((child_id, child.get("sourceRef", ""), child.get("targetRef", ""), child))
        for boundary_id, boundary in pending_boundaries:
            host = boundary.get("attachedToRef", "")
            if host in self.nodes:
                self.boundaries.setdefault(host, []).append(boundary_id)
                self.boundary_elements[boundary_id] = boundary
                self.host_of[boundary_id] = host
            else:  # a boundary event without a host here is drawn as an ordinary node
                self.nodes[boundary_id] = boundary
        self.band_of: dict[str, int] = dict.fromkeys(self.nodes, 0)
        self.n_bands = 1
        # Filled in by measure().
        self.size: dict[str, tuple[int, int]] = {}
        self.rank: dict[str, int] = {}
        self.back: set[str] = set()
        self.slot: dict[str, int] = {}
        self.n_rows: list[int] = []
        self.row_h: list[list[int]] = []
        self.overhang: list[list[int]] = []  # how far labels and boundary flows reach below each row
        self.col_w: list[int] = []
        self.col_x: list[int] = []
        self.channel_x: dict[int, int] = {}  # channel c runs right of column c; -1 is left of column 0
        self.channel_w: dict[int, int] = {}
        self.channel_lead: dict[int, int] = {}
        self.band_top: list[int] = []
        self.band_h: list[int] = []
        self.routes: list[_Route] = []
        self.nets: dict[int, list[_Net]] = {}  # channel -> its vertical runs, left to right
        self.corridors: dict[tuple[int, int], list[tuple[_Route, _Step]]] = {}  # (band, k) -> tracks, top down
        self.loops: dict[int, list[_Route]] = {}  # band -> back flows, top to bottom
        self.leg_index: dict[str, int] = {}  # boundary event -> its leg below the host (0 is highest)
        self.level_y: dict[YKey, int] = {}
        self.rel: dict[str, Box] = {}  # node boxes relative to the container
        self.rel_label: dict[str, Box] = {}
        self.width = 0
        self.height = 0
        self.ox = 0
        self.oy = 0

    # -- measuring ---------------------------------------------------------------------------------------

    def measure(self) -> tuple[int, int]:
        """Lay the content out relative to (0, 0); return its (width, height)."""
        for node_id, el in self.nodes.items():
            if node_id in self.children:
                child_w, child_h = self.children[node_id].measure()
                self.size[node_id] = (
                    _even(max(SUBPROCESS_MIN_SIZE[0], child_w)),
                    _even(max(SUBPROCESS_MIN_SIZE[1], child_h + SUB_PAD_TOP + SUB_PAD_BOTTOM)),
                )
            else:
                self.size[node_id] = _shape_size(_bpmn_local(el) or "")
        self._rank()
        self._order()
        self._rows()
        self._plan()
        room: dict[int, int] = {}
        for attempt in range(LABEL_PASSES):
            self._geometry(room)
            for route in self.routes:
                route.points = self._points(route)
            wanted = self._place_labels(room, last=attempt == LABEL_PASSES - 1)
            if not wanted:
                break
            for channel, extra in wanted.items():
                room[channel] = room.get(channel, 0) + extra
        return self.width, self.height

    def _source(self, node_id: str) -> str:
        """Flows leaving a boundary event count, for ranking, as leaving its host."""
        return self.host_of.get(node_id, node_id)

    def _starts(self) -> list[str]:
        return [n for n, el in self.nodes.items() if _bpmn_local(el) == "startEvent"]

    def _rank(self) -> None:
        adjacency: Adjacency = {n: [] for n in self.nodes}
        for flow_id, source, target, _ in self.flows:
            source = self._source(source)
            if source in self.nodes and target in self.nodes:
                adjacency[source].append((flow_id, target))
        self.back = _loop_closing_flows(list(self.nodes), adjacency, self._starts())

        # Longest path over what is left, which is acyclic (Kahn's algorithm).
        forward = {n: [t for f, t in adjacency[n] if f not in self.back] for n in self.nodes}
        indegree = dict.fromkeys(self.nodes, 0)
        for targets in forward.values():
            for t in targets:
                indegree[t] += 1
        self.rank = dict.fromkeys(self.nodes, 0)
        queue = deque(n for n in self.nodes if indegree[n] == 0)
        while queue:
            node = queue.popleft()
            for t in forward[node]:
                self.rank[t] = max(self.rank[t], self.rank[node] + 1)
                indegree[t] -= 1
                if indegree[t] == 0:
                    queue.append(t)
        n_cols = max(self.rank.values(), default=-1) + 1
        self.col_w = [COLUMN_MIN_WIDTH] * n_cols
        for node_id, (w, _) in self.size.items():
            r = self.rank[node_id]
            self.col_w[r] = max(self.col_w[r], w)

    def _order(self) -> None:
        """Stack the nodes of each (column, band) cell: the barycentre of their predecessors' rows.

        A predecessor's position counts its row and, as a fraction, which of its outgoing flows this is,
        so that the targets of one gateway stack in the order of its flows.  A node then takes the row of
        its highest predecessor if that is still free, so that straight runs stay straight.
        """
        order = list(self.nodes)
        index = {n: i for i, n in enumerate(order)}
        outgoing: dict[str, list[str]] = {}
        preds: dict[str, list[tuple[str, int, str, str]]] = {n: [] for n in self.nodes}
        for flow_id, source, target, _ in self.flows:
            if flow_id in self.back or target not in self.nodes:
                continue
            if source in self.host_of:
                preds[target].append((self.host_of[source], 1, source, flow_id))  # below the host
            elif source in self.nodes:
                preds[target].append((source, 0, source, flow_id))
            else:
                continue
            outgoing.setdefault(source, []).append(flow_id)

        cells: dict[tuple[int, int], list[str]] = {}
        for node_id in order:
            cells.setdefault((self.rank[node_id], self.band_of[node_id]), []).append(node_id)
        for rank_band in sorted(cells):
            band = rank_band[1]
            cell = cells[rank_band]
            prefs: dict[str, int] = {}
            keys: dict[str, float] = {}
            for node_id in cell:
                rows = [
                    (self.slot[p] + bump, outgoing[source].index(flow_id) / len(outgoing[source]))
                    for p, bump, source, flow_id in preds[node_id]
                    if self.band_of.get(p) == band
                ]
                prefs[node_id] = min((row for row, _ in rows), default=0)
                keys[node_id] = sum(row + 0.9 * part for row, part in rows) / len(rows) if rows else 0.0
            cell.sort(key=lambda n: (keys[n], index[n]))
            last = -1
            for node_id in cell:
                last = max(prefs[node_id], last + 1)
                self.slot[node_id] = last

    def _boundary_extra(self, host: str) -> int:
        """Room below a host for its boundary events, their labels and the legs of the flows leaving them."""
        ids = self.boundaries.get(host)
        if not ids:
            return 0
        return self._leg_offset(host) + (len(ids) - 1) * LEG_STEP + LINE_HEIGHT + 2 * EDGE_LABEL_GAP

    def _leg_offset(self, host: str) -> int:
        """From a host's bottom to the highest leg of the flows leaving its boundary events."""
        label = max(_label_height(self.boundary_elements[b].get("name")) for b in self.boundaries[host])
        return EVENT_SIZE[1] // 2 + LABEL_GAP + label + 8

    def _rows(self) -> None:
        self.n_rows = [0] * self.n_bands
        for node_id in self.nodes:
            band = self.band_of[node_id]
            self.n_rows[band] = max(self.n_rows[band], self.slot[node_id] + 1)
        # Every row is at least as tall as a task.
        self.row_h = [[TASK_SIZE[1]] * n for n in self.n_rows]
        self.overhang = [[0] * n for n in self.n_rows]
        for node_id in self.nodes:
            band, s = self.band_of[node_id], self.slot[node_id]
            self.row_h[band][s] = max(self.row_h[band][s], self.size[node_id][1])
        for node_id, el in self.nodes.items():
            band, s = self.band_of[node_id], self.slot[node_id]
            row_h, h = self.row_h[band][s], self.size[node_id][1]
            below = (row_h + h) // 2 - row_h  # from the row's bottom to the node's (<= 0)
            need = 0
            if (_bpmn_local(el) or "") in EVENT_TAGS | GATEWAY_TAGS:
                label = _label_height(el.get("name"))
                need = below + LABEL_GAP + label if label else 0
            if node_id in self.boundaries:
                need = max(need, below + self._boundary_extra(node_id))
            self.overhang[band][s] = max(self.overhang[band][s], need)

    # -- planning the routes -----------------------------------------------------------------------------

    def _row_key(self, node_id: str) -> YKey:
        return (self.band_of[node_id], 2 * self.slot[node_id] + 1, 0)

    def _leg_key(self, boundary_id: str) -> YKey:
        """The level of the leg that the flows leaving a boundary event run along below its host."""
        host = self.host_of[boundary_id]
        sub = 1 + LEG_KEYS * self.rank[host] + self.leg_index[boundary_id]
        return (self.band_of[host], 2 * self.slot[host] + 1, sub)

    def _plan(self) -> None:
        """Choose, for every flow, the rows, corridors and channels it runs in, and order the tracks."""
        for ids in self.boundaries.values():
            for k, boundary_id in enumerate(ids):
                self.leg_index[boundary_id] = len(ids) - 1 - k  # the leftmost event's leg runs lowest
        self.routes = []
        for i, (flow_id, source, target, el) in enumerate(self.flows):
            origin = self._source(source)
            if target not in self.rank or origin not in self.rank:
                continue
            start = self._leg_key(source) if source in self.host_of else self._row_key(source)
            self.routes.append(_Route(flow_id, source, target, (el.get("name") or "").strip(), i, start))

        n_out: dict[str, int] = {}
        for route in self.routes:
            if route.flow_id not in self.back:
                n_out[route.source] = n_out.get(route.source, 0) + 1
        cell_node = {(self.rank[n], self.band_of[n], self.slot[n]) for n in self.nodes}
        reserved: dict[tuple[int, int, int], list[_Route]] = {}

        def free(route: _Route, cells: list[tuple[int, int, int]]) -> bool:
            return all(
                cell not in cell_node and all(route.shares_an_end(other) for other in reserved.get(cell, []))
                for cell in cells
            )

        forward = sorted(
            (r for r in self.routes if r.flow_id not in self.back),
            key=lambda r: (self.rank[r.target] - self.rank[self._source(r.source)], r.index),
        )
        for route in forward:
            origin = self._source(route.source)
            sc, tc = self.rank[origin], self.rank[route.target]
            t_key = self._row_key(route.target)
            sb, ss = self.band_of[origin], self.slot[origin]
            tb, ts = self.band_of[route.target], self.slot[route.target]
            on_target_row = [(c, tb, ts) for c in range(sc + 1, tc)]
            on_source_row = [(c, sb, ss) for c in range(sc + 1, tc)]
            options: list[tuple[list[tuple[int, int, int]], list[_Step]]] = []
            if route.start == t_key:
                options.append((on_target_row, []))  # straight
            if tc == sc + 1:
                options.append(([], [_Step(sc, t_key)]))
            via_target = (on_target_row, [_Step(sc, t_key)])
            via_source = (on_source_row, [_Step(tc - 1, t_key)])
            if route.source in self.host_of:
                options.append(via_target)
            elif n_out.get(route.source, 0) > 1:
                options += [via_target, via_source]
            else:
                options += [via_source, via_target]
            for cells, steps in options:
                if free(route, cells):
                    for cell in cells:
                        reserved.setdefault(cell, []).append(route)
                    route.steps = steps
                    break
            else:
                corridor = self._pick_corridor((sb, 2 * ss + 1), (tb, 2 * ts + 1))
                route.steps = [_Step(sc, (corridor[0], 2 * corridor[1], -1), corridor), _Step(tc - 1, t_key)]

        for route in self.routes:
            if route.flow_id in self.back:
                origin = self._source(route.source)
                band = max(self.band_of[origin], self.band_of[route.target])
                self.loops.setdefault(band, []).append(route)
        for band, loops in self.loops.items():
            # Inner loops above outer ones, so that they do not cross.
            loops.sort(key=lambda r: (self.rank[self._source(r.source)] - self.rank[r.target], r.index))
            for i, route in enumerate(loops):
                loop_key = (band, 2 * self.n_rows[band] + 1, i)
                sc = self.rank[self._source(route.source)]
                route.steps = [_Step(sc, loop_key), _Step(self.rank[route.target] - 1, self._row_key(route.target))]

        for _ in range(DOGLEG_ROUNDS):
            self._order_corridors()
            clashes = self._order_channels()
            if not any([self._dogleg(net) for net in clashes]):
                break

    def _order_corridors(self) -> None:
        """Give each route running along a corridor a track of its own there, in the order that crosses least."""
        self.corridors = {}
        for route in self.routes:
            for step in route.steps:
                if step.corridor is not None:
                    self.corridors.setdefault(step.corridor, []).append((route, step))
        for corridor, members in self.corridors.items():
            costs = [[self._corridor_cost(a, b, corridor) for b in members] for a in members]
            members[:] = [members[i] for i in _best_order(costs)]
            for track, (_, step) in enumerate(members):
                step.level = (corridor[0], 2 * corridor[1], track)

    def _order_channels(self) -> list[_Net]:
        """Put the vertical runs in each channel in the order that crosses least; return the runs that
        still clash with the run left of them (two flows on one line)."""
        nets: dict[int, list[_Net]] = {}
        for route in self.routes:
            prev_key, prev_pos = route.start, 2 * self.rank[self._source(route.source)] + 1
            for i, step in enumerate(route.steps):
                pos = 2 * step.channel + 2
                last = i + 1 == len(route.steps)
                next_pos = 2 * self.rank[route.target] + 1 if last else 2 * route.steps[i + 1].channel + 2
                # Two steps in one channel (a dogleg): the first run is left of the second.
                pins = ((prev_key, "L" if prev_pos <= pos else "R"), (step.level, "R" if next_pos >= pos else "L"))
                nets.setdefault(step.channel, []).append(_Net(route, step, pins))
                prev_key, prev_pos = step.level, pos
        self.nets = {}
        clashes: list[_Net] = []
        for channel, members in sorted(nets.items()):
            costs = [[self._pair_cost(a, b, i, j) for j, b in enumerate(members)] for i, a in enumerate(members)]
            order = _best_order(costs)
            self.nets[channel] = [members[i] for i in order]
            for p, i in enumerate(order):
                if any(costs[j][i] >= CLASH_COST for j in order[:p]):
                    clashes.append(members[i])
        return clashes

    @staticmethod
    def _pair_cost(a: _Net, b: _Net, i: int, j: int) -> int:
        if a.route is b.route:
            steps = a.route.steps
            return CLASH_COST if steps.index(a.step) > steps.index(b.step) else 0
        return _net_cost(a, b) + (1 if i > j else 0)

    def _dogleg(self, net: _Net) -> bool:
        """Split a vertical run that cannot avoid another flow's line in two, joined through a corridor
        between its ends (the two runs can then go either side of the other flow's)."""
        route, step = net.route, net.step
        if step.corridor is not None or any(s is not step and s.channel == step.channel for s in route.steps):
            return False  # already a corridor end or a dogleg
        low, high = net.low, net.high
        between = [
            (band, k)
            for band in range(low[0], high[0] + 1)
            for k in range(self.n_rows[band] + 1)
            if low < (band, 2 * k, -1) and (band, 2 * k, 1 << 30) < high
        ]
        if not between:
            return False
        corridor = between[len(between) // 2]
        route.steps.insert(route.steps.index(step), _Step(step.channel, (corridor[0], 2 * corridor[1], -1), corridor))
        return True

    def _global_level(self, band: int, level: int) -> int:
        return sum(2 * self.n_rows[b] + 2 for b in range(band)) + level

    def _pick_corridor(self, source: tuple[int, int], target: tuple[int, int]) -> tuple[int, int]:
        """The corridor (band, k: above row k) next to the source's or the target's row with the least climb."""
        s_level, t_level = self._global_level(*source), self._global_level(*target)
        candidates = [
            (source[0], source[1] // 2),
            (source[0], source[1] // 2 + 1),
            (target[0], target[1] // 2),
            (target[0], target[1] // 2 + 1),
        ]

        def climb(corridor: tuple[int, int]) -> int:
            level = self._global_level(corridor[0], 2 * corridor[1])
            return abs(s_level - level) + abs(level - t_level)

        return min(candidates, key=climb)

    def _corridor_cost(self, a: tuple[_Route, _Step], b: tuple[_Route, _Step], corridor: tuple[int, int]) -> int:
        """The cost of running ``a`` on a track above ``b`` in one corridor (crossings of their ends)."""
        if a[0] is b[0]:
            return 0
        level = (corridor[0], 2 * corridor[1], 0)

        def ends(member: tuple[_Route, _Step]) -> tuple[int, int, list[tuple[int, bool]]]:
            route, step = member
            i = route.steps.index(step)
            before = route.start if i == 0 else route.steps[i - 1].level
            after = route.steps[i + 1]
            return step.channel, after.channel, [(step.channel, before < level), (after.channel, after.level < level)]

        a_first, a_last, a_ends = ends(a)
        b_first, b_last, b_ends = ends(b)
        cost = 0
        for channel, up in b_ends:  # b's vertical runs that climb past a's track
            if up and a_first < channel < a_last:
                cost += CROSSING_COST
            elif up and channel in (a_first, a_last):
                cost += CROSSING_COST // 2
        for channel, up in a_ends:  # a's vertical runs that drop past b's track
            if not up and b_first < channel < b_last:
                cost += CROSSING_COST
            elif not up and channel in (b_first, b_last):
                cost += CROSSING_COST // 2
        return cost + (1 if a[0].index > b[0].index else 0)

    # -- geometry ----------------------------------------------------------------------------------------

    def _geometry(self, room: dict[int, int]) -> None:
        """Coordinates relative to the container for the given extra room in the channels."""
        n_cols = len(self.col_w)
        x = 0
        self.col_x = []
        for channel in range(-1, n_cols):
            if channel >= 0:
                self.col_x.append(x)
                x += self.col_w[channel]
            base = self.margin if channel in (-1, n_cols - 1) else H_GAP
            tracks = len(self.nets.get(channel, []))
            if tracks:
                group = (tracks - 1) * TRACK_X
                lead = max(CHANNEL_LEAD, (base - group) // 2)
                width = max(base, lead + group + CHANNEL_TAIL)
            else:
                lead, width = base // 2, base
            self.channel_x[channel] = x
            self.channel_lead[channel] = lead
            self.channel_w[channel] = width + room.get(channel, 0)
            x += self.channel_w[channel]
        self.width = x

        self.level_y = {}
        self.band_top, self.band_h = [], []
        top = 0
        for band in range(self.n_bands):
            n = self.n_rows[band]
            rel: dict[YKey, int] = {}
            y = self.band_pad
            bottom = y
            for k in range(n + 1):
                tracks = len(self.corridors.get((band, k), []))
                start = y if k == 0 else bottom + self.overhang[band][k - 1]
                for t in range(tracks):
                    rel[(band, 2 * k, t)] = start + CORRIDOR_PAD + t * TRACK_Y
                end = start + 2 * CORRIDOR_PAD + (tracks - 1) * TRACK_Y if tracks else start
                if k < n:
                    y = max(end, bottom + ROW_GAP, start + LABEL_CLEAR) if k else end
                    rel[(band, 2 * k + 1, 0)] = y + self.row_h[band][k] // 2
                    bottom = y + self.row_h[band][k]
                else:
                    y = end
            loop_y = bottom + LOOP_FIRST if n else y + LOOP_FIRST
            for i, route in enumerate(self.loops.get(band, [])):
                # Room above each loop for its label, below the labels hanging from the row above.
                room_above = _text_size(route.name)[1] + EDGE_LABEL_GAP + 2 if route.name else 0
                loop_y = max(loop_y, y + LABEL_CLEAR + room_above)
                rel[(band, 2 * n + 1, i)] = loop_y
                y = loop_y
                loop_y += LOOP_STEP
            needed = y + self.band_pad
            height = _even(max(self.min_band_height, needed))
            shift = (height - needed) // 2
            for key, value in rel.items():
                self.level_y[key] = top + shift + value
            self.band_top.append(top)
            self.band_h.append(height)
            top += height
        self.height = top

        self.rel = {}
        self.rel_label = {}
        for node_id in self.nodes:
            w, h = self.size[node_id]
            r = self.rank[node_id]
            cy = self.level_y[self._row_key(node_id)]
            self.rel[node_id] = Box(self.col_x[r] + (self.col_w[r] - w) // 2, cy - h // 2, w, h)
        for host, ids in self.boundaries.items():
            hb = self.rel[host]
            step = max(EVENT_SIZE[0] + 6, hb.w // (len(ids) + 1))
            for k, boundary_id in enumerate(ids):
                cx = hb.cx + (2 * k - (len(ids) - 1)) * step // 2
                self.rel[boundary_id] = Box(cx - EVENT_SIZE[0] // 2, hb.bottom - EVENT_SIZE[1] // 2, *EVENT_SIZE)
                self.level_y[self._leg_key(boundary_id)] = (
                    hb.bottom + self._leg_offset(host) + self.leg_index[boundary_id] * LEG_STEP
                )
        for node_id, el in [*self.nodes.items(), *self.boundary_elements.items()]:
            node_label = self._node_label(node_id, el, self.rel[node_id])
            if node_label is not None:
                self.rel_label[node_id] = node_label

    @staticmethod
    def _node_label(node_id: str, el: Any, box: Box) -> Box | None:
        local = _bpmn_local(el) or ""
        name = (el.get("name") or "").strip()
        if not name or local not in EVENT_TAGS | GATEWAY_TAGS:
            return None
        label = _label_below(box, name)
        if local == "boundaryEvent":  # beside the flow that drops from the event's bottom, not across it
            label = Box(box.cx + 6, label.y, label.w, label.h)
        return label

    def _track_x(self, step: _Step) -> int:
        for i, net in enumerate(self.nets[step.channel]):
            if net.step is step:
                return self.channel_x[step.channel] + self.channel_lead[step.channel] + i * TRACK_X
        raise AssertionError(f"no track for a step in channel {step.channel}")  # pragma: no cover

    def _points(self, route: _Route) -> list[Point]:
        s, t = self.rel[route.source], self.rel[route.target]
        if route.source in self.host_of:
            y = self.level_y[route.start]
            points = [(s.cx, s.bottom), (s.cx, y)]
        else:
            y = s.cy
            points = [(s.right, s.cy)]
        for step in route.steps:
            x = self._track_x(step)
            points.append((x, y))
            y = self.level_y[step.level]
            points.append((x, y))
        points.append((t.x, t.cy))
        return _simplify(points)

    # -- labels ------------------------------------------------------------------------------------------

    def _label_segments(self, route: _Route) -> list[tuple[Point, Point]]:
        """The route's horizontal segments, the one its label should go on first.

        That is its first horizontal segment, unless that is a stub it shares with other flows from its
        source (a gateway's fan-out): then the one after it, where the flow is on its own.
        """
        horizontal = [(p, q) for p, q in pairwise(route.points) if p[1] == q[1] and p[0] != q[0]]
        if len(horizontal) > 1:
            (p, q) = horizontal[0]
            lo, hi = min(p[0], q[0]), max(p[0], q[0])
            for other in self.routes:
                if other is route or other.source != route.source:
                    continue
                for a, b in pairwise(other.points):
                    if a[1] == b[1] == p[1] and min(a[0], b[0]) < hi and max(a[0], b[0]) > lo:
                        return [*horizontal[1:], horizontal[0]]
        return horizontal

    def _place_labels(self, room: dict[int, int], last: bool) -> dict[int, int]:
        """Put each flow label beside its route; return the extra room channels need for the ones that do not fit.

        A label sits just above (or else below) a horizontal segment of its flow, as near the segment's
        start as it can without overlapping a shape, a node label or another flow label; crossing other
        flows' lines, or running along a line another flow shares, only counts against a place.
        """
        area = Box(0, 0, self.width, self.height)
        obstacles = [*self.rel.values(), *self.rel_label.values()]
        lines: list[tuple[_Route | None, Point, Point]] = [
            (route, p, q) for route in self.routes for p, q in pairwise(route.points)
        ]
        lines += [(None, (0, top), (self.width, top)) for top in self.band_top[1:]]  # lane borders
        wanted: dict[int, int] = {}
        for route in self.routes:
            route.label = None
            if not route.name:
                continue
            w, h = _text_size(route.name)
            segments = self._label_segments(route) or [(route.points[0], route.points[-1])]
            best: tuple[int, int, Box] | None = None  # (score, clutter, box)
            fallback: tuple[int, Box] | None = None
            for n, (p, q) in enumerate(segments):
                for box, offset in self._label_candidates(p, q, w, h):
                    hard = sum(_overlap_area(box, o) for o in obstacles) + _outside_area(box, area)
                    if hard:
                        if n == 0 and (fallback is None or hard < fallback[0]):
                            fallback = (hard, box)
                        continue
                    clutter = self._label_clutter(route, box, p[1], lines)
                    score = offset + (10 if box.y > p[1] else 0) + clutter
                    if best is None or score < best[0]:
                        best = (score, clutter, box)
                if n == 0 and not last and (best is None or best[1] >= CROSSING_CLUTTER):
                    # Nowhere clear, or only where another flow crosses it: make room and try again
                    # rather than moving away from the source.
                    channel = self._channel_along(p, q)
                    if channel is not None and room.get(channel, 0) < LABEL_ROOM_MAX:
                        wanted[channel] = LABEL_ROOM_STEP
                        break
                if best is not None:
                    break
            chosen = best[2] if best is not None else fallback[1] if fallback is not None else None
            if chosen is None:  # pragma: no cover - the first segment always has places, if crowded ones
                p, q = segments[0]
                chosen = Box(min(p[0], q[0]) + 4, p[1] - EDGE_LABEL_GAP - h, w, h)
            route.label = chosen
            obstacles.append(chosen)
        return wanted

    @staticmethod
    def _label_candidates(p: Point, q: Point, w: int, h: int) -> Iterator[tuple[Box, int]]:
        """Places for a w x h label along the horizontal segment p-q, above and below it, from p on."""
        length = abs(q[0] - p[0])
        direction = 1 if q[0] > p[0] else -1
        fine = list(range(4, max(4, min(length - w - 4, 120)) + 1, 6))
        coarse = list(range(fine[-1] + 30, length - w - 4 + 1, 30))
        for offset in [*fine, *coarse]:
            x = p[0] + offset if direction > 0 else p[0] - offset - w
            yield Box(x, p[1] - EDGE_LABEL_GAP - h, w, h), offset
            yield Box(x, p[1] + EDGE_LABEL_GAP, w, h), offset

    @staticmethod
    def _label_clutter(route: _Route, box: Box, y: int, lines: list[tuple[_Route | None, Point, Point]]) -> int:
        """How much other flows' lines get in the way of a label at ``box`` beside a segment at ``y``."""
        grown = Box(box.x - 2, box.y - 2, box.w + 4, box.h + 4)
        clutter = 0
        for other, a, b in lines:
            if other is route:
                continue
            if _crosses(grown, a, b):
                clutter += CROSSING_CLUTTER
            elif a[1] == b[1] == y and min(a[0], b[0]) < box.right and max(a[0], b[0]) > box.x:
                clutter += CROSSING_CLUTTER // 2  # right beside a line that another flow runs along
        return clutter

    def _channel_along(self, p: Point, q: Point) -> int | None:
        """The channel nearest ``p`` that the horizontal segment p-q runs through."""
        lo, hi = min(p[0], q[0]), max(p[0], q[0])
        crossed = [c for c, x in self.channel_x.items() if x < hi and x + self.channel_w[c] > lo]
        if not crossed:
            return None
        return min(crossed, key=lambda c: abs(self.channel_x[c] + self.channel_w[c] // 2 - p[0]))

    # -- placing -----------------------------------------------------------------------------------------

    def place(self, ox: int, oy: int, boxes: dict[str, Box]) -> None:
        """Move the measured content so that its top left is at (ox, oy)."""
        self.ox, self.oy = ox, oy
        for node_id, box in self.rel.items():
            boxes[node_id] = box.moved(ox, oy)
        for node_id, child in self.children.items():
            box = boxes[node_id]
            inner_h = box.h - SUB_PAD_TOP - SUB_PAD_BOTTOM
            child.place(box.x + (box.w - child.width) // 2, box.y + SUB_PAD_TOP + (inner_h - child.height) // 2, boxes)

    def shapes(self, boxes: dict[str, Box]) -> list[_Shape]:
        out: list[_Shape] = []
        for node_id, el in self.nodes.items():
            out.append(self._node_shape(node_id, el, boxes))
            child = self.children.get(node_id)
            if child is not None:
                out.extend(child.shapes(boxes))
            for boundary_id in self.boundaries.get(node_id, []):
                out.append(self._node_shape(boundary_id, self.boundary_elements[boundary_id], boxes))
        return out

    def _node_shape(self, node_id: str, el: Any, boxes: dict[str, Box]) -> _Shape:
        local = _bpmn_local(el) or ""
        attrs: dict[str, str] = {}
        if local == "exclusiveGateway":
            attrs["isMarkerVisible"] = "true"
        if local in SUBPROCESS_TAGS:
            attrs["isExpanded"] = "true"
        label = self.rel_label.get(node_id)
        return _Shape(node_id, boxes[node_id], attrs, label.moved(self.ox, self.oy) if label else None)

    def edges(self, boxes: dict[str, Box]) -> list[_Edge]:
        out: list[_Edge] = []
        for route in self.routes:
            points = [(x + self.ox, y + self.oy) for x, y in route.points]
            label = route.label.moved(self.ox, self.oy) if route.label is not None else None
            out.append(_Edge(route.flow_id, points, label))
        for child in self.children.values():
            out.extend(child.edges(boxes))
        return out


def _overlap_area(a: Box, b: Box) -> int:
    dx = min(a.right, b.right) - max(a.x, b.x)
    dy = min(a.bottom, b.bottom) - max(a.y, b.y)
    return dx * dy if dx > 0 and dy > 0 else 0


def _outside_area(box: Box, area: Box) -> int:
    return box.w * box.h - _overlap_area(box, area)


def _edge_label(points: list[Point], name: str) -> Box:
    """A message flow's label: beside the middle of a vertical flow, above the start of a horizontal one."""
    w, h = _text_size(name)
    (x0, y0), (x1, y1) = points[0], points[1]
    if x0 == x1 and len(points) == 2:  # a straight vertical flow: beside its middle
        return Box(x0 + 5, (y0 + y1) // 2 - h // 2, w, h)
    if x0 == x1:  # it starts vertically: beside the corner, off the source
        return Box(x0 + 5, y1 + 3 if y1 > y0 else y1 - h - 3, w, h)
    return Box(x0 + 6, y0 - h - 4, w, h)


@dataclass
class _Lane:
    element: Any
    depth: int
    children: list[_Lane]
    first_band: int = 0
    last_band: int = 0

    @property
    def id(self) -> str:
        return str(self.element.get("id"))


def _lanes_of(parent: Any, depth: int) -> list[_Lane]:
    lanes: list[_Lane] = []
    for lane_set in parent:
        if _bpmn_local(lane_set) not in {"laneSet", "childLaneSet"}:
            continue
        for lane in lane_set:
            if _bpmn_local(lane) == "lane" and lane.get("id"):
                lanes.append(_Lane(lane, depth, _lanes_of(lane, depth + 1)))
    return lanes


def _walk(lanes: list[_Lane]) -> Iterator[_Lane]:
    for lane in lanes:
        yield lane
        yield from _walk(lane.children)


class _ProcessLayout:
    """One process: its lanes as bands (inside a pool when there is a collaboration)."""

    def __init__(self, process: Any, pooled: bool) -> None:
        self.process = process
        self.pooled = pooled
        self.lanes = _lanes_of(process, 0)
        self.depth = max((lane.depth + 1 for lane in _walk(self.lanes)), default=0)
        has_bands = bool(self.lanes) or pooled
        self.container = _Container(process, BAND_PAD, MIN_BAND_HEIGHT if has_bands else 0, MARGIN_X)
        self._assign_bands()

    def _assign_bands(self) -> None:
        container = self.container
        if not self.lanes:
            return
        leaves: list[_Lane] = []

        def number(lane: _Lane) -> None:
            if lane.children:
                for child in lane.children:
                    number(child)
                lane.first_band = lane.children[0].first_band
                lane.last_band = lane.children[-1].last_band
            else:
                lane.first_band = lane.last_band = len(leaves)
                leaves.append(lane)

        for lane in self.lanes:
            number(lane)
        assigned: dict[str, int] = {}
        for lane in _walk(self.lanes):  # pre-order: a nested lane overrides its parent
            for ref in lane.element:
                if _bpmn_local(ref) == "flowNodeRef" and ref.text and ref.text.strip() in container.nodes:
                    assigned[ref.text.strip()] = lane.first_band
        unassigned = [n for n in container.nodes if n not in assigned]
        container.n_bands = len(leaves) + (1 if unassigned else 0)
        container.band_of = {n: assigned.get(n, len(leaves)) for n in container.nodes}

    @property
    def frame_left(self) -> int:
        return (POOL_HEADER if self.pooled else 0) + self.depth * LANE_HEADER

    def measure(self) -> int:
        """The width this process needs."""
        width, _ = self.container.measure()
        return self.frame_left + width

    @property
    def height(self) -> int:
        return self.container.height

    def place(self, x0: int, y0: int, width: int, boxes: dict[str, Box]) -> list[_Shape]:
        """Place at (x0, y0) with the given total width; return the lane shapes."""
        container = self.container
        container.place(x0 + self.frame_left, y0, boxes)
        shapes: list[_Shape] = []
        pool_header = POOL_HEADER if self.pooled else 0
        for lane in _walk(self.lanes):
            x = x0 + pool_header + lane.depth * LANE_HEADER
            top = y0 + container.band_top[lane.first_band]
            bottom = y0 + container.band_top[lane.last_band] + container.band_h[lane.last_band]
            box = Box(x, top, x0 + width - x, bottom - top)
            boxes[lane.id] = box
            shapes.append(_Shape(lane.id, box, {"isHorizontal": "true"}))
        return shapes


def _message_flow_points(s: Box, t: Box, source_is_pool: bool, target_is_pool: bool) -> list[Point]:
    """Vertical, with one horizontal jog if needed; a pool end lines up with the other end if it can."""
    sx, tx = s.cx, t.cx
    if source_is_pool and s.x <= tx <= s.right:
        sx = tx
    elif target_is_pool and t.x <= sx <= t.right:
        tx = sx
    if s.bottom <= t.y:
        y_start, y_end = s.bottom, t.y
    elif t.bottom <= s.y:
        y_start, y_end = s.y, t.bottom
    else:  # side by side (both in one pool): right middle to left middle
        mid_x = (s.right + t.x) // 2
        return _simplify([(s.right, s.cy), (mid_x, s.cy), (mid_x, t.cy), (t.x, t.cy)])
    mid = (y_start + y_end) // 2
    return _simplify([(sx, y_start), (sx, mid), (tx, mid), (tx, y_end)])


def _collaboration_plane(collaboration: Any, processes: dict[str, Any]) -> tuple[_Plane, set[str]]:
    plane = _Plane(str(collaboration.get("id")))
    boxes: dict[str, Box] = {}
    used: set[str] = set()
    pools: list[tuple[str, _ProcessLayout | None]] = []
    for participant in collaboration:
        if _bpmn_local(participant) != "participant" or not participant.get("id"):
            continue
        ref = participant.get("processRef")
        layout = None
        if ref in processes and ref not in used:
            used.add(ref)
            layout = _ProcessLayout(processes[ref], pooled=True)
        pools.append((str(participant.get("id")), layout))
    width = max((layout.measure() for _, layout in pools if layout is not None), default=0)
    width = max(width, 600)
    node_shapes: list[_Shape] = []
    node_edges: list[_Edge] = []
    y = ORIGIN_Y
    for participant_id, layout in pools:
        height = BLACK_BOX_HEIGHT
        lane_shapes: list[_Shape] = []
        if layout is not None:
            lane_shapes = layout.place(ORIGIN_X, y, width, boxes)
            height = layout.height
        box = Box(ORIGIN_X, y, width, height)
        boxes[participant_id] = box
        plane.shapes.append(_Shape(participant_id, box, {"isHorizontal": "true"}))
        plane.shapes.extend(lane_shapes)
        if layout is not None:
            node_shapes.extend(layout.container.shapes(boxes))
            node_edges.extend(layout.container.edges(boxes))
        y += height + POOL_GAP
    plane.shapes.extend(node_shapes)
    plane.edges.extend(node_edges)
    pool_ids = {pid for pid, _ in pools}
    for flow in collaboration:
        if _bpmn_local(flow) != "messageFlow" or not flow.get("id"):
            continue
        source, target = flow.get("sourceRef", ""), flow.get("targetRef", "")
        if source not in boxes or target not in boxes:
            continue
        points = _message_flow_points(boxes[source], boxes[target], source in pool_ids, target in pool_ids)
        name = (flow.get("name") or "").strip()
        plane.edges.append(_Edge(str(flow.get("id")), points, _edge_label(points, name) if name else None))
    return plane, used


def _process_plane(process: Any) -> _Plane:
    plane = _Plane(str(process.get("id")))
    layout = _ProcessLayout(process, pooled=False)
    width = layout.measure()
    boxes: dict[str, Box] = {}
    plane.shapes.extend(layout.place(ORIGIN_X, ORIGIN_Y, width, boxes))
    plane.shapes.extend(layout.container.shapes(boxes))
    plane.edges.extend(layout.container.edges(boxes))
    return plane


def _planes(root: Any) -> list[_Plane]:
    processes = {str(p.get("id")): p for p in root if _bpmn_local(p) == "process" and p.get("id")}
    planes: list[_Plane] = []
    shown: set[str] = set()
    collaboration = next(
        (c for c in root if _bpmn_local(c) == "collaboration" and c.get("id")),
        None,
    )
    if collaboration is not None:
        plane, shown = _collaboration_plane(collaboration, processes)
        planes.append(plane)
    # Processes no participant shows (or every process, without a collaboration) get a diagram each.
    planes.extend(_process_plane(p) for pid, p in processes.items() if pid not in shown)
    return planes


# -- XML in and out -------------------------------------------------------------------------------------


def _parser() -> Any:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        strip_cdata=False,
        remove_comments=False,
        remove_pis=False,
    )


def _parse(xml: bytes) -> Any:
    """Parse without resolving entities or touching the network; refuse DTDs outright."""
    try:
        root = etree.fromstring(xml, _parser())
    except etree.XMLSyntaxError as exc:
        raise LayoutError(f"not well-formed XML: {exc}") from exc
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise LayoutError("a BPMN file must not have a DOCTYPE (entity declarations are refused)")
    if root.tag != _q(BPMN_NS, "definitions"):
        raise LayoutError(f"the root element is {root.tag}, not a bpmn:definitions")
    return tree


def _with_di_namespaces(root: Any) -> Any:
    """Return a root that declares the bpmndi, dc and di namespaces (a copy if it had to add them)."""
    declared = set(root.nsmap.values())
    missing = [ns for ns in _PREFERRED_PREFIXES if ns not in declared]
    if not missing:
        return root
    nsmap = dict(root.nsmap)
    for ns in missing:
        prefix = _PREFERRED_PREFIXES[ns]
        candidate, n = prefix, 1
        while candidate in nsmap:
            candidate, n = f"{prefix}{n}", n + 1
        nsmap[candidate] = ns
    new_root = etree.Element(root.tag, attrib=dict(root.attrib), nsmap=nsmap)
    new_root.text = root.text
    for child in list(root):
        new_root.append(child)
    return new_root


def _unique_id(base: str, used: set[str]) -> str:
    candidate, n = base, 2
    while candidate in used:
        candidate, n = f"{base}_{n}", n + 1
    used.add(candidate)
    return candidate


def _bounds(parent: Any, box: Box) -> None:
    etree.SubElement(
        parent,
        _q(DC_NS, "Bounds"),
        x=str(box.x),
        y=str(box.y),
        width=str(box.w),
        height=str(box.h),
    )


def _diagram_element(plane: _Plane, number: int, used: set[str]) -> Any:
    diagram = etree.Element(_q(BPMNDI_NS, "BPMNDiagram"), id=_unique_id(f"BPMNDiagram_{number}", used))
    plane_el = etree.SubElement(
        diagram,
        _q(BPMNDI_NS, "BPMNPlane"),
        id=_unique_id(f"BPMNPlane_{number}", used),
        bpmnElement=plane.element_id,
    )
    for shape in plane.shapes:
        shape_el = etree.SubElement(
            plane_el,
            _q(BPMNDI_NS, "BPMNShape"),
            id=_unique_id(f"{shape.element_id}_di", used),
            bpmnElement=shape.element_id,
        )
        for key, value in shape.attrs.items():
            shape_el.set(key, value)
        _bounds(shape_el, shape.bounds)
        if shape.label is not None:
            _bounds(etree.SubElement(shape_el, _q(BPMNDI_NS, "BPMNLabel")), shape.label)
    for edge in plane.edges:
        edge_el = etree.SubElement(
            plane_el,
            _q(BPMNDI_NS, "BPMNEdge"),
            id=_unique_id(f"{edge.element_id}_di", used),
            bpmnElement=edge.element_id,
        )
        for x, y in edge.points:
            etree.SubElement(edge_el, _q(DI_NS, "waypoint"), x=str(x), y=str(y))
        if edge.label is not None:
            _bounds(etree.SubElement(edge_el, _q(BPMNDI_NS, "BPMNLabel")), edge.label)
    return diagram


def add_layout(xml: bytes) -> bytes:
    """Return ``xml`` with its BPMNDI replaced by a freshly computed layout.

    Semantic elements, attributes, extension elements, comments and CDATA are kept; whitespace between
    elements is re-indented (two spaces) and the result is UTF-8 with an XML declaration.  Raises
    :class:`LayoutError` for input that is not well-formed, has a DOCTYPE, or is not BPMN.
    """
    tree = _parse(xml)
    old_root = tree.getroot()
    before = [etree.tostring(n) for n in old_root.itersiblings(preceding=True)][::-1]
    after = [etree.tostring(n) for n in old_root.itersiblings()]
    for diagram in old_root.findall(_q(BPMNDI_NS, "BPMNDiagram")):
        old_root.remove(diagram)
    root = _with_di_namespaces(old_root)
    used = {str(v) for v in root.xpath("//@id")}
    for number, plane in enumerate(_planes(root), start=1):
        root.append(_diagram_element(plane, number, used))
    etree.indent(root, space="  ")
    parts = [
        b'<?xml version="1.0" encoding="UTF-8"?>',
        *before,
        etree.tostring(root, encoding="UTF-8"),
        *after,
    ]
    return b"\n".join(part.strip() for part in parts) + b"\n"


def missing_di(xml: bytes) -> list[str]:
    """Ids of flow nodes, lanes, sequence flows, participants and message flows without a shape or edge."""
    root = _parse(xml).getroot()
    drawn = {
        el.get("bpmnElement")
        for el in root.iter(_q(BPMNDI_NS, "BPMNShape"), _q(BPMNDI_NS, "BPMNEdge"))
        if el.get("bpmnElement")
    }
    wanted: list[str] = []
    for top in root:
        local = _bpmn_local(top)
        if local == "collaboration":
            wanted += [el.get("id") for el in top if _bpmn_local(el) in {"participant", "messageFlow"}]
        elif local == "process":
            wanted += [lane.id for lane in _walk(_lanes_of(top, 0))]
            for el in top.iterdescendants():
                el_local = _bpmn_local(el)
                if el_local is not None and (el_local in FLOW_NODE_TAGS or el_local == "sequenceFlow"):
                    wanted.append(el.get("id"))
    return [i for i in wanted if i and i not in drawn]


# -- command line ---------------------------------------------------------------------------------------


def _write_in_place(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.engine.layout",
        description="Draw BPMNDI (shapes and edges) for BPMN files, rewriting them in place.",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE.bpmn")
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 listing files with elements that have no shape or edge",
    )
    args = parser.parse_args(argv)
    status = 0
    for path in args.files:
        try:
            data = path.read_bytes()
            if args.check:
                missing = missing_di(data)
                if missing:
                    print(f"{path}: no DI for {', '.join(missing)}")
                    status = max(status, 1)
                continue
            laid_out = add_layout(data)
            if laid_out != data:
                _write_in_place(path, laid_out)
                print(f"{path}: laid out")
        except (OSError, LayoutError) as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            status = 2
    return status


if __name__ == "__main__":
    sys.exit(main())
