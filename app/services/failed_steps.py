"""Steps whose handler failed, for a manager to see and run again (DESIGN.md rule 4).

A failing handler never loses the work before it: the completion that led to it commits, and the instance is
kept with status "failed" and its failure, "<bpmn id>: <error>". A manager sees every such step here and runs
it again once its cause is put right: in one transaction the instance is restored, the failed step reset and
run, and the result saved the way every run is. Two managers pressing "Retry" on one step at once run it once:
the first moves the instance's version on before running anything, and the second finds it moved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import defer
from sqlalchemy.orm.exc import StaleDataError

from app import policy
from app.extensions import db
from app.models import AuditEvent, Case, ProcessInstance, User
from app.services import audit, bundles, case_diagram, workflow
from app.services.errors import Forbidden, NotFound, NotSaved

audit.register({"PROCESS_STEP_RETRIED": {"case_id", "instance_id", "bpmn_id"}})

STALE = (
    "This step has already been run again by someone else, or has changed since you opened this page, so it "
    "was not run again now. The list shows where each step stands."
)


@dataclass(frozen=True)
class FailedStep:
    instance_id: int
    version: int
    case: Case
    children: list[str]  # the children's names as a list may show them
    flow: str
    bpmn_id: str | None
    step: str  # the step's name on its diagram
    error: str | None  # None while the record is restricted and not opened by this user
    since: datetime
    opened: bool  # False for a restricted record this user has not opened with a reason


@dataclass(frozen=True)
class Retried:
    reference: str
    step: str  # the step run again
    failed_step: str | None  # the step that failed this time (the same one, or one after it); None if none did
    error: str | None  # what went wrong this time


def for_user(user: User) -> list[FailedStep]:
    """Every failed step this manager may see, the longest waiting first."""
    _allowed(user)
    query = (
        select(ProcessInstance, Case)
        .join(Case, Case.id == ProcessInstance.case_id)
        .where(ProcessInstance.status == "failed", Case.voided_at.is_(None))
        # The list needs where each stopped, not the saved workflow itself.
        .options(defer(ProcessInstance.state))
    )
    rows = [
        (i, c)
        for i, c in db.session.execute(query).tuples()
        # A restricted record stays listed, unnamed and its error hidden, so its stopped work is not lost
        # from view; both managers who may use this page read the information-request register too.
        if policy.can_see_timeline_entry(user, i.flow)
    ]
    since = _failed_since([i for i, _ in rows])
    steps = []
    for instance, case in rows:
        bpmn_id, error = case_diagram.split_failure(instance.failure)
        opened = policy.opened_if_restricted(user, case)
        steps.append(
            FailedStep(
                instance_id=instance.id,
                version=instance.version,
                case=case,
                children=[str(policy.name_shown(case, c.person.name)) for c in case.children],
                flow=instance.flow,
                bpmn_id=bpmn_id,
                step=_step_name(instance, bpmn_id),
                # An error may quote what the step was handling: a restricted record's stays hidden until opened.
                error=error if opened else None,
                since=since.get(instance.id, instance.updated_at),
                opened=opened,
            )
        )
    return sorted(steps, key=lambda s: (s.since, s.instance_id))


def retry(user: User, instance_id: int, version: int | None) -> Retried:
    """Run a failed step again, and what follows it, in one transaction. `version` is the instance's version
    the manager's page showed: anything else means someone has been there first."""
    _allowed(user)
    instance = db.session.get(ProcessInstance, instance_id)
    case = db.session.get(Case, instance.case_id) if instance is not None else None
    if instance is None or case is None or not policy.can_see_timeline_entry(user, instance.flow):
        raise NotFound(instance_id)  # a LADO step is not even said to exist to those who may not see it
    if not policy.opened_if_restricted(user, case):
        raise Forbidden("This is a restricted record: open it with a reason before running its step again.")
    if instance.status != "failed" or version != instance.version:
        raise NotSaved(STALE)
    bpmn_id, _ = case_diagram.split_failure(instance.failure)
    step = _step_name(instance, bpmn_id)
    try:
        # Claim the step before running anything: the version moves on only if nobody has moved it since the
        # page was drawn. On PostgreSQL the row stays locked until this transaction ends, so a second retry
        # waits here and then finds the version moved (SQLite's single writer does the same).
        table = ProcessInstance.__table__
        claimed = db.session.connection().execute(
            update(table)
            .where(table.c.id == instance_id, table.c.version == version, table.c.status == "failed")
            .values(version=version + 1)
        )
        if claimed.rowcount != 1:
            raise NotSaved(STALE)
        db.session.refresh(instance)
        audit.record("PROCESS_STEP_RETRIED", user.id, case_id=case.id, instance_id=instance.id, bpmn_id=bpmn_id)
        failure = workflow.retry_failed(instance, user)
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise NotSaved(STALE) from None
    except Exception:
        db.session.rollback()
        raise
    if failure is None:
        return Retried(case.reference, step, None, None)
    return Retried(case.reference, step, _step_name(instance, failure.bpmn_id), failure.message)


def _allowed(user: User) -> None:
    if not policy.can_retry_failed_steps(user):
        raise Forbidden("Failed steps are seen and run again by team managers and service managers.")


def _step_name(instance: ProcessInstance, bpmn_id: str | None) -> str:
    if not bpmn_id or bpmn_id == "?":
        return "A step the engine could not name"
    return case_diagram.step_name(bundles.parsed(instance.bundle), bpmn_id)


def _failed_since(instances: list[ProcessInstance]) -> dict[int, datetime]:
    """When each instance's step last failed, from the audit trail."""
    if not instances:
        return {}
    wanted = {i.id for i in instances}
    events = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.name == "PROCESS_STEP_FAILED", AuditEvent.case_id.in_({i.case_id for i in instances}))
        .order_by(AuditEvent.id)
    )
    since = {}
    for event in events:
        instance_id = event.data.get("instance_id")
        if instance_id in wanted:
            since[instance_id] = event.at  # the latest wins
    return since
