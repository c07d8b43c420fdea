"""Matching the people named in a contact to the people already known."""

import re
import unicodedata
from datetime import date
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import Case, CasePerson, Person


def name_key(name: str) -> str:
    """A name reduced for matching: no accents, case, punctuation or extra spaces."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^a-z ]", " ", plain.lower()).split())


def parse_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if not value:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def find_or_create_child(name: str, date_of_birth: str | None) -> Person:
    """An existing person with the same name and date of birth, or a new one."""
    key, dob = name_key(name), parse_date(date_of_birth)
    if dob is not None:
        found = db.session.scalar(select(Person).where(Person.name_key == key, Person.date_of_birth == dob))
        if found is not None:
            return found
    person = Person(name=name.strip(), name_key=key, date_of_birth=dob)
    db.session.add(person)
    return person


def new_person(name: str) -> Person:
    person = Person(name=name.strip(), name_key=name_key(name))
    db.session.add(person)
    return person


def earlier_contacts(name: str, date_of_birth: str | None) -> list[dict[str, Any]]:
    """Every contact about a child with this name (and date of birth, when known), oldest first."""
    query = (
        select(CasePerson, Case)
        .join(Person, CasePerson.person_id == Person.id)
        .join(Case, CasePerson.case_id == Case.id)
        .where(Person.name_key == name_key(name), CasePerson.role == "child")
        .order_by(Case.created_at)
    )
    dob = parse_date(date_of_birth)
    if dob is not None:
        query = query.where(Person.date_of_birth == dob)
    return [
        {
            "case_id": case.id,
            "case_reference": case.reference,
            "created_at": case.created_at.isoformat(),
            "outcome": cp.outcome,
            "handover": cp.handover,
        }
        for cp, case in db.session.execute(query)
    ]
