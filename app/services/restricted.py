"""Restricted records and "break glass": a case a manager has restricted (a member of staff's own family,
say) is kept out of search and trays, and anyone who opens it gives a reason first. The reason is kept,
the opening is audited, and managers see every opening on one list.

An opening lasts for the working day (policy.OPENING_HOURS): someone who gave a reason at nine is not asked
again at every page until the evening, and is asked again the next day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select

from app import policy
from app.extensions import db
from app.models import AuditEvent, Case, CaseAccessReason, ProcessInstance, Task, TaskClock, User, UserRole
from app.models.types import utcnow
from app.services import audit
from app.services.errors import Forbidden, NotFound

SHORTEST_REASON = 10  # characters: "checking" is not a reason; "asked by the SSW to review the MARF" is

audit.register(
    {
        "CASE_RESTRICTED": {"case_id", "reason_id"},
        "CASE_RESTRICTION_LIFTED": {"case_id", "reason_id"},
        "RESTRICTED_CASE_OPENED": {"case_id", "reason_id"},
        "CASE_ACCESS_LOG_VIEWED": {"case_id"},
    }
)


class ReasonRefused(ValueError):
    """The reason given is missing or too short; the message says so in plain words."""


def open_with_reason(user: User, case_id: int, reason: str) -> None:
    case = _case(case_id)
    # Checked first: whether a record is restricted is itself need-to-know.
    if not policy.may_open_restricted(user, case):
        raise Forbidden("You do not have access to this case.")
    if not case.restricted:
        return
    row = _reason(user, case, "opened", reason, "Give the reason you need to open this record")
    audit.record("RESTRICTED_CASE_OPENED", user.id, case_id=case.id, reason_id=row.id)
    db.session.commit()


def restrict(user: User, case_id: int, reason: str) -> None:
    case = _case(case_id)
    if not policy.can_restrict_case(user):
        raise Forbidden("Only team managers and service managers restrict a record.")
    if case.restricted:
        return
    row = _reason(user, case, "restricted", reason, "Give the reason this record is restricted")
    case.restricted = True
    audit.record("CASE_RESTRICTED", user.id, case_id=case.id, reason_id=row.id)
    db.session.commit()


def lift(user: User, case_id: int, reason: str) -> None:
    case = _case(case_id)
    if not policy.can_restrict_case(user):
        raise Forbidden("Only team managers and service managers lift a restriction.")
    if not case.restricted:
        return
    row = _reason(user, case, "lifted", reason, "Give the reason the restriction is lifted")
    case.restricted = False
    audit.record("CASE_RESTRICTION_LIFTED", user.id, case_id=case.id, reason_id=row.id)
    db.session.commit()


def _case(case_id: int) -> Case:
    case = db.session.get(Case, case_id)
    if case is None:
        raise NotFound(case_id)
    return case


def _reason(user: User, case: Case, kind: str, reason: str, missing: str) -> CaseAccessReason:
    reason = reason.strip()
    if not reason:
        raise ReasonRefused(missing)
    if len(reason) < SHORTEST_REASON:
        raise ReasonRefused(f"{missing}, in a sentence: at least {SHORTEST_REASON} characters")
    row = CaseAccessReason(case_id=case.id, user_id=user.id, kind=kind, reason=reason[:2000], at=utcnow())
    db.session.add(row)
    db.session.flush()
    return row


@dataclass
class Opening:
    at: datetime
    case: Case
    user: User
    reason: str


def openings(page: int = 1, per_page: int = 50) -> tuple[list[Opening], int]:
    """Every opening of a restricted record, newest first, for the managers who answer for them."""
    query = (
        select(CaseAccessReason, Case, User)
        .join(Case, Case.id == CaseAccessReason.case_id)
        .join(User, User.id == CaseAccessReason.user_id)
        .where(CaseAccessReason.kind == "opened")
    )
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.session.execute(
        query.order_by(CaseAccessReason.at.desc(), CaseAccessReason.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return [Opening(r.at, case, who, r.reason) for r, case, who in rows], total


def restricted_cases() -> list[Case]:
    return list(db.session.scalars(select(Case).where(Case.restricted.is_(True)).order_by(Case.id.desc())))


# What each kind of event in a case's access log means, in words for the managers who read it.
LOG_WORDS = {
    "CASE_VIEWED": "Looked at the case",
    "TASK_VIEWED": "Opened a task of the case",
    "LETTER_DOWNLOADED": "Downloaded a letter",
    "LETTER_VIEWED": "Read a letter",
    "LADO_ALLEGATION_VIEWED": "Looked at the LADO allegation",
    "STRATEGY_DISCUSSION_VIEWED": "Looked at the strategy discussion",
    "INFORMATION_SHARED": "Shared information",
    "LETTER_POSTED": "Marked a letter posted",
    "RESTRICTED_CASE_OPENED": "Opened the restricted record",
    "CASE_RESTRICTED": "Restricted the record",
    "CASE_RESTRICTION_LIFTED": "Lifted the restriction",
    "CASE_ACCESS_LOG_VIEWED": "Read this access log",
    "CASE_CREATED": "Recorded the contact",
    "TASK_COMPLETED": "Completed a task",
    "CASE_VOIDED": "Voided the contact",
    "CASE_REOPENED": "Re-opened the contact",
    "CASE_INFORMATION_ADDED": "Added information",
}


@dataclass
class LogEntry:
    at: datetime
    who: str
    roles: list[str]
    what: str
    reason: str | None


def _lado_tasks(case_id: int) -> list[str]:
    """The ids of the tasks of the case's LADO episodes: open, clocked or done."""
    instances = set(
        db.session.scalars(
            select(ProcessInstance.id).where(ProcessInstance.case_id == case_id, ProcessInstance.flow == "lado")
        )
    )
    if not instances:
        return [""]
    found = set(db.session.scalars(select(TaskClock.task_id).where(TaskClock.instance_id.in_(instances))))
    found |= set(db.session.scalars(select(Task.id).where(Task.instance_id.in_(instances))))
    for event in db.session.scalars(
        select(AuditEvent).where(AuditEvent.case_id == case_id, AuditEvent.name == "TASK_COMPLETED")
    ):
        if (event.data or {}).get("instance_id") in instances and event.task_id:
            found.add(event.task_id)
    return sorted(found) or [""]


def access_log(user: User, case_id: int, page: int = 1, per_page: int = 100) -> tuple[Case, list[LogEntry], int]:
    """Who looked at a case and what they did, newest first, with the reason where one was asked.
    Reading the log is itself recorded."""
    case = _case(case_id)
    if not policy.can_see_access_log(user):
        raise Forbidden("Only team managers and service managers read a case's access log.")
    audit.record("CASE_ACCESS_LOG_VIEWED", user.id, case_id=case.id)
    db.session.commit()
    query = select(AuditEvent).where(AuditEvent.case_id == case.id, AuditEvent.user_id.is_not(None))
    if not policy.can_see_lado(user):
        # The LADO's work on an adult is need-to-know even in the log: its events and tasks are left out.
        # Even that the LADO acted on the case says an allegation exists: their entries are left out too.
        query = query.where(
            AuditEvent.name.not_like("LADO%"),
            or_(AuditEvent.task_id.is_(None), AuditEvent.task_id.not_in(_lado_tasks(case.id))),
            AuditEvent.user_id.not_in(select(UserRole.user_id).where(UserRole.role == "lado")),
        )
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    events = list(
        db.session.scalars(query.order_by(AuditEvent.id.desc()).limit(per_page).offset((page - 1) * per_page))
    )
    people = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_({e.user_id for e in events})))}
    reason_ids = [e.data["reason_id"] for e in events if "reason_id" in (e.data or {})]
    reasons = dict(
        db.session.execute(
            select(CaseAccessReason.id, CaseAccessReason.reason).where(CaseAccessReason.id.in_(reason_ids))
        ).all()
    )
    entries = []
    for event in events:
        who = people.get(event.user_id or 0)
        entries.append(
            LogEntry(
                at=event.at,
                who=who.name if who else "",
                roles=sorted(who.roles) if who else [],
                what=LOG_WORDS.get(event.name, event.name.replace("_", " ").capitalize()),
                reason=reasons.get(int((event.data or {}).get("reason_id") or 0)),
            )
        )
    return case, entries, total
