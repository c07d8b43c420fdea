"""Two versions of a flow side by side, and a running instance moved from one to the other.

The diff reads the diagrams' XML and the forms' schemas, so a process owner sees what changed in the words of
the modeller (names, forms, handlers, lanes, conditions, timers, flows), element by element and field by field.

A migration moves one saved instance to a new bundle with SpiffWorkflow's own diff (`SpecDiff`, `WorkflowDiff`)
and the same steps as its `migrate_workflow`, with three things kept that the library would lose: the data of
every task set back to run (the library takes it from the parent, which drops a per-child instance's `child`),
the task's own keeps (its due time, a timer's moment) where its element did not change, and a check that the
moved state restores on the new bundle with every value in place before anyone relies on it. An instance is
refused, with the reason in words, when it waits at or has been through an element the new version removes,
when an element it waits at changes kind, when a step has failed, or when a part it runs (a per-child
subprocess) is gone.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from lxml import etree
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task as SpiffTask
from SpiffWorkflow.util.task import TaskState

from app.engine import runtime, serialization
from app.engine.bpmn_names import BPMN_NS, FLOW_NODE_TAGS, SPIFF_NS
from app.engine.specs import (
    ASSIGNEE_PROPERTY,
    DUE_PROPERTY,
    FORM_PROPERTY,
    SUBJECT_PROPERTY,
    ParsedBundle,
    form_id_of,
)

# --- What changed between two bundles --------------------------------------------------------------------


@dataclass(frozen=True)
class ElementDiff:
    """One element of the diagrams (a task, event, gateway, sequence flow or process) added, removed or changed."""

    element_id: str
    kind: str  # in words: "user task", "boundary event (timer)", "sequence flow"
    name: str
    process: str  # the name of the process (or subprocess) it belongs to
    changes: tuple[str, ...] = ()  # for a changed element: what changed, in words


@dataclass(frozen=True)
class BundleDiff:
    added: tuple[ElementDiff, ...]
    removed: tuple[ElementDiff, ...]
    changed: tuple[ElementDiff, ...]

    @property
    def same(self) -> bool:
        return not (self.added or self.removed or self.changed)


@dataclass(frozen=True)
class FieldDiff:
    """One question of a form added, removed or changed. `path` names nested questions by their keys:
    `referrer.name`, or `children[].name` for a question asked of each item of a list."""

    path: str
    title: str
    status: str  # added, removed, changed
    changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class FormDiff:
    form_id: str
    title: str
    status: str  # added, removed, changed
    changes: tuple[str, ...] = ()  # of the form as a whole: its title, hint, order, conditional questions
    fields: tuple[FieldDiff, ...] = ()


@dataclass
class _Element:
    id: str
    tag: str
    kind: str
    name: str
    process: str
    aspects: dict[str, Any] = field(default_factory=dict)


# The aspects of an element a process owner can change in the modeller, in the order they are told, with the
# words that name each.
_ASPECTS: tuple[tuple[str, str], ...] = (
    ("kind", "kind"),
    ("name", "name"),
    ("process", "process"),
    ("lane", "lane"),
    ("form", "form"),
    ("subject", "task subject"),
    ("due", "due time"),
    ("assignee", "assignee"),
    ("properties", "property"),
    ("handler", "handler"),
    ("parameters", "handler parameter"),
    ("result", "result variable"),
    ("script", "script"),
    ("prescript", "script before the task"),
    ("postscript", "script after the task"),
    ("timer", "timer"),
    ("event", "event"),
    ("called", "subprocess called"),
    ("loop", "repetition"),
    ("attached", "attached to"),
    ("interrupting", "interrupting"),
    ("default", "default flow"),
    ("condition", "condition"),
    ("source", "from"),
    ("target", "to"),
    ("incoming", "incoming flows"),
    ("outgoing", "outgoing flows"),
    ("documentation", "description"),
)
_LONG = 120  # longer texts (scripts, descriptions) are said to have changed, not quoted whole


def diff_bundles(old: ParsedBundle, new: ParsedBundle) -> BundleDiff:
    """The elements of `new` that `old` does not have, those it lost, and those whose settings changed, by BPMN id."""
    before, after = _elements(old), _elements(new)
    names = {**{k: v.name for k, v in before.items()}, **{k: v.name for k, v in after.items()}}
    added = tuple(_summary(after[k]) for k in _ordered(after) if k not in before)
    removed = tuple(_summary(before[k]) for k in _ordered(before) if k not in after)
    changed = []
    for key in _ordered(after):
        if key not in before:
            continue
        words = _element_changes(before[key], after[key], names)
        if words:
            changed.append(_summary(after[key], tuple(words)))
    return BundleDiff(added, removed, tuple(changed))


def _ordered(elements: dict[str, _Element]) -> list[str]:
    # Document order: processes, then their elements as drawn in the file, so a list reads like the diagram.
    return list(elements)


def _summary(el: _Element, changes: tuple[str, ...] = ()) -> ElementDiff:
    return ElementDiff(el.id, el.kind, el.name, el.process, changes)


def _elements(bundle: ParsedBundle) -> dict[str, _Element]:
    found: dict[str, _Element] = {}
    for name in sorted(bundle.trees):
        tree = bundle.trees[name]
        for process in tree.iter(f"{{{BPMN_NS}}}process"):
            _read_container(process, process.get("name") or process.get("id") or "", found, top=True)
    return found


def _local(el: Any) -> str:
    return str(etree.QName(el).localname) if isinstance(el.tag, str) else ""


def _is_bpmn(el: Any) -> bool:
    return isinstance(el.tag, str) and etree.QName(el).namespace == BPMN_NS


def _read_container(container: Any, label: str, found: dict[str, _Element], top: bool) -> None:
    pid = container.get("id") or ""
    if top:
        found[pid] = _Element(
            pid,
            "process",
            "process",
            label,
            label,
            {"name": container.get("name") or "", "documentation": _documentation(container)},
        )
    lanes = _lanes(container)
    flows = [c for c in container if _is_bpmn(c) and _local(c) == "sequenceFlow"]
    incoming: dict[str, set[str]] = {}
    outgoing: dict[str, set[str]] = {}
    for flow in flows:
        outgoing.setdefault(flow.get("sourceRef") or "", set()).add(flow.get("targetRef") or "")
        incoming.setdefault(flow.get("targetRef") or "", set()).add(flow.get("sourceRef") or "")
    for child in container:
        if not _is_bpmn(child) or not child.get("id"):
            continue
        local = _local(child)
        if local in FLOW_NODE_TAGS:
            el = _Element(child.get("id"), local, _kind(child), child.get("name") or "", label)
            el.aspects = _node_aspects(child, label, lanes, incoming, outgoing)
            found[el.id] = el
            if local in {"subProcess", "transaction", "adHocSubProcess"}:
                inner = child.get("name") or child.get("id")
                _read_container(child, f"{label} › {inner}", found, top=False)
        elif local == "sequenceFlow":
            cond = child.find(f"{{{BPMN_NS}}}conditionExpression")
            el = _Element(child.get("id"), local, "sequence flow", child.get("name") or "", label)
            el.aspects = {
                "name": child.get("name") or "",
                "process": label,
                "source": child.get("sourceRef") or "",
                "target": child.get("targetRef") or "",
                "condition": (cond.text or "").strip() if cond is not None else "",
                "documentation": _documentation(child),
            }
            found[el.id] = el


def _lanes(container: Any) -> dict[str, str]:
    lanes = {}
    for lane in container.iter(f"{{{BPMN_NS}}}lane"):
        for ref in lane.findall(f"{{{BPMN_NS}}}flowNodeRef"):
            lanes[(ref.text or "").strip()] = lane.get("name") or lane.get("id") or ""
    return lanes


def _documentation(el: Any) -> str:
    doc = el.find(f"{{{BPMN_NS}}}documentation")
    return (doc.text or "").strip() if doc is not None else ""


def _words(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", camel).lower()


def _kind(el: Any) -> str:
    kind = _words(_local(el))
    definitions = [_local(d) for d in el if _is_bpmn(d) and _local(d).endswith("EventDefinition")]
    if definitions:
        kind += " (" + ", ".join(_words(d.removesuffix("EventDefinition")) for d in definitions) + ")"
    return kind


def _node_aspects(
    el: Any, process: str, lanes: dict[str, str], incoming: dict[str, set[str]], outgoing: dict[str, set[str]]
) -> dict[str, Any]:
    eid = el.get("id")
    props = {
        p.get("name"): p.get("value") or ""
        for p in el.iterfind(f"{{{BPMN_NS}}}extensionElements/{{{SPIFF_NS}}}properties/{{{SPIFF_NS}}}property")
    }
    operator = el.find(f"{{{BPMN_NS}}}extensionElements/{{{SPIFF_NS}}}serviceTaskOperator")
    parameters = {}
    if operator is not None:
        parameters = {
            p.get("id"): p.get("value") or ""
            for p in operator.iterfind(f"{{{SPIFF_NS}}}parameters/{{{SPIFF_NS}}}parameter")
        }
    script = el.find(f"{{{BPMN_NS}}}script")
    pre = el.find(f"{{{BPMN_NS}}}extensionElements/{{{SPIFF_NS}}}preScript")
    post = el.find(f"{{{BPMN_NS}}}extensionElements/{{{SPIFF_NS}}}postScript")
    timers = []
    events = []
    for definition in el:
        local = _local(definition) if _is_bpmn(definition) else ""
        if local == "timerEventDefinition":
            for part in definition:
                if _is_bpmn(part):
                    timers.append(f"{_words(_local(part)).removeprefix('time ')} {(part.text or '').strip()}")
        elif local.endswith("EventDefinition"):
            refs = [definition.get(a) for a in ("messageRef", "signalRef", "errorRef", "escalationRef") if a]
            events.append(" ".join([_words(local.removesuffix("EventDefinition")), *[r for r in refs if r]]))
    loop = ""
    mi = el.find(f"{{{BPMN_NS}}}multiInstanceLoopCharacteristics")
    if mi is not None:
        parts = [f"{_local(p)}={(p.text or p.get('name') or '').strip()}" for p in mi if _is_bpmn(p)]
        loop = ("one after another" if mi.get("isSequential") == "true" else "all at once") + ": " + ", ".join(parts)
    elif el.find(f"{{{BPMN_NS}}}standardLoopCharacteristics") is not None:
        loop = "a loop"
    named = {FORM_PROPERTY, SUBJECT_PROPERTY, DUE_PROPERTY, ASSIGNEE_PROPERTY}
    other = {k: v for k, v in props.items() if k not in named}
    return {
        "kind": _kind(el),
        "name": el.get("name") or "",
        "process": process,
        "lane": lanes.get(eid, ""),
        "form": form_id_of(props.get(FORM_PROPERTY)) or "",
        "subject": props.get(SUBJECT_PROPERTY, ""),
        "due": props.get(DUE_PROPERTY, ""),
        "assignee": props.get(ASSIGNEE_PROPERTY, ""),
        "properties": other,
        "handler": operator.get("id") if operator is not None else "",
        "parameters": parameters,
        "result": (operator.get("resultVariable") or "") if operator is not None else "",
        "script": (script.text or "").strip() if script is not None else "",
        "prescript": (pre.text or "").strip() if pre is not None else "",
        "postscript": (post.text or "").strip() if post is not None else "",
        "timer": "; ".join(timers),
        "event": "; ".join(events),
        "called": el.get("calledElement") or "",
        "loop": loop,
        "attached": el.get("attachedToRef") or "",
        "interrupting": "" if _local(el) != "boundaryEvent" else (el.get("cancelActivity") or "true"),
        "default": el.get("default") or "",
        "incoming": frozenset(incoming.get(eid, set())),
        "outgoing": frozenset(outgoing.get(eid, set())),
        "documentation": _documentation(el),
    }


def _element_changes(old: _Element, new: _Element, names: dict[str, str]) -> list[str]:
    words: list[str] = []
    for key, label in _ASPECTS:
        before, after = old.aspects.get(key), new.aspects.get(key)
        if before == after or (before is None and after is None):
            continue
        if key in {"parameters", "properties"}:
            words += _dict_changes(label, before or {}, after or {})
        elif key in {"incoming", "outgoing"}:
            words += _neighbour_changes(key, before or frozenset(), after or frozenset(), names)
        elif key in {"source", "target", "attached"}:
            words.append(f"{label} changed from {_named(before, names)} to {_named(after, names)}")
        elif key == "default":
            words.append(f"{label} changed from {_quote(before) or 'none'} to {_quote(after) or 'none'}")
        else:
            words.append(_scalar_change(label, before or "", after or ""))
    return words


def _named(element_id: Any, names: dict[str, str]) -> str:
    if not element_id:
        return "nothing"
    name = names.get(str(element_id)) or ""
    return f"“{name}” ({element_id})" if name else f"“{element_id}”"


def _quote(value: Any) -> str:
    return f"“{value}”" if value not in (None, "") else ""


def _scalar_change(label: str, before: Any, after: Any) -> str:
    before, after = str(before), str(after)
    if not before:
        return f"{label} set to “{after}”" if len(after) <= _LONG else f"{label} added"
    if not after:
        return f"{label} removed (was “{before}”)" if len(before) <= _LONG else f"{label} removed"
    if len(before) > _LONG or len(after) > _LONG:
        return f"{label} changed"
    return f"{label} changed from “{before}” to “{after}”"


def _dict_changes(label: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    words = []
    for key in after:
        if key not in before:
            words.append(f"{label} “{key}” added: “{after[key]}”")
        elif before[key] != after[key]:
            words.append(f"{label} “{key}” changed from “{before[key]}” to “{after[key]}”")
    words += [f"{label} “{key}” removed (was “{before[key]}”)" for key in before if key not in after]
    return words


def _neighbour_changes(key: str, before: frozenset[str], after: frozenset[str], names: dict[str, str]) -> list[str]:
    if key == "outgoing":
        now, no_longer = "now leads to", "no longer leads to"
    else:
        now, no_longer = "is now reached from", "is no longer reached from"
    words = [f"{now} {_named(n, names)}" for n in sorted(after - before)]
    words += [f"{no_longer} {_named(n, names)}" for n in sorted(before - after)]
    return words


# --- What changed between two sets of forms --------------------------------------------------------------

# Keywords of a question with words of their own; any other keyword that changes is named as it is.
_FIELD_WORDS = {
    "title": "question",
    "description": "hint",
    "type": "type",
    "x-widget": "widget",
    "format": "format",
    "minLength": "shortest answer",
    "maxLength": "longest answer",
    "minimum": "lowest value",
    "maximum": "highest value",
    "minItems": "fewest items",
    "maxItems": "most items",
    "pattern": "pattern",
    "default": "default",
    "const": "fixed value",
    "x-error-messages": "error messages",
}
_FIELD_HANDLED = {*_FIELD_WORDS, "enum", "oneOf", "anyOf", "properties", "required", "items"}
_FORM_WORDS = {"title": "title", "description": "hint"}
_CONDITIONAL = ("allOf", "anyOf", "oneOf", "if", "then", "else", "dependentRequired", "dependentSchemas")


def diff_forms(old_forms: Mapping[str, Any], new_forms: Mapping[str, Any]) -> list[FormDiff]:
    """Each form added, removed or changed, with its questions compared one by one (nested ones too)."""
    result = []
    for form_id in sorted(set(old_forms) | set(new_forms)):
        old, new = old_forms.get(form_id), new_forms.get(form_id)
        if old == new:
            continue
        if old is None:
            result.append(FormDiff(form_id, _title(new, form_id), "added", fields=_all_fields(new, "added")))
        elif new is None:
            result.append(FormDiff(form_id, _title(old, form_id), "removed", fields=_all_fields(old, "removed")))
        else:
            changes = _form_changes(old, new)
            fields = _field_diffs(old, new, "")
            if changes or fields:
                result.append(FormDiff(form_id, _title(new, form_id), "changed", tuple(changes), tuple(fields)))
    return result


def _title(schema: Any, fallback: str) -> str:
    return str(schema.get("title") or fallback) if isinstance(schema, dict) else fallback


def _properties(schema: Any) -> dict[str, Any]:
    props = schema.get("properties") if isinstance(schema, dict) else None
    return props if isinstance(props, dict) else {}


def _required(schema: Any) -> set[str]:
    req = schema.get("required") if isinstance(schema, dict) else None
    return {str(r) for r in req} if isinstance(req, list) else set()


def _all_fields(schema: Any, status: str, prefix: str = "") -> tuple[FieldDiff, ...]:
    fields: list[FieldDiff] = []
    for key, sub in _properties(schema).items():
        path = f"{prefix}{key}"
        fields.append(FieldDiff(path, _title(sub, key), status))
        fields += _all_fields(sub, status, f"{path}.")
        items = sub.get("items") if isinstance(sub, dict) else None
        fields += _all_fields(items, status, f"{path}[].")
    return tuple(fields)


def _form_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    words = []
    for key, label in _FORM_WORDS.items():
        if old.get(key) != new.get(key):
            words.append(_scalar_change(label, old.get(key) or "", new.get(key) or ""))
    words += _order_change(old, new, "")
    if any(old.get(k) != new.get(k) for k in _CONDITIONAL):
        words.append("questions asked only on some answers (conditions) changed")
    return words


def _order_change(old: Any, new: Any, prefix: str) -> list[str]:
    before = [k for k in _properties(old) if k in _properties(new)]
    after = [k for k in _properties(new) if k in _properties(old)]
    if before != after:
        where = f" of {prefix.rstrip('.')}" if prefix else ""
        return [f"the order of the questions{where} changed: now {', '.join(after)}"]
    return []


def _field_diffs(old: Any, new: Any, prefix: str) -> list[FieldDiff]:
    before, after = _properties(old), _properties(new)
    req_before, req_after = _required(old), _required(new)
    fields: list[FieldDiff] = []
    for key, sub in after.items():
        path = f"{prefix}{key}"
        if key not in before:
            fields.append(FieldDiff(path, _title(sub, key), "added", _added_words(sub, key in req_after)))
            fields += _all_fields(sub, "added", f"{path}.")
            items = sub.get("items") if isinstance(sub, dict) else None
            fields += _all_fields(items, "added", f"{path}[].")
            continue
        words = _field_changes(before[key], sub, key in req_before, key in req_after)
        if words:
            fields.append(FieldDiff(path, _title(sub, key), "changed", tuple(words)))
        fields += _field_diffs(before[key], sub, f"{path}.")
        old_items, new_items = _items(before[key]), _items(sub)
        if old_items or new_items:
            nested = [*_order_change(old_items, new_items, f"{path}[]."), *_conditional_change(old_items, new_items)]
            if nested:
                fields.append(FieldDiff(f"{path}[]", _title(sub, key), "changed", tuple(nested)))
            fields += _field_diffs(old_items, new_items, f"{path}[].")
        order = [*_order_change(before[key], sub, f"{path}."), *_conditional_change(before[key], sub)]
        if order and isinstance(sub, dict) and sub.get("properties"):
            fields.append(FieldDiff(f"{path}.", _title(sub, key), "changed", tuple(order)))
    for key, sub in before.items():
        if key not in after:
            path = f"{prefix}{key}"
            fields.append(FieldDiff(path, _title(sub, key), "removed"))
            fields += _all_fields(sub, "removed", f"{path}.")
            fields += _all_fields(_items(sub), "removed", f"{path}[].")
    return fields


def _items(schema: Any) -> dict[str, Any]:
    items = schema.get("items") if isinstance(schema, dict) else None
    return items if isinstance(items, dict) and "properties" in items else {}


def _conditional_change(old: Any, new: Any) -> list[str]:
    if not isinstance(old, dict) or not isinstance(new, dict):
        return []
    if any(old.get(k) != new.get(k) for k in ("allOf", "if", "then", "else", "dependentRequired")):
        return ["questions asked only on some answers (conditions) changed"]
    return []


def _added_words(schema: Any, required: bool) -> tuple[str, ...]:
    words = ["required" if required else "optional"]
    kind = _type_of(schema)
    if kind:
        words.append(f"type {kind}")
    choices = _choices(schema)
    if choices:
        words.append("choices: " + ", ".join(f"“{title}”" for title in choices.values()))
    return tuple(words)


def _type_of(schema: Any) -> str:
    if not isinstance(schema, dict):
        return ""
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    if kind:
        return str(kind)
    return "choice" if _choices(schema) else ""


def _choices(schema: Any) -> dict[str, str]:
    """The answers a question offers, value -> label: from `oneOf`/`anyOf` of consts, or `enum`; for a list
    of checkboxes, those of its items."""
    if not isinstance(schema, dict):
        return {}
    for key in ("oneOf", "anyOf"):
        options = schema.get(key)
        if isinstance(options, list) and options and all(isinstance(o, dict) and "const" in o for o in options):
            return {json.dumps(o["const"]): str(o.get("title") or o["const"]) for o in options}
    enum = schema.get("enum")
    if isinstance(enum, list):
        return {json.dumps(v): str(v) for v in enum}
    items = schema.get("items")
    if isinstance(items, dict) and "properties" not in items:
        return _choices(items)
    return {}


def _field_changes(old: Any, new: Any, was_required: bool, is_required: bool) -> list[str]:
    if not isinstance(old, dict) or not isinstance(new, dict):
        return [] if old == new else ["changed"]
    words = []
    if was_required != is_required:
        words.append("now required" if is_required else "now optional")
    if _type_of(old) != _type_of(new):
        words.append(f"type changed from {_type_of(old) or 'any'} to {_type_of(new) or 'any'}")
    for key, label in _FIELD_WORDS.items():
        if key == "type" or old.get(key) == new.get(key):
            continue
        if key == "x-error-messages":
            words.append("error messages changed")
        else:
            words.append(_scalar_change(label, _plain(old.get(key)), _plain(new.get(key))))
    words += _choice_changes(_choices(old), _choices(new))
    others = sorted(
        k for k in set(old) | set(new) if k not in _FIELD_HANDLED and k not in _CONDITIONAL and old.get(k) != new.get(k)
    )
    if others:
        words.append("other settings changed: " + ", ".join(others))
    if _items(old) == {} and _items(new) == {} and old.get("items") != new.get("items") and not _choices(new):
        words.append("the kind of item in the list changed")
    return words


def _plain(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _choice_changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    words = [f"choice added: “{after[v]}”" for v in after if v not in before]
    words += [f"choice removed: “{before[v]}”" for v in before if v not in after]
    words += [f"choice “{before[v]}” now reads “{after[v]}”" for v in after if v in before and before[v] != after[v]]
    common_before = [v for v in before if v in after]
    common_after = [v for v in after if v in before]
    if common_before != common_after:
        words.append("the order of the choices changed")
    return words


# --- Moving a running instance to another version -------------------------------------------------------


class MigrationRefused(Exception):
    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("; ".join(reasons))


UNREADABLE = "Its saved state could not be read"


@dataclass(frozen=True)
class MigrationPreview:
    can_move: bool
    reasons: tuple[str, ...]  # why it cannot move, in words (empty when it can)
    changes: tuple[str, ...]  # what changes for this instance, in words
    steps: tuple[str, ...]  # the names of the steps it stands at now


# Changes to an element under way (a call activity whose children run) that do not alter how it works.
_HARMLESS = {"bpmn_name", "description", "documentation", "lane", "inputs", "outputs"}
_ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED
_RESET = TaskState.READY | TaskState.WAITING
# The library's names of an element's settings, in the modeller's words.
_SETTING_WORDS = {
    "spec": "the subprocess it calls",
    "extensions": "its properties",
    "prescript": "its script before",
    "postscript": "its script after",
    "script": "its script",
    "task_spec": "what it repeats",
    "data_input": "what it repeats over",
    "data_output": "what it collects",
    "input_item": "the name of each item",
    "output_item": "the name of each result",
    "condition": "when it stops repeating",
    "cardinality": "how many times it repeats",
    "operation_name": "its handler",
    "operation_params": "its handler's parameters",
    "event_definition": "its event",
    "typename": "its kind",
}
_SPEC_REGISTRY = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)


@dataclass
class _Part:
    """The top workflow or one of its subprocesses, with its diff against the new version."""

    tree: Any
    label: str
    spec_diff: Any = None
    diff: Any = None
    new_spec: Any = None


@dataclass
class _Plan:
    workflow: BpmnWorkflow
    parts: list[_Part]
    reasons: list[str]
    steps: list[str]


def migration_preview(state: str, old_bundle: ParsedBundle, new_bundle: ParsedBundle) -> MigrationPreview:
    """Whether an instance saved as `state` on `old_bundle` can move to `new_bundle`; if not, why not; and what
    changes for it. The move is tried in memory, so a preview that says yes is a move that works."""
    try:
        plan = _plan(state, old_bundle, new_bundle)
    except MigrationRefused as err:  # its saved state could not be read: nothing more is known of it
        return MigrationPreview(False, tuple(err.reasons), (), ())
    changes = tuple(_instance_changes(plan, old_bundle, new_bundle))
    if not plan.reasons:
        try:
            _move(plan, new_bundle)
        except MigrationRefused as err:
            plan.reasons.extend(err.reasons)
    return MigrationPreview(not plan.reasons, tuple(plan.reasons), changes, tuple(plan.steps))


def migrate(state: str, old_bundle: ParsedBundle, new_bundle: ParsedBundle) -> str:
    """The instance saved as `state` on `old_bundle`, moved to `new_bundle` and saved again. Raises
    MigrationRefused, naming every reason, when it cannot move; nothing is changed then."""
    plan = _plan(state, old_bundle, new_bundle)
    if plan.reasons:
        raise MigrationRefused(plan.reasons)
    moved = _move(plan, new_bundle)
    return moved


def _label(task: SpiffTask) -> str:
    spec = task.task_spec
    # A task the library adds around an element (its boundary events' split) is named after that element.
    return f"“{spec.bpmn_name or spec.bpmn_id or str(spec.name).split('.')[0]}”"


def _plan(state: str, old: ParsedBundle, new: ParsedBundle) -> _Plan:
    try:
        workflow = runtime.restore(state, old, caller=None)
    except Exception:  # one case that cannot move, not a failed preview; the error's text may quote its data
        raise MigrationRefused([UNREADABLE]) from None
    reasons: list[str] = []
    parts = [_Part(workflow, old.spec.description or old.flow)]
    for sub in workflow.subprocesses.values():
        parts.append(_Part(sub, sub.spec.description or sub.spec.name))
    steps = _steps(workflow)
    if new.spec.name != workflow.spec.name:
        reasons.append(f"The new version's main process is {new.spec.name!r}, not {workflow.spec.name!r}")
        return _Plan(workflow, parts, reasons, steps)
    for part in parts:
        target = new.spec if part.tree is workflow else new.subprocess_specs.get(part.tree.spec.name)
        if target is None:
            reasons.append(
                f"The new version no longer has the part “{part.label}” that this case runs "
                "or has run (its process was removed or renamed)"
            )
            continue
        try:
            part.spec_diff = SpecDiff(_SPEC_REGISTRY, part.tree.spec, target)
            part.diff = WorkflowDiff(part.tree, part.spec_diff)
        except Exception as err:  # the library cannot line the two versions up; say so rather than guess
            reasons.append(f"The versions of “{part.label}” could not be compared: {_first_line(err)}")
            continue
        part.new_spec = target
        reasons += _part_refusals(part)
    return _Plan(workflow, parts, _unique(reasons), steps)


def _part_refusals(part: _Part) -> list[str]:
    reasons = []
    removed = set(part.spec_diff.removed)
    changed = part.spec_diff.changed
    for task in part.tree.get_tasks(skip_subprocesses=True):
        spec = task.task_spec
        if task.state == TaskState.ERROR:
            reasons.append(f"The step {_label(task)} has failed: retry it before moving the case")
        elif spec in removed and task.has_state(_ACTIVE):
            reasons.append(f"It is at {_label(task)}, which the new version removes")
        elif spec in removed and task.has_state(TaskState.FINISHED_MASK):
            reasons.append(
                f"It has been through {_label(task)}, which the new version removes, and its history must be kept"
            )
        elif spec in changed and task.has_state(_ACTIVE) and "typename" in changed[spec]:
            new_kind = _words(type(part.spec_diff.alignment[spec]).__name__)
            reasons.append(f"It is at {_label(task)}, which the new version makes a {new_kind} instead")
        elif spec in changed and task.state == TaskState.STARTED and set(changed[spec]) - _HARMLESS:
            what = sorted({_SETTING_WORDS.get(key, key) for key in set(changed[spec]) - _HARMLESS})
            reasons.append(
                f"The step {_label(task)} is under way, and the new version changes how it works ({', '.join(what)})"
            )
    return reasons


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _steps(workflow: BpmnWorkflow) -> list[str]:
    """The steps the instance stands at: its ready user tasks and the events it waits for (a timer, a message)."""
    names = []
    for task in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING):
        spec = task.task_spec
        if not spec.bpmn_id:
            continue
        name = spec.bpmn_name or spec.bpmn_id
        if task.state == TaskState.READY and spec.manual:
            names.append(name)
        elif task.state == TaskState.WAITING and getattr(spec, "event_definition", None) is not None:
            names.append(f"waiting: {name}")
    return _unique(names)


def _move(plan: _Plan, new: ParsedBundle) -> str:
    """Line every task up with its element in the new version, set back the ready and waiting ones (so what
    follows them is predicted from the new diagram), save, and prove the saved state restores on `new`."""
    workflow = plan.workflow
    before = {str(t.id): (t.state, dict(t.data)) for t in workflow.get_tasks()}
    for part in plan.parts:
        _move_part(part)
    workflow.subprocess_specs = new.subprocess_specs
    try:
        state = serialization.dumps(workflow)
        restored = serialization.loads(state, new)
    except Exception:  # a tree the library cannot write or read back: refuse rather than keep it
        # The library's words are not repeated: they can quote the case's own data.
        raise MigrationRefused(
            ["The moved case could not be saved and read back exactly, so it was left as it was"]
        ) from None
    lost = []
    for task in restored.get_tasks():
        kept = before.get(str(task.id))
        if kept is not None and kept[0] & TaskState.FINISHED_MASK and dict(task.data) != kept[1]:
            lost.append(_label(task))
    for task_id, (task_state, _data) in before.items():
        if task_state & (TaskState.FINISHED_MASK | _RESET) and restored.get_task_from_id(UUID(task_id)) is None:
            lost.append(f"a task {task_id}")
    if lost:
        raise MigrationRefused([f"Moving it would change what it recorded at {', '.join(_unique(lost))}"])
    return state


def _move_part(part: _Part) -> None:
    # SpiffWorkflow's migrate_workflow, keeping each reset task's own data and, where its element is unchanged,
    # its own keeps (a due time, a timer's moment); the library takes data from the parent and empties the rest.
    tree = part.tree
    old_specs = {task.id: task.task_spec for task in tree.tasks.values()}
    tree.spec = part.new_spec
    for task in tree.tasks.values():
        aligned = part.diff.alignment.get(task)
        if aligned is not None:
            task.task_spec = aligned
    changed = set(part.spec_diff.changed)
    for task in list(tree.get_tasks(state=_RESET, skip_subprocesses=True)):
        if task.id not in tree.tasks:
            continue  # set back with an ancestor already
        data, internal = dict(task.data), dict(task.internal_data)
        task.reset_branch(data)
        if old_specs[task.id] not in changed:
            task.internal_data = internal
        elif "compass_due" in internal:
            task.internal_data["compass_due"] = internal["compass_due"]  # the clock runs from when it arrived
    for task in list(tree.get_tasks(state=TaskState.STARTED, skip_subprocesses=True)):
        _predict_again(tree, task, old_specs)
    if tree.last_task is not None and tree.last_task.id not in tree.tasks:
        tree.last_task = None


def _predict_again(tree: Any, task: SpiffTask, old_specs: dict[UUID, Any]) -> None:
    """A step under way (a call activity whose children run) keeps what it runs; what follows it is predicted
    again from the new diagram, as the library does for a ready task. Without this, a step the new version puts
    after it would be missed, and the library would refuse to finish it."""
    successors = old_specs[task.id].outputs
    for child in list(task.children):
        if old_specs.get(child.id) in successors and child.has_state(TaskState.PREDICTED_MASK | TaskState.FUTURE):
            tree._remove_task(child.id)
    present = {child.task_spec for child in task.children}
    for spec in task.task_spec.outputs:
        if spec not in present:
            child = task._add_child(spec, TaskState.FUTURE)
            spec._predict(child, mask=TaskState.FUTURE | TaskState.PREDICTED_MASK)


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else err.__class__.__name__


# --- What the move changes for one instance ---------------------------------------------------------------


def _instance_changes(plan: _Plan, old: ParsedBundle, new: ParsedBundle) -> list[str]:
    """The changes of the new version that reach this case: at the steps it stands at, and on the paths that
    lie ahead of it. Changes to steps it can no longer reach are history and are not listed."""
    diff, forms = _diffs(old, new)
    current = {str(task.task_spec.bpmn_id) for task in plan.workflow.get_tasks(state=_ACTIVE) if task.task_spec.bpmn_id}
    ahead_new, ahead_old = _ahead(new, current), _ahead(old, current)
    words = []
    for el in diff.changed:
        if el.element_id in current and el.kind != "process":
            # A timer waited on is set again by the move, so a changed one counts from the moment of the move.
            said = [f"{c} (it counts again from the move)" if c.startswith("timer ") else c for c in el.changes]
            words.append(f"At {_el(el)}, where it stands now: {'; '.join(said)}")
    for task in plan.workflow.get_tasks(state=TaskState.READY):
        form_id = _form_of(task)
        if form_id in forms:
            words.append(f"The form of {_label(task)} changes: {_form_words(forms[form_id])}")
    for el in diff.added:
        if el.element_id in ahead_new and el.kind != "sequence flow":
            words.append(f"Ahead, a new {el.kind}: {_el(el)} in “{el.process}”")
    for el in diff.removed:
        if el.element_id in ahead_old and el.kind != "sequence flow":
            words.append(f"Ahead, the {el.kind} {_el(el)} is removed")
    for el in diff.changed:
        if el.element_id in ahead_new and el.element_id not in current and el.kind not in {"process", "sequence flow"}:
            words.append(f"Ahead, {_el(el)}: {'; '.join(el.changes)}")
    for el in diff.changed:
        # A flow's new ends are said by the elements it joins; its condition only by the flow itself.
        conditions = [c for c in el.changes if c.startswith("condition ")]
        if el.kind == "sequence flow" and el.element_id in ahead_new and conditions:
            words.append(f"Ahead, the sequence flow {_el(el)}: {'; '.join(conditions)}")
    return _unique(words) or ["Nothing at or ahead of the steps where this case stands changes"]


# A preview of a flow's cases compares the same two versions for every case: worked out once per pair (a
# bundle never changes under its content hash), and only a few pairs kept.
_DIFFS: dict[tuple[str, str], tuple[BundleDiff, dict[str, FormDiff]]] = {}
_DIFFS_KEPT = 8
_diffs_lock = threading.Lock()


def _diffs(old: ParsedBundle, new: ParsedBundle) -> tuple[BundleDiff, dict[str, FormDiff]]:
    key = (old.hash, new.hash)
    with _diffs_lock:
        found = _DIFFS.get(key)
    if found is None:
        found = (diff_bundles(old, new), {f.form_id: f for f in diff_forms(old.forms, new.forms)})
        with _diffs_lock:
            while len(_DIFFS) >= _DIFFS_KEPT:
                _DIFFS.pop(next(iter(_DIFFS)))
            _DIFFS[key] = found
    return found


def _ahead(bundle: ParsedBundle, current: set[str]) -> set[str]:
    """The elements (and sequence flows) a case standing at `current` may still reach in `bundle`'s diagrams:
    along sequence flows, to boundary events on what it reaches, and into the subprocesses it calls."""
    edges: dict[str, set[str]] = {}
    starts: dict[str, set[str]] = {}  # process or subprocess id -> its start events
    for tree in bundle.trees.values():
        for el in tree.iter(f"{{{BPMN_NS}}}*"):
            local, eid = _local(el), el.get("id")
            if not eid:
                continue
            if local == "sequenceFlow":
                edges.setdefault(el.get("sourceRef") or "", set()).add(eid)
                edges.setdefault(eid, set()).add(el.get("targetRef") or "")
            elif local == "boundaryEvent":
                edges.setdefault(el.get("attachedToRef") or "", set()).add(eid)
            elif local == "startEvent":
                parent = el.getparent()
                starts.setdefault(parent.get("id") or "", set()).add(eid)
            if local == "callActivity" and el.get("calledElement"):
                edges.setdefault(eid, set()).add(f"process:{el.get('calledElement')}")
            if local in {"subProcess", "transaction", "adHocSubProcess"}:
                edges.setdefault(eid, set()).add(f"process:{eid}")
    for pid, found in starts.items():
        edges.setdefault(f"process:{pid}", set()).update(found)
    seen: set[str] = set()
    stack = list(current)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        # A call activity under way already runs its subprocess, whose own steps are in `current`.
        stack.extend(n for n in edges.get(node, ()) if not (node in current and n.startswith("process:")))
    return seen


def _el(el: ElementDiff) -> str:
    return f"“{el.name}”" if el.name else f"“{el.element_id}”"


def _form_of(task: SpiffTask) -> str | None:
    props = getattr(task.task_spec, "extensions", {}).get("properties", {})
    return form_id_of(props.get(FORM_PROPERTY))


def _form_words(form: FormDiff) -> str:
    parts = list(form.changes)
    for f in form.fields:
        detail = f" ({', '.join(f.changes)})" if f.changes else ""
        parts.append(f"question “{f.title}” {f.status}{detail}")
    return "; ".join(parts) if parts else "it was replaced"
