"""Tests for app.engine.layout: BPMNDI generation for hand-written BPMN semantics."""

from __future__ import annotations

import subprocess
import sys
from itertools import combinations, pairwise
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from app.engine.layout import LayoutError, add_layout, main, missing_di

REPO_ROOT = Path(__file__).resolve().parents[2]

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN, "bpmndi": BPMNDI, "dc": DC, "di": DI, "spiffworkflow": SPIFF}

Rect = tuple[int, int, int, int]  # x, y, width, height

# A front-door contact: three lanes, a loop back for more information, a parallel multi-instance
# subprocess of agency checks, and an outcome.  Written without DI, indented with two spaces.
FIXTURE = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" \
xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="Definitions_front_door" \
targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="front_door" name="Front door contact" isExecutable="true">
    <bpmn:laneSet id="LaneSet_front_door">
      <bpmn:lane id="fpoc" name="First point of contact">
        <bpmn:flowNodeRef>start_contact</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>record_contact</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>check_records</bpmn:flowNodeRef>
      </bpmn:lane>
      <bpmn:lane id="ssw" name="Senior social worker">
        <bpmn:flowNodeRef>review_contact</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>gw_route</bpmn:flowNodeRef>
      </bpmn:lane>
      <bpmn:lane id="coordinator" name="Coordinator">
        <bpmn:flowNodeRef>agency_checks</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>record_outcome</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>gw_meeting</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end_meeting</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end_closed</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start_contact" name="Contact received">
      <bpmn:outgoing>f_start_record</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:userTask id="record_contact" name="Record the contact">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="record-contact.schema.json" />
          <spiffworkflow:property name="formUiSchemaFilename" value="record-contact.uischema.json" />
        </spiffworkflow:properties>
        <spiffworkflow:instructionsForEndUser>Who called &amp; why</spiffworkflow:instructionsForEndUser>
      </bpmn:extensionElements>
      <bpmn:incoming>f_start_record</bpmn:incoming>
      <bpmn:incoming>f_more_info</bpmn:incoming>
      <bpmn:outgoing>f_record_check</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:serviceTask id="check_records" name="Check previous involvement">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="case_records/search" resultVariable="previous_involvement">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="child_id" type="str" value="child_id" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f_record_check</bpmn:incoming>
      <bpmn:outgoing>f_check_review</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:userTask id="review_contact" name="Review the contact and decide">
      <bpmn:documentation>Threshold decision within one working day.</bpmn:documentation>
      <bpmn:incoming>f_check_review</bpmn:incoming>
      <bpmn:outgoing>f_review_route</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:exclusiveGateway id="gw_route" name="Route?" default="f_more_info">
      <bpmn:incoming>f_review_route</bpmn:incoming>
      <bpmn:outgoing>f_s47</bpmn:outgoing>
      <bpmn:outgoing>f_more_info</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:subProcess id="agency_checks" name="Agency checks">
      <bpmn:incoming>f_s47</bpmn:incoming>
      <bpmn:outgoing>f_checks_outcome</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics>
        <bpmn:loopDataInputRef>agencies</bpmn:loopDataInputRef>
        <bpmn:inputDataItem id="agency" name="agency" />
      </bpmn:multiInstanceLoopCharacteristics>
      <bpmn:startEvent id="start_check">
        <bpmn:outgoing>f_start_ask</bpmn:outgoing>
      </bpmn:startEvent>
      <bpmn:userTask id="ask_agency" name="Ask the agency">
        <bpmn:incoming>f_start_ask</bpmn:incoming>
        <bpmn:outgoing>f_ask_concern</bpmn:outgoing>
      </bpmn:userTask>
      <bpmn:exclusiveGateway id="gw_concern" name="Level of concern?" default="f_none">
        <bpmn:incoming>f_ask_concern</bpmn:incoming>
        <bpmn:outgoing>f_none</bpmn:outgoing>
        <bpmn:outgoing>f_concern</bpmn:outgoing>
        <bpmn:outgoing>f_urgent</bpmn:outgoing>
      </bpmn:exclusiveGateway>
      <bpmn:endEvent id="end_none" name="No concern">
        <bpmn:incoming>f_none</bpmn:incoming>
      </bpmn:endEvent>
      <bpmn:endEvent id="end_concern" name="Concern">
        <bpmn:incoming>f_concern</bpmn:incoming>
      </bpmn:endEvent>
      <bpmn:endEvent id="end_urgent" name="Urgent concern">
        <bpmn:incoming>f_urgent</bpmn:incoming>
      </bpmn:endEvent>
      <bpmn:sequenceFlow id="f_start_ask" sourceRef="start_check" targetRef="ask_agency" />
      <bpmn:sequenceFlow id="f_ask_concern" sourceRef="ask_agency" targetRef="gw_concern" />
      <bpmn:sequenceFlow id="f_none" name="None" sourceRef="gw_concern" targetRef="end_none" />
      <bpmn:sequenceFlow id="f_concern" name="Concern" sourceRef="gw_concern" targetRef="end_concern">
        <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">level == 1</bpmn:conditionExpression>
      </bpmn:sequenceFlow>
      <bpmn:sequenceFlow id="f_urgent" name="Urgent" sourceRef="gw_concern" targetRef="end_urgent">
        <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">level == 2</bpmn:conditionExpression>
      </bpmn:sequenceFlow>
    </bpmn:subProcess>
    <bpmn:serviceTask id="record_outcome" name="Record the outcome">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="case_records/outcome" resultVariable="outcome_ref" />
      </bpmn:extensionElements>
      <bpmn:incoming>f_checks_outcome</bpmn:incoming>
      <bpmn:outgoing>f_outcome_meeting</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:exclusiveGateway id="gw_meeting" name="Strategy meeting needed?" default="f_no_meeting">
      <bpmn:incoming>f_outcome_meeting</bpmn:incoming>
      <bpmn:outgoing>f_meeting</bpmn:outgoing>
      <bpmn:outgoing>f_no_meeting</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:endEvent id="end_meeting" name="Strategy meeting requested">
      <bpmn:incoming>f_meeting</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:endEvent id="end_closed" name="Contact closed">
      <bpmn:incoming>f_no_meeting</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="f_start_record" sourceRef="start_contact" targetRef="record_contact" />
    <bpmn:sequenceFlow id="f_record_check" sourceRef="record_contact" targetRef="check_records" />
    <bpmn:sequenceFlow id="f_check_review" sourceRef="check_records" targetRef="review_contact" />
    <bpmn:sequenceFlow id="f_review_route" sourceRef="review_contact" targetRef="gw_route" />
    <bpmn:sequenceFlow id="f_s47" name="s47" sourceRef="gw_route" targetRef="agency_checks">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">decision == "s47"</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_more_info" name="More information needed" sourceRef="gw_route" \
targetRef="record_contact" />
    <bpmn:sequenceFlow id="f_checks_outcome" sourceRef="agency_checks" targetRef="record_outcome" />
    <bpmn:sequenceFlow id="f_outcome_meeting" sourceRef="record_outcome" targetRef="gw_meeting" />
    <bpmn:sequenceFlow id="f_meeting" name="Yes" sourceRef="gw_meeting" targetRef="end_meeting">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">meeting_needed</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_no_meeting" name="No" sourceRef="gw_meeting" targetRef="end_closed" />
  </bpmn:process>
</bpmn:definitions>
"""

LANES = {"fpoc", "ssw", "coordinator"}
SUBPROCESS_CHILDREN = {"start_check", "ask_agency", "gw_concern", "end_none", "end_concern", "end_urgent"}
LOOP_FLOW = "f_more_info"


@pytest.fixture(scope="module")
def laid_out() -> bytes:
    return add_layout(FIXTURE)


def _root(xml: bytes) -> Any:
    return etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))


def _shapes(xml: bytes) -> dict[str, Rect]:
    out: dict[str, Rect] = {}
    for shape in _root(xml).iterfind(".//bpmndi:BPMNShape", NS):
        b = shape.find("dc:Bounds", NS)
        out[shape.get("bpmnElement")] = (
            int(b.get("x")),
            int(b.get("y")),
            int(b.get("width")),
            int(b.get("height")),
        )
    return out


def _edges(xml: bytes) -> dict[str, list[tuple[int, int]]]:
    out: dict[str, list[tuple[int, int]]] = {}
    for edge in _root(xml).iterfind(".//bpmndi:BPMNEdge", NS):
        waypoints = edge.iterfind("di:waypoint", NS)
        out[edge.get("bpmnElement")] = [(int(p.get("x")), int(p.get("y"))) for p in waypoints]
    return out


def _inside(inner: Rect, outer: Rect) -> bool:
    return (
        outer[0] <= inner[0]
        and outer[1] <= inner[1]
        and inner[0] + inner[2] <= outer[0] + outer[2]
        and inner[1] + inner[3] <= outer[1] + outer[3]
    )


def _overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _on_border(point: tuple[int, int], r: Rect) -> bool:
    x, y = point
    within = r[0] <= x <= r[0] + r[2] and r[1] <= y <= r[1] + r[3]
    return within and (x in (r[0], r[0] + r[2]) or y in (r[1], r[1] + r[3]))


def _semantics(xml: bytes) -> Any:
    root = _root(xml)
    for diagram in root.findall("bpmndi:BPMNDiagram", NS):
        root.remove(diagram)
    return root


def _structure(el: Any) -> tuple[Any, ...]:
    """Tag, attributes, non-blank text and tail, and children: what must survive a layout."""

    def clean(text: str | None) -> str:
        return text if text and text.strip() else ""

    return (
        el.tag,
        sorted(el.attrib.items()) if isinstance(el.tag, str) else [],
        clean(el.text),
        clean(el.tail),
        [_structure(child) for child in el],
    )


def _c14n(el: Any) -> bytes:
    return bytes(etree.tostring(el, method="c14n", exclusive=True))


def _ancestor_subprocesses(xml: bytes) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for el in _root(xml).iter(f"{{{BPMN}}}*"):
        if el.get("id"):
            out[el.get("id")] = {a.get("id") for a in el.iterancestors(f"{{{BPMN}}}subProcess")}
    return out


def test_every_element_gets_di(laid_out: bytes) -> None:
    assert missing_di(FIXTURE)  # the fixture has no DI at all
    assert missing_di(laid_out) == []
    root = _root(laid_out)
    diagrams = root.findall("bpmndi:BPMNDiagram", NS)
    assert len(diagrams) == 1
    assert diagrams[0].find("bpmndi:BPMNPlane", NS).get("bpmnElement") == "front_door"


def test_output_format(laid_out: bytes) -> None:
    assert laid_out.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions ')
    assert b"\n  <bpmn:process " in laid_out
    assert b"\n  <bpmndi:BPMNDiagram " in laid_out
    assert b"\n      <bpmndi:BPMNShape " in laid_out
    assert laid_out.endswith(b"</bpmn:definitions>\n")


def test_laned_nodes_lie_in_their_lane(laid_out: bytes) -> None:
    shapes = _shapes(laid_out)
    root = _root(laid_out)
    lane_shapes = {lane: shapes[lane] for lane in LANES}
    for lane in root.iterfind(".//bpmn:lane", NS):
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            assert _inside(shapes[ref.text], lane_shapes[lane.get("id")]), (ref.text, lane.get("id"))
    # Lanes are horizontal bands stacked top to bottom in document order, all the same width.
    fpoc, ssw, coordinator = (lane_shapes[lane] for lane in ("fpoc", "ssw", "coordinator"))
    assert fpoc[1] + fpoc[3] == ssw[1] and ssw[1] + ssw[3] == coordinator[1]
    assert fpoc[0] == ssw[0] == coordinator[0] and fpoc[2] == ssw[2] == coordinator[2]
    for lane in root.iterfind(".//bpmndi:BPMNShape", NS):
        if lane.get("bpmnElement") in LANES:
            assert lane.get("isHorizontal") == "true"


def test_shapes_do_not_overlap(laid_out: bytes) -> None:
    shapes = {k: v for k, v in _shapes(laid_out).items() if k not in LANES}
    ancestors = _ancestor_subprocesses(laid_out)
    for a, b in combinations(shapes, 2):
        if a in ancestors[b] or b in ancestors[a]:
            continue
        assert not _overlap(shapes[a], shapes[b]), (a, b)


def test_subprocess_contains_its_children(laid_out: bytes) -> None:
    shapes = _shapes(laid_out)
    for child in SUBPROCESS_CHILDREN:
        assert _inside(shapes[child], shapes["agency_checks"]), child
    shape = _root(laid_out).find(".//bpmndi:BPMNShape[@bpmnElement='agency_checks']", NS)
    assert shape.get("isExpanded") == "true"
    # The subprocess is wider than a normal column, and the columns after it are shifted right.
    assert shapes["agency_checks"][2] > 150
    assert shapes["record_outcome"][0] > shapes["agency_checks"][0] + shapes["agency_checks"][2]
    # The three end events have the same rank, so they stack in one column.
    ends = [shapes[e] for e in ("end_none", "end_concern", "end_urgent")]
    assert len({e[0] for e in ends}) == 1 and len({e[1] for e in ends}) == 3


def test_nodes_are_ranked_along_the_flow(laid_out: bytes) -> None:
    shapes = _shapes(laid_out)
    chain = ["start_contact", "record_contact", "check_records", "review_contact", "gw_route"]
    chain += ["agency_checks", "record_outcome", "gw_meeting"]
    xs = [shapes[n][0] + shapes[n][2] / 2 for n in chain]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    assert shapes["end_meeting"][0] == shapes["end_closed"][0]


def test_edges_start_and_end_on_their_nodes(laid_out: bytes) -> None:
    shapes = _shapes(laid_out)
    edges = _edges(laid_out)
    flows = _root(laid_out).iterfind(".//bpmn:sequenceFlow", NS)
    for flow in flows:
        points = edges[flow.get("id")]
        assert len(points) >= 2
        assert _on_border(points[0], shapes[flow.get("sourceRef")]), flow.get("id")
        assert _on_border(points[-1], shapes[flow.get("targetRef")]), flow.get("id")
        for (x1, y1), (x2, y2) in pairwise(points):
            assert x1 == x2 or y1 == y2, f"{flow.get('id')} is not orthogonal"


def test_forward_flows_go_right_and_the_loop_goes_round(laid_out: bytes) -> None:
    shapes = _shapes(laid_out)
    edges = _edges(laid_out)
    for flow_id, points in edges.items():
        if flow_id != LOOP_FLOW:
            assert points[0][0] < points[-1][0], flow_id
    loop = edges[LOOP_FLOW]
    lowest = max(y for _, y in loop)
    # The loop runs back below the nodes it passes (the gateway and the tasks between).
    for node in ("record_contact", "check_records", "review_contact", "gw_route"):
        assert lowest > shapes[node][1] + shapes[node][3]
    assert loop[-1] == (
        shapes["record_contact"][0],
        shapes["record_contact"][1] + shapes["record_contact"][3] // 2,
    )


def test_labels(laid_out: bytes) -> None:
    root = _root(laid_out)
    shapes = _shapes(laid_out)
    for node in ("start_contact", "gw_route", "end_urgent", "gw_meeting"):
        shape = root.find(f".//bpmndi:BPMNShape[@bpmnElement='{node}']", NS)
        label = shape.find("bpmndi:BPMNLabel/dc:Bounds", NS)
        assert label is not None, node
        assert int(label.get("y")) >= shapes[node][1] + shapes[node][3]
    assert root.find(".//bpmndi:BPMNShape[@bpmnElement='start_check']/bpmndi:BPMNLabel", NS) is None
    assert root.find(".//bpmndi:BPMNShape[@bpmnElement='record_contact']/bpmndi:BPMNLabel", NS) is None
    for flow in ("f_s47", "f_more_info", "f_meeting", "f_no_meeting", "f_urgent"):
        edge = root.find(f".//bpmndi:BPMNEdge[@bpmnElement='{flow}']", NS)
        assert edge.find("bpmndi:BPMNLabel/dc:Bounds", NS) is not None, flow
    assert root.find(".//bpmndi:BPMNEdge[@bpmnElement='f_start_record']/bpmndi:BPMNLabel", NS) is None
    gateway = root.find(".//bpmndi:BPMNShape[@bpmnElement='gw_route']", NS)
    assert gateway.get("isMarkerVisible") == "true"


def test_semantics_survive(laid_out: bytes) -> None:
    assert _structure(_semantics(laid_out)) == _structure(_semantics(FIXTURE))
    before = _root(FIXTURE).findall(".//bpmn:extensionElements", NS)
    after = _root(laid_out).findall(".//bpmn:extensionElements", NS)
    assert len(before) == len(after) == 3
    for old, new in zip(before, after, strict=True):
        assert _c14n(new) == _c14n(old)


def test_idempotent(laid_out: bytes) -> None:
    assert add_layout(laid_out) == laid_out


def test_existing_di_is_replaced(laid_out: bytes) -> None:
    stale = laid_out.replace(b'x="', b'x="1').replace(b"BPMNDiagram_1", b"Old_diagram")
    assert stale != laid_out
    assert add_layout(stale) == laid_out


def test_spiffworkflow_parses_the_output(laid_out: bytes) -> None:
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(laid_out)
    spec = parser.get_spec("front_door")
    assert {"record_contact", "check_records", "agency_checks", "end_closed"} <= set(spec.task_specs)
    properties = spec.task_specs["record_contact"].extensions["properties"]
    assert properties["formJsonSchemaFilename"] == "record-contact.schema.json"


def _xxe(url: str, where: str) -> bytes:
    use = {
        "name": '<bpmn:startEvent id="s" name="&e;" />',
        "text": '<bpmn:startEvent id="s"><bpmn:documentation>&e;</bpmn:documentation></bpmn:startEvent>',
    }[where]
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "{url}">]>\n'
        f'<bpmn:definitions xmlns:bpmn="{BPMN}" id="d"><bpmn:process id="p">{use}</bpmn:process>'
        "</bpmn:definitions>\n"
    ).encode()


@pytest.mark.parametrize("where", ["name", "text"])
def test_external_entities_are_not_expanded(where: str, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("s3cr3t-do-not-leak")
    cases = [(secret_file.as_uri(), "s3cr3t-do-not-leak")]
    hostname = Path("/etc/hostname")
    if hostname.is_file() and hostname.read_text().strip():
        cases.append(("file:///etc/hostname", hostname.read_text().strip()))
    for url, secret in cases:
        xml = _xxe(url, where)
        with pytest.raises(LayoutError) as info:
            add_layout(xml)
        assert secret not in str(info.value)
        with pytest.raises(LayoutError):
            missing_di(xml)


def test_collaboration_gets_a_pool(laid_out: bytes) -> None:
    collaboration = (
        b'<bpmn:collaboration id="Collaboration_front_door">'
        b'<bpmn:participant id="Participant_front_door" name="Front door" processRef="front_door" />'
        b"</bpmn:collaboration>\n  <bpmn:process "
    )
    xml = add_layout(FIXTURE.replace(b"<bpmn:process ", collaboration, 1))
    assert missing_di(xml) == []
    root = _root(xml)
    assert root.find(".//bpmndi:BPMNPlane", NS).get("bpmnElement") == "Collaboration_front_door"
    pool_shape = root.find(".//bpmndi:BPMNShape[@bpmnElement='Participant_front_door']", NS)
    assert pool_shape.get("isHorizontal") == "true"
    shapes = _shapes(xml)
    pool = shapes["Participant_front_door"]
    for element, rect in shapes.items():
        if element != "Participant_front_door":
            assert _inside(rect, pool), element
    assert shapes["fpoc"][0] > pool[0]  # the pool's name strip is left of the lanes
    assert shapes["fpoc"][0] + shapes["fpoc"][2] == pool[0] + pool[2]


BOUNDARY = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN}" id="d">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:userTask id="visit" name="Visit" />
    <bpmn:boundaryEvent id="late" name="Five days" attachedToRef="visit">
      <bpmn:timerEventDefinition id="t">
        <bpmn:timeDuration>"P5D"</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:userTask id="escalate" name="Escalate" />
    <bpmn:endEvent id="done" />
    <bpmn:sequenceFlow id="a" sourceRef="start" targetRef="visit" />
    <bpmn:sequenceFlow id="b" sourceRef="visit" targetRef="done" />
    <bpmn:sequenceFlow id="c" sourceRef="late" targetRef="escalate" />
    <bpmn:sequenceFlow id="d" sourceRef="escalate" targetRef="done" />
  </bpmn:process>
</bpmn:definitions>
""".encode()


def test_boundary_event_sits_on_its_host_and_no_lanes_means_no_lane_shapes() -> None:
    xml = add_layout(BOUNDARY)
    assert missing_di(xml) == []
    shapes = _shapes(xml)
    assert set(shapes) == {"start", "visit", "late", "escalate", "done"}
    host, late = shapes["visit"], shapes["late"]
    assert late[1] + late[3] // 2 == host[1] + host[3]  # centred on the bottom edge
    assert host[0] <= late[0] and late[0] + late[2] <= host[0] + host[2]
    edges = _edges(xml)
    assert _on_border(edges["c"][0], late) and _on_border(edges["c"][-1], shapes["escalate"])
    assert shapes["escalate"][1] > host[1] + host[3]  # the escalation path is drawn below
    for a, b in combinations(["start", "visit", "escalate", "done"], 2):
        assert not _overlap(shapes[a], shapes[b])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.engine.layout", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_command_line_check_and_rewrite(tmp_path: Path, laid_out: bytes) -> None:
    path = tmp_path / "front_door.bpmn"
    path.write_bytes(FIXTURE)
    result = _cli("--check", str(path))
    assert result.returncode == 1
    assert str(path) in result.stdout and "record_contact" in result.stdout

    # Rewriting in place (in-process: each `python -m` run pays for importing the app package).
    assert main([str(path)]) == 0
    assert path.read_bytes() == laid_out
    assert main(["--check", str(path)]) == 0

    # A diagram edited without re-running the layout: a flow lost its edge.
    root = _root(laid_out)
    edge = root.find(".//bpmndi:BPMNEdge[@bpmnElement='f_s47']", NS)
    edge.getparent().remove(edge)
    broken = tmp_path / "broken.bpmn"
    broken.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    result = _cli("--check", str(path), str(broken))
    assert result.returncode == 1
    assert str(broken) in result.stdout and str(path) not in result.stdout and "f_s47" in result.stdout


def test_command_line_rejects_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.bpmn"
    path.write_bytes(b"<not-closed>")
    assert main([str(path)]) == 2
    assert main(["--check", str(path)]) == 2
    assert "not well-formed" in capsys.readouterr().err
    assert path.read_bytes() == b"<not-closed>"


PARALLEL_LOOP = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN}" id="d">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:parallelGateway id="split" />
    <bpmn:task id="one" />
    <bpmn:task id="two" />
    <bpmn:task id="three" />
    <bpmn:task id="three_b" />
    <bpmn:parallelGateway id="join" />
    <bpmn:exclusiveGateway id="again" name="Again?" />
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="split" />
    <bpmn:sequenceFlow id="f2" sourceRef="split" targetRef="one" />
    <bpmn:sequenceFlow id="f3" sourceRef="split" targetRef="two" />
    <bpmn:sequenceFlow id="f4" sourceRef="split" targetRef="three" />
    <bpmn:sequenceFlow id="f5" sourceRef="one" targetRef="join" />
    <bpmn:sequenceFlow id="f6" sourceRef="two" targetRef="join" />
    <bpmn:sequenceFlow id="f7" sourceRef="three" targetRef="three_b" />
    <bpmn:sequenceFlow id="f8" sourceRef="three_b" targetRef="join" />
    <bpmn:sequenceFlow id="f9" sourceRef="join" targetRef="again" />
    <bpmn:sequenceFlow id="no" name="No" sourceRef="again" targetRef="end" />
    <bpmn:sequenceFlow id="yes" name="Yes" sourceRef="again" targetRef="two" />
  </bpmn:process>
</bpmn:definitions>
""".encode()


def test_a_loop_is_broken_where_it_returns_not_inside_a_parallel_block() -> None:
    xml = add_layout(PARALLEL_LOOP)
    assert missing_di(xml) == []
    shapes = _shapes(xml)
    column = {n: shapes[n][0] + shapes[n][2] // 2 for n in shapes}
    assert column["one"] == column["two"] == column["three"] < column["three_b"] < column["join"]
    assert column["join"] < column["again"] < column["end"]
    edges = _edges(xml)
    for flow_id, points in edges.items():
        going_back = points[-1][0] < points[0][0]
        assert going_back == (flow_id == "yes"), flow_id
    assert max(y for _, y in edges["yes"]) > max(r[1] + r[3] for r in shapes.values())


COLLABORATION = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN}" id="d">
  <bpmn:collaboration id="collab">
    <bpmn:participant id="council" name="Council" processRef="front" />
    <bpmn:participant id="police" name="Police" />
    <bpmn:messageFlow id="referral" name="Referral" sourceRef="police" targetRef="received" />
    <bpmn:messageFlow id="reply" sourceRef="send_reply" targetRef="police" />
  </bpmn:collaboration>
  <bpmn:process id="front" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="mash" name="MASH">
        <bpmn:childLaneSet id="mash_lanes">
          <bpmn:lane id="triage"><bpmn:flowNodeRef>received</bpmn:flowNodeRef></bpmn:lane>
          <bpmn:lane id="checks"><bpmn:flowNodeRef>send_reply</bpmn:flowNodeRef></bpmn:lane>
        </bpmn:childLaneSet>
      </bpmn:lane>
      <bpmn:lane id="nobody"><bpmn:childLaneSet id="empty" /></bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="received" name="Referral received"><bpmn:messageEventDefinition /></bpmn:startEvent>
    <bpmn:sendTask id="send_reply" name="Reply" />
    <bpmn:endEvent id="done" />
    <bpmn:sequenceFlow id="a" sourceRef="received" targetRef="send_reply" />
    <bpmn:sequenceFlow id="b" sourceRef="send_reply" targetRef="done" />
  </bpmn:process>
  <bpmn:process id="called" isExecutable="true"><bpmn:task id="called_task" /></bpmn:process>
</bpmn:definitions>
""".encode()


def test_pools_nested_lanes_and_message_flows() -> None:
    xml = add_layout(COLLABORATION)
    assert missing_di(xml) == []
    root = _root(xml)
    planes = [p.get("bpmnElement") for p in root.iterfind(".//bpmndi:BPMNPlane", NS)]
    assert planes == ["collab", "called"]  # a process no participant shows gets a diagram of its own
    shapes = _shapes(xml)
    council, police = shapes["council"], shapes["police"]
    assert council[1] + council[3] < police[1] and council[2] == police[2]
    assert _inside(shapes["mash"], council) and _inside(shapes["nobody"], council)
    for child in ("triage", "checks"):
        assert _inside(shapes[child], shapes["mash"]) and shapes[child][0] > shapes["mash"][0]
    assert _inside(shapes["received"], shapes["triage"]) and _inside(shapes["send_reply"], shapes["checks"])
    assert _inside(shapes["done"], council) and not _overlap(shapes["done"], shapes["mash"])
    edges = _edges(xml)
    assert _on_border(edges["referral"][0], police) and _on_border(edges["referral"][-1], shapes["received"])
    assert _on_border(edges["reply"][0], shapes["send_reply"]) and _on_border(edges["reply"][-1], police)


# Consent, as in initial contact: a gateway fanning out to three targets in the next column, and two
# gateways whose "Given" and "Refused" flows converge on the same two tasks, the first from two columns
# further back; all decision flows are named; inside a multi-instance subprocess.
CONSENT = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN}" id="d">
  <bpmn:process id="consent" isExecutable="true">
    <bpmn:startEvent id="received" name="Contact received" />
    <bpmn:subProcess id="each_child" name="Decide for each child">
      <bpmn:multiInstanceLoopCharacteristics />
      <bpmn:startEvent id="child_start" name="Child to decide" />
      <bpmn:userTask id="decide" name="Decide threshold and outcome" />
      <bpmn:exclusiveGateway id="threshold" name="Threshold?" default="below_flow" />
      <bpmn:scriptTask id="strategy" name="Accept for a strategy discussion" />
      <bpmn:endEvent id="strategy_end" name="Hand over to strategy discussion" />
      <bpmn:exclusiveGateway id="consent_given" name="Consent given?" default="not_obtained" />
      <bpmn:userTask id="seek" name="Seek parental consent" />
      <bpmn:exclusiveGateway id="consent_after" name="Consent after asking?" default="after_refused" />
      <bpmn:scriptTask id="accept" name="Accept as referral" />
      <bpmn:endEvent id="accepted" name="Accepted as referral" />
      <bpmn:scriptTask id="close" name="Close: consent not given" />
      <bpmn:endEvent id="closed" name="Closed: no consent" />
      <bpmn:scriptTask id="below" name="Record the outcome chosen" />
      <bpmn:endEvent id="below_end" name="Closed below threshold" />
      <bpmn:sequenceFlow id="to_decide" sourceRef="child_start" targetRef="decide" />
      <bpmn:sequenceFlow id="to_threshold" sourceRef="decide" targetRef="threshold" />
      <bpmn:sequenceFlow id="s47" name="Significant harm (s47)" sourceRef="threshold" targetRef="strategy" />
      <bpmn:sequenceFlow id="s17" name="Child in need (s17)" sourceRef="threshold" targetRef="consent_given" />
      <bpmn:sequenceFlow id="below_flow" name="Below early help" sourceRef="threshold" targetRef="below" />
      <bpmn:sequenceFlow id="to_strategy_end" sourceRef="strategy" targetRef="strategy_end" />
      <bpmn:sequenceFlow id="given" name="Given" sourceRef="consent_given" targetRef="accept" />
      <bpmn:sequenceFlow id="refused" name="Refused" sourceRef="consent_given" targetRef="close" />
      <bpmn:sequenceFlow id="not_obtained" name="Not obtained" sourceRef="consent_given" targetRef="seek" />
      <bpmn:sequenceFlow id="to_after" sourceRef="seek" targetRef="consent_after" />
      <bpmn:sequenceFlow id="after_given" name="Given" sourceRef="consent_after" targetRef="accept" />
      <bpmn:sequenceFlow id="after_refused" name="Refused" sourceRef="consent_after" targetRef="close" />
      <bpmn:sequenceFlow id="to_accepted" sourceRef="accept" targetRef="accepted" />
      <bpmn:sequenceFlow id="to_closed" sourceRef="close" targetRef="closed" />
      <bpmn:sequenceFlow id="to_below_end" sourceRef="below" targetRef="below_end" />
    </bpmn:subProcess>
    <bpmn:endEvent id="decided" name="Decided" />
    <bpmn:sequenceFlow id="to_each_child" sourceRef="received" targetRef="each_child" />
    <bpmn:sequenceFlow id="to_decided" sourceRef="each_child" targetRef="decided" />
  </bpmn:process>
</bpmn:definitions>
""".encode()

# A multi-instance subprocess with one row, whose middle node is a gateway with a three-line label: the
# label hangs below the row, right above the marker at the subprocess's bottom centre.
MARKER_FIXTURE = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN}" id="d">
  <bpmn:process id="agencies" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:subProcess id="ask_each" name="Ask each agency">
      <bpmn:multiInstanceLoopCharacteristics isSequential="true" />
      <bpmn:startEvent id="asked" name="Agency asked" />
      <bpmn:exclusiveGateway id="any_concern" name="Any concern about the child at all?" />
      <bpmn:endEvent id="answered" name="Answer recorded" />
      <bpmn:sequenceFlow id="to_gateway" sourceRef="asked" targetRef="any_concern" />
      <bpmn:sequenceFlow id="recorded" name="Recorded" sourceRef="any_concern" targetRef="answered" />
    </bpmn:subProcess>
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="to_ask" sourceRef="start" targetRef="ask_each" />
    <bpmn:sequenceFlow id="to_end" sourceRef="ask_each" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
""".encode()

FIXTURES = {
    "front_door": FIXTURE,
    "marker": MARKER_FIXTURE,
    "consent": CONSENT,
    "boundary": BOUNDARY,
    "parallel_loop": PARALLEL_LOOP,
    "collaboration": COLLABORATION,
}
MIN_TRACK_GAP = 15  # px between the vertical runs of two flows in one gap
MARKER = (24, 22)  # width and height kept clear at the bottom centre of a subprocess for its marker

Segment = tuple[tuple[int, int], tuple[int, int]]


@pytest.fixture(scope="module", params=sorted(FIXTURES))
def any_laid_out(request: pytest.FixtureRequest) -> bytes:
    return add_layout(FIXTURES[request.param])


@pytest.fixture(scope="module")
def consent_laid_out() -> bytes:
    return add_layout(CONSENT)


def _ends(xml: bytes) -> dict[str, tuple[str, str]]:
    """Flow id -> (sourceRef, targetRef) of every sequence and message flow."""
    root = _root(xml)
    flows = [*root.iterfind(".//bpmn:sequenceFlow", NS), *root.iterfind(".//bpmn:messageFlow", NS)]
    return {f.get("id"): (f.get("sourceRef"), f.get("targetRef")) for f in flows}


def _segments(points: list[tuple[int, int]]) -> list[Segment]:
    return [(p, q) for p, q in pairwise(points) if p != q]


def _share_a_line(a: Segment, b: Segment) -> bool:
    """Collinear segments that overlap over more than a point."""
    (ax1, ay1), (ax2, ay2) = a
    (bx1, by1), (bx2, by2) = b
    if ay1 == ay2 == by1 == by2:
        return min(max(ax1, ax2), max(bx1, bx2)) > max(min(ax1, ax2), min(bx1, bx2))
    if ax1 == ax2 == bx1 == bx2:
        return min(max(ay1, ay2), max(by1, by2)) > max(min(ay1, ay2), min(by1, by2))
    return False


def _cross(a: Segment, b: Segment) -> bool:
    """A horizontal and a vertical segment that cross inside both."""
    if a[0][1] != a[1][1]:
        a, b = b, a
    (ax1, y), (ax2, _) = a
    (x, by1), (_, by2) = b
    if a[0][1] != a[1][1] or b[0][0] != b[1][0]:
        return False
    return min(ax1, ax2) < x < max(ax1, ax2) and min(by1, by2) < y < max(by1, by2)


def _labels(xml: bytes) -> dict[str, Rect]:
    out: dict[str, Rect] = {}
    for di in _root(xml).iter(f"{{{BPMNDI}}}BPMNShape", f"{{{BPMNDI}}}BPMNEdge"):
        b = di.find("bpmndi:BPMNLabel/dc:Bounds", NS)
        if b is not None:
            rect = (int(b.get("x")), int(b.get("y")), int(b.get("width")), int(b.get("height")))
            out[di.get("bpmnElement")] = rect
    return out


def _bands(xml: bytes) -> set[str]:
    """Lanes and pools: every other shape and label lies inside one."""
    root = _root(xml)
    return {el.get("id") for kind in ("lane", "participant") for el in root.iterfind(f".//bpmn:{kind}", NS)}


def test_no_two_flows_share_a_line_unless_they_share_an_end(any_laid_out: bytes) -> None:
    ends = _ends(any_laid_out)
    edges = _edges(any_laid_out)
    for a, b in combinations(edges, 2):
        if ends[a][0] == ends[b][0] or ends[a][1] == ends[b][1]:
            continue  # a fan-out's first stub, a fan-in's last one
        for sa in _segments(edges[a]):
            for sb in _segments(edges[b]):
                assert not _share_a_line(sa, sb), f"{a} and {b} run along one line: {sa} {sb}"


def test_each_flow_runs_vertically_in_a_track_of_its_own(any_laid_out: bytes) -> None:
    edges = _edges(any_laid_out)
    verticals = [(f, s) for f, points in edges.items() for s in _segments(points) if s[0][0] == s[1][0]]
    for (fa, (p, q)), (fb, (r, s)) in combinations(verticals, 2):
        if fa == fb:
            continue
        overlap = min(max(p[1], q[1]), max(r[1], s[1])) - max(min(p[1], q[1]), min(r[1], s[1]))
        if overlap > 0:
            assert abs(p[0] - r[0]) >= MIN_TRACK_GAP, f"{fa} and {fb} run down {abs(p[0] - r[0])} px apart"


def test_flows_go_round_shapes_not_through_them(any_laid_out: bytes) -> None:
    shapes = _shapes(any_laid_out)
    bands = _bands(any_laid_out)
    ancestors = _ancestor_subprocesses(any_laid_out)
    for flow, points in _edges(any_laid_out).items():
        for (x1, y1), (x2, y2) in _segments(points):
            for shape_id, (x, y, w, h) in shapes.items():
                if shape_id in bands or shape_id in ancestors[flow]:
                    continue
                through = min(x1, x2) < x + w and max(x1, x2) > x and min(y1, y2) < y + h and max(y1, y2) > y
                assert not through, f"{flow} runs through {shape_id}"


def _plane_of(xml: bytes) -> dict[str, int]:
    """Element id -> the diagram it is drawn in."""
    out: dict[str, int] = {}
    for number, diagram in enumerate(_root(xml).iterfind("bpmndi:BPMNDiagram", NS)):
        for di in diagram.iter(f"{{{BPMNDI}}}BPMNShape", f"{{{BPMNDI}}}BPMNEdge"):
            out[di.get("bpmnElement")] = number
    return out


def test_labels_overlap_no_shape_and_no_other_label(any_laid_out: bytes) -> None:
    labels = _labels(any_laid_out)
    shapes = _shapes(any_laid_out)
    bands = _bands(any_laid_out)
    ancestors = _ancestor_subprocesses(any_laid_out)
    plane = _plane_of(any_laid_out)
    for element, label in labels.items():
        for shape_id, shape in shapes.items():
            if plane[shape_id] == plane[element] and shape_id not in bands and shape_id not in ancestors[element]:
                assert not _overlap(label, shape), f"the label of {element} overlaps {shape_id}"
    for (a, ra), (b, rb) in combinations(labels.items(), 2):
        if plane[a] == plane[b]:
            assert not _overlap(ra, rb), f"the labels of {a} and {b} overlap"


def test_flow_labels_sit_on_their_own_flow(any_laid_out: bytes) -> None:
    """Just above or below a horizontal segment of the flow, and not where it shares a stub with a flow
    from the same source that carries on further (a label there would seem to name that flow)."""
    labels = _labels(any_laid_out)
    edges = _edges(any_laid_out)
    ends = _ends(any_laid_out)
    sequence_flows = {f.get("id") for f in _root(any_laid_out).iterfind(".//bpmn:sequenceFlow", NS)}
    for flow, label in labels.items():
        if flow not in sequence_flows:
            continue  # a node's label, or a message flow's (beside its vertical run between pools)
        x, y, w, h = label
        beside = [
            (p, q)
            for p, q in _segments(edges[flow])
            if p[1] == q[1] and y - 6 <= p[1] <= y + h + 6 and min(p[0], q[0]) < x + w and max(p[0], q[0]) > x
        ]
        assert beside, f"the label of {flow} is not beside a horizontal segment of it"
        siblings = [f for f in edges if f != flow and ends[f][0] == ends[flow][0]]
        p, q = beside[0]
        forward = 1 if q[0] > p[0] else -1
        for sibling in siblings:
            for r, s in _segments(edges[sibling]):
                along = r[1] == s[1] == p[1] and min(r[0], s[0]) < x + w and max(r[0], s[0]) > x
                if along:
                    carries_on = q[0] > max(r[0], s[0]) if forward > 0 else q[0] < min(r[0], s[0])
                    assert carries_on, f"the label of {flow} is on a stub that {sibling} carries on along"


def test_subprocess_content_is_inside_and_clear_of_the_marker(any_laid_out: bytes) -> None:
    shapes = _shapes(any_laid_out)
    labels = _labels(any_laid_out)
    edges = _edges(any_laid_out)
    ancestors = _ancestor_subprocesses(any_laid_out)
    for sub in {a for found in ancestors.values() for a in found}:
        box = shapes[sub]
        marker = (box[0] + box[2] // 2 - MARKER[0] // 2, box[1] + box[3] - MARKER[1], *MARKER)
        inside = [element for element, found in ancestors.items() if sub in found]
        for element in inside:
            for rect in (shapes.get(element), labels.get(element)):
                if rect is None:
                    continue
                assert _inside(rect, box), f"{element} reaches out of {sub}"
                assert not _overlap(rect, marker), f"{element} is on the marker of {sub}"
            for p, q in _segments(edges.get(element, [])):
                segment_box = (min(p[0], q[0]), min(p[1], q[1]), abs(q[0] - p[0]) + 1, abs(q[1] - p[1]) + 1)
                assert not _overlap(segment_box, marker), f"{element} runs over the marker of {sub}"


def test_targets_stack_in_the_order_of_their_gateways_flows(consent_laid_out: bytes) -> None:
    shapes = _shapes(consent_laid_out)
    column = [shapes[n] for n in ("strategy", "consent_given", "below")]  # the threshold's three targets
    assert len({r[0] + r[2] // 2 for r in column}) == 1
    assert [r[1] for r in column] == sorted(r[1] for r in column)
    accept, close = shapes["accept"], shapes["close"]
    assert accept[0] == close[0] and accept[1] < close[1]  # "Given" before "Refused" at both gateways
    # so that the flows converging on them do not cross each other
    edges = _edges(consent_laid_out)
    for into_accept in ("given", "after_given"):
        for into_close in ("refused", "after_refused"):
            for sa in _segments(edges[into_accept]):
                for sb in _segments(edges[into_close]):
                    assert not _cross(sa, sb), (into_accept, into_close)


def test_converging_flows_keep_their_own_routes(consent_laid_out: bytes) -> None:
    """A gateway's "Given" and "Refused" part after its first stub, and their labels are apart."""
    edges = _edges(consent_laid_out)
    given, refused = edges["given"], edges["refused"]
    shared = [(a, b) for a in _segments(given) for b in _segments(refused) if _share_a_line(a, b)]
    assert len(shared) <= 1 and all(a[0] == given[0] for a, _ in shared)  # at most the stub off the gateway
    labels = _labels(consent_laid_out)
    for a, b in (("given", "refused"), ("after_given", "after_refused"), ("given", "after_given")):
        assert labels[a] != labels[b]
        assert not _overlap(labels[a], labels[b])
