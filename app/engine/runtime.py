"""Running instances: start, restore, complete a user task, run service tasks, save.

The callers (app/services) own the database transaction; this module only moves workflows forward and
reports what it sees. Handlers are reached through a `ServiceCaller` the service supplies, so the engine
knows nothing of the outbox or the database.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.specs.defaults import UserTask
from SpiffWorkflow.task import Task as SpiffTask
from SpiffWorkflow.util.task import TaskState

from app.engine import serialization
from app.engine.calendar import Calendar, diagram_helpers
from app.engine.sandbox import RestrictedEnvironment, SandboxScriptEngine
from app.engine.specs import (
    ASSIGNEE_PROPERTY,
    DUE_PROPERTY,
    FORM_PROPERTY,
    SUBJECT_PROPERTY,
    ParsedBundle,
    form_id_of,
    lane_of_spec,
)

# SpiffWorkflow adds a task's whole data (a child's details, the referrer's name) to the extras of its log
# records whenever the level of `spiff.task` or `spiff.workflow` itself is below INFO, and a logger nobody has
# set is at 0. Set here (with `spiff`, which the engine's other loggers follow), no record of the engine's
# carries it, however the rest of the logging is set up (a JSON log formatter would write every extra).
SPIFF_LOGGERS = ("spiff", "spiff.task", "spiff.workflow")
for _name in SPIFF_LOGGERS:
    logging.getLogger(_name).setLevel(logging.WARNING)

# (handler name, evaluated parameters, the task's data) -> the handler's data for the workflow
ServiceCaller = Callable[[str, dict[str, Any], dict[str, Any]], Any]


class EngineError(Exception):
    pass


class TaskNotReady(EngineError):
    """The task is not (or no longer) waiting for anyone."""


class TreeTooDeep(EngineError):
    """Saving would keep a task tree so deep that SpiffWorkflow would silently stop walking it."""


@dataclass(frozen=True)
class ReadyTask:
    id: str
    bpmn_id: str
    name: str
    flow: str
    form_id: str | None
    lane: str | None
    subject: str
    due_at: datetime | None = None  # from the task's taskDue expression, worked out once when it became ready
    assignee: str | None = None  # a username, from the task's taskAssignee expression


@dataclass(frozen=True)
class StepFailure:
    bpmn_id: str
    message: str


# The calendar the diagram helpers count working days with. The engine never imports Flask, so the app
# hands it the one built from its settings at start-up; until then it is the default (no closure days).
_calendar = Calendar()


def use_calendar(calendar: Calendar) -> None:
    """Make `calendar` the one every script engine made from now on gives diagram code."""
    global _calendar
    _calendar = calendar


def _script_engine(caller: ServiceCaller | None) -> SandboxScriptEngine:
    # Every expression, script and timer of the diagram can call working_days(n), end_of_working_day()
    # and hours_from_now(h); they read the clock when called, so a restored instance gets them afresh.
    engine = SandboxScriptEngine(RestrictedEnvironment(helpers=diagram_helpers(_calendar)))

    def call(task: SpiffTask, operation_name: str, operation_params: dict[str, Any]) -> str:
        if caller is None:
            raise EngineError("service tasks cannot run here")
        params = {name: p["value"] for name, p in operation_params.items()}
        return json.dumps(caller(operation_name, params, dict(task.data)), default=str)

    engine.service_caller = call
    return engine


def start(
    bundle: ParsedBundle, caller: ServiceCaller | None, data: dict[str, Any] | None = None
) -> tuple[BpmnWorkflow, StepFailure | None]:
    """A new workflow run to its first wait. `data` is what the flow starts with (what a hand-over from
    another flow gives it), seen by every task from the start event on. Every flow knows whether it was
    handed over: `handover` is None when someone began it by hand, so a diagram can test it."""
    workflow = BpmnWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=_script_engine(caller))
    for task in workflow.get_tasks(state=TaskState.READY):
        task.set_data(**{"handover": None, **(data or {})})
    return workflow, run_engine(workflow)


def restore(state: str, bundle: ParsedBundle, caller: ServiceCaller | None) -> BpmnWorkflow:
    workflow = serialization.loads(state, bundle)
    attach(workflow, caller)
    return workflow


def attach(workflow: BpmnWorkflow, caller: ServiceCaller | None) -> None:
    """Give a restored workflow the script engine that reaches this run's handlers.

    The script engine is not part of the saved state: it is given back after every restore (and to a
    workflow restored earlier, for the run that now uses it). Subprocesses use their top workflow's engine."""
    workflow.script_engine = _script_engine(caller)


def run_engine(workflow: BpmnWorkflow) -> StepFailure | None:
    """Run every task the engine can run by itself. A failing step is reported, not raised, so the
    work that led to it is kept; the failed task stays in ERROR for a later retry."""
    try:
        workflow.do_engine_steps()
    except Exception as err:  # a handler is plain code and may raise anything; none may lose the user's work
        return StepFailure(bpmn_id=_failed_bpmn_id(workflow, err), message=_first_line(err))
    return None


def _failed_bpmn_id(workflow: BpmnWorkflow, err: Exception) -> str:
    task = getattr(err, "task", None)
    if task is None:
        failed = _failed_tasks(workflow)
        task = failed[0] if failed else None
    return str(task.task_spec.bpmn_id) if task is not None else "?"


def _failed_tasks(workflow: BpmnWorkflow) -> list[SpiffTask]:
    # The top workflow's get_tasks does not find a task in ERROR inside a subprocess (a per-child call
    # activity), so every tree is searched.
    return [
        task
        for tree in [workflow, *workflow.subprocesses.values()]
        for task in tree.tasks.values()
        if task.state == TaskState.ERROR
    ]


def retry_failed(workflow: BpmnWorkflow) -> StepFailure | None:
    """Run again the steps that failed, and whatever the engine can run after them.

    Each failed task is reset where it stands, keeping the data it had (the user's completion before it is
    untouched), then the engine runs. A user task whose completion failed (its post-script) is run again with
    the answers it was given. A step that fails again is reported, not raised, and stays in ERROR."""
    for task in _failed_tasks(workflow):
        workflow.reset_from_task_id(task.id, data=dict(task.data))
        if task.task_spec.manual and task.state == TaskState.READY:
            try:
                task.run()
            except Exception as err:  # the post-script may fail again; the answers stay with the task
                return StepFailure(bpmn_id=str(task.task_spec.bpmn_id), message=_first_line(err))
    return run_engine(workflow)


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(err, SpiffWorkflowException):
        return first or err.__class__.__name__
    return f"{err.__class__.__name__}: {first}" if first else err.__class__.__name__


def ready_user_tasks(workflow: BpmnWorkflow, bundle: ParsedBundle) -> list[ReadyTask]:
    """The ready user tasks, each with its flow, form, lane, subject, due time and named assignee.

    A task's due time is worked out the first time it is seen ready and kept in the task itself, so a clock
    such as "within four hours" runs from when the task arrived, not from whenever it is looked at; call
    this before `save` so the saved state keeps it.
    """
    return [_ready(workflow, bundle, task) for task in workflow.get_tasks(state=TaskState.READY, manual=True)]


def ready_user_task(workflow: BpmnWorkflow, bundle: ParsedBundle, task_id: str) -> ReadyTask | None:
    """One ready user task, as `ready_user_tasks` gives it, found by its id; None if it is not ready (or not
    a user task, or not there). Found directly, without walking the whole task tree."""
    try:
        task = _find_ready(workflow, task_id)
    except TaskNotReady:
        return None
    return _ready(workflow, bundle, task)


def _ready(workflow: BpmnWorkflow, bundle: ParsedBundle, task: SpiffTask) -> ReadyTask:
    spec = task.task_spec
    props = spec.extensions.get("properties", {}) if isinstance(spec, UserTask) else {}
    return ReadyTask(
        id=str(task.id),
        bpmn_id=str(spec.bpmn_id),
        name=spec.bpmn_name or str(spec.bpmn_id),
        flow=workflow.spec.name,
        form_id=form_id_of(props.get(FORM_PROPERTY)),
        lane=lane_of_spec(bundle, spec),
        subject=_subject(task, props.get(SUBJECT_PROPERTY)),
        due_at=_due(task, props.get(DUE_PROPERTY)),
        assignee=_label(task, props.get(ASSIGNEE_PROPERTY)) or None,
    )


def _due(task: SpiffTask, expression: str | None) -> datetime | None:
    if not expression:
        return None
    if "compass_due" not in task.internal_data:
        value = _label(task, expression)
        task.internal_data["compass_due"] = value or None
    stored = task.internal_data["compass_due"]
    if not stored:
        return None
    try:
        moment = datetime.fromisoformat(str(stored))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _subject(task: SpiffTask, expression: str | None) -> str:
    return _label(task, expression)


def _label(task: SpiffTask, expression: str | None) -> str:
    """A task property worked out from its data; a bad one is a blank label, never a stopped case."""
    if not expression:
        return ""
    try:
        value = task.workflow.script_engine.evaluate(task, expression)
    except Exception:  # a label for trays must not stop the work; the deploy checks compile it first
        return ""
    return "" if value is None else str(value)


def _find_ready(workflow: BpmnWorkflow, task_id: str) -> SpiffTask:
    try:
        task = workflow.get_task_from_id(UUID(task_id))
    except Exception:
        task = None
    if task is None or task.state != TaskState.READY or not task.task_spec.manual:
        raise TaskNotReady(task_id)
    return task


def task_data(workflow: BpmnWorkflow, task_id: str) -> dict[str, Any]:
    return dict(_find_ready(workflow, task_id).data)


def complete_user_task(workflow: BpmnWorkflow, task_id: str, data: dict[str, Any]) -> StepFailure | None:
    task = _find_ready(workflow, task_id)
    task.set_data(**data)
    try:
        task.run()
    except Exception as err:  # a post-script the diagram runs on completion may fail like any step
        return StepFailure(bpmn_id=str(task.task_spec.bpmn_id), message=_first_line(err))
    return run_engine(workflow)


def is_completed(workflow: BpmnWorkflow) -> bool:
    return bool(workflow.is_completed())


def current_data(workflow: BpmnWorkflow) -> dict[str, Any]:
    """The data of the top-level flow as it now stands."""
    if workflow.is_completed():
        return dict(workflow.data)
    finished = [t for t in workflow.tasks.values() if t.has_state(TaskState.COMPLETED)]
    if not finished:
        return {}
    # Tasks finished in one engine run can share a timestamp (and always do under a frozen test clock);
    # of those, the one deepest in the tree finished last.
    return dict(max(finished, key=lambda t: (t.last_state_change, t.depth)).data)


def tree_depth(workflow: BpmnWorkflow) -> int:
    """The deepest chain of tasks in any of the workflow's task trees."""
    deepest = 0
    for tree in [workflow, *workflow.subprocesses.values()]:
        depth: dict[UUID, int] = {}
        for task in tree.tasks.values():
            chain = []
            node = task
            while node is not None and node.id not in depth:
                chain.append(node)
                node = node.parent
            base = depth[node.id] if node is not None else 0
            for n in reversed(chain):
                base += 1
                depth[n.id] = base
        deepest = max(deepest, max(depth.values(), default=0))
    return deepest


def save(workflow: BpmnWorkflow, max_depth: int) -> tuple[str, int]:
    depth = tree_depth(workflow)
    if depth > max_depth:
        raise TreeTooDeep(
            f"this case's workflow has grown {depth} tasks deep (the limit is {max_depth}); "
            "it was not saved, so that it cannot end silently"
        )
    return serialization.dumps(workflow), depth


def finished_flow_pairs(workflow: BpmnWorkflow) -> Iterable[tuple[str, str]]:
    """(source bpmn_id, target bpmn_id) of every parent → child step taken, for diagram coverage."""
    for tree in [workflow, *workflow.subprocesses.values()]:
        for task in tree.tasks.values():
            if not task.task_spec.bpmn_id:
                continue
            if not task.has_state(TaskState.FINISHED_MASK | TaskState.READY | TaskState.WAITING):
                continue
            # The library puts tasks of its own (around an activity with boundary events) between two
            # elements of the diagram; the flow taken is from the nearest ancestor the diagram has.
            parent = task.parent
            while parent is not None and not parent.task_spec.bpmn_id:
                parent = parent.parent
            if parent is not None:
                yield str(parent.task_spec.bpmn_id), str(task.task_spec.bpmn_id)


def completed_bpmn_ids(workflow: BpmnWorkflow) -> set[str]:
    """The diagram elements this instance has completed, across its subprocesses (for highlighting)."""
    done = set()
    for tree in [workflow, *workflow.subprocesses.values()]:
        for task in tree.tasks.values():
            if task.task_spec.bpmn_id and task.has_state(TaskState.COMPLETED):
                done.add(str(task.task_spec.bpmn_id))
    return done


def completed_in_order(workflow: BpmnWorkflow) -> list[str]:
    """The diagram elements this instance has completed, each once, in the order the flow reached them: the
    task tree walked parents first, a subprocess's steps where the task that called it stands (so a step
    that ran several times is placed where it first ran)."""
    order: list[str] = []
    seen: set[str] = set()
    stack = [workflow.task_tree]
    while stack:  # a tree may be hundreds deep: no recursion
        task = stack.pop()
        bpmn_id = task.task_spec.bpmn_id
        if bpmn_id and bpmn_id not in seen and task.has_state(TaskState.COMPLETED):
            seen.add(bpmn_id)
            order.append(str(bpmn_id))
        # A task's own inner work (the instances of a multi-instance step) before the flow that leaves it.
        children = sorted(task.children, key=lambda child: child.task_spec in task.task_spec.outputs)
        sub = workflow.subprocesses.get(task.id)
        if sub is not None:
            children.insert(0, sub.task_tree)
        stack.extend(reversed(children))
    return order


def next_wake(workflow: BpmnWorkflow) -> datetime | None:
    """The earliest moment one of the instance's timers is due, stored so the worker knows when to look."""
    moments = []
    for event in workflow.waiting_events():
        if "Time" not in event.event_type or not isinstance(event.value, str):  # TimeDate, Duration, Cycle
            continue
        try:
            moment = datetime.fromisoformat(event.value)
        except ValueError:
            continue
        moments.append(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return min(moments, default=None)


def fire_due_timers(workflow: BpmnWorkflow) -> StepFailure | None:
    """Fire the timers that are due now and run what follows. The library's own clock decides what is due."""
    workflow.refresh_timers()
    return run_engine(workflow)


def decided_outputs(workflow: BpmnWorkflow, name: str) -> list[Any]:
    """The value `name` from every subprocess that has set it (each child's `decision`), as soon as it is
    set: a subprocess may still be open on a side path (a MARF to chase, an escalation to answer) after the
    decision that matters to the child is made."""
    found = []
    for sub in workflow.subprocesses.values():
        if sub.is_completed():
            if name in sub.data:
                found.append(sub.data[name])
            continue
        done = [t for t in sub.tasks.values() if t.has_state(TaskState.COMPLETED) and name in t.data]
        if done:
            found.append(max(done, key=lambda t: (t.last_state_change, t.depth)).data[name])
    return found


def cancel(workflow: BpmnWorkflow) -> None:
    """Stop the whole workflow where it stands: nothing more becomes ready and no timer fires."""
    workflow.cancel()


def completed_data(workflow: BpmnWorkflow, bpmn_id: str) -> dict[str, Any] | None:
    """The data a completed task of the diagram left (the latest, if it ran more than once)."""
    done = [
        t
        for tree in [workflow, *workflow.subprocesses.values()]
        for t in tree.tasks.values()
        if t.task_spec.bpmn_id == bpmn_id and t.has_state(TaskState.COMPLETED)
    ]
    if not done:
        return None
    return dict(max(done, key=lambda t: (t.last_state_change, t.depth)).data)
