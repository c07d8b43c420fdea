"""Saving and restoring workflow state, without the spec.

Every saved state would otherwise embed its whole spec (about 70% of the bytes); the spec lives once in
its bundle, found by content hash. Two traps from ENGINE-NOTES.md shape this module: the state depends on
the ORDER of its task keys, so it is written with json.dumps as is (never sort_keys, never through
Flask's JSON provider, never into jsonb); and values that JSON cannot carry (dates, decimals) need
converters of their own.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from datetime import date
from decimal import Decimal
from typing import Any

from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from app.engine.specs import ParsedBundle

FORMAT = "compass-1"
_bundle: ContextVar[ParsedBundle] = ContextVar("bundle")


class SpeclessWorkflowConverter(BpmnWorkflowConverter):
    """Writes the task tree and data only; on restore the spec comes from the bundle being restored."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any]) -> BpmnWorkflow:
        bundle = _bundle.get()
        dct["spec"] = None
        workflow = self.target_class(bundle.spec, bundle.subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], _uuid, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(_uuid(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _uuid(value: str) -> Any:
    from uuid import UUID

    return UUID(value)


def _make_serializer() -> BpmnWorkflowSerializer:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = SpeclessWorkflowConverter
    registry = BpmnWorkflowSerializer.configure(config)
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]), "Decimal")
    registry.register(date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"]), "date")
    return BpmnWorkflowSerializer(registry)


_serializer = _make_serializer()


def dumps(workflow: BpmnWorkflow) -> str:
    # Task data is converted by the serializer's JSON encoder, in its encoder mode, as serialize_json does.
    registry = _serializer.registry
    registry._encoder_mode = True
    try:
        dct = _serializer.to_dict(workflow)
        dct[_serializer.VERSION_KEY] = _serializer.VERSION
        dct["format"] = FORMAT
        return json.dumps(dct, cls=_serializer._encoder_cls, separators=(",", ":"))
    finally:
        registry._encoder_mode = False


def loads(text: str, bundle: ParsedBundle) -> BpmnWorkflow:
    dct = json.loads(text)
    if dct.pop("format", None) != FORMAT:
        raise ValueError("this saved state was not written by Compass's serializer")
    _serializer.migrate(dct)
    token = _bundle.set(bundle)
    try:
        workflow: BpmnWorkflow = _serializer.from_dict(dct)
    finally:
        _bundle.reset(token)
    return workflow
