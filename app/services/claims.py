"""Who holds a ready task: claiming, releasing and (team managers) reassigning, each audited.

A claim lives on the task mirror row only (DESIGN.md rule 2), so nothing here restores a workflow. Each change
is one conditional UPDATE that names the holder it expects to replace: two people claiming the same task on two
connections cannot both win, because the second UPDATE finds the row no longer unassigned and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from app import policy
from app.extensions import db
from app.models import Task, Team, User, UserRole
from app.models.types import utcnow
from app.services import audit
from app.services.errors import Forbidden, ServiceError
from app.services.workflow import conflict_for

LONDON = ZoneInfo("Europe/London")


@dataclass
class ClaimConflict(ServiceError):
    """The task is not held the way the person saw it: someone else claimed it first, or it was released."""

    holder: str | None
    claimed_at: datetime | None
    found_at: datetime = field(default_factory=utcnow)  # "at 10:05" needs no date when that was today

    def __str__(self) -> str:
        if self.holder is None:
            return "Nobody has this task now: it was given back to the team."
        if self.claimed_at is None:
            return f"Claimed by {self.holder}."  # named in the diagram, so given rather than claimed at a moment
        local, today = self.claimed_at.astimezone(LONDON), self.found_at.astimezone(LONDON).date()
        when = f"{local:%H:%M}" if local.date() == today else f"{local:%H:%M} on {local:%-d %B %Y}"
        return f"Claimed by {self.holder} at {when}."


@dataclass
class NotEligible(ServiceError):
    """The person chosen to take a task cannot act on it."""

    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class ClaimView:
    """What the task page says about who holds a task, and which buttons it offers this user."""

    holder: str | None
    claimed_at: datetime | None
    mine: bool
    may_claim: bool
    may_release: bool
    may_reassign: bool


def view_for(user: User, task: Task) -> ClaimView:
    holder = db.session.get(User, task.assignee_id) if task.assignee_id else None
    return ClaimView(
        holder=holder.name if holder else None,
        claimed_at=task.claimed_at,
        mine=holder is not None and holder.id == user.id,
        may_claim=policy.can_claim(user, task),
        may_release=policy.can_release(user, task),
        may_reassign=policy.can_reassign(user, task),
    )


def claim(user: User, task_id: str) -> str:
    """Take an unassigned task; someone who claimed it a moment earlier wins, and the loser is told who.
    Returns what the task is, in words, for the confirmation."""
    row = _load(task_id)
    if row.assignee_id == user.id:
        return label(row)  # a second press of the button changes nothing
    if row.assignee_id is not None and _could_claim(user, row):
        raise _held(row)  # a colleague has it: say who, rather than that they may not
    if not policy.can_claim(user, row):
        raise Forbidden("This task is not one you can claim.")
    _change(row, expected=None, to=user.id, at=utcnow())
    audit.record("TASK_CLAIMED", user.id, case_id=row.case_id, task_id=row.id)
    return _commit(row)


def release(user: User, task_id: str) -> str:
    """Give a task back to its team: by the person holding it, or by their team manager."""
    row = _load(task_id)
    if row.assignee_id is None and (_could_claim(user, row) or policy.can_reassign(user, row)):
        raise ClaimConflict(None, None)  # released already (by them in another tab, or their manager)
    if not policy.can_release(user, row):
        raise Forbidden("Only the person who has this task, or their team manager, can give it back.")
    _change(row, expected=row.assignee_id, to=None, at=None)
    audit.record("TASK_RELEASED", user.id, case_id=row.case_id, task_id=row.id)
    return _commit(row)


def reassign(user: User, task_id: str, to_user_id: int) -> str:
    """A team manager gives a task to someone in the team who holds the task's role."""
    row = _load(task_id)
    if not policy.can_reassign(user, row):
        raise Forbidden("Only a team manager of this task's team can reassign it.")
    if to_user_id not in {u.id for u in eligible_assignees(row)}:
        raise NotEligible("Choose someone in the team who holds the role this task needs.")
    if row.assignee_id == to_user_id:
        return label(row)
    _change(row, expected=row.assignee_id, to=to_user_id, at=utcnow())
    audit.record("TASK_REASSIGNED", user.id, case_id=row.case_id, task_id=row.id, to_user_id=to_user_id)
    return _commit(row)


def eligible_assignees(task: Task) -> list[User]:
    """Active people in the task's team who hold its lane's role: those who could complete it."""
    if task.team is None:
        return []
    return list(
        db.session.scalars(
            select(User)
            .join(Team, Team.id == User.team_id)
            .join(UserRole, UserRole.user_id == User.id)
            .where(Team.key == task.team, UserRole.role == task.lane, User.active.is_(True))
            .order_by(User.name, User.id)
        )
    )


def for_reassignment(user: User, task_id: str) -> tuple[Task, ClaimView, list[User]]:
    """A task a team manager may reassign, who holds it now, and whom it could go to."""
    row = _load(task_id)
    if not policy.can_reassign(user, row):
        raise Forbidden("Only a team manager of this task's team can reassign it.")
    return row, view_for(user, row), eligible_assignees(row)


def refusal(user: User, task_id: str, default: str) -> str:
    """Why a user may not open a task: who has it, when a colleague does; otherwise the plain refusal."""
    row = db.session.get(Task, task_id)
    if row is not None and row.assignee_id is not None and row.assignee_id != user.id and _could_claim(user, row):
        return f"{_held(row)} Ask them, or your team manager, if you need to work on it."
    return default


def label(row: Task) -> str:
    subject = policy.name_shown(row.case, row.subject)
    return f"{row.name}: {subject}" if subject else row.name


def _commit(row: Task) -> str:
    # Read before the commit expires the row, so a task completed a moment later cannot turn success into an error.
    words = label(row)
    db.session.commit()
    return words


def _load(task_id: str) -> Task:
    row = db.session.get(Task, task_id)
    if row is None:
        # Completed meanwhile: say by whom, as completing it late would (rule 1); otherwise it never was.
        raise conflict_for(task_id)
    return row


def _change(row: Task, expected: int | None, to: int | None, at: datetime | None) -> None:
    """Set the holder only if it is still the one this request saw; otherwise nothing changes and the person
    is told who has the task now."""
    still = Task.assignee_id.is_(None) if expected is None else Task.assignee_id == expected
    result = db.session.execute(
        update(Task)
        .where(Task.id == row.id, still)
        .values(assignee_id=to, claimed_at=at)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()  # also forgets the row as this request saw it, so the next read is current
        current = db.session.get(Task, row.id)
        if current is None:
            raise conflict_for(row.id)
        raise _held(current)


def _could_claim(user: User, row: Task) -> bool:
    """Whether the user could claim the task were it free: only then may they learn who has it."""
    return row.lane in user.roles and (row.team is None or row.team == user.team_key)


def _held(row: Task) -> ClaimConflict:
    holder = db.session.get(User, row.assignee_id) if row.assignee_id else None
    return ClaimConflict(holder.name if holder else None, row.claimed_at if holder else None)
