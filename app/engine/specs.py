"""Diagram bundles: parse, check and cache by content hash.

A bundle is a flow's diagram files and forms, hashed together (DESIGN.md rule 7). Diagrams are untrusted
input: an upload is refused by its size before anything reads it, XML is parsed with entities, document
types and network access off, and every problem found names the element to mark on the diagram, in words
a process owner can act on.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import inspect
import json
import re
import textwrap
import threading
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.specs.defaults import ServiceTask, UserTask

from app.engine.bpmn_names import BPMN_NS, FLOW_NODE_TAGS, PATH_NODE_TAGS, SPIFF_NS
from app.engine.calendar import HELPER_NAMES, TRIAL_RESULTS
from app.engine.sandbox import SandboxError, compile_expression, compile_script, trial_run, unknown_calls

BPMN = BPMN_NS
SPIFF = SPIFF_NS
NS = {"bpmn": BPMN, "spiffworkflow": SPIFF}
# The largest shipped diagram is a tenth of this; a bigger file is refused before anything reads it.
MAX_DIAGRAM_BYTES = 2 * 1024 * 1024
FORM_PROPERTY = "formJsonSchemaFilename"
SUBJECT_PROPERTY = "taskSubject"
DUE_PROPERTY = "taskDue"  # an expression giving the moment the task is due (ISO 8601), e.g. working_days(1)
ASSIGNEE_PROPERTY = "taskAssignee"  # an expression giving the username the task is for
EXPRESSION_PROPERTIES = (SUBJECT_PROPERTY, DUE_PROPERTY, ASSIGNEE_PROPERTY)
KNOWN_PROPERTIES = (FORM_PROPERTY, *EXPRESSION_PROPERTIES)
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
TIMER_TAGS = ("timeDate", "timeDuration", "timeCycle")
_COUNTER_TEST = re.compile(r"\b([A-Za-z_]\w*)\s*(?:<|<=|>|>=)\s*\d+|\d+\s*(?:<|<=|>|>=)\s*([A-Za-z_]\w*)\b")
# Elements the modeller draws, so a problem can be marked on them. Event definitions, expressions and
# extension elements have no shape of their own: their problems are marked on the element holding them.
_MARKABLE_TAGS = FLOW_NODE_TAGS | {
    "sequenceFlow",
    "lane",
    "participant",
    "process",
    "messageFlow",
    "dataObjectReference",
    "dataStoreReference",
    "textAnnotation",
    "association",
    "group",
}
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")


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


# --- Reading untrusted files --------------------------------------------------------------------------


def read_upload(raw: bytes, filename: str) -> str:
    """The text of an uploaded .bpmn file, or BundleRefused naming the file with one plain reason.

    Each refusal happens before the next step reads the file: the size before anything, the encoding before
    any XML parser, a document type (the way in for external entities and entity bombs) before parsing, and
    the parse with entities and network off. Nothing is stored or run here.
    """
    name = _file_label(filename)
    if len(raw) > MAX_DIAGRAM_BYTES:
        size = f"{len(raw) / (1024 * 1024):.1f} MB"
        raise BundleRefused([Problem(name, f"the file is {size}; a diagram may be at most {_limit()}")])
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # a UTF-8 byte order mark, which some editors write
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise BundleRefused(
            [
                Problem(
                    name,
                    f"the file is not UTF-8 text: line {line} has a character in another encoding; save it as UTF-8",
                )
            ]
        ) from None
    tree = safe_xml(text, name)
    if tree.find("bpmn:process", NS) is None:
        raise BundleRefused([Problem(name, "the file has no process in it (no bpmn:process), so nothing could run")])
    return text


def _file_label(filename: str) -> str:
    # Only ever shown back in a message, but a name such as ../../x or 10,000 characters long is not echoed.
    label = PurePosixPath(str(filename).replace("\\", "/")).name.strip()
    label = "".join(ch for ch in label if ch.isprintable())
    return label[:100] or "the file"


def _limit() -> str:
    return f"{MAX_DIAGRAM_BYTES // 1024 // 1024} MB"


def safe_xml(text: str, name: str) -> Any:
    """Parse untrusted XML: no document type, no entities, no DTD loading, no network."""
    if len(text.encode()) > MAX_DIAGRAM_BYTES:
        raise BundleRefused([Problem(name, f"the file is larger than {_limit()}")])
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        # Refused before parsing, so no entity is ever expanded or fetched, and the process owner reads a
        # plain reason rather than the parser's.
        raise BundleRefused([Problem(name, "the file declares a document type or entities, which are not allowed")])
    data = text.encode()
    declared = _DECLARED_ENCODING.match(data[:200])
    if declared and declared.group(1).decode(errors="replace").lower().replace("_", "-") not in ("utf-8", "utf8"):
        # The parser would honour the declaration and read the UTF-8 text as another encoding.
        encoding = declared.group(1).decode(errors="replace")[:40]
        raise BundleRefused([Problem(name, f"the file says it is written in {encoding}: save it as UTF-8")])
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
    )
    try:
        tree = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as err:
        raise BundleRefused([Problem(name, _not_well_formed(err))]) from None
    if tree.getroottree().docinfo.internalDTD is not None:
        raise BundleRefused([Problem(name, "the file declares a document type or entities, which are not allowed")])
    if tree.tag != f"{{{BPMN}}}definitions":
        raise BundleRefused([Problem(name, "the file is not a BPMN 2.0 diagram (no bpmn:definitions)")])
    return tree


_PLAIN_XML_ERRORS = (
    (re.compile(r"^Excessive depth in document"), "its elements are nested too deeply"),
    (re.compile(r"^Entity '([^']*)' not defined"), r"it uses an entity (&\1;) that is not defined"),
    (re.compile(r"^Document is empty"), "the file is empty"),
)


def _not_well_formed(err: etree.XMLSyntaxError) -> str:
    reason = re.sub(r", line \d+, column \d+$", "", str(err.msg or "")) or "the parser could not read it"
    for pattern, plain in _PLAIN_XML_ERRORS:
        if pattern.search(reason):
            reason = pattern.sub(plain, reason) if "\\1" in plain else plain
            break
    line, column = err.position if err.position else (err.lineno, 0)
    return f"the file is not well-formed XML: line {line}, column {column}: {reason}"


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
    except Exception as err:  # the parser raises many kinds for bad input; none may escape as a 500
        # A flow to an element that is not there makes the parser stop on something else: say that first.
        broken = [p for tree in trees.values() for p in _broken_references(tree)]
        raise BundleRefused(broken or [_parser_problem(err, trees, flow)]) from None
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


def _not_valid_bpmn(line: int, message: str, trees: Mapping[str, Any], flow: str) -> Problem:
    """The BPMN schema's complaint, marked on the element on its line, with the namespaces written short."""
    message = re.sub(r"\s*Expected is .*$", "", _short_names(message)).rstrip(". ")
    message = re.sub(
        r"^Element '([^']+)': This element is not expected$",
        r"\1 is not allowed in this place (BPMN 2.0 sets the order of an element's parts)",
        message,
    )
    wrong_value = _WRONG_VALUE.match(message)
    if wrong_value:
        element, attribute, value, kind = wrong_value.groups()
        wants = _SCHEMA_TYPES.get(kind, f"a value of the kind {kind}")
        message = f"the {attribute} of {element} must be {wants}, not {value!r}"
    element_id = flow
    for tree in trees.values():
        on_line = [el for el in tree.iter() if isinstance(el.tag, str) and el.sourceline == line]
        if on_line:
            element_id = _owner_id(on_line[-1], default=flow)
            break
    return Problem(element_id, f"the diagram is not valid BPMN 2.0 (line {line}): {message}")


_WRONG_VALUE = re.compile(
    r"^Element '([^']+)', attribute '([^']+)': '([^']*)' is not a valid value of the atomic type 'xs:(\w+)'$"
)
_SCHEMA_TYPES = {
    "integer": "a whole number",
    "ID": "an id that no other element has, starting with a letter",
    "boolean": "true or false",
    "IDREF": "the id of an element in the diagram",
}


def _short_names(text: str) -> str:
    return text.replace(f"{{{BPMN}}}", "bpmn:").replace(f"{{{SPIFF}}}", "spiffworkflow:")


# SpiffWorkflow's own words for a few mistakes a modeller makes easily, said so a process owner can act.
_PLAIN_PARSER_ERRORS = (
    (
        "Non-default exclusive outgoing sequence flow without condition",
        "this flow leaves a gateway that chooses a path, but it has no condition and is not the gateway's "
        "default flow: give it a condition, or make it the default",
    ),
    (
        "A loopMaximum or loopCondition must be specified for Loop Tasks",
        "this task repeats, but says neither how many times (loopMaximum) nor when to stop (loopCondition)",
    ),
    ("A Service Task must have an operator", "the service task names no handler (serviceTaskOperator)"),
    (
        "Time Specification Error",
        "the timer says neither when (timeDate), after how long (timeDuration) nor how often (timeCycle)",
    ),
    (
        'ValueError("invalid literal for int()',
        "a number this element needs (such as loopMaximum) is not a whole number",
    ),
)


def _parser_problem(err: Exception, trees: Mapping[str, Any], flow: str) -> Problem:
    """The parser's complaint in plain words, marked on the element it is about."""
    if isinstance(err, etree.DocumentInvalid):
        entry = err.error_log.last_error if err.error_log else None
        return _not_valid_bpmn(entry.line if entry else 0, entry.message if entry else _plain(err), trees, flow)
    if not isinstance(err, ValidationException):
        return Problem(flow, f"the diagram could not be read: {_plain(err)}")
    line = getattr(err, "line_number", None)
    if not getattr(err, "id", "") and isinstance(line, int) and line > 0:
        # The BPMN schema's complaint: SpiffWorkflow passes on its line, not an element.
        return _not_valid_bpmn(line, str(err.args[0] if err.args else err), trees, flow)
    message = _plain(err)
    missing = re.match(r"The process '([^']*)' was not found", message)
    if missing:
        # Said of no element; the call activities naming it are the ones to mark.
        callers = [
            el.get("id")
            for tree in trees.values()
            for el in tree.iter(f"{{{BPMN}}}callActivity")
            if el.get("calledElement") == missing.group(1)
        ]
        text = f"the process {missing.group(1)!r} that this calls is not in the diagram's files"
        return Problem(callers[0] if callers else flow, text)
    for theirs, ours in _PLAIN_PARSER_ERRORS:
        if message.startswith(theirs):
            message = ours
            break
    element_id = str(getattr(err, "id", "") or "")
    if element_id:
        for tree in trees.values():
            found = tree.xpath("//*[@id=$id]", id=element_id)
            if found:
                element_id = _owner_id(found[0], default=flow)
                break
    return Problem(element_id or flow, message)


def _operator_id_clashes(tree: Any) -> list[Problem]:
    # The parser finds elements by id anywhere in the file, so a handler named like a diagram element
    # makes it read the wrong element.
    element_ids = {el.get("id") for el in tree.iter(f"{{{BPMN}}}*") if el.get("id")}
    return [
        Problem(_owner_id(op), f"the handler name {op.get('id')!r} is also the id of a diagram element")
        for op in tree.iter(f"{{{SPIFF}}}serviceTaskOperator")
        if op.get("id") in element_ids
    ]


def _broken_references(tree: Any) -> list[Problem]:
    """Flows and boundary events that name an element the diagram does not have. The parser would stop on
    them with a message about something else."""
    element_ids = {el.get("id") for el in tree.iter(f"{{{BPMN}}}*") if el.get("id")}
    problems = []
    for flow in tree.iter(f"{{{BPMN}}}sequenceFlow"):
        # A modeller cannot draw a flow with a missing end, so the end it does have is marked.
        name, source, target = flow.get("id"), flow.get("sourceRef"), flow.get("targetRef")
        if target not in element_ids:
            mark = source if source in element_ids else _owner_id(flow.getparent())
            problems.append(Problem(str(mark), f"the flow {name!r} from here leads to {_missing(target)}"))
        if source not in element_ids:
            mark = target if target in element_ids else _owner_id(flow.getparent())
            problems.append(Problem(str(mark), f"the flow {name!r} into here starts from {_missing(source)}"))
    activities = {
        el.get("id")
        for el in tree.iter(f"{{{BPMN}}}*")
        if el.get("id")
        and (_tag(el).endswith("Task") or _tag(el) in ("task", "subProcess", "callActivity", "transaction"))
    }
    for event in tree.iter(f"{{{BPMN}}}boundaryEvent"):
        host = event.get("attachedToRef")
        if host not in element_ids:
            problems.append(Problem(_owner_id(event), f"this event is attached to {_missing(host)}"))
        elif host not in activities:
            problems.append(
                Problem(_owner_id(event), "this event hangs on something that is not a step: attach it to a task")
            )
    return problems


def _missing(ref: str | None) -> str:
    return f"{ref!r}, which is not an element of the diagram" if ref else "no element (it names none)"


def _plain(err: Exception) -> str:
    return str(err).splitlines()[0] if str(err) else err.__class__.__name__


def all_specs(parsed: ParsedBundle) -> Iterable[BpmnProcessSpec]:
    yield parsed.spec
    yield from parsed.subprocess_specs.values()


# --- The checks ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HandlerParameters:
    """The parameters a handler reads: `required` ones it always reads, `optional` ones it may read."""

    required: frozenset[str]
    optional: frozenset[str]

    @property
    def names(self) -> frozenset[str]:
        return self.required | self.optional


@dataclass(frozen=True)
class _Code:
    """One piece of code in a diagram, and how a message names it."""

    element_id: str
    kind: str  # "expression" or "script": how the sandbox compiles it
    source: str
    what: str  # "expression", "script", "expression for the parameter 'x'", ...
    timer: str | None = None  # timeDate, timeDuration or timeCycle for a timer's expression


def check(
    parsed: ParsedBundle,
    *,
    roles: Iterable[str],
    handlers: Iterable[str],
    trial: bool = True,
    handler_parameters: Mapping[str, HandlerParameters | None] | None = None,
) -> list[Problem]:
    """Everything that must hold before a bundle may run a case. An empty list means it may.

    Each problem names the element to mark on the diagram. `handler_parameters` gives, for the handlers
    whose parameters are known (parameters_read), what each reads, so a misspelt parameter is found here
    rather than when a case reaches the task.
    """
    role_ids, handler_names = set(roles), set(handlers)
    problems: list[Problem] = [p for tree in parsed.trees.values() for p in _broken_references(tree)]
    problems += _check_extension_spelling(parsed)
    problems += _check_lanes(parsed, role_ids)
    problems += _check_tasks(parsed, role_ids, handler_names)
    problems += _check_handler_parameters(parsed, handler_parameters or {})
    items = list(_expressions(parsed))
    compiled = []
    for item in items:
        try:
            (compile_expression if item.kind == "expression" else compile_script)(item.source)
        except SandboxError as err:
            problems.append(Problem(item.element_id, _does_not_compile(item, err)))
            continue
        compiled.append(item)
        unknown = unknown_calls(item.source, item.kind, HELPER_NAMES)
        problems += [Problem(item.element_id, _unknown_call(item.what, name)) for name in unknown]
        if _calls_format(item.source, item.kind):
            # Refused by the sandbox when it runs, but the trial cannot reach it behind data it lacks.
            problems.append(Problem(item.element_id, f"the {item.what} uses str.format(), {_FORMAT_REFUSED}"))
    refused = {item.element_id for item in items if item not in compiled}
    problems += _check_timers(compiled)
    problems += _check_gateways(parsed, refused)
    problems += _check_graph(parsed)
    problems += _check_repeats(parsed)
    if trial and not problems:
        # Numbered, because one task may hold several pieces of code and the message must say which.
        numbered = [(str(n), item.kind, item.source) for n, item in enumerate(items)]
        for number, message in trial_run(numbered, {}, helpers=TRIAL_RESULTS):
            item = items[int(number)]
            problems.append(Problem(item.element_id, f"a trial run of its {item.what} failed: {message}"))
    return problems


def _does_not_compile(item: _Code, err: SandboxError) -> str:
    if not item.source.strip():
        return f"the {item.what} is empty"
    if item.timer and _iso_kind(item.source) is not None:
        # What Camunda Modeler writes: a timer is plain ISO text there, but code here.
        text = item.source.strip()
        return f"{_TIMER_WORDS[item.timer]} {text} is read as code: write it in quotes, {_shown(text)}"
    return f"the {item.what} does not compile: {err}"


_FORMAT_REFUSED = "which is not allowed in diagram code; use an f-string instead"


def _calls_format(source: str, kind: str) -> bool:
    """Whether code reaches for .format or .format_map: '{0.__class__}'.format(x) walks attributes where
    the attribute guard cannot see, so the sandbox refuses both on text, and diagram data has no other
    object that has them."""
    tree = ast.parse(source, mode="eval" if kind == "expression" else "exec")
    return any(isinstance(n, ast.Attribute) and n.attr in ("format", "format_map") for n in ast.walk(tree))


def _unknown_call(what: str, name: str) -> str:
    # At run time this is a NameError the trial cannot tell from missing sample data, so say it here.
    close = difflib.get_close_matches(name, HELPER_NAMES, n=1)
    hint = f"did you mean {close[0]}()?" if close else f"the diagram helpers are {', '.join(HELPER_NAMES)}"
    return f"the {what} calls {name}(), which is not a function diagram code can use ({hint})"


def _tag(el: Any) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _check_extension_spelling(parsed: ParsedBundle) -> list[Problem]:
    """Our extension elements are spelt right and sit where the engine reads them: anything else would be
    ignored without a word, and the task would run without its form, subject or handler."""
    problems = []
    for tree in parsed.trees.values():
        for el in tree.iter(f"{{{SPIFF}}}*"):
            local = _tag(el)
            owner = _owner_id(el, default=parsed.flow)
            host = next((_tag(a) for a in el.iterancestors() if a.get("id") == owner), "")
            if local not in KNOWN_SPIFF_ELEMENTS:
                problems.append(Problem(owner, f"unknown extension element spiffworkflow:{local}"))
            elif local == "property":
                problems += _property_problems(owner, host, el.get("name") or "")
            elif local == "serviceTaskOperator" and host != "serviceTask":
                problems.append(
                    Problem(owner, "a handler (serviceTaskOperator) runs only on a service task, so it would never run")
                )
    return problems


def _property_problems(owner: str, host: str, name: str) -> list[Problem]:
    if name not in KNOWN_PROPERTIES:
        close = difflib.get_close_matches(name, KNOWN_PROPERTIES, n=1)
        hint = (
            f"did you mean {close[0]}?" if close else f"the properties Compass reads are {', '.join(KNOWN_PROPERTIES)}"
        )
        return [Problem(owner, f"unknown property {name!r} ({hint})")]
    if host != "userTask":
        return [Problem(owner, f"the property {name} is read only on a user task, so here it would be ignored")]
    return []


def _check_lanes(parsed: ParsedBundle, roles: set[str]) -> list[Problem]:
    """Every lane is named after a role: the lane is who may do its tasks."""
    problems = []
    for tree in parsed.trees.values():
        for lane in tree.iter(f"{{{BPMN}}}lane"):
            if lane.find("bpmn:childLaneSet", NS) is not None:
                continue  # a lane of lanes: its inner lanes hold the tasks
            name = (lane.get("name") or "").strip()
            lane_id = lane.get("id") or parsed.flow
            if not name:
                problems.append(Problem(lane_id, "the lane has no name: name it after the role that does its work"))
            elif name not in roles:
                close = difflib.get_close_matches(name, sorted(roles), n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"the roles are {', '.join(sorted(roles))}"
                problems.append(Problem(lane_id, f"the lane {name!r} is not a role ({hint})"))
    return problems


def _check_tasks(parsed: ParsedBundle, roles: set[str], handlers: set[str]) -> list[Problem]:
    problems = []
    lane_names = {
        (lane.get("name") or "").strip() for tree in parsed.trees.values() for lane in tree.iter(f"{{{BPMN}}}lane")
    }
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
                elif lane not in roles and lane not in lane_names:
                    # A lane of the diagram with a wrong name is marked once, on the lane.
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


# --- Handler parameters --------------------------------------------------------------------------------


def _check_handler_parameters(parsed: ParsedBundle, declared: Mapping[str, HandlerParameters | None]) -> list[Problem]:
    """The parameters a service task gives its handler are the ones the handler reads."""
    problems = []
    for tree in parsed.trees.values():
        for operator in tree.iter(f"{{{SPIFF}}}serviceTaskOperator"):
            handler = operator.get("id") or ""
            takes = declared.get(handler)
            if takes is None:
                continue
            task = _owner_id(operator, default=parsed.flow)
            given: list[str] = []
            for parameter in operator.iter(f"{{{SPIFF}}}parameter"):
                name = (parameter.get("id") or "").strip()
                if not name:
                    problems.append(Problem(task, f"a parameter of the handler {handler!r} has no name"))
                elif name in given:
                    problems.append(Problem(task, f"the parameter {name!r} is given twice"))
                else:
                    given.append(name)
            for name in given:
                if name not in takes.names:
                    close = difflib.get_close_matches(name, sorted(takes.names), n=1)
                    hint = (
                        f"did you mean {close[0]!r}?"
                        if close
                        else f"it takes {', '.join(sorted(takes.names))}"
                        if takes.names
                        else "it takes none"
                    )
                    problems.append(Problem(task, f"the handler {handler!r} takes no parameter {name!r} ({hint})"))
            for name in sorted(takes.required - set(given)):
                problems.append(
                    Problem(
                        task, f"the handler {handler!r} needs the parameter {name!r}, and this task does not give it"
                    )
                )
    return problems


_params_cache: dict[Any, HandlerParameters | None] = {}


def parameters_read(handler: Callable[..., Any] | None) -> HandlerParameters | None:
    """The parameters a handler reads from `ctx.params`, found in its source code; None when that cannot be
    told (no source at hand, or `ctx.params` or `ctx` handed somewhere this cannot follow).

    Handlers do not declare their parameters, and reading them where they are used cannot fall out of date.
    A parameter counts as required only when the handler reads it as `ctx.params["name"]` in a statement
    that always runs; `.get("name")`, `"name" in ctx.params` and reads inside a branch or a function it
    calls count as optional, so a diagram is never refused for leaving out what a handler can do without.
    """
    if not isinstance(handler, types.FunctionType):
        return None
    if handler not in _params_cache:
        found = _params_read(handler, 0, set())
        _params_cache[handler] = (
            None if found is None else HandlerParameters(frozenset(found[0]), frozenset(found[1] - found[0]))
        )
    return _params_cache[handler]


def _params_read(fn: types.FunctionType, position: int, seen: set[Any]) -> tuple[set[str], set[str]] | None:
    if (fn.__code__, position) in seen:
        return set(), set()
    seen.add((fn.__code__, position))
    try:
        module = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None
    func = next((n for n in module.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    if func is None:
        return None
    arguments = [*func.args.posonlyargs, *func.args.args]
    if position >= len(arguments):
        return None
    ctx = arguments[position].arg
    always = _always_run(func)
    parents = {child: node for node in ast.walk(func) for child in ast.iter_child_nodes(node)}
    required: set[str] = set()
    optional: set[str] = set()
    for node in ast.walk(func):
        if not (isinstance(node, ast.Name) and node.id == ctx and isinstance(node.ctx, ast.Load)):
            continue
        parent = parents.get(node)
        if isinstance(parent, ast.Attribute) and parent.value is node:
            if parent.attr != "params":
                continue  # ctx.data, ctx.case_id, ctx.queries...
            name, always_read = _param_use(parent, parents)
            if name is None:
                return None  # ctx.params itself handed on or looped over
            (required if always_read and id(parent) in always else optional).add(name)
            continue
        if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and node in parent.args:
            callee = fn.__globals__.get(parent.func.id)
            if isinstance(callee, types.FunctionType):
                inner = _params_read(callee, parent.args.index(node), seen)
                if inner is None:
                    return None
                optional |= inner[0] | inner[1]
                continue
        return None
    return required, optional


def _param_use(params: ast.Attribute, parents: Mapping[ast.AST, ast.AST]) -> tuple[str | None, bool]:
    """The parameter name one use of `ctx.params` reads, and whether it reads it as required."""
    use = parents.get(params)
    if isinstance(use, ast.Subscript) and use.value is params and _text(use.slice):
        return _text(use.slice), True
    if isinstance(use, ast.Attribute) and use.attr == "get":
        call = parents.get(use)
        if isinstance(call, ast.Call) and call.func is use and call.args and _text(call.args[0]):
            return _text(call.args[0]), False
    if (
        isinstance(use, ast.Compare)
        and len(use.ops) == 1
        and isinstance(use.ops[0], (ast.In, ast.NotIn))
        and use.comparators[0] is params
        and _text(use.left)
    ):
        return _text(use.left), False
    return None, False


def _text(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _always_run(func: ast.FunctionDef | ast.AsyncFunctionDef) -> set[int]:
    """The ids of the nodes a call of `func` always evaluates: its plain statements up to the first one that
    may leave early, less anything inside a condition's branches, a lambda or a comprehension."""
    ids: set[int] = set()
    for statement in func.body:
        if isinstance(statement, (ast.Return, ast.Raise)):
            _collect_always(statement, ids)
            break
        leaves = any(isinstance(n, (ast.Return, ast.Raise, ast.Break, ast.Continue)) for n in ast.walk(statement))
        if isinstance(
            statement, (ast.If, ast.For, ast.AsyncFor, ast.While, ast.Try, ast.With, ast.AsyncWith, ast.Match)
        ):
            if leaves:
                break
            continue
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        _collect_always(statement, ids)
    return ids


def _collect_always(node: ast.AST, ids: set[int]) -> None:
    ids.add(id(node))
    if isinstance(node, ast.IfExp):
        _collect_always(node.test, ids)
    elif isinstance(node, ast.BoolOp):
        _collect_always(node.values[0], ids)
    elif not isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        for child in ast.iter_child_nodes(node):
            _collect_always(child, ids)


# --- The code in a diagram -----------------------------------------------------------------------------

# Where SpiffWorkflow evaluates an expression, beyond conditions, scripts and timers: each is compiled here
# so its problem is found on upload, named by the element that holds it.
_EXPRESSION_TAGS = (
    ("loopCardinality", "expression for the number of instances (loopCardinality)"),
    ("completionCondition", "expression for when the task is complete (completionCondition)"),
    ("loopCondition", "expression for when the repeats stop (loopCondition)"),
    ("condition", "expression"),  # a conditional event's
)


def _expressions(parsed: ParsedBundle) -> Iterable[_Code]:
    """Every piece of code in the diagrams."""
    flow = parsed.flow
    for tree in parsed.trees.values():
        for el in tree.iter(f"{{{BPMN}}}conditionExpression"):
            yield _Code(_owner_id(el, flow), "expression", (el.text or "").strip(), "expression")
        for el in tree.iter(f"{{{BPMN}}}script"):
            yield _Code(_owner_id(el, flow), "script", el.text or "", "script")
        for tag in TIMER_TAGS:
            for el in tree.iter(f"{{{BPMN}}}{tag}"):
                yield _Code(_owner_id(el, flow), "expression", (el.text or "").strip(), "expression", timer=tag)
        for tag, what in _EXPRESSION_TAGS:
            for el in tree.iter(f"{{{BPMN}}}{tag}"):
                yield _Code(_owner_id(el, flow), "expression", (el.text or "").strip(), what)
        for holder in tree.iter(f"{{{BPMN}}}correlationPropertyRetrievalExpression"):
            # The parser renames its formalExpression to messagePath; either way it is evaluated.
            for el in holder:
                if isinstance(el.tag, str) and _tag(el) in ("formalExpression", "messagePath"):
                    yield _Code(
                        _owner_id(el, flow), "expression", (el.text or "").strip(), "expression for the correlation"
                    )
        for tag, what in (("preScript", "pre-script"), ("postScript", "post-script")):
            for el in tree.iter(f"{{{SPIFF}}}{tag}"):
                yield _Code(_owner_id(el, flow), "script", el.text or "", what)
        for el in tree.iter(f"{{{SPIFF}}}parameter"):
            what = f"expression for the parameter {el.get('id') or ''!r}"
            yield _Code(_owner_id(el, flow), "expression", el.get("value") or "", what)
        for el in tree.iter(f"{{{SPIFF}}}property"):
            if el.get("name") in EXPRESSION_PROPERTIES:
                yield _Code(
                    _owner_id(el, flow), "expression", el.get("value") or "", f"expression for {el.get('name')}"
                )


def _owner_id(el: Any, default: str = "?") -> str:
    """The id of the element to mark for a problem found in `el`: itself if the modeller draws it, else the
    nearest drawn element holding it (the event of a timer definition, the task of a parameter)."""
    for candidate in (el, *el.iterancestors()):
        if (
            isinstance(candidate.tag, str)
            and etree.QName(candidate).namespace == BPMN
            and _tag(candidate) in _MARKABLE_TAGS
            and candidate.get("id")
        ):
            return str(candidate.get("id"))
    return default


# --- Timers ------------------------------------------------------------------------------------------

_TIMER_WORDS = {
    "timeDate": "the timer's date (timeDate)",
    "timeDuration": "the timer's duration (timeDuration)",
    "timeCycle": "the timer's cycle (timeCycle)",
}
_TIMER_WANTS = {
    "timeDate": 'a moment such as "2026-03-02T09:00:00+00:00" or working_days(1)',
    "timeDuration": 'a length of time such as "P1D" (one day) or "PT4H" (four hours)',
    "timeCycle": 'a repeating cycle such as "R3/P1D" (three times, a day apart)',
}
_TIMER_KIND = {"timeDate": "moment", "timeDuration": "duration", "timeCycle": "cycle"}
_KIND_WORDS = {"moment": "a moment", "duration": "a length of time", "cycle": "a repeating cycle"}
_KIND_TIMER = {
    "moment": "a date timer (timeDate)",
    "duration": "a duration timer (timeDuration)",
    "cycle": "a cycle timer (timeCycle)",
}
_ISO_DURATION = re.compile(
    r"P(?=\d|T\d)(\d+([.,]\d+)?Y)?(\d+([.,]\d+)?M)?(\d+([.,]\d+)?W)?(\d+([.,]\d+)?D)?"
    r"(T(?=\d)(\d+([.,]\d+)?H)?(\d+([.,]\d+)?M)?(\d+([.,]\d+)?S)?)?"
)


def _check_timers(compiled: list[_Code]) -> list[Problem]:
    """Each timer's expression gives the kind of value its timer needs. (A timer that says nothing at all is
    refused by the parser.) The value is worked out from the code where that can be told without running
    it: a text, a helper's moment, or either branch of a condition. A value read from the case's data is
    known only when a case runs."""
    problems = []
    for item in compiled:
        if item.timer is None:
            continue
        seen: set[str] = set()
        for value in _possible_values(ast.parse(item.source, mode="eval").body):
            message = _timer_value_problem(item.timer, value)
            if message and message not in seen:
                seen.add(message)
                problems.append(Problem(item.element_id, message))
    return problems


def _possible_values(node: ast.expr) -> list[ast.expr]:
    """The parts of an expression whose value can be the expression's value."""
    if isinstance(node, ast.IfExp):
        return _possible_values(node.body) + _possible_values(node.orelse)
    if isinstance(node, ast.BoolOp):
        return [value for part in node.values for value in _possible_values(part)]
    return [node]


def _timer_value_problem(tag: str, node: ast.expr) -> str | None:
    words, wants = _TIMER_WORDS[tag], _TIMER_WANTS[tag]
    if isinstance(node, ast.Name) and _iso_kind(node.id) is not None:
        return f"{words} {node.id} is read as the name of a data field: write it in quotes, {_shown(node.id)}"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in HELPER_NAMES:
        kind, shown = "moment", f"{node.func.id}()"
    elif isinstance(node, ast.Constant):
        if not isinstance(node.value, str):
            return f"{words} gives {node.value!r}, which is not text: it must give {wants}"
        found, shown = _iso_kind(node.value), _shown(node.value)
        if found is None:
            return f"{words} gives {shown}, which is not {wants}"
        if found == "naive moment":
            if tag == "timeDate":
                return (
                    f"{words} {shown} has no time zone, so the server's own would be guessed: add one, such as +00:00"
                )
            found = "moment"
        if found == "unbounded cycle":
            if tag == "timeCycle":
                return f'{words} {shown} repeats without end: say how many times, such as "R3/P1D"'
            found = "cycle"
        kind = found
    else:
        return None
    if kind == _TIMER_KIND[tag]:
        return None
    found_words = _KIND_WORDS[kind]
    return f"{words} gives {shown}, which is {found_words}, not {wants}; for {found_words} use {_KIND_TIMER[kind]}"


def _iso_kind(text: str) -> str | None:
    """What an ISO 8601 text is to a timer: moment, naive moment, duration, cycle, unbounded cycle; None
    when it is none of them. SpiffWorkflow's own readers decide, so what passes here is what it reads."""
    text = text.strip()
    upper = text.upper()
    try:
        if upper.startswith("R"):
            cycles, _start, _length = TimerEventDefinition.parse_iso_recurring_interval(text)
            return "unbounded cycle" if cycles < 0 else "cycle"
        if upper.startswith("P"):
            if not _ISO_DURATION.fullmatch(upper):
                return None
            TimerEventDefinition.parse_iso_duration(text)
            return "duration"
        moment = datetime.fromisoformat(text)
    except Exception:  # each reader raises its own kinds for text it cannot read
        return None
    return "moment" if moment.utcoffset() is not None else "naive moment"


def _shown(value: str) -> str:
    return json.dumps(value if len(value) <= 60 else value[:57] + "...")


# --- Gateways ----------------------------------------------------------------------------------------

_CHOICE_GATEWAYS = ("exclusiveGateway", "inclusiveGateway")


def _check_gateways(parsed: ParsedBundle, refused: set[str]) -> list[Problem]:
    """A gateway that chooses a path always finds one: it has a default flow, or its conditions test `==`
    against every answer of a choice question asked before it (a required one, so it has an answer).
    `refused` are the elements whose code did not compile: those are named already."""
    problems = []
    for tree in parsed.trees.values():
        flows = list(tree.iter(f"{{{BPMN}}}sequenceFlow"))
        by_id = {flow.get("id"): flow for flow in flows}
        leaving: dict[str, list[Any]] = {}
        for flow in flows:
            leaving.setdefault(flow.get("sourceRef"), []).append(flow)
        upstream = _Upstream(tree)
        for tag in _CHOICE_GATEWAYS:
            for gateway in tree.iter(f"{{{BPMN}}}{tag}"):
                gateway_id = gateway.get("id") or parsed.flow
                outgoing = leaving.get(gateway_id, [])
                default = gateway.get("default")
                if default:
                    chosen = by_id.get(default)
                    if chosen is None or chosen.get("sourceRef") != gateway_id:
                        problems.append(
                            Problem(
                                gateway_id,
                                f"the default flow {default!r} does not leave this gateway: choose one that does",
                            )
                        )
                    elif _condition_of(chosen):
                        problems.append(
                            Problem(
                                default,
                                "this is its gateway's default flow, so its condition is never tested: remove the "
                                "condition, or make another flow the default",
                            )
                        )
                    continue
                conditions = [_condition_of(flow) for flow in outgoing]
                if len(outgoing) <= 1 and not any(conditions):
                    continue  # a gateway that joins paths, or has one way on
                if any(flow.get("id") in refused for flow in outgoing):
                    continue
                message = _uncovered([c for c in conditions if c], upstream.forms_before(gateway_id), parsed.forms)
                if message:
                    problems.append(Problem(gateway_id, message))
    return problems


def _condition_of(flow: Any) -> str:
    condition = flow.find("bpmn:conditionExpression", NS)
    return (condition.text or "").strip() if condition is not None else ""


def _uncovered(conditions: list[str], forms_before: list[str], forms: Mapping[str, Any]) -> str | None:
    """Why a gateway with no default flow might find no way on, or None if it always finds one."""
    stops = "this gateway has no default flow, so a case that meets none of its conditions would stop here"
    fix = "mark one outgoing flow as the default"
    tests = [test for test in (_equality_test(condition) for condition in conditions) if test is not None]
    if not tests or len(tests) != len(conditions) or len({name for name, _values in tests}) != 1:
        return f"{stops}: {fix}, or make every condition test one choice question with == against each of its answers"
    field_name = tests[0][0]
    covered = [value for _name, values in tests for value in values]
    question = _choice_question(field_name, forms_before, forms)
    if question is None:
        return (
            f"{stops}, and {field_name!r} is not a choice question of a form that comes before it, so its "
            f"answers cannot be checked: {fix}"
        )
    title, form_ids, choices, required = question
    missing = [(value, label) for value, label in choices if not any(_same_value(value, c) for c in covered)]
    if missing:
        answers = ", ".join(_answer(value, label) for value, label in missing)
        plural = "s" if len(missing) > 1 else ""
        return (
            f"{stops}: no condition takes the answer{plural} {answers} to {title!r} (form {form_ids}). "
            f"Add a condition for each, or {fix}"
        )
    if not required:
        return (
            f"{stops}: {title!r} may be left unanswered in the form {form_ids}, and then no condition is true. "
            f"Make the question required, or {fix}"
        )
    return None


def _answer(value: Any, label: str) -> str:
    shown = json.dumps(value)
    return shown if label == str(value) else f'"{label}" ({shown})'


def _equality_test(condition: str) -> tuple[str, list[Any]] | None:
    """(field, values) when the condition is `field == value`, `field in (values)`, or several of those on
    one field joined by `or`; None otherwise."""
    try:
        node = ast.parse(condition, mode="eval").body
    except SyntaxError:
        return None
    return _field_test(node)


def _field_test(node: ast.expr) -> tuple[str, list[Any]] | None:
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
        parts = [part for part in (_field_test(value) for value in node.values) if part is not None]
        if len(parts) != len(node.values) or len({name for name, _values in parts}) != 1:
            return None
        return parts[0][0], [value for _name, values in parts for value in values]
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1):
        return None
    left, right, op = node.left, node.comparators[0], node.ops[0]
    if isinstance(op, ast.Eq):
        if isinstance(left, ast.Name) and isinstance(right, ast.Constant):
            return left.id, [right.value]
        if isinstance(right, ast.Name) and isinstance(left, ast.Constant):
            return right.id, [left.value]
    if (
        isinstance(op, ast.In)
        and isinstance(left, ast.Name)
        and isinstance(right, (ast.Tuple, ast.List, ast.Set))
        and all(isinstance(element, ast.Constant) for element in right.elts)
    ):
        return left.id, [element.value for element in right.elts if isinstance(element, ast.Constant)]
    return None


def _choice_question(
    field_name: str, form_ids: list[str], forms: Mapping[str, Any]
) -> tuple[str, str, list[tuple[Any, str]], bool] | None:
    """The question `field_name` of the forms asked before: (title, form ids, choices, always answered)."""
    title, found, required = "", [], True
    choices: list[tuple[Any, str]] = []
    for form_id in form_ids:
        schema = forms.get(form_id)
        if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
            continue
        question = schema["properties"].get(field_name)
        options = _choices(question)
        if not options:
            continue
        found.append(form_id)
        title = title or str(question.get("title") or field_name)
        choices += [(value, label) for value, label in options if not any(_same_value(value, v) for v, _ in choices)]
        names_required = schema.get("required")
        required = required and isinstance(names_required, list) and field_name in names_required
    if not found:
        return None
    return title, ", ".join(found), choices, required


def _choices(schema: Any) -> list[tuple[Any, str]]:
    """The answers a form question allows, read as app.schemaforms.model.choices_of reads them (the engine
    does not import the web's form code): `oneOf`/`anyOf` of `const`s, or an `enum`; and a yes/no question."""
    if not isinstance(schema, dict):
        return []
    for keyword in ("oneOf", "anyOf"):
        options = schema.get(keyword)
        if options and isinstance(options, list) and all(isinstance(o, dict) and "const" in o for o in options):
            return [(o["const"], str(o.get("title") or o["const"])) for o in options]
    enum = schema.get("enum")
    if isinstance(enum, list):
        return [(value, str(value)) for value in enum]
    if schema.get("type") == "boolean":
        return [(True, "Yes"), (False, "No")]
    return []


def _same_value(a: Any, b: Any) -> bool:
    # True == 1 in Python, but an answer of True is not taken by a condition testing 1.
    return type(a) is type(b) and a == b


class _Upstream:
    """What a case has been through before it reaches an element: everything on the paths back to a start,
    out of a subprocess into the process holding it."""

    def __init__(self, tree: Any) -> None:
        self.by_id = {el.get("id"): el for el in tree.iter(f"{{{BPMN}}}*") if el.get("id")}
        self.sources: dict[str, list[str]] = {}
        for flow in tree.iter(f"{{{BPMN}}}sequenceFlow"):
            self.sources.setdefault(flow.get("targetRef"), []).append(flow.get("sourceRef"))

    def _just_before(self, node_id: str) -> list[str]:
        # Followed step by step, never by recursion: a diagram may hang two boundary events on each other.
        seen: set[str] = set()
        while node_id not in seen:
            seen.add(node_id)
            el = self.by_id.get(node_id)
            if el is None:
                return []
            parent = el.getparent()
            if _tag(el) == "boundaryEvent":
                # The activity it hangs on has not finished: only what came before that activity has.
                node_id = el.get("attachedToRef") or ""
            elif _tag(el) == "startEvent" and parent is not None and _tag(parent) in ("subProcess", "transaction"):
                node_id = parent.get("id") or ""
            else:
                return self.sources.get(node_id, [])
        return []

    def forms_before(self, node_id: str) -> list[str]:
        seen: set[str] = set()
        forms: list[str] = []
        stack = list(self._just_before(node_id))
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            el = self.by_id.get(current)
            if el is not None:
                for task in el.iter(f"{{{BPMN}}}userTask"):
                    prop = task.find(
                        f"bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property[@name='{FORM_PROPERTY}']",
                        NS,
                    )
                    form_id = form_id_of(prop.get("value") if prop is not None else None)
                    if form_id and form_id not in forms:
                        forms.append(form_id)
            stack.extend(self._just_before(current))
        return forms


# --- Paths and loops ---------------------------------------------------------------------------------


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
                    first = _loop_decision(component, edges, gateways)
                    problems.append(
                        Problem(
                            first,
                            "this loop has no bound: a gateway in it must test a counter against a number, "
                            "and a script in the loop must change that counter "
                            f"(elements: {', '.join(sorted(component))})",
                        )
                    )
    return problems


def _check_repeats(parsed: ParsedBundle) -> list[Problem]:
    """A task that repeats itself (a standard loop) says the most times it may: each round deepens the case's
    task tree, and a condition alone may never come true (DESIGN.md rule 3)."""
    problems = []
    for tree in parsed.trees.values():
        for loop in tree.iter(f"{{{BPMN}}}standardLoopCharacteristics"):
            owner = _owner_id(loop, parsed.flow)
            maximum = (loop.get("loopMaximum") or "").strip()
            if not maximum:
                problems.append(
                    Problem(
                        owner,
                        "this task repeats with no most number of times: set loopMaximum, so it cannot repeat "
                        "without end",
                    )
                )
            elif not maximum.isdigit() or int(maximum) < 1:
                problems.append(
                    Problem(
                        owner,
                        f"the most number of repeats (loopMaximum) must be a whole number from 1, not {maximum!r}",
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


def _loop_decision(component: set[str], edges: dict[str, list[str]], gateways: set[str]) -> str:
    """The element to mark for a loop: the gateway that decides whether to go round again (it has a way
    out of the loop and a way round it), or else the loop's first element by name."""
    deciding = [
        node
        for node in sorted(component & gateways)
        if any(nxt in component for nxt in edges.get(node, []))
        and any(nxt not in component for nxt in edges.get(node, []))
    ]
    return deciding[0] if deciding else sorted(component)[0]


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
