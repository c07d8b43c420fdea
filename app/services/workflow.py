"""The one way in for change to a case's workflow (DESIGN.md rule 1).

Each action loads an instance with its version, acts through the engine, runs the engine's own steps, then
writes the state, the task mirror, the case's outcomes, the timeline, audit events and outbox rows, and
commits — all or nothing. Two people completing different ready tasks of one instance both succeed: a
stale version is reloaded and retried while the user's task is still ready. Only when the task itself is
gone is the answer a conflict naming who completed it and when.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.orm import joinedload, lazyload
from sqlalchemy.orm.exc import StaleDataError

import handlers
from app import policy, schemaforms
from app.engine import recent, runtime, specs
from app.engine.runtime import ReadyTask, StepFailure, TaskNotReady, TreeTooDeep
from app.engine.specs import ParsedBundle
from app.extensions import db
from app.models import AuditEvent, Case, Draft, OutboxItem, ProcessBundle, ProcessInstance, Task, User
from app.models.types import utcnow
from app.roles import ROLES
from app.services import (
    audit,
    bundles,
    case_records,
    child_history,
    clocks,
    drafts,
    handovers,
    people,
    sharing,
    timeline,
    users,
)
from app.services.errors import Forbidden, FormInvalid, NotFound, NotSaved, ReasonNeeded, TaskConflict

MAX_ATTEMPTS = 5


@dataclass
class _Run:
    """What one engine run produced besides its state: the items handlers asked to send."""

    case: Case
    outgoing: list[handlers.Outgoing] = field(default_factory=list)
    records: list[handlers.Record] = field(default_factory=list)

    def caller(self, name: str, params: dict[str, Any], data: dict[str, Any]) -> Any:
        fn = handlers.get(name)
        if fn is None:
            raise LookupError(f"no handler is registered as {name!r}")
        result = fn(
            handlers.Context(
                case_id=self.case.id,
                case_reference=self.case.reference,
                data=data,
                params=params,
                queries=_Queries(),
            )
        )
        self.outgoing.extend(result.outgoing)
        self.records.extend(result.records)
        return result.data


class _Queries:
    """The read-only questions a handler may ask."""

    def earlier_contacts(self, name: str, date_of_birth: str | None) -> list[dict[str, Any]]:
        return people.earlier_contacts(name, date_of_birth)

    def known_child(self, case_id: int, key: str) -> dict[str, Any]:
        return child_history.known_child(case_id, key)

    def marf_outstanding(self, case_id: int) -> bool:
        case = db.session.get(Case, case_id)
        return bool(case is not None and case.marf_expected and case.marf_received_at is None)

    def strategy_invitation_facts(self, case_id: int, child_keys: list[str]) -> dict[str, Any]:
        from app.services import strategy_discussions

        return strategy_discussions.invitation_facts(case_id, child_keys)


_first_tasks: dict[str, ReadyTask] = {}


def first_task(bundle: ParsedBundle) -> ReadyTask:
    """The user task a new instance of this bundle stops at first (the start form); the same for every
    instance of a bundle, so it is worked out once per bundle."""
    if bundle.hash not in _first_tasks:
        workflow, _ = runtime.start(bundle, caller=None)
        ready = runtime.ready_user_tasks(workflow, bundle)
        if not ready:
            raise LookupError(f"the {bundle.flow} flow does not begin with a user task")
        _first_tasks[bundle.hash] = ready[0]
    return _first_tasks[bundle.hash]


def _new_instance(case: Case, bundle_row: ProcessBundle, user_id: int | None) -> ProcessInstance:
    instance = ProcessInstance(case_id=case.id, bundle_id=bundle_row.id, flow=bundle_row.flow, state="")
    db.session.add(instance)
    db.session.flush()
    audit.record("PROCESS_STARTED", user_id, case_id=case.id, instance_id=instance.id, bundle_id=bundle_row.id)
    return instance


def start_instance(
    case: Case, bundle_row: ProcessBundle, user: User | None, data: dict[str, Any] | None = None
) -> ProcessInstance:
    """Start an instance of a bundle on a case with `data` and run it to its first wait, inside the caller's
    transaction (a hand-over from another flow starts its flow this way)."""
    bundle = bundles.parsed(bundle_row)
    run = _Run(case)
    workflow, failure = runtime.start(bundle, run.caller, data)
    user_id = user.id if user else None
    instance = _new_instance(case, bundle_row, user_id)
    _save(instance, workflow, bundle, failure, user_id)
    _after_steps(case, instance, workflow, run, user_id)
    return instance


def start_with_first_task(case: Case, bundle_row: ProcessBundle, user: User, data: dict[str, Any]) -> ProcessInstance:
    """Start an instance and complete its first user task with `data`, inside the caller's transaction."""
    bundle = bundles.parsed(bundle_row)
    run = _Run(case)
    workflow, failure = runtime.start(bundle, run.caller)
    if failure is not None:
        raise NotSaved(f"the {bundle.flow} flow could not start: {failure.message}")
    first = runtime.ready_user_tasks(workflow, bundle)[0]
    instance = _new_instance(case, bundle_row, user.id)
    _validate(bundle, first, data)
    failure = runtime.complete_user_task(workflow, first.id, data)
    _after_user_task(instance, workflow, bundle, run, user, first, data, failure)
    return instance


@dataclass(frozen=True)
class Completed:
    case_id: int
    case_visible: bool  # whether the user may still see the case now the task is done


def complete_task(user: User, task_id: str, data: dict[str, Any]) -> int:
    """Complete a ready user task with the submitted data; returns the case id."""
    return _complete(user, task_id, data, look=False).case_id


def complete_and_look(user: User, task_id: str, data: dict[str, Any]) -> Completed:
    """Complete a ready user task, and say whether the user may still see its case once it is done (a partner
    sees a case only while it holds work for them). Both in the one transaction: the answer is what the commit
    makes true, and the page that follows needs no second look at the database."""
    return _complete(user, task_id, data, look=True)


def _complete(user: User, task_id: str, data: dict[str, Any], look: bool) -> Completed:
    for _attempt in range(MAX_ATTEMPTS):
        try:
            case_id = _complete_once(user, task_id, data)
            visible = policy.can_see_case(user, case_of(case_id)) if look else False
            db.session.commit()
            return Completed(case_id, visible)
        except StaleDataError:
            # Someone else moved this instance on since we loaded it: reload and try again.
            db.session.rollback()
        except Exception:
            db.session.rollback()
            raise
    raise NotSaved("This case is very busy right now and your answers were not saved. Try again in a moment.")


def _load_task(user: User, task_id: str) -> tuple[Task, ProcessInstance, ParsedBundle]:
    """A mirrored task the user may act on, with its instance and bundle; a task already gone is a conflict."""
    # One query for the task, its case, instance and bundle; the task holds the instance from then on, so
    # completing it after opening it in the same request reads none of them again.
    row = db.session.get(
        Task, task_id, options=[joinedload(Task.case), joinedload(Task.instance).joinedload(ProcessInstance.bundle)]
    )
    if row is None:
        raise conflict_for(task_id)
    if not policy.can_act_on_task(user, row):
        raise Forbidden("This task is not yours to complete.")
    instance = row.instance
    if instance is None:
        raise NotFound(task_id)
    case = db.session.get(Case, row.case_id)
    if case is not None and case.restricted and not policy.has_opened_restricted(user, case.id):
        raise ReasonNeeded(case.id)
    return row, instance, bundles.parsed(instance.bundle)


def _complete_once(user: User, task_id: str, data: dict[str, Any]) -> int:
    _row, instance, bundle = _load_task(user, task_id)
    case = db.session.get(Case, instance.case_id)
    assert case is not None
    run = _Run(case)
    workflow = recent.restore((instance.id, instance.version), instance.state, bundle, run.caller)
    ready = {t.id: t for t in runtime.ready_user_tasks(workflow, bundle)}
    if task_id not in ready:
        raise conflict_for(task_id)
    schema = bundle.form(ready[task_id].form_id)
    # A task's answers are the form's own questions and nothing else (a caller of the API could send more).
    extra = schemaforms.undeclared(schema, data) if schema is not None else []
    if extra:
        raise FormInvalid(extra)
    _validate(bundle, ready[task_id], data)
    failure = runtime.complete_user_task(workflow, task_id, data)
    _after_user_task(instance, workflow, bundle, run, user, ready[task_id], data, failure)
    # The answers are on the record now: the user's draft of them goes in the same transaction.
    db.session.execute(delete(Draft).where(Draft.user_id == user.id, Draft.key == drafts.task_key(task_id)))
    return case.id


def _validate(bundle: ParsedBundle, task: ReadyTask, data: dict[str, Any]) -> None:
    schema = bundle.form(task.form_id)
    if schema is None:
        raise NotSaved(f"the form for {task.name!r} is missing from this version of the flow")
    errors = schemaforms.validate(schema, data)
    if errors:
        raise FormInvalid(errors)


def conflict_for(task_id: str) -> TaskConflict | NotFound:
    event = db.session.scalar(
        select(AuditEvent)
        .where(AuditEvent.task_id == task_id, AuditEvent.name == "TASK_COMPLETED")
        .order_by(AuditEvent.id.desc())
    )
    if event is None:
        return NotFound(task_id)
    who = db.session.get(User, event.user_id) if event.user_id else None
    return TaskConflict(completed_by=who.name if who else None, completed_at=event.at)


def _after_user_task(
    instance: ProcessInstance,
    workflow: Any,
    bundle: ParsedBundle,
    run: _Run,
    user: User,
    task: ReadyTask,
    data: dict[str, Any],
    failure: StepFailure | None,
) -> None:
    case = run.case
    audit.record(
        "TASK_COMPLETED", user.id, case_id=case.id, instance_id=instance.id, task_id=task.id, bpmn_id=task.bpmn_id
    )
    sharing.record_step(case, instance.flow, task.bpmn_id, task.id, data, user)
    title = f"{task.name}: {task.subject}" if task.subject else task.name
    timeline.add(case.id, user.id, title, timeline.summarize(bundle.form(task.form_id), data), flow=instance.flow)
    _save(instance, workflow, bundle, failure, user.id, completed_task_id=task.id)
    _after_steps(case, instance, workflow, run, user.id)


def _after_steps(case: Case, instance: ProcessInstance, workflow: Any, run: _Run, user_id: int | None) -> None:
    """What follows every run of an instance: the handlers' records and outgoing items, each child's outcome,
    the flows handed over to (started now, in this transaction), and the case closed once all is done."""
    case_records.write(case, run.records, user_id)
    _queue_outgoing(case, instance, run.outgoing, user_id)
    _apply_outcomes(case, instance, workflow, user_id)
    handovers.mark_source(case, instance)
    handovers.start_waiting(case, user_id)
    _close_if_done(case, user_id)


def _close_if_done(case: Case, user_id: int | None) -> None:
    """Closed when every child has an outcome, none waits on a hand-over, and no flow of the case still runs
    (a LADO allegation runs on after the child's own decision)."""
    if case.status != "open":
        return
    if not all(c.outcome and not c.handover for c in case.children):
        return
    if any(h.status == "waiting" for h in case.handovers):
        return  # a hand-over of the whole case (to the LADO) waits for its flow: the case is not done
    db.session.flush()
    running = db.session.scalar(
        select(ProcessInstance.id).where(
            ProcessInstance.case_id == case.id, ProcessInstance.status.in_(("running", "failed"))
        )
    )
    if running is None:
        case.status = "closed"
        case.closed_at = utcnow()
        audit.record("CASE_CLOSED", user_id, case_id=case.id)
        timeline.add(case.id, None, "Contact closed")


def _save(
    instance: ProcessInstance,
    workflow: Any,
    bundle: ParsedBundle,
    failure: StepFailure | None,
    user_id: int | None,
    completed_task_id: str | None = None,
) -> None:
    ready = runtime.ready_user_tasks(workflow, bundle)  # first: it fixes each new task's due time in the state
    try:
        state, depth = runtime.save(workflow, current_app.config["MAX_TREE_DEPTH"])
    except TreeTooDeep as err:
        current_app.logger.error("instance %s refused: %s", instance.id, err)
        raise NotSaved(
            "This case's workflow has grown too long to save safely, so your answers were not saved. "
            "A process owner has to look at it."
        ) from err
    instance.state = state
    instance.tree_depth = depth
    instance.updated_at = utcnow()
    instance.next_wake_at = runtime.next_wake(workflow)
    if failure is not None:
        instance.status = "failed"
        instance.failure = f"{failure.bpmn_id}: {failure.message}"
        audit.record(
            "PROCESS_STEP_FAILED", user_id, case_id=instance.case_id, instance_id=instance.id, bpmn_id=failure.bpmn_id
        )
    elif runtime.is_completed(workflow):
        instance.status = "completed"
        instance.completed_at = utcnow()
        instance.next_wake_at = None
        audit.record("PROCESS_COMPLETED", user_id, case_id=instance.case_id, instance_id=instance.id)
    # Write the versioned row first, so a stale version is found before any other write.
    db.session.flush()
    sync_mirror(instance, ready, completed_task_id, user_id)


def sync_mirror(
    instance: ProcessInstance,
    ready: list[ReadyTask],
    completed_task_id: str | None = None,
    user_id: int | None = None,
) -> None:
    """Make the task table hold exactly the instance's ready user tasks, keeping claims on those that stay;
    each task's clock starts when it appears and is met (or stopped) when it goes."""
    # The rows' cases are not needed here (each is the instance's own).
    query = select(Task).where(Task.instance_id == instance.id).options(lazyload(Task.case))
    existing = {t.id: t for t in db.session.scalars(query)}
    wanted = {t.id: t for t in ready}
    for task_id, row in existing.items():
        if task_id not in wanted:
            db.session.delete(row)
            clocks.finish(task_id, completed=task_id == completed_task_id, user_id=user_id)
    for task_id, t in wanted.items():
        if task_id in existing:
            continue
        clocks.start(instance, t)
        assignee = _named_user(t.assignee, t.lane)
        team = task_team(t.lane, assignee)
        db.session.add(
            Task(
                id=t.id,
                instance_id=instance.id,
                case_id=instance.case_id,
                flow=t.flow,
                bpmn_id=t.bpmn_id,
                name=t.name,
                subject=t.subject[:200],
                form_id=t.form_id,
                lane=t.lane or "",
                team=team,
                assignee_id=assignee.id if assignee else None,
                claimed_at=utcnow() if assignee else None,
                due_at=t.due_at,
                # Copied in the INSERT itself, so the mirror costs no read of the case.
                contact_made_at=select(Case.created_at).where(Case.id == instance.case_id).scalar_subquery(),
                referral_source=select(Case.referral_source).where(Case.id == instance.case_id).scalar_subquery(),
            )
        )


def task_team(lane: str | None, holder: User | None) -> str | None:
    """The team a task sits with: work held by one person sits with their team (and its manager), other work
    with its lane's team, where someone can pick it up."""
    if holder is not None:
        return holder.team_key
    role = ROLES.get(lane or "")
    return role.team if role else None


def _named_user(username: str | None, lane: str | None) -> User | None:
    """The user a task names, when they are active and hold the task's role; otherwise the task stays with
    its lane's whole team, where someone can pick it up, rather than with a person who cannot act on it."""
    if not username:
        return None
    try:
        user = users.find(username)
    except LookupError:
        user = None
    if user is None or not user.active or (lane or "") not in user.roles:
        current_app.logger.warning("a task names %r, who cannot take it; it goes to the whole team", username)
        return None
    return user


def _apply_outcomes(case: Case, instance: ProcessInstance, workflow: Any, user_id: int | None) -> None:
    """Each child's decision, outcome or hand-over as the flow reports it: a diagram's per-child
    subprocess ends with a `decision` ({key, threshold, outcome, handover}), collected as `decisions`; a
    flow about one child may set `decision` itself.

    A child's outcome is set once by the flow that decides it. A child handed over to another flow is
    decided again by that flow: its decision replaces the pending hand-over (with an outcome, or a
    hand-over onwards), and the outcome stays whichever flow made the final decision (DOMAIN.md).
    """
    data = runtime.current_data(workflow)
    decisions = runtime.decided_outputs(workflow, "decision") + list(data.get("decisions") or [])
    if isinstance(data.get("decision"), dict):
        decisions.append(data["decision"])
    if not decisions:
        return  # most steps decide nothing: the case's people need not be loaded
    by_key = {c.key: c for c in case.children}
    for decision in decisions:
        child = by_key.get(str(decision.get("key"))) if isinstance(decision, dict) else None
        if child is None:
            continue
        handed_here = child.handover is not None and _handed_to(case, child, instance)
        if child.decided_at is not None and not handed_here:
            continue
        if decision.get("threshold"):
            child.threshold = decision.get("threshold")
        if decision.get("outcome"):
            child.outcome = decision.get("outcome")
        child.handover = decision.get("handover")
        child.decided_at = utcnow()
        if handed_here:
            audit.record("CHILD_DECIDED_AFTER_HANDOVER", user_id, case_id=case.id, instance_id=instance.id)
        if child.handover:
            case_records.add_handover(case, child.handover, str(decision.get("rationale") or ""), child, user_id)


def _handed_to(case: Case, child: Any, instance: ProcessInstance) -> bool:
    """Whether `instance` is the flow episode the child's pending hand-over started (only the latest: once
    this flow hands the child on, its own decision is spent)."""
    latest = next((h for h in reversed(case.handovers) if h.child_id == child.id), None)
    return latest is not None and latest.instance_id == instance.id and latest.flow == child.handover


def _queue_outgoing(case: Case, instance: ProcessInstance, items: list[handlers.Outgoing], user_id: int | None) -> None:
    import uuid

    rows = []
    for item in items:
        # A letter says the same whoever's step sent it: rendered without the signed-in page's context.
        template = current_app.jinja_env.get_template(f"letters/{item.template}.txt")
        subject, _, body = template.render(recipient_name=item.recipient_name, **item.fields).partition("\n")
        row = OutboxItem(
            message_id=str(uuid.uuid4()),
            case_id=case.id,
            instance_id=instance.id,
            channel=item.channel,
            template=item.template,
            recipient_role=item.recipient_role,
            recipient_name=item.recipient_name,
            address=item.address,
            subject=subject.strip(),
            body=body.strip() + "\n",
        )
        db.session.add(row)
        rows.append(row)
    if not rows:
        return
    db.session.flush()  # one write for them all: each event names its item's id
    for row in rows:
        audit.record(
            "OUTBOX_ITEM_QUEUED",
            user_id,
            case_id=case.id,
            instance_id=instance.id,
            outbox_item_id=row.id,
            template=row.template,
        )


def case_of(case_id: int) -> Case:
    case = db.session.get(Case, case_id)
    if case is None:
        raise NotFound(case_id)
    return case


def rebuild_mirror() -> tuple[int, int]:
    """Rebuild the whole task table from the saved states (flask reindex)."""
    instances = db.session.scalars(select(ProcessInstance).where(ProcessInstance.status == "running")).all()
    count = 0
    for instance in instances:
        bundle = bundles.parsed(instance.bundle)
        workflow = runtime.restore(instance.state, bundle, caller=None)
        ready = runtime.ready_user_tasks(workflow, bundle)
        sync_mirror(instance, ready)
        count += len(ready)
    db.session.execute(
        Task.__table__.delete().where(
            ~Task.instance_id.in_(select(ProcessInstance.id).where(ProcessInstance.status == "running"))
        )
    )
    audit.record("TASK_MIRROR_REBUILT", None, instances=len(instances), tasks=count)
    db.session.commit()
    return len(instances), count


def open_task(user: User, task_id: str) -> tuple[Task, ParsedBundle]:
    """A ready task the user may act on, with its bundle (for its form), without restoring the workflow."""
    row, _instance, bundle = _load_task(user, task_id)
    return row, bundle


def task_data(row: Task) -> dict[str, Any]:
    """The data a ready task starts from (to fill its form); a task no longer ready is a conflict."""
    instance = db.session.get(ProcessInstance, row.instance_id)
    if instance is None:
        raise NotFound(row.id)
    bundle = bundles.parsed(instance.bundle)
    workflow = recent.restore((instance.id, instance.version), instance.state, bundle, caller=None)
    try:
        data = runtime.task_data(workflow, row.id)
    except TaskNotReady:
        raise conflict_for(row.id) from None
    # Kept, unchanged, for the sending of this form (which would restore it again); the page gets a copy of
    # the data of its own, so nothing done to it reaches the kept workflow.
    recent.keep((instance.id, instance.version), instance.state, bundle, workflow)
    return copy.deepcopy(data)


def form_of_completed(task_id: str) -> dict[str, Any] | None:
    """The form of a task someone already completed, so a late submitter's answers can be shown back."""
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.task_id == task_id, AuditEvent.name == "TASK_COMPLETED")
    )
    if event is None:
        return None
    instance = db.session.get(ProcessInstance, event.data["instance_id"])
    if instance is None:
        return None
    bundle = bundles.parsed(instance.bundle)
    return bundle.form(specs.form_of(bundle, event.data["bpmn_id"]))


def fire_timers(instance: ProcessInstance) -> None:
    """Fire an instance's due timers and run what follows, inside the caller's transaction."""
    case = db.session.get(Case, instance.case_id)
    assert case is not None
    bundle = bundles.parsed(instance.bundle)
    run = _Run(case)
    workflow = runtime.restore(instance.state, bundle, run.caller)
    failure = runtime.fire_due_timers(workflow)
    _save(instance, workflow, bundle, failure, None)
    _after_steps(case, instance, workflow, run, None)


def retry_failed(instance: ProcessInstance, user: User) -> StepFailure | None:
    """Run a failed instance's failed step again and what follows, inside the caller's transaction, saved
    the way every run is (state, task mirror, clocks, audit, outbox). Returns the new failure, if any."""
    case = db.session.get(Case, instance.case_id)
    assert case is not None
    bundle = bundles.parsed(instance.bundle)
    run = _Run(case)
    workflow = runtime.restore(instance.state, bundle, run.caller)
    failure = runtime.retry_failed(workflow)
    # Running again unless it fails again (_save marks it failed) or has now finished (_save marks that).
    instance.status = "running"
    instance.failure = None
    _save(instance, workflow, bundle, failure, user.id)
    _after_steps(case, instance, workflow, run, user.id)
    return failure
