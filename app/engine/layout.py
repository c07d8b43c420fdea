"""Generate BPMN diagram interchange (BPMNDI) for hand-written BPMN 2.0 semantics.

Diagrams in ``processes/`` are written as semantics only (process, laneSet, tasks, gateways, events,
sequence flows, embedded subprocesses).  Modellers such as bpmn-js and Camunda Modeler need shapes and
edges to open them, so this module draws them:

* every lane is a horizontal band, stacked top to bottom in document order (nested lanes are bands inside
  their parent lane); flow nodes that no lane references go in an unlabelled band at the bottom;
* a flow node's column is its rank: the longest path from the start event(s) along sequence flows, with
  loop-closing (back) flows ignored; nodes with the same rank in the same band stack vertically, and a
  band grows to fit them;
* an embedded subprocess is drawn expanded, sized to hold its own children (laid out by the same rule,
  not in lanes) and occupies one column of its parent, which is widened to fit it;
* boundary events sit on the bottom edge of their host;
* sequence flows leave the right middle of their source and enter the left middle of their target, with
  vertical segments only in the empty channels between columns; loops run back below the nodes.

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
from pathlib import Path
from typing import Any

from lxml import etree

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"

_PREFERRED_PREFIXES = {BPMNDI_NS: "bpmndi", DC_NS: "dc", DI_NS: "di"}

TASK_TAGS = frozenset(
    {
        "task",
        "userTask",
        "serviceTask",
        "scriptTask",
        "manualTask",
        "businessRuleTask",
        "sendTask",
        "receiveTask",
        "callActivity",
    }
)
EVENT_TAGS = frozenset(
    {
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "implicitThrowEvent",
        "boundaryEvent",
    }
)
GATEWAY_TAGS = frozenset(
    {"exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway"}
)
SUBPROCESS_TAGS = frozenset({"subProcess", "transaction", "adHocSubProcess"})
FLOW_NODE_TAGS = TASK_TAGS | EVENT_TAGS | GATEWAY_TAGS | SUBPROCESS_TAGS

# Standard shape sizes (width, height).
TASK_SIZE = (100, 80)
EVENT_SIZE = (36, 36)
GATEWAY_SIZE = (50, 50)
SUBPROCESS_MIN_SIZE = (200, 120)

ORIGIN_X = 160  # left edge of the first pool / lane / column
ORIGIN_Y = 80  # top edge of the first pool / lane
POOL_HEADER = 30  # the vertical name strip at the left of a pool
LANE_HEADER = 30  # the vertical name strip at the left of a lane
MARGIN_X = 50  # space between the headers and the first column, and after the last column
COLUMN_MIN_WIDTH = 100  # a column is as wide as its widest node, at least this
H_GAP = 50  # gap between columns: the channel that vertical edge segments run in
ROW_GAP = 40  # vertical gap between nodes stacked in one band
BAND_PAD = 30  # space above the first and below the last row of a lane band
MIN_BAND_HEIGHT = 150  # minimum height of a lane (or of a pool without lanes)
SUB_BAND_PAD = 20  # the same, inside a subprocess
SUB_PAD_X = 50  # space between a subprocess's border and its first / last column
SUB_PAD_TOP = 20  # room for the subprocess's name above its children
SUB_PAD_BOTTOM = 0
CHANNEL_TRACKS = (0, -8, 8, -16, 16)  # offsets of the tracks in a channel between columns
LOOP_FIRST = 30  # distance from the lowest row of a band to its first loop channel
LOOP_STEP = 15  # distance between loop channels in one band
POOL_GAP = 60  # vertical gap between pools
BLACK_BOX_HEIGHT = 60  # a participant without a process
LABEL_WIDTH = 90  # external label width of events and gateways
LINE_HEIGHT = 14
CHAR_WIDTH = 6  # rough width of a character in the modellers' 11-12px label font
LABEL_GAP = 5  # between a shape and its label below

Point = tuple[int, int]
Route = list[Point]
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


class _Container:
    """Ranks, measures and places the flow nodes directly inside one process or subprocess."""

    def __init__(self, element: Any, band_pad: int, min_band_height: int) -> None:
        self.element = element
        self.band_pad = band_pad
        self.min_band_height = min_band_height
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
                    self.children[child_id] = _Container(child, SUB_BAND_PAD, 0)
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
        # Filled in by measure() and place().
        self.size: dict[str, tuple[int, int]] = {}
        self.rank: dict[str, int] = {}
        self.back: set[str] = set()
        self.col_x: list[int] = []
        self.col_w: list[int] = []
        self.slot: dict[str, int] = {}
        self.row_y: list[list[int]] = []
        self.row_h: list[list[int]] = []
        self.row_extra: list[list[int]] = []
        self.band_top: list[int] = []
        self.band_h: list[int] = []
        self.loop_y: dict[str, int] = {}  # back flow id -> channel y relative to the container
        self.channel_groups: dict[int, list[str]] = {}
        self.width = 0
        self.height = 0
        self.ox = 0
        self.oy = 0

    # -- measuring ---------------------------------------------------------------------------------------

    def measure(self) -> tuple[int, int]:
        """Lay the nodes out relative to (0, 0); return the content's (width, height)."""
        for node_id, el in self.nodes.items():
            if node_id in self.children:
                child_w, child_h = self.children[node_id].measure()
                self.size[node_id] = (
                    _even(max(SUBPROCESS_MIN_SIZE[0], child_w + 2 * SUB_PAD_X)),
                    _even(max(SUBPROCESS_MIN_SIZE[1], child_h + SUB_PAD_TOP + SUB_PAD_BOTTOM)),
                )
            else:
                self.size[node_id] = _shape_size(_bpmn_local(el) or "")
        self._rank()
        self._columns()
        self._rows()
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

    def _columns(self) -> None:
        n_cols = max(self.rank.values(), default=-1) + 1
        self.col_w = [COLUMN_MIN_WIDTH] * n_cols
        for node_id, (w, _) in self.size.items():
            r = self.rank[node_id]
            self.col_w[r] = max(self.col_w[r], w)
        self.col_x = []
        x = 0
        for w in self.col_w:
            self.col_x.append(x)
            x += w + H_GAP
        self.width = x - H_GAP if n_cols else 0

    def _boundary_extra(self, host: str) -> int:
        """Room below a host for its boundary events, their labels and the flows leaving them."""
        ids = self.boundaries.get(host)
        if not ids:
            return 0
        label = max(_label_height(self.boundary_elements[b].get("name")) for b in ids)
        return EVENT_SIZE[1] // 2 + LABEL_GAP + label + 20

    def _rows(self) -> None:
        order = list(self.nodes)
        index = {n: i for i, n in enumerate(order)}
        preds: dict[str, list[tuple[str, int]]] = {n: [] for n in self.nodes}
        for flow_id, source, target, _ in self.flows:
            if flow_id in self.back or target not in self.nodes:
                continue
            if source in self.host_of:
                preds[target].append((self.host_of[source], 1))  # below the host
            elif source in self.nodes:
                preds[target].append((source, 0))

        # Stack the nodes of each (rank, band) cell; a node prefers the row of its predecessor so that
        # straight runs stay straight.
        cells: dict[tuple[int, int], list[str]] = {}
        for node_id in order:
            cells.setdefault((self.rank[node_id], self.band_of[node_id]), []).append(node_id)
        for rank_band in sorted(cells):
            band = rank_band[1]
            cell = cells[rank_band]
            prefs: dict[str, int] = {}
            for node_id in cell:
                wanted = [self.slot[p] + bump for p, bump in preds[node_id] if self.band_of.get(p) == band]
                prefs[node_id] = min(wanted, default=0)
            cell.sort(key=lambda n: (prefs[n], index[n]))
            last = -1
            for node_id in cell:
                last = max(prefs[node_id], last + 1)
                self.slot[node_id] = last

        n_rows = [0] * self.n_bands
        for node_id in order:
            band = self.band_of[node_id]
            n_rows[band] = max(n_rows[band], self.slot[node_id] + 1)
        # Every row is at least as tall as a task, which also leaves room for event and gateway labels.
        self.row_h = [[TASK_SIZE[1]] * n for n in n_rows]
        self.row_extra = [[0] * n for n in n_rows]
        for node_id in order:
            band, s = self.band_of[node_id], self.slot[node_id]
            self.row_h[band][s] = max(self.row_h[band][s], self.size[node_id][1])
            self.row_extra[band][s] = max(self.row_extra[band][s], self._boundary_extra(node_id))

        loops: list[list[str]] = [[] for _ in range(self.n_bands)]
        for flow_id, source, target, _ in self.flows:
            if flow_id in self.back:
                band = max(self.band_of[self._source(source)], self.band_of[target])
                loops[band].append(flow_id)

        self.row_y = []
        self.band_top = []
        self.band_h = []
        top = 0
        for band in range(self.n_bands):
            ys = []
            y = self.band_pad
            for s in range(n_rows[band]):
                ys.append(y)
                y += self.row_h[band][s] + self.row_extra[band][s] + ROW_GAP
            rows_bottom = y - ROW_GAP if n_rows[band] else self.band_pad
            loop_space = LOOP_FIRST + LOOP_STEP * (len(loops[band]) - 1) if loops[band] else 0
            needed = rows_bottom + loop_space + self.band_pad
            height = _even(max(self.min_band_height, needed))
            shift = (height - needed) // 2
            self.row_y.append([v + shift for v in ys])
            for i, flow_id in enumerate(loops[band]):
                self.loop_y[flow_id] = top + rows_bottom + shift + LOOP_FIRST + LOOP_STEP * i
            self.band_top.append(top)
            self.band_h.append(height)
            top += height
        self.height = top

    # -- placing -----------------------------------------------------------------------------------------

    def place(self, ox: int, oy: int, boxes: dict[str, Box]) -> None:
        """Fix absolute coordinates with the content's top left at (ox, oy)."""
        self.ox, self.oy = ox, oy
        for node_id in self.nodes:
            w, h = self.size[node_id]
            r, band, s = self.rank[node_id], self.band_of[node_id], self.slot[node_id]
            x = ox + self.col_x[r] + (self.col_w[r] - w) // 2
            y = oy + self.band_top[band] + self.row_y[band][s] + (self.row_h[band][s] - h) // 2
            box = Box(x, y, w, h)
            boxes[node_id] = box
            child = self.children.get(node_id)
            if child is not None:
                inner_h = h - SUB_PAD_TOP - SUB_PAD_BOTTOM
                inner_x = x + (w - child.width) // 2
                inner_y = y + SUB_PAD_TOP + (inner_h - child.height) // 2
                child.place(inner_x, inner_y, boxes)
        for host, ids in self.boundaries.items():
            hb = boxes[host]
            step = max(EVENT_SIZE[0] + 6, hb.w // (len(ids) + 1))
            for k, boundary_id in enumerate(ids):
                cx = hb.cx + (2 * k - (len(ids) - 1)) * step // 2
                boxes[boundary_id] = Box(cx - EVENT_SIZE[0] // 2, hb.bottom - EVENT_SIZE[1] // 2, *EVENT_SIZE)

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

    @staticmethod
    def _node_shape(node_id: str, el: Any, boxes: dict[str, Box]) -> _Shape:
        local = _bpmn_local(el) or ""
        box = boxes[node_id]
        attrs: dict[str, str] = {}
        label = None
        if local == "exclusiveGateway":
            attrs["isMarkerVisible"] = "true"
        if local in SUBPROCESS_TAGS:
            attrs["isExpanded"] = "true"
        name = (el.get("name") or "").strip()
        if name and local == "boundaryEvent":
            # Beside the flow that drops from the event's bottom, not across it.
            label = _label_below(box, name)
            label = Box(box.cx + 6, label.y, label.w, label.h)
        elif name and (local in EVENT_TAGS or local in GATEWAY_TAGS):
            label = _label_below(box, name)
        return _Shape(node_id, box, attrs, label)

    # -- routing -----------------------------------------------------------------------------------------

    def _channel(self, boundary: int, group: str, register: bool = True) -> int:
        """The x of a vertical segment in the channel right of column ``boundary`` (-1: left of column 0).

        Segments of different groups (flows fanning out of one source, or into one target) get their own
        track in the channel, so that unrelated flows do not run on top of each other.
        """
        if boundary < 0:
            base = self.ox - H_GAP // 2
        else:
            base = self.ox + self.col_x[boundary] + self.col_w[boundary] + H_GAP // 2
        groups = self.channel_groups.setdefault(boundary, [])
        if group in groups:
            index = groups.index(group)
        else:
            index = len(groups)
            if register:
                groups.append(group)
        return base + CHANNEL_TRACKS[index % len(CHANNEL_TRACKS)]

    def _blocked(self, y: int, x1: int, x2: int, boxes: dict[str, Box], skip: set[str]) -> bool:
        lo, hi = min(x1, x2), max(x1, x2)
        for node_id in [*self.nodes, *self.host_of]:
            if node_id in skip:
                continue
            b = boxes[node_id]
            if b.x < hi and b.right > lo and b.y <= y <= b.bottom:
                return True
        return False

    def _gap_below(self, node_id: str) -> int:
        band, s = self.band_of[node_id], self.slot[node_id]
        row_bottom = self.row_y[band][s] + self.row_h[band][s] + self.row_extra[band][s]
        return self.oy + self.band_top[band] + row_bottom + ROW_GAP // 2

    def edges(self, boxes: dict[str, Box]) -> list[_Edge]:
        out: list[_Edge] = []
        n_out: dict[str, int] = {}
        for _, source, _, _ in self.flows:
            n_out[source] = n_out.get(source, 0) + 1
        for flow_id, source, target, el in self.flows:
            if source not in boxes or target not in boxes or target not in self.rank:
                continue
            if source not in self.rank and source not in self.host_of:
                continue
            points = self._route(flow_id, source, target, boxes, n_out.get(source, 0) > 1)
            name = (el.get("name") or "").strip()
            label = _edge_label(points, name, boxes[target]) if name else None
            out.append(_Edge(flow_id, points, label))
        for child in self.children.values():
            out.extend(child.edges(boxes))
        return out

    def _route(self, flow_id: str, source: str, target: str, boxes: dict[str, Box], split: bool) -> Route:
        s, t = boxes[source], boxes[target]
        host = self.host_of.get(source)
        s_rank, t_rank = self.rank[host or source], self.rank[target]
        into, out_of = f"to {target}", f"from {source}"
        if flow_id in self.back:
            y = self.oy + self.loop_y[flow_id]
            if host is not None:
                start = [(s.cx, s.bottom), (s.cx, y)]
            else:
                xr = self._channel(s_rank, out_of)
                start = [(s.right, s.cy), (xr, s.cy), (xr, y)]
            xl = self._channel(t_rank - 1, into)
            return _simplify([*start, (xl, y), (xl, t.cy), (t.x, t.cy)])
        if host is not None:
            leg = s.bottom + LABEL_GAP + _label_height(self.boundary_elements[source].get("name")) + 8
            xr = self._channel(s_rank, out_of)
            return _simplify([(s.cx, s.bottom), (s.cx, leg), (xr, leg), (xr, t.cy), (t.x, t.cy)])

        skip = {source, target}
        if s.cy == t.cy and not self._blocked(s.cy, s.right, t.x, boxes, skip):
            return [(s.right, s.cy), (t.x, t.cy)]
        if s.cy != t.cy:
            channels = [(s_rank, out_of), (t_rank - 1, into)]
            if not split:
                channels.reverse()
            for boundary, group in channels:
                xv = self._channel(boundary, group, register=False)
                first_free = not self._blocked(s.cy, s.right, xv, boxes, skip)
                if first_free and not self._blocked(t.cy, xv, t.x, boxes, skip):
                    xv = self._channel(boundary, group)
                    return _simplify([(s.right, s.cy), (xv, s.cy), (xv, t.cy), (t.x, t.cy)])
        # Detour through the empty gap below the source's row.
        y = self._gap_below(source)
        xr, xl = self._channel(s_rank, out_of), self._channel(t_rank - 1, into)
        return _simplify([(s.right, s.cy), (xr, s.cy), (xr, y), (xl, y), (xl, t.cy), (t.x, t.cy)])


def _edge_label(points: list[Point], name: str, target: Box | None = None) -> Box:
    lines = _wrap(name, LABEL_WIDTH // CHAR_WIDTH)
    w = min(LABEL_WIDTH, max(len(line) for line in lines) * CHAR_WIDTH + 4)
    h = LINE_HEIGHT * len(lines)
    (x0, y0), (x1, y1) = points[0], points[1]
    if x0 == x1 and len(points) == 2:  # a straight vertical flow (message flows): beside its middle
        label = Box(x0 + 5, (y0 + y1) // 2 - h // 2, w, h)
    elif x0 == x1:  # it starts downwards (boundary events) or upwards: beside the corner, off the source
        label = Box(x0 + 5, y1 + 3 if y1 > y0 else y1 - h - 3, w, h)
    elif len(points) == 2:  # a straight horizontal flow: above its start
        label = Box(x0 + 6, y0 - h - 4, w, h)
    else:
        # The flow bends: right of its first vertical segment, above where it turns again (so that the
        # labels of flows fanning out of one gateway do not pile up).
        label = Box(x1 + 5, points[2][1] - h - 4, w, h)
    if target is not None and label.x < target.right and target.x < label.right and label.bottom > target.y:
        label = Box(label.x, min(label.y, target.y - h - 2), w, h)  # clear of the target
    return label


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
        self.container = _Container(process, BAND_PAD, MIN_BAND_HEIGHT if has_bands else 0)
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
        return (POOL_HEADER if self.pooled else 0) + self.depth * LANE_HEADER + MARGIN_X

    def measure(self) -> int:
        """The width this process needs."""
        width, _ = self.container.measure()
        return self.frame_left + width + MARGIN_X

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
