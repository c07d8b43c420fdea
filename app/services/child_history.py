"""What is already known of a child at intake, for the flow's data (§4.7, §4.15)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import CasePerson
from app.models.types import utcnow
from app.services import people


def known_child(case_id: int, key: str) -> dict[str, Any]:
    """What is known of one child of a case, for the flow's data: earlier contacts, an open case with its
    allocated worker, open targeted early help, and the last referral within twelve months."""
    from app.services import involvement

    row = db.session.scalar(select(CasePerson).where(CasePerson.case_id == case_id, CasePerson.key == key))
    if row is None:
        return {}
    person = row.person
    dob = person.date_of_birth.isoformat() if person.date_of_birth else None
    earlier = [c for c in people.earlier_contacts(person.name, dob) if c["case_id"] != case_id]
    open_case = early_help = None
    for item in involvement.open_involvement(person.id):
        summary = {"worker": item.allocated_worker_username, "worker_name": item.worker_name, "team": item.team}
        if item.kind == "social_care" and open_case is None:
            open_case = summary
        elif item.kind == "targeted_early_help" and early_help is None:
            early_help = summary
    previous = involvement.previous_referral_within(person.id, utcnow().date())
    return {
        "person_id": person.id,
        "history": earlier,
        "open_case": open_case,
        "targeted_early_help": early_help,
        "previous_referral_on": previous.isoformat() if previous else None,
    }
