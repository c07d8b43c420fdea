"""A case on its diagrams: every flow the case went through, each with its steps marked.

A step is completed (the engine finished it), active (a user task waits in the task mirror), overdue (a waiting
task or an open clock is past its time) or failed (the step named by the instance's failure). Where a table
holds the answer it is read there; what was completed comes from one restore of each instance, which a single
case's page can afford. The same marks are given in words too, for anyone who cannot see the drawing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree
from sqlalchemy import select

from app import policy
from app.engine import runtime
from app.engine.bpmn_names import BPMN_NS, FLOW_NODE_TAGS, TASK_TAGS
from app.engine.specs import ParsedBundle
from app.extensions import db
from app.models import Case, CaseEvent, ProcessInstance, Task, TaskClock, User
from app.models.types import utcnow
from app.services import audit, bundles
from app.services.errors import Forbidden, NotFound, ReasonNeeded

# The states a step can be marked with, the most pressing first: a step shows only its most pressing one.
STATES = ("failed", "overdue", "active", "completed")
STATE_WORDS = {"failed": "Failed", "overdue": "Overdue", "active": "Waiting", "completed": "Done"}


@dataclass(frozen=True)
class Step:
    bpmn_id: str
    name: str
    state: str  # one of STATES

    @property
    def words(self) -> str:
        return STATE_WORDS[self.state]


@dataclass
class FlowDiagram:
    """One flow episode of the case (a process instance) on its diagram."""

    instance: ProcessInstance
    diagrams: list[str]  # the BPMN XML of each file of the bundle it runs on, its own flow's first
    markers: dict[str, str]  # bpmn id -> state, for the drawing
    steps: list[Step]  # the marked steps in words: the pressing ones first, then what was done, in order
    failed_step: str | None = None  # the failed step's bpmn id, from the failure
    error: str | None = None  # what went wrong, from the failure

    @property
    def counts(self) -> dict[str, int]:
        found = {state: 0 for state in STATES}
        for step in self.steps:
            found[step.state] += 1
        return found


@dataclass
class CaseDiagram:
    case: Case
    flows: list[FlowDiagram] = field(default_factory=list)
    events: list[CaseEvent] = field(default_factory=list)  # the case's timeline as this user may see it


def check_access(user: User, case_id: int) -> Case:
    """The case, if this user may see it on its diagrams. A manager asked for a restricted record they have not
    opened is asked for the reason first; anyone else is refused without being asked."""
    case = db.session.get(Case, case_id)
    if case is None:
        raise NotFound(case_id)
    if policy.can_see_case_diagram(user, case):
        return case
    if user.roles & policy.MANAGERS and policy.needs_reason(user, case):
        raise ReasonNeeded(case.id)
    raise Forbidden("A case's diagrams are for team managers and service managers.")


def for_user(user: User, case_id: int) -> CaseDiagram:
    """Every flow of the case the user may see, in the order they started, with the case's timeline.
    Reading a case this way is recorded like any look at the case."""
    case = check_access(user, case_id)
    audit.record("CASE_VIEWED", user.id, case_id=case.id)
    db.session.commit()
    instances = db.session.scalars(
        select(ProcessInstance).where(ProcessInstance.case_id == case.id).order_by(ProcessInstance.id)
    )
    now = utcnow()
    # A need-to-know flow (a LADO allegation) is shown only to its readers, as on the case page.
    flows = [flow_of(i, now) for i in instances if policy.can_see_timeline_entry(user, i.flow)]
    events = [e for e in case.events if policy.can_see_timeline_entry(user, e.flow)]
    return CaseDiagram(case=case, flows=flows, events=events)


def flow_of(instance: ProcessInstance, now: datetime | None = None) -> FlowDiagram:
    """One instance's diagram and marks."""
    now = now or utcnow()
    bundle = bundles.parsed(instance.bundle)
    workflow = runtime.restore(instance.state, bundle, caller=None)
    completed = runtime.completed_in_order(workflow)
    marks = markers(instance, completed, now)
    found = elements(bundle)
    failed_step, error = split_failure(instance.failure) if instance.status == "failed" else (None, None)
    by_name = sorted(marks, key=lambda bpmn_id: (step_name(bundle, bpmn_id), bpmn_id))
    pressing = [i for state in STATES[:-1] for i in by_name if marks[i] == state]
    done = [i for i in completed if marks.get(i) == "completed"]
    steps = [
        Step(bpmn_id, step_name(bundle, bpmn_id), marks[bpmn_id])
        for bpmn_id in pressing + done
        # Unnamed joins and events say nothing in words; a task, or a step needing someone, always shows.
        if marks[bpmn_id] != "completed" or _named_or_task(found.get(bpmn_id))
    ]
    return FlowDiagram(
        instance=instance,
        diagrams=diagram_files(bundle),
        markers=marks,
        steps=steps,
        failed_step=failed_step,
        error=error,
    )


def _named_or_task(element: Element | None) -> bool:
    return element is not None and (bool(element.name) or element.kind in TASK_TAGS)


def markers(instance: ProcessInstance, completed: list[str], now: datetime) -> dict[str, str]:
    """bpmn id -> the most pressing state of that step in this instance."""
    found: dict[str, set[str]] = {}

    def mark(bpmn_id: str | None, state: str) -> None:
        if bpmn_id:
            found.setdefault(bpmn_id, set()).add(state)

    for bpmn_id in completed:
        mark(bpmn_id, "completed")
    for task in db.session.scalars(select(Task).where(Task.instance_id == instance.id)):
        mark(task.bpmn_id, "active")
        if task.due_at is not None and task.due_at < now:
            mark(task.bpmn_id, "overdue")
    open_clocks = select(TaskClock).where(
        TaskClock.instance_id == instance.id, TaskClock.met_at.is_(None), TaskClock.stopped_at.is_(None)
    )
    for clock in db.session.scalars(open_clocks):
        if clock.due_at < now:
            mark(clock.bpmn_id, "overdue")
    if instance.status == "failed":
        mark(split_failure(instance.failure)[0], "failed")
    return {bpmn_id: next(s for s in STATES if s in states) for bpmn_id, states in found.items()}


def split_failure(failure: str | None) -> tuple[str | None, str | None]:
    """(the failed step's bpmn id, the error) from an instance's failure, "<bpmn id>: <error>"; the id is
    None when the engine could not tell which step it was ("?")."""
    if not failure:
        return None, None
    bpmn_id, sep, error = failure.partition(": ")
    if not sep:
        return None, failure
    return (None if bpmn_id == "?" else bpmn_id), error


def diagram_files(bundle: ParsedBundle) -> list[str]:
    """The bundle's BPMN files as text, the flow's own diagram first (then any it calls)."""
    own = f"{bundle.flow}.bpmn"
    names = sorted(bundle.files, key=lambda name: (name != own, name))
    return [bundle.files[name] for name in names]


@dataclass(frozen=True)
class Element:
    name: str
    kind: str  # the BPMN element's tag: userTask, exclusiveGateway ...


_elements: dict[str, dict[str, Element]] = {}


def elements(bundle: ParsedBundle) -> dict[str, Element]:
    """bpmn id -> the name and kind of each flow node of the bundle's diagrams (a bundle never changes: they
    are worked out once per bundle hash)."""
    if bundle.hash not in _elements:
        found = {}
        for tree in bundle.trees.values():
            for element in tree.iter(f"{{{BPMN_NS}}}*"):
                kind = etree.QName(element).localname
                if kind in FLOW_NODE_TAGS and element.get("id"):
                    found[element.get("id")] = Element(" ".join((element.get("name") or "").split()), kind)
        _elements[bundle.hash] = found
    return _elements[bundle.hash]


def step_name(bundle: ParsedBundle, bpmn_id: str) -> str:
    """What the diagram calls a step, or its id when it has no name."""
    element = elements(bundle).get(bpmn_id)
    return element.name if element and element.name else bpmn_id
