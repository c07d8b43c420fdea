"""Whole-case actions outside the diagrams: voiding a contact recorded in error, and re-opening a closed one.

A voided contact is kept for the record but stops where it stands (its flows cancelled, its tasks gone from
every tray, its referrals out of every figure). Re-opening never revives a finished flow: it starts a new
contact linked to the old, from the old contact's answers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from app import policy
from app.engine import runtime
from app.extensions import db
from app.models import Case, ProcessInstance, Task, User
from app.models.types import utcnow
from app.services import audit, bundles, clocks, timeline
from app.services.errors import Forbidden, NotFound, NotSaved

VOID_REASON_MIN = 10


def _case(user: User, case_id: int) -> Case:
    case = db.session.get(Case, case_id)
    if case is None:
        raise NotFound(case_id)
    if not policy.can_see_case(user, case):
        raise Forbidden("You do not have access to this case.")
    return case


def void(user: User, case_id: int, reason: str) -> Case:
    """Mark a contact as recorded in error, with the reason; its running flows stop and its tasks go."""
    case = _case(user, case_id)
    if not policy.can_void_case(user):
        raise Forbidden("Only senior social workers and managers void a contact.")
    if case.voided_at is not None:
        raise NotSaved("This contact was already voided.")
    reason = reason.strip()
    if len(reason) < VOID_REASON_MIN:
        raise ValueError(f"Say why the contact was recorded in error, in at least {VOID_REASON_MIN} characters")
    try:
        for instance in db.session.scalars(
            select(ProcessInstance).where(ProcessInstance.case_id == case.id, ProcessInstance.status != "completed")
        ):
            bundle = bundles.parsed(instance.bundle)
            workflow = runtime.restore(instance.state, bundle, caller=None)
            runtime.cancel(workflow)
            instance.state, instance.tree_depth = runtime.save(workflow, max_depth=10**6)
            instance.status = "cancelled"
            instance.next_wake_at = None
            instance.updated_at = utcnow()
        db.session.flush()  # the instance's version first: a step completing at the same moment conflicts
        db.session.execute(Task.__table__.delete().where(Task.case_id == case.id))
        clocks.stop_all(case.id)  # a contact recorded in error runs no clock and misses none
        case.status = "voided"
        case.voided_at = utcnow()
        case.voided_by_id = user.id
        case.void_reason = reason
        audit.record("CASE_VOIDED", user.id, case_id=case.id)
        timeline.add(case.id, user.id, "Contact voided: recorded in error", [["Why", reason]])
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise NotSaved("Someone moved this case on while you were voiding it. Check the case and try again.") from None
    except Exception:
        db.session.rollback()
        raise
    return case


def reopen_data(user: User, case_id: int) -> tuple[Case, dict[str, Any]]:
    """A closed contact and the answers it was recorded with, to start a new linked contact from."""
    case = _case(user, case_id)
    if not policy.can_record_contact(user):
        raise Forbidden("Only call handlers, coordinators and senior social workers record contacts.")
    if case.status != "closed":
        raise NotSaved("Only a closed contact can be re-opened; add to an open one instead.")
    first = db.session.scalar(
        select(ProcessInstance).where(ProcessInstance.case_id == case.id).order_by(ProcessInstance.id)
    )
    data: dict[str, Any] = {}
    if first is not None:
        workflow = runtime.restore(first.state, bundles.parsed(first.bundle), caller=None)
        data = runtime.completed_data(workflow, "record_contact") or {}
    # What has changed since is asked again: the concern and consent are this new contact's own.
    for fresh in ("concern", "consent", "consent_detail", "immediate_protection"):
        data.pop(fresh, None)
    return case, data
