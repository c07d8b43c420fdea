"""Diagram bundles: parse, check and cache by content hash.

A bundle is a flow's diagram files and forms, hashed together (DESIGN.md rule 7). Diagrams are untrusted
input: XML is parsed with entities and network access off, and every problem found names its element.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.specs.defaults import ServiceTask, UserTask

from app.engine.bpmn_names import BPMN_NS, PATH_NODE_TAGS, SPIFF_NS
from app.engine.calendar import HELPER_NAMES, TRIAL_RESULTS
from app.engine.sandbox import SandboxError, compile_expression, compile_script, trial_run, unknown_calls

BPMN = BPMN_NS
SPIFF = SPIFF_NS
NS = {"bpmn": BPMN, "spiffworkflow": SPIFF}
MAX_DIAGRAM_BYTES = 2 * 1024 * 1024
FORM_PROPERTY = "formJsonSchemaFilename"
SUBJECT_PROPERTY = "taskSubject"
DUE_PROPERTY = "taskDue"  # an expression giving the moment the task is due (ISO 8601), e.g. working_days(1)
ASSIGNEE_PROPERTY = "taskAssignee"  # an expression giving the username the task is for
EXPRESSION_PROPERTIES = (SUBJECT_PROPERTY, DUE_PROPERTY, ASSIGNEE_PROPERTY)
KNOWN_SPIFF_ELEMENTS = {
    "properties",
    "property",
    "serviceTaskOperator",
    "parameters",
    "parameter",
    "preScript",
    "postScript",
    "instructionsForEndUser",
    "unitTests",
}
_COUNTER_TEST = re.compile(r"\b([A-Za-z_]\w*)\s*(?:<|<=|>|>=)\s*\d+|\d+\s*(?:<|<=|>|>=)\s*([A-Za-z_]\w*)\b")


@dataclass(frozen=True)
class Problem:
    element_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.element_id}: {self.message}"


class BundleRefused(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass(frozen=True)
class SequenceFlow:
    id: str
    source: str
    target: str
    condition: str | None


@dataclass
class ParsedBundle:
    flow: str
    hash: str
    spec: BpmnProcessSpec
    subprocess_specs: dict[str, BpmnProcessSpec]
    files: dict[str, str]
    forms: dict[str, dict[str, Any]]
    trees: dict[str, Any] = field(repr=False, default_factory=dict)

    def form(self, form_id: str | None) -> dict[str, Any] | None:
        return self.forms.get(form_id) if form_id else None

    def sequence_flows(self) -> list[SequenceFlow]:
        flows = []
        for tree in self.trees.values():
            for el in tree.iter(f"{{{BPMN}}}sequenceFlow"):
                cond = el.find("bpmn:conditionExpression", NS)
                flows.append(
                    SequenceFlow(
                        el.get("id"),
                        el.get("sourceRef"),
                        el.get("targetRef"),
                        (cond.text or "").strip() if cond is not None else None,
                    )
                )
        return flows


def bundle_hash(files: Mapping[str, str], forms: Mapping[str, Any]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"file:{name}\n".encode())
        digest.update(files[name].encode())
    for form_id in sorted(forms):
        digest.update(f"form:{form_id}\n".encode())
        digest.update(json.dumps(forms[form_id], sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()


def form_id_of(filename: str | None) -> str | None:
    if not filename:
        return None
    return filename[:-5] if filename.endswith(".json") else filename


def safe_xml(text: str, name: str) -> Any:
    """Parse untrusted XML: no entities, no DTD loading, no network."""
    if len(text.encode()) > MAX_DIAGRAM_BYTES:
        raise BundleRefused([Problem(name, f"the file is larger than {MAX_DIAGRAM_BYTES // 1024 // 1024} MB")])
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        # Refused before parsing, so the process owner reads a plain reason rather than the parser's.
        raise BundleRefused([Problem(name, "the file declares a document type or entities, which are not allowed")])
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
    )
    try:
        tree = etree.fromstring(text.encode(), parser)
    except etree.XMLSyntaxError as err:
        raise BundleRefused([Problem(name, f"the file is not well-formed XML: {err}")]) from None
    if tree.getroottree().docinfo.internalDTD is not None:
        raise BundleRefused([Problem(name, "the file declares a document type or entities, which are not allowed")])
    if tree.tag != f"{{{BPMN}}}definitions":
        raise BundleRefused([Problem(name, "the file is not a BPMN 2.0 diagram (no bpmn:definitions)")])
    return tree


_validators: list[BpmnValidator] = []


def _validator() -> BpmnValidator:
    # Reading the BPMN schema takes a while; one validator serves the whole process.
    if not _validators:
        _validators.append(BpmnValidator())
    return _validators[0]


_cache: dict[str, ParsedBundle] = {}
_cache_lock = threading.Lock()


def cached(digest: str) -> ParsedBundle | None:
    """The bundle with this content hash, if this process has parsed it already."""
    with _cache_lock:
        return _cache.get(digest)


def load(flow: str, files: Mapping[str, str], forms: Mapping[str, Any], known_hash: str | None = None) -> ParsedBundle:
    """Parse a bundle once per process, keyed by its content hash."""
    digest = known_hash or bundle_hash(files, forms)
    with _cache_lock:
        cached = _cache.get(digest)
    if cached is not None:
        return cached
    parsed = parse(flow, files, forms, digest)
    with _cache_lock:
        _cache[digest] = parsed
    return parsed


def parse(flow: str, files: Mapping[str, str], forms: Mapping[str, Any], digest: str | None = None) -> ParsedBundle:
    trees = {name: safe_xml(text, name) for name, text in files.items()}
    clashes = [p for tree in trees.values() for p in _operator_id_clashes(tree)]
    if clashes:
        raise BundleRefused(clashes)
    parser = SpiffBpmnParser(validator=_validator())
    try:
        for name, tree in trees.items():
            parser.add_bpmn_xml(tree, filename=name)
        spec = parser.get_spec(flow)
        subspecs = parser.get_subprocess_specs(flow)
    except etree.DocumentInvalid as err:
        raise BundleRefused([Problem(flow, f"the diagram is not valid BPMN 2.0: {_plain(err)}")]) from None
    except ValidationException as err:
        element = getattr(err, "id", None) or getattr(err, "file_name", None) or flow
        raise BundleRefused([Problem(str(element), _plain(err))]) from None
    except Exception as err:  # the parser raises many kinds for bad input; none may escape as a 500
        raise BundleRefused([Problem(flow, f"the diagram could not be read: {_plain(err)}")]) from None
    for each in [spec, *subspecs.values()]:
        connect_repeats(each)
    return ParsedBundle(
        flow=flow,
        hash=digest or bundle_hash(files, forms),
        spec=spec,
        subprocess_specs=dict(subspecs),
        files=dict(files),
        forms={k: dict(v) for k, v in forms.items()},
        trees=trees,
    )


def connect_repeats(spec: Any) -> None:
    """Tell each repeated element (a call activity run once per child) when one of its repetitions finishes.

    The library makes this link only when it creates a repetition or reads a spec saved inside a state; a
    spec we parse has none. So a repetition created in one process and finished in another (a second web
    worker, or after a restart) finished alone, and its call activity, and the case, never did."""
    for task_spec in spec.task_specs.values():
        merge = getattr(task_spec, "merge_child", None)
        child = spec.task_specs.get(getattr(task_spec, "task_spec", None) or "")
        if merge is not None and child is not None and not child.completed_event.is_connected(merge):
            child.completed_event.connect(merge)


def _operator_id_clashes(tree: Any) -> list[Problem]:
    # The parser finds elements by id anywhere in the file, so a handler named like a diagram element
    # makes it read the wrong element.
    element_ids = {el.get("id") for el in tree.iter(f"{{{BPMN}}}*") if el.get("id")}
    return [
        Problem(_owner_id(op.getparent()), f"the handler name {op.get('id')!r} is also the id of a diagram element")
        for op in tree.iter(f"{{{SPIFF}}}serviceTaskOperator")
        if op.get("id") in element_ids
    ]


def _plain(err: Exception) -> str:
    return str(err).splitlines()[0] if str(err) else err.__class__.__name__


def all_specs(parsed: ParsedBundle) -> Iterable[BpmnProcessSpec]:
    yield parsed.spec
    yield from parsed.subprocess_specs.values()


def check(parsed: ParsedBundle, *, roles: Iterable[str], handlers: Iterable[str], trial: bool = True) -> list[Problem]:
    """Everything that must hold before a bundle may run a case. An empty list means it may."""
    role_ids, handler_names = set(roles), set(handlers)
    problems: list[Problem] = []
    problems += _check_extension_spelling(parsed)
    problems += _check_tasks(parsed, role_ids, handler_names)
    items = list(_expressions(parsed))
    for element_id, kind, source in items:
        try:
            (compile_expression if kind == "expression" else compile_script)(source)
        except SandboxError as err:
            problems.append(Problem(element_id, f"the {kind} does not compile: {err}"))
            continue
        unknown = unknown_calls(source, kind, HELPER_NAMES)
        problems += [Problem(element_id, _unknown_call(kind, name)) for name in unknown]
    problems += _check_graph(parsed)
    if trial and not problems:
        kinds = {element_id: kind for element_id, kind, _source in items}
        problems += [
            Problem(el, f"a trial run of its {kinds.get(el, 'code')} failed: {msg}")
            for el, msg in trial_run(items, {}, helpers=TRIAL_RESULTS)
        ]
    return problems


def _unknown_call(kind: str, name: str) -> str:
    # At run time this is a NameError the trial cannot tell from missing sample data, so say it here.
    close = difflib.get_close_matches(name, HELPER_NAMES, n=1)
    hint = f"did you mean {close[0]}()?" if close else f"the diagram helpers are {', '.join(HELPER_NAMES)}"
    return f"the {kind} calls {name}(), which is not a function diagram code can use ({hint})"


def _check_extension_spelling(parsed: ParsedBundle) -> list[Problem]:
    problems = []
    for tree in parsed.trees.values():
        for el in tree.iter(f"{{{SPIFF}}}*"):
            local = etree.QName(el).localname
            if local not in KNOWN_SPIFF_ELEMENTS:
                owner = next((a.get("id") for a in el.iterancestors() if a.get("id")), parsed.flow)
                problems.append(Problem(owner, f"unknown extension element spiffworkflow:{local}"))
    return problems


def _check_tasks(parsed: ParsedBundle, roles: set[str], handlers: set[str]) -> list[Problem]:
    problems = []
    for spec in all_specs(parsed):
        for ts in spec.task_specs.values():
            bpmn_id = getattr(ts, "bpmn_id", None)
            if bpmn_id is None:
                continue
            if isinstance(ts, UserTask):
                props = ts.extensions.get("properties", {})
                form_id = form_id_of(props.get(FORM_PROPERTY))
                if not form_id:
                    problems.append(Problem(bpmn_id, f"the user task names no form ({FORM_PROPERTY})"))
                elif form_id not in parsed.forms:
                    problems.append(Problem(bpmn_id, f"the form {form_id!r} does not exist"))
                lane = lane_of_spec(parsed, ts)
                if lane is None:
                    problems.append(Problem(bpmn_id, "the user task is in no lane, so nobody could do it"))
                elif lane not in roles:
                    problems.append(Problem(bpmn_id, f"the lane {lane!r} is not a role"))
            if isinstance(ts, ServiceTask):
                if not ts.operation_name:
                    problems.append(Problem(bpmn_id, "the service task names no handler (serviceTaskOperator)"))
                elif ts.operation_name not in handlers:
                    problems.append(Problem(bpmn_id, f"the handler {ts.operation_name!r} does not exist"))
    return problems


def lane_of_spec(parsed: ParsedBundle, task_spec: Any) -> str | None:
    """A task's lane, or for a task inside a subprocess the lane of the subprocess that holds it."""
    if task_spec.lane:
        return str(task_spec.lane)
    owner = task_spec._wf_spec.name
    for spec in all_specs(parsed):
        for ts in spec.task_specs.values():
            if getattr(ts, "spec", None) == owner and ts is not task_spec:
                return lane_of_spec(parsed, ts)
    return None


def _expressions(parsed: ParsedBundle) -> Iterable[tuple[str, str, str]]:
    """Every piece of code in the diagrams, as (element id, expression or script, source)."""
    for tree in parsed.trees.values():
        for el in tree.iter(f"{{{BPMN}}}conditionExpression"):
            yield _owner_id(el), "expression", (el.text or "").strip()
        for el in tree.iter(f"{{{BPMN}}}script"):
            yield _owner_id(el), "script", el.text or ""
        for tag in ("timeDate", "timeDuration", "timeCycle", "loopCardinality", "completionCondition"):
            for el in tree.iter(f"{{{BPMN}}}{tag}"):
                yield _owner_id(el), "expression", (el.text or "").strip()
        for tag in ("preScript", "postScript"):
            for el in tree.iter(f"{{{SPIFF}}}{tag}"):
                yield _owner_id(el), "script", el.text or ""
        for el in tree.iter(f"{{{SPIFF}}}parameter"):
            yield _owner_id(el), "expression", el.get("value") or ""
        for el in tree.iter(f"{{{SPIFF}}}property"):
            if el.get("name") in EXPRESSION_PROPERTIES:
                yield _owner_id(el), "expression", el.get("value") or ""


def _owner_id(el: Any) -> str:
    if el.get("id"):
        return str(el.get("id"))
    for ancestor in el.iterancestors():
        if ancestor.get("id"):
            return str(ancestor.get("id"))
    return "?"


def _check_graph(parsed: ParsedBundle) -> list[Problem]:
    """Every element reachable from a start event; every loop bounded by a counter its gateway tests."""
    problems = []
    for tree in parsed.trees.values():
        for container in [*tree.iter(f"{{{BPMN}}}process"), *tree.iter(f"{{{BPMN}}}subProcess")]:
            nodes, edges, starts, gateways = _graph_of(container)
            reached = _reachable(starts, edges)
            for node in nodes:
                if node not in reached:
                    problems.append(Problem(node, "no path leads to this element from a start event"))
            for component in _cycles(nodes, edges):
                if not _bounded(component, container, gateways):
                    first = sorted(component)[0]
                    problems.append(
                        Problem(
                            first,
                            "this loop has no bound: a gateway in it must test a counter against a number, "
                            "and a script in the loop must change that counter "
                            f"(elements: {', '.join(sorted(component))})",
                        )
                    )
    return problems


def _graph_of(container: Any) -> tuple[set[str], dict[str, list[str]], list[str], set[str]]:
    """The flow nodes of one process or subprocess and the sequence flows between them. Boundary events,
    properties, data objects and artifacts are not on a path of their own."""
    nodes: set[str] = set()
    starts: list[str] = []
    gateways: set[str] = set()
    edges: dict[str, list[str]] = {}
    for child in container:
        if not isinstance(child.tag, str) or etree.QName(child).namespace != BPMN:
            continue
        local = etree.QName(child).localname
        if local == "sequenceFlow":
            edges.setdefault(child.get("sourceRef"), []).append(child.get("targetRef"))
        elif local == "boundaryEvent":
            # A boundary event's path starts from the activity it is attached to.
            edges.setdefault(child.get("attachedToRef"), []).append(child.get("id"))
        elif local in PATH_NODE_TAGS and child.get("id"):
            nodes.add(child.get("id"))
            if local == "startEvent":
                starts.append(child.get("id"))
            if local.endswith("Gateway"):
                gateways.add(child.get("id"))
    return nodes, edges, starts, gateways


def _reachable(starts: list[str], edges: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(starts)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(edges.get(node, []))
    return seen


def _cycles(nodes: set[str], edges: dict[str, list[str]]) -> list[set[str]]:
    """Strongly connected components that contain a cycle (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[set[str]] = []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(edges.get(root, [])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(edges.get(nxt, []))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges.get(node, []):
                    result.append(component)
    return result


def _bounded(component: set[str], container: Any, gateways: set[str]) -> bool:
    """A gateway in the loop tests a counter against a number, and a script in the loop changes it."""
    scripts = " ".join(_scripts_of(el) for el in container if el.get("id") in component)
    for flow in container.iterfind("bpmn:sequenceFlow", NS):
        if flow.get("sourceRef") in component and flow.get("sourceRef") in gateways:
            cond = flow.find("bpmn:conditionExpression", NS)
            for match in _COUNTER_TEST.finditer(cond.text or "" if cond is not None else ""):
                counter = match.group(1) or match.group(2)
                if re.search(rf"\b{re.escape(counter)}\s*(?:\+|-)?=(?!=)", scripts):
                    return True
    return False


def _scripts_of(element: Any) -> str:
    parts = [el.text or "" for el in element.iter(f"{{{BPMN}}}script")]
    parts += [el.text or "" for tag in ("preScript", "postScript") for el in element.iter(f"{{{SPIFF}}}{tag}")]
    return "\n".join(parts)


def form_of(parsed: ParsedBundle, bpmn_id: str) -> str | None:
    """The form id a user task of this bundle names."""
    for spec in all_specs(parsed):
        for ts in spec.task_specs.values():
            if getattr(ts, "bpmn_id", None) == bpmn_id and isinstance(ts, UserTask):
                return form_id_of(ts.extensions.get("properties", {}).get(FORM_PROPERTY))
    return None
