"""A second call about the same incident: added to the open contact, not made a new one (DOMAIN.md, "A child
already known")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from app.extensions import db
from app.models import Case, User
from app.services import audit, timeline
from app.services.errors import Forbidden, NotFound, NotSaved

TITLE = "Further information added"
AUDIT_EVENT = "CASE_INFORMATION_ADDED"
FIELDS = ("caller_name", "caller_role", "phone", "information")
LENGTHS = {"caller_name": 200, "caller_role": 200, "phone": 30, "information": 10000}
PHONE = re.compile(r"^\+?[0-9 ()-]{7,30}$")


@dataclass
class FieldError:
    field: str
    text: str

    @property
    def href(self) -> str:
        return f"#{self.field}"


def check(form: dict[str, Any]) -> tuple[dict[str, str], list[FieldError]]:
    """The answers, tidied, and what is wrong with them, in the order the form asks."""
    answers = {name: str(form.get(name) or "").strip() for name in FIELDS}
    errors: list[FieldError] = []
    if not answers["caller_name"]:
        errors.append(FieldError("caller_name", "Enter who called"))
    if answers["phone"] and not PHONE.match(answers["phone"]):
        errors.append(FieldError("phone", "Enter a phone number, like 01743 123456 or +44 7700 900123"))
    if not answers["information"]:
        errors.append(FieldError("information", "Enter what they said"))
    for name, longest in LENGTHS.items():
        if len(answers[name]) > longest and not any(e.field == name for e in errors):
            errors.append(FieldError(name, f"Must be {longest} characters or fewer"))
    errors.sort(key=lambda e: FIELDS.index(e.field))
    return answers, errors


class InvalidAnswers(Exception):
    def __init__(self, answers: dict[str, str], errors: list[FieldError]):
        super().__init__("the answers need correcting")
        self.answers = answers
        self.errors = errors


def open_case_for(user: User, case_id: int) -> Case:
    """The contact further information may be added to, or the reason it may not."""
    from app import policy

    if not policy.can_record_contact(user):
        raise Forbidden("Only call handlers, coordinators and senior social workers add to a contact.")
    case = db.session.get(Case, case_id)
    if case is None:
        raise NotFound(case_id)
    if not policy.can_see_case(user, case):
        raise Forbidden("You do not have access to this case.")
    if case.status != "open" or case.voided_at is not None:
        raise NotSaved(
            f"Contact {case.reference} is no longer open, so nothing can be added to it. "
            "If this is a new concern, record a new contact."
        )
    return case


def add(user: User, case_id: int, form: dict[str, Any]) -> Case:
    """Add what a second caller said to the open contact's timeline, in one transaction."""
    answers, errors = check(form)
    try:
        # Locked, so a contact being closed at the same moment is not added to after it closed.
        db.session.get(Case, case_id, with_for_update=True)
        case = open_case_for(user, case_id)
        if errors:
            raise InvalidAnswers(answers, errors)
        detail = [
            ["Who called", answers["caller_name"]],
            ["Their role or agency", answers["caller_role"] or "Not given"],
            ["Phone", answers["phone"] or "Not given"],
            ["What they said", answers["information"]],
        ]
        timeline.add(case.id, user.id, TITLE, detail)
        audit.record(AUDIT_EVENT, user.id, case_id=case.id)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return case
