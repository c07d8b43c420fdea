"""Information sharing and its lawful basis (§7, §12, §13): at every step where information about a family is
shared between agencies, what the sharing rested on is recorded with the step, in the same transaction:
the consent in force for each person with parental responsibility at that moment, or the ground for sharing
without it, with the rationale.

The steps that share are named here by flow and step id, with how to read their basis. A diagram changed to
move a step keeps its record as long as the step keeps its id; the scenario tests check each one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import Case, Consent, SharingRecord, User
from app.models.types import utcnow
from app.services import audit
from app.services.errors import NotSaved

audit.register({"INFORMATION_SHARED": {"case_id", "sharing_record_id", "basis"}})

# The grounds for sharing without consent (DOMAIN.md §12), and consent itself.
BASES: dict[str, str] = {
    "consent": "Consent of those with parental responsibility",
    "s47": "Section 47 enquiry: significant harm, consent not needed",
    "safeguarding": "Safeguarding without consent",
    "consent_overridden": "Consent overridden: a defensible decision",
    "investigation": "Investigation that would be prejudiced",
    "court_order": "Court order",
    "legal_obligation": "Legal obligation",
    "individual_consent": "The individual's consent",
}
# An information request's ground (information_requests.GROUNDS) as a basis of sharing.
GROUND_BASES = {"consent": "individual_consent"}


@dataclass(frozen=True)
class Basis:
    basis: str
    rationale: str | None


Reader = Callable[[Mapping[str, Any]], Basis | None]


def _partner_checks(data: Mapping[str, Any]) -> Basis:
    return Basis("consent", "Partner checks for a child in need referral, made with consent (§7).")


def _mat_agency(data: Mapping[str, Any]) -> Basis:
    return Basis(
        "safeguarding",
        "Multi Agency Triage: consent could not be obtained and the referrer does not work with the family, so "
        "each agency shares what its own records show to decide what happens next (§5).",
    )


def _mat_decision(data: Mapping[str, Any]) -> Basis | None:
    if data.get("mat_outcome") != "further_checks":
        return None  # the meeting's other outcomes share nothing further
    return Basis("consent_overridden", str(data.get("consent_override_reason") or ""))


def _strategy(data: Mapping[str, Any]) -> Basis:
    return Basis("s47", "A strategy discussion under section 47 shares information without consent (§6).")


def _da_agency(data: Mapping[str, Any]) -> Basis:
    return Basis(
        "safeguarding",
        "Domestic abuse triage: police, health and social care share what they hold about the children in a "
        "household where domestic abuse was reported (§8).",
    )


# (flow, step id) -> what the step shares and how to read its basis from the step's answers.
SHARING_STEPS: dict[tuple[str, str], tuple[str, Reader]] = {
    ("initial_contact", "partner_information"): ("Partner checks", _partner_checks),
    ("mat", "police_check"): ("Police records shared at MAT", _mat_agency),
    ("mat", "health_check"): ("Health records shared at MAT", _mat_agency),
    ("mat", "social_care_check"): ("Social care records shared at MAT", _mat_agency),
    ("mat", "joint_decision"): ("Further agency checks (school, nursery)", _mat_decision),
    ("strategy_discussion", "record_meeting"): ("Strategy discussion", _strategy),
    ("strategy_discussion", "record_meeting_by_manager"): ("Strategy discussion", _strategy),
    ("da_triage", "police_check"): ("Police information shared at triage", _da_agency),
    ("da_triage", "health_check"): ("Health information shared at triage", _da_agency),
    ("da_triage", "social_care_check"): ("Social care information shared at triage", _da_agency),
}


def record_step(case: Case, flow: str, bpmn_id: str, task_id: str, data: Mapping[str, Any], user: User) -> None:
    """Record the basis of a sharing step as it completes (called inside the step's transaction)."""
    step = SHARING_STEPS.get((flow, bpmn_id))
    if step is None:
        return
    what, reader = step
    basis = reader(data)
    if basis is None:
        return
    record(case, flow, task_id, what, basis, user.id)


def record(case: Case, flow: str, task_id: str | None, what: str, basis: Basis, user_id: int | None) -> None:
    """Keep one sharing and its basis, in the transaction of the step that shares."""
    if basis.basis not in ("consent", "individual_consent", "s47") and not (basis.rationale or "").strip():
        # The forms require it; this is the last guard, so an override never stands without its reason.
        raise NotSaved(f"{what}: give the reason for sharing without consent. Nothing was saved.")
    row = SharingRecord(
        case_id=case.id,
        flow=flow,
        task_id=task_id,
        what=what,
        basis=basis.basis,
        consents=consents_in_force(case),
        rationale=basis.rationale,
        at=utcnow(),
        user_id=user_id,
    )
    db.session.add(row)
    db.session.flush()
    audit.record("INFORMATION_SHARED", user_id, case_id=case.id, sharing_record_id=row.id, basis=basis.basis)


# Whose consent a sharing rests on: those with parental responsibility, or the people an agency's request is
# about (§12).
CONSENTING_ROLES = ("parent", "subject")


def consents_in_force(case: Case) -> list[dict[str, Any]]:
    """The consent of each parent (or person a request is about) as it stands now: the latest record per
    person, by id."""
    latest: dict[int, Consent] = {}
    for consent in db.session.scalars(
        select(Consent).where(Consent.case_id == case.id).order_by(Consent.recorded_at, Consent.id)
    ):
        latest[consent.case_person_id] = consent
    rows = []
    for person in case.people:
        if person.role not in CONSENTING_ROLES:
            continue
        found = latest.get(person.id)
        rows.append({"case_person_id": person.id, "status": found.status if found else "not_asked"})
    return rows


@dataclass
class SharingLine:
    at: Any
    what: str
    basis: str
    rationale: str | None
    consents: list[tuple[str, str]]  # (name, status)
    by: str


CONSENT_WORDS = {
    "given": "Given",
    "refused": "Refused",
    "withdrawn": "Withdrawn",
    "not_reached": "Could not be reached",
    "not_asked": "Not asked",
}


def for_case(case: Case, flows_shown: Callable[[str], bool]) -> list[SharingLine]:
    """The case's sharing, oldest first, for its page; `flows_shown` leaves out need-to-know flows."""
    names = {p.id: p.person.name for p in case.people}
    rows = [
        row
        for row in db.session.scalars(
            select(SharingRecord).where(SharingRecord.case_id == case.id).order_by(SharingRecord.id)
        )
        if flows_shown(row.flow)
    ]
    ids = {r.user_id for r in rows if r.user_id is not None}
    people = {u.id: u.name for u in db.session.scalars(select(User).where(User.id.in_(ids)))}
    lines = []
    for row in rows:
        lines.append(
            SharingLine(
                at=row.at,
                what=row.what,
                basis=BASES.get(row.basis, row.basis),
                rationale=row.rationale,
                consents=[
                    (names.get(c["case_person_id"], "A parent"), CONSENT_WORDS.get(c["status"], c["status"]))
                    for c in row.consents
                ],
                by=people.get(row.user_id or 0, ""),
            )
        )
    return lines
