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
from sqlalchemy import bindparam, delete, insert, inspect, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.orm.util import identity_key

import handlers
from app import policy, schemaforms
from app.engine import recent, runtime, specs
from app.engine.runtime import ReadyTask, StepFailure, TaskNotReady, TreeTooDeep
from app.engine.specs import ParsedBundle
from app.extensions import db
from app.models import AuditEvent, Case, Draft, OutboxItem, ProcessBundle, ProcessInstance, Task, TaskClock, User
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
    plain_sql,
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
            case = _complete_once(user, task_id, data)
            visible = policy.can_see_case(user, case) if look else False
            case_id = case.id
            db.session.commit()
            return Completed(case_id, visible)
        except StaleDataError:
            # Someone else moved this instance on since we loaded it: reload and try again.
            db.session.rollback()
        except DBAPIError as err:
            db.session.rollback()
            if not _gave_way(err):
                raise
        except Exception:
            db.session.rollback()
            raise
    raise NotSaved("This case is very busy right now and your answers were not saved. Try again in a moment.")


# PostgreSQL's codes for two writers who met, one of them made to give way (a deadlock, or a serialization
# failure): the other's change is committed, and trying again starts from it.
_GAVE_WAY = frozenset({"40P01", "40001"})


def _gave_way(err: DBAPIError) -> bool:
    return getattr(err.orig, "sqlstate", None) in _GAVE_WAY


# The statements of every completion, made once: building them again for every request costs about as much
# as running them.
_TASK_WITH_ITS_CASE = (
    select(Task)
    .options(
        joinedload(Task.case).joinedload(Case.people),
        joinedload(Task.case).joinedload(Case.handovers),
        joinedload(Task.instance).joinedload(ProcessInstance.bundle),
    )
    .where(Task.id == bindparam("task_id"))
)
_TASKS = Task.__table__
_MIRROR_IDS = select(_TASKS.c.id).where(_TASKS.c.instance_id == bindparam("instance_id"))
_DELETE_LEAVING = (
    delete(_TASKS)
    .where(_TASKS.c.instance_id == bindparam("instance_id"), _TASKS.c.id.not_in(bindparam("wanted", expanding=True)))
    .returning(_TASKS.c.id)
)
_RUNNING_INSTANCE = select(ProcessInstance.id).where(
    ProcessInstance.case_id == bindparam("case_id"), ProcessInstance.status.in_(("running", "failed"))
)
_INSTANCE = ProcessInstance.__table__
_INSTANCE_WRITTEN = ("state", "tree_depth", "updated_at", "next_wake_at", "status", "failure", "completed_at")
_WRITE_INSTANCE = (
    update(_INSTANCE)
    .where(_INSTANCE.c.id == bindparam("instance_id"), _INSTANCE.c.version == bindparam("read_version"))
    .values(version=bindparam("new_version"), **{name: bindparam(name) for name in _INSTANCE_WRITTEN})
)
_DELETE_DRAFT = delete(Draft.__table__).where(
    Draft.__table__.c.user_id == bindparam("draft_user_id"), Draft.__table__.c.key == bindparam("draft_key")
)


def _load_task(user: User, task_id: str) -> tuple[Task, ProcessInstance, ParsedBundle]:
    """A mirrored task the user may act on, with its instance and bundle; a task already gone is a conflict."""
    # One query for the task, its case (with the case's people and hand-overs, which the task's page and the
    # completing both read), instance and bundle; the task holds them from then on, so completing it after
    # opening it in the same request reads none of them again.
    row = db.session.identity_map.get(identity_key(Task, task_id))
    if row is None or inspect(row).expired:
        row = db.session.execute(_TASK_WITH_ITS_CASE, {"task_id": task_id}).unique().scalar_one_or_none()
    if row is None:
        raise conflict_for(task_id)
    if not policy.can_act_on_task(user, row):
        raise Forbidden("This task is not yours to complete.")
    instance = row.instance
    if instance is None:
        raise NotFound(task_id)
    case = row.case
    if case is not None and case.restricted and not policy.has_opened_restricted(user, case.id):
        raise ReasonNeeded(case.id)
    return row, instance, bundles.parsed(instance.bundle)


def _complete_once(user: User, task_id: str, data: dict[str, Any]) -> Case:
    row, instance, bundle = _load_task(user, task_id)
    case = row.case
    assert case is not None
    _load_people_and_handovers(case)
    run = _Run(case)
    workflow = recent.restore((instance.id, instance.version), instance.state, bundle, run.caller)
    task = runtime.ready_user_task(workflow, bundle, task_id)
    if task is None:
        raise conflict_for(task_id)
    schema = bundle.form(task.form_id)
    # A task's answers are the form's own questions and nothing else (a caller of the API could send more).
    extra = schemaforms.undeclared(schema, data) if schema is not None else []
    if extra:
        raise FormInvalid(extra)
    _validate(bundle, task, data)
    failure = runtime.complete_user_task(workflow, task_id, data)
    _after_user_task(instance, workflow, bundle, run, user, task, data, failure)
    # The answers are on the record now: the user's draft of them goes in the same transaction. A statement on
    # the table itself (no draft is held as an object here), and no flush before it: nothing waiting to be
    # written touches drafts, and the commit writes it all at once.
    plain_sql.run(_DELETE_DRAFT, {"draft_user_id": user.id, "draft_key": drafts.task_key(task_id)})
    return case


def _load_people_and_handovers(case: Case) -> None:
    """The case's people and hand-overs read now (when opening the task has not read them already), while
    nothing waits to be written: read later, in the middle of the steps, each would first flush everything
    written so far, a round of writes of its own. Nothing is missed by reading early: people and hand-overs
    are only ever added through these collections."""
    if case.status == "open":
        case.people  # noqa: B018 -- read for its loading (each child's outcome and the closing need them)
    case.handovers  # noqa: B018 -- read for its loading (every run looks at the hand-overs)


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
    # The versioned row first, alone, so a stale version is found before anything else is written.
    ready = _write_state(instance, workflow, bundle, failure)
    audit.record(
        "TASK_COMPLETED", user.id, case_id=case.id, instance_id=instance.id, task_id=task.id, bpmn_id=task.bpmn_id
    )
    sharing.record_step(case, instance.flow, task.bpmn_id, task.id, data, user)
    title = f"{task.name}: {task.subject}" if task.subject else task.name
    timeline.add(case.id, user.id, title, timeline.summarize(bundle.form(task.form_id), data), flow=instance.flow)
    _after_state(instance, workflow, ready, failure, user.id, completed_task_id=task.id)
    _after_steps(case, instance, workflow, run, user.id)


def _after_steps(case: Case, instance: ProcessInstance, workflow: Any, run: _Run, user_id: int | None) -> None:
    """What follows every run of an instance: the handlers' records and outgoing items, each child's outcome,
    the flows handed over to (started now, in this transaction), and the case closed once all is done."""
    if run.records:  # most steps write no records: then nothing need be flushed for them
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
    # The question is about the instances' rows alone: they are written first if any changed, and everything
    # else waits for the commit, where it is written in one go.
    if any(isinstance(row, ProcessInstance) for row in (*db.session.new, *db.session.dirty)):
        db.session.flush()
    running = plain_sql.run(_RUNNING_INSTANCE, {"case_id": case.id}).scalar()
    if running is None:
        plain_sql.update_row(case, {"status": "closed", "closed_at": utcnow()})
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
    ready = _write_state(instance, workflow, bundle, failure)
    _after_state(instance, workflow, ready, failure, user_id, completed_task_id)


def _write_state(
    instance: ProcessInstance, workflow: Any, bundle: ParsedBundle, failure: StepFailure | None
) -> list[ReadyTask]:
    """Write the instance's new state, versioned, before anything else of the run is written: a stale version
    is found before any other write. Returns the ready user tasks, for the mirror."""
    ready = runtime.ready_user_tasks(workflow, bundle)  # first: it fixes each new task's due time in the state
    try:
        state, depth = runtime.save(workflow, current_app.config["MAX_TREE_DEPTH"])
    except TreeTooDeep as err:
        current_app.logger.error("instance %s refused: %s", instance.id, err)
        raise NotSaved(
            "This case's workflow has grown too long to save safely, so your answers were not saved. "
            "A process owner has to look at it."
        ) from err
    row = {
        "state": state,
        "tree_depth": depth,
        "updated_at": utcnow(),
        "next_wake_at": runtime.next_wake(workflow),
        "status": instance.status,
        "failure": instance.failure,
        "completed_at": instance.completed_at,
    }
    if failure is not None:
        row.update(status="failed", failure=f"{failure.bpmn_id}: {failure.message}")
    elif runtime.is_completed(workflow):
        row.update(status="completed", completed_at=utcnow(), next_wake_at=None)
    _write_versioned(instance, row)
    return ready


def _write_versioned(instance: ProcessInstance, row: dict[str, Any]) -> None:
    """Write the instance's row if it still has the version it was read with, moving the version on, as the
    session's own flush would; a row someone else has moved on since is a StaleDataError, as there. One plain
    statement, without a flush of the session's other changes (which go with the commit)."""
    if not inspect(instance).persistent or inspect(instance).modified:
        # Changed already in this transaction (a failed step being run again): the session writes it all.
        for name, value in row.items():
            setattr(instance, name, value)
        db.session.flush()
        return
    version = instance.version
    written = plain_sql.run(
        _WRITE_INSTANCE, {**row, "instance_id": instance.id, "read_version": version, "new_version": version + 1}
    ).rowcount
    if written != 1:
        raise StaleDataError(f"process instance {instance.id} has moved on from version {version}")
    for name, value in {**row, "version": version + 1}.items():
        set_committed_value(instance, name, value)


def _after_state(
    instance: ProcessInstance,
    workflow: Any,
    ready: list[ReadyTask],
    failure: StepFailure | None,
    user_id: int | None,
    completed_task_id: str | None = None,
) -> None:
    """What the new state says besides itself: a failed step or the flow's end, and the task mirror."""
    if failure is not None:
        audit.record(
            "PROCESS_STEP_FAILED", user_id, case_id=instance.case_id, instance_id=instance.id, bpmn_id=failure.bpmn_id
        )
    elif runtime.is_completed(workflow):
        audit.record("PROCESS_COMPLETED", user_id, case_id=instance.case_id, instance_id=instance.id)
    sync_mirror(instance, ready, completed_task_id, user_id)


def sync_mirror(
    instance: ProcessInstance,
    ready: list[ReadyTask],
    completed_task_id: str | None = None,
    user_id: int | None = None,
) -> None:
    """Make the task table hold exactly the instance's ready user tasks, keeping claims on those that stay;
    each task's clock starts when it appears and is met (or stopped) when it goes."""
    wanted = {t.id: t for t in ready}
    if any(isinstance(row, Task | TaskClock) for row in (*db.session.new, *db.session.deleted)):
        # The tables are read as the session has them: task rows and clocks added earlier in this transaction
        # (another run of this instance) are written first, so a clock started then is found to finish now.
        db.session.flush()
    # Plain statements on the table, and no flush of everything else waiting to be written before each (nor
    # before each clock's read): all that goes with the commit.
    with db.session.no_autoflush:
        gone = sorted(plain_sql.run(_DELETE_LEAVING, {"instance_id": instance.id, "wanted": list(wanted)}).scalars())
        for task_id in gone:
            _let_go(task_id)
            clocks.finish(task_id, completed=task_id == completed_task_id, user_id=user_id)
        existing = set(plain_sql.run(_MIRROR_IDS, {"instance_id": instance.id}).scalars()) if wanted else set()
        _add_rows(instance, wanted, existing)


def _let_go(task_id: str) -> None:
    """The session lets go of a removed row's object as it stands: the page that follows may still name its
    task. Should the transaction fail after this, the row comes back in the database but the object stays
    apart from the session; the page only reads what it already holds, and a retry reads the task afresh."""
    row = db.session.identity_map.get(identity_key(Task, task_id))
    if row is not None:
        db.session.expunge(row)


def _add_rows(instance: ProcessInstance, wanted: dict[str, ReadyTask], existing: set[str]) -> None:
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
        decided = {"handover": decision.get("handover"), "decided_at": utcnow()}
        if decision.get("threshold"):
            decided["threshold"] = decision.get("threshold")
        if decision.get("outcome"):
            decided["outcome"] = decision.get("outcome")
        # Written now, by one statement, rather than by the flush at the commit.
        plain_sql.update_row(child, decided)
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
        rows.append(
            {
                "message_id": str(uuid.uuid4()),
                "case_id": case.id,
                "instance_id": instance.id,
                "channel": item.channel,
                "template": item.template,
                "recipient_role": item.recipient_role,
                "recipient_name": item.recipient_name,
                "address": item.address or "",  # as the column's own default would: never NULL
                "subject": subject.strip(),
                "body": body.strip() + "\n",
            }
        )
    if not rows:
        return
    # Written as plain rows in one statement, which gives back each item's id (found by its message id) for its
    # event: nothing in this transaction reads an item as an object, and the changes waiting to be written need
    # no flush of their own first (they go with the commit).
    ids = {message_id: item_id for message_id, item_id in plain_sql.run(_QUEUE_ITEMS, rows)}
    for row in rows:
        audit.record(
            "OUTBOX_ITEM_QUEUED",
            user_id,
            case_id=case.id,
            instance_id=instance.id,
            outbox_item_id=ids[row["message_id"]],
            template=row["template"],
        )


_QUEUE_ITEMS = insert(OutboxItem.__table__).returning(OutboxItem.__table__.c.message_id, OutboxItem.__table__.c.id)


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
