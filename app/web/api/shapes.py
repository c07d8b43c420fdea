"""The JSON shapes of cases and tasks, built from what the caller may see."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from app import policy
from app.extensions import db
from app.models import CaseEvent, CasePerson, Task, User
from app.schemaforms.model import object_fields, walk
from app.services.case_view import CaseView


def moment(value: datetime | date | None) -> str | None:
    return value.isoformat() if value else None


def case(view: CaseView, user: User) -> dict[str, Any]:
    hub = bool(user.roles & policy.HUB_ROLES)
    c = view.case
    body: dict[str, Any] = {
        "id": c.id,
        "reference": c.reference,
        "flow": view.instances[0].flow if view.instances else None,
        "status": c.status,
        "source": c.source,
        "created_at": moment(c.created_at),
        "closed_at": moment(c.closed_at),
        "concern": c.concern,
        "immediate_protection": c.immediate_protection,
        "consent": c.consent,
        "outcome": {child.key: child.outcome for child in view.children},
        "children": [_child(child) for child in view.children],
        "tasks": [task(t) for t in view.tasks],
        # The answers each step recorded name the referrer and how to reach them: partners see only what
        # happened and when, the hub sees the answers too.
        "events": [_event(e, with_detail=hub) for e in view.events],
    }
    if hub:
        # The referrer's identity is confidential; the hub may know who referred, never through a partner.
        r = view.referrer
        body["referrer"] = (
            {"name": r.person.name, "role": r.details.get("role"), "agency": r.details.get("agency")} if r else None
        )
    return body


def _child(child: CasePerson) -> dict[str, Any]:
    return {
        "key": child.key,
        "name": child.person.name,
        "date_of_birth": moment(child.person.date_of_birth),
        "threshold": child.threshold,
        "outcome": child.outcome,
        "handover": child.handover,
        "decided_at": moment(child.decided_at),
    }


def _event(event: CaseEvent, with_detail: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "at": moment(event.at),
        "title": event.title,
        "by": event.user.name if event.user else None,
    }
    if with_detail:
        body["detail"] = [{"label": row[0], "value": row[1]} for row in event.detail if len(row) == 2]
        body["note"] = event.note
    return body


def task(row: Task) -> dict[str, Any]:
    assignee = db.session.get(User, row.assignee_id) if row.assignee_id else None
    return {
        "id": row.id,
        "name": row.bpmn_id,
        "title": row.name,
        # A restricted record's names stay out of trays, the API's included.
        "subject": policy.name_shown(row.case, row.subject) or None,
        "flow": row.flow,
        "case_id": row.case_id,
        "case_reference": row.case.reference if row.case else None,
        "lane": row.lane,
        "team": row.team,
        "assignee": assignee.username if assignee else None,
        "due_at": moment(row.due_at),
        "created_at": moment(row.created_at),
    }


def form_data(schema: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Only the answers the task's form asks for: the workflow data holds the whole contact, referrer and
    all, which is no business of someone asked a single question."""
    asked = {f.name for f in walk(object_fields(schema))}
    return {name: value for name, value in data.items() if name in asked}
