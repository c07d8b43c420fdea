"""A person's record beyond one contact: how the adults around a child stand to them, records that may be
the same child twice, and merging two records into one (DOMAIN.md "A child already known")."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update

from app import policy
from app.extensions import db
from app.models import Case, CasePerson, Involvement, Person, PersonRelationship, Referral, User
from app.models.involvement import PersonNamePart
from app.services import audit, people, timeline
from app.services.errors import Forbidden, NotFound, NotSaved

# A candidate this alike is worth a practitioner's look; below it, too many different children would be shown.
DUPLICATE_SCORE = 60


def relationships(person_id: int) -> list[PersonRelationship]:
    """Everyone recorded as standing to this person, or this person to them, newest first; what a restricted
    record says of them is left out, as the record is (restricted.py)."""
    return list(
        db.session.scalars(
            select(PersonRelationship)
            .outerjoin(Case, Case.id == PersonRelationship.case_id)
            .where(or_(PersonRelationship.person_id == person_id, PersonRelationship.child_id == person_id))
            .where(or_(Case.id.is_(None), Case.restricted.is_(False)))
            .order_by(PersonRelationship.created_at.desc(), PersonRelationship.id.desc())
        )
    )


def possible_duplicates(person: Person) -> list[people.Candidate]:
    """Other children's records that look like this one: offered side by side, never merged by themselves."""
    found = people.match_children(person.name, person.date_of_birth, person.postcode, limit=6)
    return [c for c in found if c.person.id != person.id and c.score >= DUPLICATE_SCORE]


@dataclass
class Comparison:
    keep: people.PersonHistory
    other: people.PersonHistory
    reasons: list[str]


def compare(keep_id: int, other_id: int) -> Comparison:
    keep, other = people.person_history(keep_id), people.person_history(other_id)
    if keep is None or other is None or keep_id == other_id:
        raise NotFound(other_id)
    if keep.person.merged_into_id or other.person.merged_into_id:
        raise NotSaved("One of these records has already been merged into another.")
    match = next((c for c in possible_duplicates(keep.person) if c.person.id == other_id), None)
    return Comparison(keep, other, match.reasons if match else [])


def merge(user: User, keep_id: int, other_id: int) -> Person:
    """Make `other` part of `keep`: every contact, referral, involvement and relationship moves across, and
    `other` stays on record as merged into `keep`. Both histories survive; nothing is deleted but the old
    record's search index."""
    if not policy.can_merge_people(user):
        raise Forbidden("Only senior social workers and managers merge people's records.")
    keep, other = db.session.get(Person, keep_id), db.session.get(Person, other_id)
    if keep is None or other is None or keep_id == other_id:
        raise NotFound(other_id)
    if keep.merged_into_id or other.merged_into_id:
        raise NotSaved("One of these records has already been merged into another.")
    try:
        cases = list(db.session.scalars(select(CasePerson.case_id).where(CasePerson.person_id == other_id)))
        for model, column in [
            (CasePerson, CasePerson.person_id),
            (Referral, Referral.person_id),
            (Involvement, Involvement.person_id),
            (PersonRelationship, PersonRelationship.person_id),
            (PersonRelationship, PersonRelationship.child_id),
        ]:
            db.session.execute(update(model).where(column == other_id).values({column.key: keep_id}))
        db.session.execute(delete(PersonNamePart).where(PersonNamePart.person_id == other_id))
        other.merged_into_id = keep_id
        if keep.date_of_birth is None:
            keep.date_of_birth = other.date_of_birth
        if not keep.postcode:
            keep.postcode, keep.address = other.postcode, other.address
        audit.record("PERSON_MERGED", user.id, person_id=keep_id, merged_person_id=other_id)
        for case_id in sorted(set(cases)):
            timeline.add(case_id, user.id, f"Records merged: {other.name} is the same person as {keep.name}")
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    db.session.expire_all()
    found = db.session.get(Person, keep_id)
    assert found is not None
    return found


def cases_of(person_id: int) -> list[Case]:
    return list(
        db.session.scalars(
            select(Case).join(CasePerson, CasePerson.case_id == Case.id).where(CasePerson.person_id == person_id)
        )
    )
