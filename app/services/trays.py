"""Work trays, read from the task mirror only: never a deserialized workflow."""

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select

from app import policy
from app.extensions import db
from app.models import Case, CaseEvent, CasePerson, Task, User
from app.services import involvement, people


def my_tasks(user: User) -> list[Task]:
    """Tasks the user may pick up: in their lanes and team, unassigned or assigned to them."""
    return list(db.session.scalars(select(Task).where(policy.task_filter_for(user)).order_by(Task.created_at)))


def team_tasks(user: User) -> list[Task]:
    """Everything waiting on the user's team, whoever it is assigned to."""
    return list(db.session.scalars(select(Task).where(Task.team == user.team_key).order_by(Task.created_at)))


def counts(user: User) -> dict[str, int]:
    mine = db.session.scalar(select(func.count()).select_from(Task).where(policy.task_filter_for(user))) or 0
    team = db.session.scalar(select(func.count()).select_from(Task).where(Task.team == user.team_key)) or 0
    return {"mine": mine, "team": team}


@dataclass
class CaseContext:
    case: Case
    children: list[CasePerson]
    earlier: dict[str, list[dict[str, Any]]]
    involvement: dict[str, list[Any]]  # each child's open involvement from the main record system
    last_referral: dict[str, date | None]  # each child's last referral within twelve months
    recent: list[CaseEvent]  # what this contact has recorded lately: questions asked, answers received


def case_context(case_id: int) -> CaseContext:
    """What a practitioner needs beside a task's form: the children and what is already known of them."""
    case = db.session.get(Case, case_id)
    assert case is not None
    earlier, open_now, last = {}, {}, {}
    for child in case.children:
        dob = child.person.date_of_birth.isoformat() if child.person.date_of_birth else None
        earlier[child.key] = [c for c in people.earlier_contacts(child.person.name, dob) if c["case_id"] != case.id]
        open_now[child.key] = involvement.open_involvement(child.person_id)
        last[child.key] = involvement.previous_referral_within(child.person_id, case.created_at)
    return CaseContext(
        case=case,
        children=case.children,
        earlier=earlier,
        involvement=open_now,
        last_referral=last,
        recent=list(case.events)[-RECENT_EVENTS:][::-1],
    )


RECENT_EVENTS = 5
