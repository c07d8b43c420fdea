"""Hand-overs between flows: one flow's episode ends by handing the case (or one child) to another flow,
which starts as its own process instance on the same case (DESIGN.md rule 3), on that flow's live version,
with the data it needs. The case keeps one timeline across them all.

A hand-over row is written by the step that hands over; the instance it starts is begun in the same
transaction, so a hand-over is never lost between two flows. A hand-over to a flow with no live version
waits on the case, visible, until one is deployed (`start_waiting` picks it up then).
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import Case, CasePerson, Handover, LiveBundle, ProcessInstance, User
from app.services import audit


def start_waiting(case: Case, user_id: int | None) -> list[ProcessInstance]:
    """Start an instance for each hand-over of the case still waiting, inside the caller's transaction."""
    from app.services import workflow

    started = []
    for row in list(case.handovers):
        # Looked at afresh for each row: starting one flow runs its first steps, which may start the others.
        if row.status != "waiting":
            continue
        live = db.session.get(LiveBundle, row.flow)
        if live is None:
            continue  # no such flow deployed yet: the hand-over waits on the case
        # Marked first: the flow it starts may hand over again, and must not start this one twice.
        row.status = "started"
        user = db.session.get(User, user_id) if user_id else None
        instance = workflow.start_instance(case, live.bundle, user, data=start_data(case, row))
        row.instance_id = instance.id
        audit.record("HANDOVER_STARTED", user_id, case_id=case.id, handover_id=row.id, instance_id=instance.id)
        current_app.logger.info("case %s: %s started from hand-over %s", case.id, row.flow, row.id)
        started.append(instance)
    return started


def start_data(case: Case, row: Handover) -> dict[str, Any]:
    """What a flow started by a hand-over begins with: the case as the hub knows it, the child handed over
    (or every child, when the whole case is), its parents and carers, and why. Nothing more: a flow asks the
    case for more through its handlers' queries, so nothing needless is copied into a workflow's saved state."""
    children = [_child(c) for c in case.children if row.child_id is None or c.id == row.child_id]
    return {
        "handover": {"flow": row.flow, "reason": row.reason, "from_flow": _from_flow(row)},
        "case": {
            "reference": case.reference,
            "concern": case.concern,
            "source": case.source,
            "request_type": case.request_type,
            "immediate_protection": case.immediate_protection,
            "consent": case.consent,
        },
        "children": children,
        "child": children[0] if row.child_id is not None and children else None,
        # Who may be asked for consent and written to (parental responsibility, a safe address).
        "parents": [{"key": p.key, "name": p.person.name, **p.details} for p in case.people if p.role == "parent"],
    }


def _child(child: CasePerson) -> dict[str, Any]:
    dob = child.person.date_of_birth
    return {
        "key": child.key,
        "name": child.person.name,
        "date_of_birth": dob.isoformat() if dob else None,
        "threshold": child.threshold,
    }


def _from_flow(row: Handover) -> str | None:
    instance = db.session.get(ProcessInstance, row.from_instance_id) if row.from_instance_id else None
    return instance.flow if instance else None


def mark_source(case: Case, instance: ProcessInstance) -> None:
    """Note which flow episode made the case's new hand-overs (the step that wrote them ran in it)."""
    for row in case.handovers:
        if row.from_instance_id is None and row.status == "waiting":
            row.from_instance_id = instance.id


def flows_of(case_id: int) -> list[ProcessInstance]:
    """Every flow episode of a case, in the order they began."""
    return list(
        db.session.scalars(
            select(ProcessInstance).where(ProcessInstance.case_id == case_id).order_by(ProcessInstance.id)
        )
    )


def start_all_waiting(flow: str) -> int:
    """Start every hand-over to `flow` still waiting on any case (a new flow has just been made live)."""
    case_ids = db.session.scalars(
        select(Handover.case_id).where(Handover.flow == flow, Handover.status == "waiting").distinct()
    ).all()
    count = 0
    for case_id in case_ids:
        case = db.session.get(Case, case_id)
        if case is not None and case.status == "open":
            count += len(start_waiting(case, None))
    return count
