"""Replay: what a finished case would have done on another version of its flow.

A finished instance's saved state holds every task it finished with that task's data. From it we read the
case's inputs — the data it started with, each person's answers to each user task, each handler's result and
each timer that fired — and its path and outcome. Then the same inputs are given to a candidate version: a
fresh workflow, each user task answered with the answers the case gave that task, each service task given
the result its handler gave (no handler runs, so nothing is written and no letter goes), each timer the case
passed fired at once. The candidate's path and outcome are compared with the case's.

Nothing here touches anything outside the workflow objects it builds.

Answers and results are matched by the task's bpmn id within its place in the flow (its scope: which
call activity, and which of a multi-instance's items, it runs in), taken in the order the case gave them.
A candidate that asks the same task more often than the case answered it gets the last answer again, so a
loop shows up as a loop (and is stopped by the step limit) rather than as a missing answer.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.specs.defaults import ServiceTask
from SpiffWorkflow.task import Task as SpiffTask
from SpiffWorkflow.util.task import TaskState

from app.engine import runtime
from app.engine.sandbox import SandboxError
from app.engine.sandbox.limits import MAX_DECIMAL_DIGITS, MAX_INT_BITS, MAX_ITEMS, MAX_ROUND_DIGITS, MAX_STEPS
from app.engine.specs import ParsedBundle, all_specs

# A task tree this deep is past what a saved instance may hold (the save refuses 800 by default): a candidate
# that grows one this deep is looping, and SpiffWorkflow stops walking trees at 1,000 without a word.
MAX_DEPTH = 800
# The step limit when the caller sets none: a few times the steps the case itself took, never very few.
MIN_STEPS = 500
STEPS_PER_RECORDED_STEP = 3

SAME = "same"
PATH_CHANGED = "path_changed"
OUTCOME_CHANGED = "outcome_changed"
NOT_REPLAYED = "could_not_replay"

# The report's words go to every process owner, who may not see a child's details, and a draft's script can
# put anything in a decision (`{"key": referrer, "outcome": finding}` copies the case's own answers). So a
# decision's values are shown only when they are codes the council names, and its key only when it is a
# child's (child-1) or one the case itself decided under.
NOT_KNOWN = "a value that is not a known outcome"
CHILD_KEY = re.compile(r"child-\d+")
# The numbers the sandbox's own refusals quote: any other number in one may have come from the case's data.
SANDBOX_LIMITS = frozenset({MAX_ITEMS, MAX_INT_BITS, MAX_STEPS, MAX_ROUND_DIGITS, MAX_DECIMAL_DIGITS})

# Where a task runs: (the calling task's bpmn id, which multi-instance item) for each call activity around it.
Scope = tuple[tuple[str, Any], ...]
# One step of a path: in a scope, from the diagram element before (None at a start) to this element.
Step = tuple[Scope, str | None, str]


@dataclass(frozen=True)
class Recorded:
    """One thing the case did that replay gives back: a user task's answers or a handler's result."""

    scope: Scope
    bpmn_id: str
    data: Any
    position: tuple[int, float, int]  # the order the case did it in


@dataclass(frozen=True)
class Outcome:
    ends: tuple[str, ...]  # the end events of the flow itself that were reached
    # Each child's decision by child key: threshold, outcome, handover. As the case's data holds them, so they
    # leave this module only through shown_outcome and the words of compare.
    decisions: dict[str, dict[str, Any]]


@dataclass
class Recording:
    flow: str
    start: dict[str, Any]
    answers: list[Recorded]  # user-task completions, in the order they were made
    results: list[Recorded]  # service-task results
    timers: Counter[tuple[Scope, str]]  # how often each timer fired
    path: list[str]  # bpmn ids of the finished elements, the flow's tree walked in order
    steps: list[Step]
    outcome: Outcome


@dataclass
class Replayed:
    path: list[str]
    steps: list[Step]
    outcome: Outcome | None  # None when the replay stopped before the end
    stopped: str | None = None  # why, in words
    step_count: int = 0


@dataclass
class Comparison:
    result: str  # SAME, PATH_CHANGED, OUTCOME_CHANGED or NOT_REPLAYED
    changes: list[str] = field(default_factory=list)  # in words, the first difference first
    path: list[str] = field(default_factory=list)  # the candidate's path
    outcome: dict[str, Any] | None = None  # the candidate's outcome, as shown_outcome may tell it

    def to_json(self) -> dict[str, Any]:
        return {"result": self.result, "changes": self.changes, "path": self.path, "outcome": self.outcome}


# --- Reading a finished instance ---------------------------------------------------------------------------


def record(state: str, bundle: ParsedBundle, order: Sequence[str] = ()) -> Recording:
    """The inputs, path and outcome of a saved instance. `order` lists task ids in the order they were
    completed (from the audit trail), for tasks completed at the same moment on a stopped clock; without
    it, the time each task finished decides, then its place in the tree."""
    workflow = runtime.restore(state, bundle, caller=None)
    return recording_of(workflow, bundle.flow, order)


def recording_of(workflow: BpmnWorkflow, flow: str, order: Sequence[str] = ()) -> Recording:
    rank = {task_id: n for n, task_id in enumerate(order)}
    answers: list[Recorded] = []
    results: list[Recorded] = []
    timers: Counter[tuple[Scope, str]] = Counter()
    finished = _finished(workflow)
    for n, task in enumerate(finished):
        bpmn_id = task.task_spec.bpmn_id
        if not bpmn_id:
            continue
        position = (rank.get(str(task.id), len(rank)), float(task.last_state_change or 0), n)
        if task.task_spec.manual:
            answers.append(Recorded(scope_of(task), str(bpmn_id), _added(task), position))
        elif isinstance(task.task_spec, ServiceTask):
            value = task.data.get(task.task_spec.result_variable)
            results.append(Recorded(scope_of(task), str(bpmn_id), copy.deepcopy(value), position))
        elif _is_timer(task):
            timers[(scope_of(task), str(bpmn_id))] += 1
    answers.sort(key=lambda r: r.position)
    return Recording(
        flow=flow,
        start=copy.deepcopy(dict(workflow.task_tree.data)),
        answers=answers,
        results=results,
        timers=timers,
        path=path_of(workflow),
        steps=steps_of(workflow),
        outcome=outcome_of(workflow),
    )


def _finished(workflow: BpmnWorkflow) -> list[SpiffTask]:
    # get_tasks walks the tree depth first with each subprocess where its calling task stands.
    return list(workflow.get_tasks(state=TaskState.COMPLETED))


def _added(task: SpiffTask) -> dict[str, Any]:
    """What a task added to the data it was given: for a user task, the person's answers."""
    before = task.parent.data if task.parent is not None else {}
    return {k: copy.deepcopy(v) for k, v in task.data.items() if k not in before or before[k] != v}


def _is_timer(task: SpiffTask) -> bool:
    return isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition)


def scope_of(task: SpiffTask) -> Scope:
    """Which call activity (and which of a multi-instance's items) a task runs in, outermost first."""
    parts: list[tuple[str, Any]] = []
    workflow = task.workflow
    while workflow.parent_task_id is not None:
        caller = workflow.top_workflow.get_task_from_id(workflow.parent_task_id)
        parts.append((str(caller.task_spec.bpmn_id), caller.internal_data.get("key_or_index")))
        workflow = caller.workflow
    return tuple(reversed(parts))


def path_of(workflow: BpmnWorkflow) -> list[str]:
    """The bpmn ids of the finished diagram elements, the tree walked depth first, subprocesses in place."""
    return [str(t.task_spec.bpmn_id) for t in _finished(workflow) if t.task_spec.bpmn_id]


def steps_of(workflow: BpmnWorkflow, stopped: bool = False) -> list[Step]:
    """Each finished element with the element before it: the sequence flows taken, in tree order. Of a run
    that stopped, also where it stopped: the user task it asked for, the step that failed."""
    tasks = _finished(workflow)
    if stopped:
        tasks = [
            t
            for t in workflow.get_tasks(state=TaskState.COMPLETED | TaskState.ERROR | TaskState.READY)
            if not t.has_state(TaskState.READY) or t.task_spec.manual
        ]
    steps: list[Step] = []
    for task in tasks:
        bpmn_id = task.task_spec.bpmn_id
        if not bpmn_id:
            continue
        steps.append((scope_of(task), _source(task), str(bpmn_id)))
    return steps


def _source(task: SpiffTask) -> str | None:
    """The diagram element a finished element was reached from: a boundary event from its activity."""
    parent = task.parent
    if (
        parent is not None
        and isinstance(parent.task_spec, BoundaryEventSplit)
        and isinstance(task.task_spec, BoundaryEvent)
    ):
        main = next((c for c in parent.children if not isinstance(c.task_spec, BoundaryEvent)), None)
        if main is not None and main.task_spec.bpmn_id:
            return str(main.task_spec.bpmn_id)
    # The library puts helper tasks of its own (around boundary events, at ends) between two elements.
    while parent is not None and not parent.task_spec.bpmn_id:
        parent = parent.parent
    return str(parent.task_spec.bpmn_id) if parent is not None else None


def outcome_of(workflow: BpmnWorkflow) -> Outcome:
    """The end events of the flow itself that were reached, and each child's decision (the named outcome
    keys the flows set: `decision` in each child's subprocess, `decisions`, or `decision` for one child)."""
    ends = tuple(
        sorted(
            str(t.task_spec.bpmn_id)
            for t in workflow.get_tasks(state=TaskState.COMPLETED)
            if t.workflow is workflow and isinstance(t.task_spec, EndEvent) and t.task_spec.bpmn_id
        )
    )
    data = runtime.current_data(workflow)
    found = runtime.decided_outputs(workflow, "decision") + list(data.get("decisions") or [])
    if isinstance(data.get("decision"), dict):
        found.append(data["decision"])
    decisions: dict[str, dict[str, Any]] = {}
    for decision in found:
        if isinstance(decision, dict) and decision.get("key") is not None:
            decisions[str(decision["key"])] = {
                k: decision.get(k) for k in ("threshold", "outcome", "handover") if decision.get(k) is not None
            }
    return Outcome(ends=ends, decisions=decisions)


# --- Running the inputs on a candidate ---------------------------------------------------------------------


class _Stop(Exception):
    """The replay cannot go on; the message says why, in words."""


class _Run:
    def __init__(self, recording: Recording, candidate: ParsedBundle, max_steps: int):
        self.recording = recording
        self.max_steps = max_steps
        self.count = 0
        self.stopped: str | None = None
        self.answers = _queues(recording.answers)
        self.results = _queues(recording.results)
        self.timers_left = Counter(recording.timers)
        self.names = element_names(candidate)
        self.words = code_words(candidate)
        self.workflow = BpmnWorkflow(candidate.spec, candidate.subprocess_specs)
        runtime.attach(self.workflow, caller=None)
        # Service tasks are given the result their handler gave the case; no handler runs.
        self.workflow.script_engine.service_caller = self._service

    def _name(self, bpmn_id: str) -> str:
        return self.names.get(bpmn_id, bpmn_id)

    def _service(self, task: SpiffTask, operation_name: str, operation_params: dict[str, Any]) -> str:
        queue = self.answers_for(self.results, task)
        if queue is None:
            self.stopped = f"runs {self._name(str(task.task_spec.bpmn_id))}, which this case never ran"
            raise _Stop(self.stopped)
        return json.dumps(queue.take(), default=str)

    @staticmethod
    def answers_for(queues: dict[tuple[Scope, str], _Queue], task: SpiffTask) -> _Queue | None:
        return queues.get((scope_of(task), str(task.task_spec.bpmn_id)))

    def _tick(self, _task: Any = None) -> None:
        self.count += 1
        if self.count > self.max_steps:
            raise _Stop(f"did not finish within {self.max_steps} steps (does a loop never end?)")
        if self.count % 100 == 0 and runtime.tree_depth(self.workflow) > MAX_DEPTH:
            raise _Stop(f"grew more than {MAX_DEPTH} tasks deep (does a loop never end?)")

    def _engine_steps(self) -> None:
        try:
            self.workflow.do_engine_steps(did_complete_task=self._tick)
        except _Stop:
            raise
        except Exception as err:  # a candidate's expression or script may fail like any step
            raise _Stop(self.stopped or _failure(self.workflow, err, self.names, self.words)) from None

    def go(self) -> None:
        for task in self.workflow.get_tasks(state=TaskState.READY):
            task.set_data(**copy.deepcopy(self.recording.start))
        self._engine_steps()
        while not self.workflow.is_completed():
            if self._fire_a_timer():
                continue
            self._answer_a_task()

    def _fire_a_timer(self) -> bool:
        """Fire one waiting timer the case passed: it fires at once, as the case's did in its time."""
        for task in self.workflow.get_tasks(state=TaskState.WAITING):
            key = (scope_of(task), str(task.task_spec.bpmn_id))
            if _is_timer(task) and self.timers_left[key] > 0:
                self.timers_left[key] -= 1
                task._set_internal_data(event_fired=True)
                self.workflow.refresh_timers()
                self._tick()
                self._engine_steps()
                return True
        return False

    def _answer_a_task(self) -> None:
        ready = list(self.workflow.get_tasks(state=TaskState.READY, manual=True))
        if not ready:
            raise _Stop(_waiting(self.workflow, self.names))
        choices = [(self.answers_for(self.answers, t), t) for t in ready]
        unanswered = [t for queue, t in choices if queue is None]
        answered = [(queue, t) for queue, t in choices if queue is not None]
        if not answered:
            raise _Stop(f"asks for {self._name(str(unanswered[0].task_spec.bpmn_id))}, which this case never answered")
        # The task whose next answer the case gave first; a task asked again after its answers ran out last.
        queue, task = min(answered, key=lambda pair: pair[0].next_position())
        data = queue.take()
        task.set_data(**copy.deepcopy(data))
        self._tick()
        try:
            task.run()
        except Exception as err:  # the candidate's post-script may fail
            raise _Stop(_failure(self.workflow, err, self.names, self.words)) from None
        self._engine_steps()


class _Queue:
    def __init__(self, items: list[Recorded]):
        self.items = sorted(items, key=lambda r: r.position)
        self.taken = 0

    def next_position(self) -> tuple[int, tuple[int, float, int]]:
        if self.taken < len(self.items):
            return (0, self.items[self.taken].position)
        return (1, self.items[-1].position)

    def take(self) -> Any:
        item = self.items[min(self.taken, len(self.items) - 1)]
        self.taken += 1
        return item.data


def _queues(items: Iterable[Recorded]) -> dict[tuple[Scope, str], _Queue]:
    grouped: dict[tuple[Scope, str], list[Recorded]] = {}
    for item in items:
        grouped.setdefault((item.scope, item.bpmn_id), []).append(item)
    return {key: _Queue(found) for key, found in grouped.items()}


def code_words(bundle: ParsedBundle) -> frozenset[str]:
    """Every word the diagrams' text holds: the names their code may use."""
    return frozenset(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", "\n".join(bundle.files.values())))


def _failure(workflow: BpmnWorkflow, err: Exception, names: Mapping[str, str], words: frozenset[str]) -> str:
    """Where the candidate failed and what kind of failure, without the error's own text: that may quote the
    case's data (a child's name in a failed conversion), and the words go to people who may not see it.

    A missing name is told only when the diagrams' own text holds it: a script can raise a NameError naming
    anything it likes (the case's data too). A refusal of the sandbox is told only when the numbers it quotes
    are the sandbox's limits, not the size of something the case's data made."""
    task = getattr(err, "task", None)
    if task is None:
        failed = workflow.get_tasks(state=TaskState.ERROR)
        task = failed[0] if failed else None
    bpmn_id = str(task.task_spec.bpmn_id) if task is not None and task.task_spec.bpmn_id else None
    where = f"fails at {names.get(bpmn_id, bpmn_id)}" if bpmn_id else "fails"
    for cause in _causes(err):
        if isinstance(cause, NameError) and isinstance(cause.name, str) and cause.name in words:
            return f"{where}: it uses {cause.name}, which this case's data does not have"
        if isinstance(cause, SandboxError):
            return f"{where}: {_refusal(cause)}"
    return f"{where} ({getattr(err, 'error_type', None) or err.__class__.__name__})"


def _refusal(err: SandboxError) -> str:
    text = str(err)
    numbers = [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", text)]
    if all(n in SANDBOX_LIMITS for n in numbers):
        return text
    return "the sandbox stopped its code at one of its limits"


def _causes(err: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    found: BaseException | None = err
    while found is not None and id(found) not in seen:
        seen.add(id(found))
        yield found
        found = found.__cause__ or found.__context__


def _waiting(workflow: BpmnWorkflow, names: Mapping[str, str]) -> str:
    waiting = [str(t.task_spec.bpmn_id) for t in workflow.get_tasks(state=TaskState.WAITING) if _is_timer(t)]
    if waiting:
        return f"waits for {names.get(waiting[0], waiting[0])}, a timer this case never passed"
    return "stops with nothing to do and is not finished"


def run(recording: Recording, candidate: ParsedBundle, max_steps: int | None = None) -> Replayed:
    """The recording's inputs on the candidate: its path and outcome, or why it stopped."""
    limit = max_steps or max(MIN_STEPS, STEPS_PER_RECORDED_STEP * len(recording.steps))
    replay = _Run(recording, candidate, limit)
    try:
        replay.go()
    except _Stop as stop:
        replay.stopped = str(stop)
    workflow = replay.workflow
    done = replay.stopped is None and workflow.is_completed()
    return Replayed(
        path=path_of(workflow),
        steps=steps_of(workflow, stopped=replay.stopped is not None),
        outcome=outcome_of(workflow) if done else None,
        stopped=replay.stopped,
        step_count=replay.count,
    )


# --- Comparing ---------------------------------------------------------------------------------------------


def element_names(bundle: ParsedBundle) -> dict[str, str]:
    """What each diagram element is called (its id when it has no name)."""
    names: dict[str, str] = {}
    for spec in all_specs(bundle):
        for task_spec in spec.task_specs.values():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            # A multi-instance activity is two task specs with one bpmn id; either may carry the name.
            if bpmn_id and (task_spec.bpmn_name or bpmn_id not in names):
                names[str(bpmn_id)] = str(task_spec.bpmn_name or bpmn_id)
    return names


def compare(
    recording: Recording,
    replayed: Replayed,
    recorded_bundle: ParsedBundle,
    candidate: ParsedBundle,
    titles: Mapping[str, str] | None = None,
) -> Comparison:
    """Same, path changed (the first difference in words), outcome changed, or could not replay (why).

    Paths are compared as the sequence flows taken, each with how often: two parallel branches finished in
    another order are the same path."""
    old_names = element_names(recorded_bundle)
    new_names = element_names(candidate)
    titles = titles or {}
    found = Comparison(result=SAME, path=replayed.path)
    if replayed.stopped is not None:
        found.result = NOT_REPLAYED
        found.changes.append(replayed.stopped)
        # The steps it did not get to are not a change; one the case never took before it stopped is.
        extra = _first_extra(recording.steps, replayed.steps, old_names, new_names)
        if extra:
            found.changes.insert(0, extra)
        return found
    assert replayed.outcome is not None
    found.outcome = shown_outcome(recording.outcome, replayed.outcome, titles)
    difference = first_difference(recording.steps, replayed.steps, old_names, new_names)
    if difference:
        found.result = PATH_CHANGED
        found.changes.append(difference)
    outcome_words = _outcome_difference(recording.outcome, replayed.outcome, old_names, new_names, titles)
    if outcome_words:
        found.result = found.result if found.result != SAME else OUTCOME_CHANGED
        found.changes.extend(outcome_words)
    return found


def replay(
    state: str,
    bundle: ParsedBundle,
    candidate: ParsedBundle,
    order: Sequence[str] = (),
    max_steps: int | None = None,
    titles: Mapping[str, str] | None = None,
) -> Comparison:
    """Read a finished instance, run its inputs on the candidate, and compare."""
    recording = record(state, bundle, order)
    return compare(recording, run(recording, candidate, max_steps), bundle, candidate, titles)


def _where(scope: Scope, names: Mapping[str, str]) -> str:
    if not scope:
        return ""
    parts = []
    for bpmn_id, item in scope:
        label = names.get(bpmn_id, bpmn_id)
        parts.append(f"{label} (number {item + 1})" if isinstance(item, int) else label)
    return "in " + ", in ".join(parts) + ": "


def first_difference(
    old: Sequence[Step], new: Sequence[Step], old_names: Mapping[str, str], new_names: Mapping[str, str]
) -> str | None:
    missing = Counter(old) - Counter(new)
    extra = Counter(new) - Counter(old)
    if not missing and not extra:
        return None
    first_missing = next((s for s in old if missing[s] > 0), None)
    if first_missing is not None:
        scope, source, target = first_missing
        instead = next((s for s in new if extra[s] > 0 and s[0] == scope and s[1] == source), None)
        after = _after(source, old_names)
        was = old_names.get(target, target)
        if instead is not None:
            now = new_names.get(instead[2], instead[2])
            return f"{_where(scope, old_names)}{after}, this case went to {was}; this version goes to {now}"
        return f"{_where(scope, old_names)}{after}, this case went to {was}; this version does not"
    return _first_extra(old, new, old_names, new_names)


def _first_extra(
    old: Sequence[Step], new: Sequence[Step], old_names: Mapping[str, str], new_names: Mapping[str, str]
) -> str | None:
    extra = Counter(new) - Counter(old)
    step = next((s for s in new if extra[s] > 0), None)
    if step is None:
        return None
    scope, source, target = step
    went = next((s for s in old if s[0] == scope and s[1] == source), None)
    now = new_names.get(target, target)
    after = _after(source, new_names)
    if went is not None:
        was = old_names.get(went[2], went[2])
        return f"{_where(scope, new_names)}{after}, this case went to {was}; this version goes to {now}"
    return f"{_where(scope, new_names)}{after}, this version goes to {now}, where this case never went"


def _after(source: str | None, names: Mapping[str, str]) -> str:
    return "at the start" if source is None else f"after {names.get(source, source)}"


def _outcome_difference(
    old: Outcome,
    new: Outcome,
    old_names: Mapping[str, str],
    new_names: Mapping[str, str],
    titles: Mapping[str, str],
) -> list[str]:
    words = []
    if old.ends != new.ends:
        was = ", ".join(old_names.get(e, e) for e in old.ends) or "no end"
        now = ", ".join(new_names.get(e, e) for e in new.ends) or "no end"
        words.append(f"this case ended at {was}; this version ends at {now}")
    labels = key_labels(old, new)
    for key, label in labels.items():
        before, after = old.decisions.get(key), new.decisions.get(key)
        if before == after:
            continue
        was_decided, now_decided = _decided(before, titles), _decided(after, titles)
        if was_decided == now_decided:
            # Two values neither of which is a code: that they differ is all that may be said.
            now_decided += " (another one)"
        words.append(f"{label}: this case decided {was_decided}; this version decides {now_decided}")
    return words


def key_labels(old: Outcome, new: Outcome) -> dict[str, str]:
    """How each decision's key is told: as itself when it is a child's (child-1) or the case decided under it,
    otherwise only as another key, numbered; the case's keys in order, then the others as they were found."""
    labels = {key: key for key in sorted(set(old.decisions) | set(new.decisions)) if _key_shown(key, old)}
    others = [key for key in new.decisions if key not in labels]
    for n, key in enumerate(others, start=1):
        labels[key] = f"a key that is not a child's ({n})" if len(others) > 1 else "a key that is not a child's"
    return labels


def _key_shown(key: str, recorded: Outcome) -> bool:
    return key in recorded.decisions or CHILD_KEY.fullmatch(key) is not None


def shown_outcome(recorded: Outcome, outcome: Outcome, titles: Mapping[str, str]) -> dict[str, Any]:
    """An outcome as the report may hold it: keys told as key_labels tells them, codes the council names kept
    as codes, every other value replaced by words."""
    labels = key_labels(recorded, outcome)
    return {
        "ends": list(outcome.ends),
        "decisions": {
            labels[key]: {part: value if _known(value, titles) else NOT_KNOWN for part, value in decision.items()}
            for key, decision in outcome.decisions.items()
        },
    }


def _known(value: Any, titles: Mapping[str, str]) -> bool:
    return isinstance(value, str) and value in titles


def _decided(decision: Mapping[str, Any] | None, titles: Mapping[str, str]) -> str:
    if not decision:
        return "nothing"
    parts = []
    for key in ("threshold", "outcome", "handover"):
        value = decision.get(key)
        if value is not None:
            shown = titles[value] if _known(value, titles) else NOT_KNOWN
            parts.append(f"handed over to {shown}" if key == "handover" else shown)
    return ", ".join(parts) or "nothing"
