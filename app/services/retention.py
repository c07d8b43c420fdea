"""How long each record is kept, the list of records past it for review, and deletion as a decision.

The periods (docs/retention.md):
- A contact that led to no referral, a domestic-abuse notification, an information request, a voided
  contact: six years after it closed.
- A contact with a referral accepted for a child: until the youngest such child's 25th birthday, or six
  years after closing if later (25 years after the contact when no date of birth is known).
- A LADO allegation: until the adult's normal retirement age or ten years after the allegation closed,
  whichever is longer (kept on the allegation, app/services/lado.py).
An open case is never past its time. A record past its time is reviewed by a service manager, who keeps it
for longer (with a reason and a new date) or deletes it; either is a decision on the record.

Deleting removes the case and everything recorded for it, its audit chain included; one event on the
system chain says which case's chain ended, how long it was and its last hash, so the end is accounted for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, or_, select, update

from app.config import LONDON
from app.extensions import db
from app.models import (
    AuditChain,
    AuditEvent,
    Case,
    CasePerson,
    Draft,
    Involvement,
    Person,
    PersonNamePart,
    PersonRelationship,
    Referral,
    RetentionReview,
    Task,
    TaskClock,
    User,
)
from app.models.lado import LadoAllegation
from app.models.types import utcnow
from app.services import audit, audit_chain, drafts, figures_days
from app.services.errors import NotFound, NotSaved

audit.register(
    {
        "RETENTION_KEPT": {"case_id", "review_id"},
        "CASE_DELETED_AT_RETENTION": {"deleted_case_id", "review_id", "events", "last_hash"},
    }
)

CONTACT_YEARS = 6
CHILD_RECORD_AGE = 25
NO_BIRTH_DATE_YEARS = 25
SHORTEST_REASON = 10


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return date(day.year + years, 3, 1)


@dataclass
class Due:
    case: Case
    ended_on: date
    retain_until: date
    rule: str


def retain_until(case: Case) -> tuple[date, str] | None:
    """When a case's records may go, and by which rule; None while it is open."""
    ended = case.voided_at or (case.closed_at if case.status == "closed" else None)
    if ended is None:
        return None
    ended_day = ended.astimezone(LONDON).date()
    until, rule = _years_after(ended_day, CONTACT_YEARS), f"{CONTACT_YEARS} years after it closed"
    if case.voided_at is None:
        referred = list(
            db.session.execute(
                select(Referral.id, Person.date_of_birth)
                .join(CasePerson, CasePerson.id == Referral.child_id)
                .join(Person, Person.id == CasePerson.person_id)
                .where(Referral.case_id == case.id)
            )
        )
        if referred:
            births = [born for _id, born in referred if born is not None]
            child_until = (
                _years_after(max(births), CHILD_RECORD_AGE)
                if births
                else _years_after(case.created_at.astimezone(LONDON).date(), NO_BIRTH_DATE_YEARS)
            )
            if child_until > until:
                until, rule = child_until, "until the youngest referred child is 25"
        lado = db.session.scalars(select(LadoAllegation.retain_until).where(LadoAllegation.case_id == case.id))
        for lado_until in lado:
            if lado_until is None:
                return None  # the allegation is still being managed
            if lado_until > until:
                until, rule = lado_until, "LADO: retirement age or ten years, whichever is longer"
    kept = _kept_until(case.id)
    if kept is not None and kept > until:
        until, rule = kept, "kept longer at review"
    return until, rule


def _kept_until(case_id: int) -> date | None:
    return db.session.scalar(
        select(func.max(RetentionReview.keep_until)).where(
            RetentionReview.case_id == case_id, RetentionReview.decision == "keep"
        )
    )


def due_for_review(today: date | None = None, page: int = 1, per_page: int = 50) -> tuple[list[Due], int]:
    """Closed and voided records whose time has come, the longest past first."""
    today = today or utcnow().astimezone(LONDON).date()
    # No record is due sooner than the shortest period after it ended: only those are looked at.
    last_day = _years_after(today, -CONTACT_YEARS) + timedelta(days=1)
    ended_before = datetime.combine(last_day, datetime.min.time(), tzinfo=LONDON)
    candidates = db.session.scalars(
        select(Case)
        .where(
            or_(
                Case.voided_at < ended_before,
                (Case.status == "closed") & (Case.closed_at < ended_before),
            )
        )
        .order_by(Case.id)
    )
    due = []
    for case in candidates:
        found = retain_until(case)
        if found is not None and found[0] <= today:
            ended = (case.voided_at or case.closed_at or case.created_at).astimezone(LONDON).date()
            due.append(Due(case, ended, found[0], found[1]))
    due.sort(key=lambda d: (d.retain_until, d.case.id))
    return due[(page - 1) * per_page : page * per_page], len(due)


def keep(user: User, case_id: int, until: date | None, reason: str) -> None:
    case = _due_case(case_id)
    today = utcnow().astimezone(LONDON).date()
    if until is None or until <= today:
        raise NotSaved("Enter the date to keep the record until: a date after today")
    review = _review(user, case, "keep", reason, until)
    audit.record("RETENTION_KEPT", user.id, case_id=case.id, review_id=review.id)
    db.session.commit()


def delete_case(user: User, case_id: int, reason: str, confirm_reference: str) -> None:
    """Delete a case past its time and everything recorded for it, as one decision in one transaction."""
    case = _due_case(case_id)
    if confirm_reference.strip().upper() != case.reference.upper():
        raise NotSaved(f"Type the case reference, {case.reference}, to confirm it is the record to delete")
    review = _review(user, case, "delete", reason, None)
    chain_key = audit_chain.chain_of(case.id)
    head = db.session.get(AuditChain, chain_key)
    events, last_hash = (head.seq, head.last_hash) if head else (0, "")
    people = _erase(case)
    db.session.execute(delete(AuditEvent).where(AuditEvent.case_id == case.id))
    if head is not None:
        db.session.delete(head)
    _remove_people_left_unknown(people)
    audit.record(
        "CASE_DELETED_AT_RETENTION",
        user.id,
        deleted_case_id=case_id,
        review_id=review.id,
        events=events,
        last_hash=last_hash,
    )
    db.session.commit()


def case_for_review(case_id: int) -> Due:
    case = _due_case(case_id)
    found = retain_until(case)
    assert found is not None
    ended = (case.voided_at or case.closed_at or case.created_at).astimezone(LONDON).date()
    return Due(case, ended, found[0], found[1])


def _due_case(case_id: int) -> Case:
    case = db.session.get(Case, case_id)
    if case is None:
        raise NotFound(case_id)
    found = retain_until(case)
    if found is None or found[0] > utcnow().astimezone(LONDON).date():
        raise NotSaved("This record is not past its retention time, so it is not reviewed yet")
    return case


def _review(user: User, case: Case, decision: str, reason: str, until: date | None) -> RetentionReview:
    reason = reason.strip()
    if len(reason) < SHORTEST_REASON:
        raise NotSaved(f"Give the reason for the decision, in a sentence: at least {SHORTEST_REASON} characters")
    row = RetentionReview(
        case_id=case.id,
        reference=case.reference,
        decision=decision,
        reason=reason[:2000],
        keep_until=until,
        user_id=user.id,
        at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    return row


def _erase(case: Case) -> set[int]:
    """Remove every row recorded for the case, children's tables first; returns the people it named."""
    people = set(db.session.scalars(select(CasePerson.person_id).where(CasePerson.case_id == case.id)))
    case_id = case.id
    # Drafts are kept by task: those of the case's tasks, done or not, hold its details too.
    tasks = set(db.session.scalars(select(Task.id).where(Task.case_id == case_id)))
    tasks |= set(db.session.scalars(select(TaskClock.task_id).where(TaskClock.case_id == case_id)))
    tasks |= {t for t in db.session.scalars(select(AuditEvent.task_id).where(AuditEvent.case_id == case_id)) if t}
    if tasks:
        db.session.execute(delete(Draft).where(Draft.task_id.in_(tasks)))
    # A draft re-opening the case is filled from it.
    db.session.execute(delete(Draft).where(Draft.key == drafts.contact_key(case_id)))
    db.session.execute(update(Case).where(Case.reopened_from_id == case_id).values(reopened_from_id=None))
    figures_days.case_removed(case_id)  # the rows go by SQL, unseen by the figures' notes of changed days
    db.session.expunge_all()  # the rows go by SQL below; nothing stale may be flushed back afterwards
    for table in reversed(db.metadata.sorted_tables):
        if table.name == "case_record" or "case_id" not in table.c:
            continue
        if not any(fk.column.table.name == "case_record" for fk in table.c.case_id.foreign_keys):
            continue
        db.session.execute(table.delete().where(table.c.case_id == case_id))
    db.session.execute(delete(Case).where(Case.id == case_id))
    return people


def _remove_people_left_unknown(people: set[int]) -> None:
    """A person the deleted case alone knew goes too; one known from another record stays."""
    for person_id in people:
        still = db.session.scalar(
            select(func.count()).select_from(CasePerson).where(CasePerson.person_id == person_id)
        ) or db.session.scalar(select(func.count()).select_from(Involvement).where(Involvement.person_id == person_id))
        related = db.session.scalar(
            select(func.count())
            .select_from(PersonRelationship)
            .where((PersonRelationship.person_id == person_id) | (PersonRelationship.child_id == person_id))
        )
        merged = db.session.scalar(select(func.count()).select_from(Person).where(Person.merged_into_id == person_id))
        if still or related or merged:
            continue
        db.session.execute(delete(PersonNamePart).where(PersonNamePart.person_id == person_id))
        db.session.execute(delete(Person).where(Person.id == person_id))


def reviews(page: int = 1, per_page: int = 50) -> list[RetentionReview]:
    return list(
        db.session.scalars(
            select(RetentionReview).order_by(RetentionReview.id.desc()).limit(per_page).offset((page - 1) * per_page)
        )
    )


def parse_day(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None
