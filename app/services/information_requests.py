"""The information_requests flow's own records and pages' queries (§12, §13).

A request from an external agency is logged as a case of its own (request type "information_request"), with
the people it is about joined as "subject" (never "child": they are not children referred to the front door,
and the case closes when the flow ends). The `information_request` row beside it is the register §12.3 asks
for: every request, its justification, the decision and exactly what was disclosed.
"""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from app import schemaforms
from app.engine.calendar import Calendar
from app.extensions import db
from app.models import Case, CasePerson, Consent, User
from app.models.information_requests import InformationRequest
from app.models.types import utcnow
from app.services import audit, bundles, case_records, people, sharing, timeline, workflow
from app.services.errors import Forbidden, FormInvalid, NotFound, ReasonNeeded

FLOW = "information_request"
FORM_ID = "information_request"
SUBJECT_ROLE = "subject"
# The checks are due a working day after the request arrives and the decision a working day after them.
DAYS_TO_ANSWER = 2
PAGE_SIZE = 25

AGENCIES: dict[str, str] = {
    "cafcass": "CAFCASS",
    "probation": "Probation",
    "fostering": "Fostering service",
    "other_la": "Another local authority",
    "police": "Police",
    "other": "Another agency",
}
GROUNDS: dict[str, str] = {
    "safeguarding": "Safeguarding",
    "investigation": "Investigation that would be prejudiced",
    "court_order": "Court order",
    "legal_obligation": "Legal obligation",
    "consent": "The individual's consent",
}
DECISIONS: dict[str, str] = {
    "disclose_all": "Disclose all",
    "disclose_part": "Disclose part",
    "refuse": "Refuse",
}
STATUSES: dict[str, str] = {
    "checks": "Routine checks",
    "awaiting_decision": "Awaiting decision",
    "awaiting_consent": "Awaiting consent",
    "disclosed": "Disclosed",
    "refused": "Refused",
}

audit.register(
    {
        "INFORMATION_REQUEST_LOGGED": {"case_id", "information_request_id"},
        "INFORMATION_REQUEST_DECIDED": {"case_id", "information_request_id", "decision"},
        "INFORMATION_DISCLOSED": {"case_id", "information_request_id"},
        "INFORMATION_REQUEST_REFUSED": {"case_id", "information_request_id"},
    }
)


# --- Logging a request --------------------------------------------------------------------------------------


@cache
def _form_text() -> str:
    return (bundles.FORMS_DIR / f"{FORM_ID}.json").read_text(encoding="utf-8")


def log_form() -> dict[str, Any]:
    """The form a request is logged with (a fresh copy: views and validation may annotate it)."""
    return json.loads(_form_text())  # type: ignore[no-any-return]


def log_request(user: User, data: dict[str, Any]) -> Case:
    """Create the request's case, its subjects and its register row, and start the live flow on it, in one
    transaction: nothing is saved when anything fails."""
    from app import policy

    if not policy.can_log_information_request(user):
        raise Forbidden("Only coordinators, business support and senior social workers log information requests.")
    errors = schemaforms.validate(log_form(), data)
    if errors:
        raise FormInvalid(errors)
    data = copy.deepcopy(data)
    row = bundles.live_bundle(FLOW)
    try:
        now = utcnow()
        case = Case(
            reference=f"new-{secrets.token_hex(6)}",
            source="agency",
            request_type="information_request",
            concern=f"Request for information from {_agency_title(data)}: {data['asked']}",
            created_by_id=user.id,
        )
        db.session.add(case)
        db.session.flush()
        case.reference = f"CT-{case.id:06d}"
        subjects = _add_subjects(case, data.get("subjects") or [])
        request = InformationRequest(
            case_id=case.id,
            agency=data["agency"],
            agency_name=(data.get("agency_name") or "").strip() or None,
            requester_name=data["requester_name"].strip(),
            requester_email=data["requester_email"].strip(),
            asked=data["asked"],
            why=data["why"],
            ground=data["ground"],
            received_at=now,
            due_at=Calendar.from_settings(current_app.config).add_working_days(now, DAYS_TO_ANSWER),
        )
        db.session.add(request)
        db.session.flush()
        audit.record("CASE_CREATED", user.id, case_id=case.id)
        audit.record("INFORMATION_REQUEST_LOGGED", user.id, case_id=case.id, information_request_id=request.id)
        timeline.add(case.id, user.id, "Request for information logged", _logged_detail(request, subjects))
        workflow.start_instance(case, row, user, _start_data(case, request, subjects, data))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return case


def record_for_scenario(user: User, start_data: dict[str, Any]) -> Case:
    """The scenario runner's starter "information_request": logged as the page logs one."""
    return log_request(user, start_data)


def _agency_title(data: Mapping[str, Any]) -> str:
    named = str(data.get("agency_name") or "").strip()
    title = AGENCIES.get(str(data.get("agency")), str(data.get("agency")))
    return f"{title} ({named})" if named else title


def _add_subjects(case: Case, subjects: list[dict[str, Any]]) -> list[CasePerson]:
    """Each person the request is about, matched to a known person as intake matches a child (a strong match
    only; anything weaker is a new record), joined to the case as its subject."""
    added = []
    for n, subject in enumerate(subjects, start=1):
        name = str(subject.get("name", "")).strip()
        dob = subject.get("date_of_birth") or None
        person = people.find_or_create_child(name, dob)
        joined = CasePerson(
            case=case, person=person, key=f"subject-{n}", role=SUBJECT_ROLE, details={"date_of_birth": dob}
        )
        db.session.add(joined)
        added.append(joined)
    db.session.flush()
    return added


def _start_data(
    case: Case, request: InformationRequest, subjects: list[CasePerson], data: dict[str, Any]
) -> dict[str, Any]:
    """What the flow works from: the request as logged, with each subject's key."""
    listed = [{"key": s.key, "name": s.person.name, "date_of_birth": s.details.get("date_of_birth")} for s in subjects]
    return {
        "information_request_id": request.id,
        "case_reference": case.reference,
        "agency": request.agency,
        "agency_title": _agency_title(data),
        "requester_name": request.requester_name,
        "requester_email": request.requester_email,
        "asked": request.asked,
        "why": request.why,
        "ground": request.ground,
        "subjects": listed,
        "subject_names": ", ".join(s.person.name for s in subjects),
    }


def _logged_detail(request: InformationRequest, subjects: list[CasePerson]) -> list[list[str]]:
    return [
        ["Agency", _agency_title({"agency": request.agency, "agency_name": request.agency_name})],
        ["Requester", f"{request.requester_name} ({request.requester_email})"],
        ["About", ", ".join(s.person.name for s in subjects)],
        ["What they ask for", request.asked],
        ["Why they need it", request.why],
        ["Ground", GROUNDS.get(request.ground, request.ground)],
    ]


# --- Records written by the flow's steps -------------------------------------------------------------------


def for_case(case_id: int) -> InformationRequest | None:
    return db.session.scalar(select(InformationRequest).where(InformationRequest.case_id == case_id))


def _request(case: Case) -> InformationRequest:
    found = for_case(case.id)
    if found is None:
        raise LookupError(f"case {case.reference} is not an information request")
    return found


@case_records.writer("information_request_checked")
def _checked(case: Case, fields: Mapping[str, Any], user_id: int | None) -> None:
    request = _request(case)
    request.records_summary = str(fields.get("records_summary") or "")
    request.checked_at = utcnow()


@case_records.writer("information_request_decided")
def _decided(case: Case, fields: Mapping[str, Any], user_id: int | None) -> None:
    decision = str(fields.get("decision"))
    if decision not in DECISIONS:
        raise LookupError(f"unknown decision on an information request: {decision!r}")
    request = _request(case)
    request.proportionate = bool(fields.get("proportionate"))
    request.decision = decision
    request.rationale = str(fields.get("rationale") or "")
    request.decided_at = utcnow()
    request.decided_by_id = user_id
    audit.record(
        "INFORMATION_REQUEST_DECIDED", user_id, case_id=case.id, information_request_id=request.id, decision=decision
    )


@case_records.writer("information_request_consent")
def _consent(case: Case, fields: Mapping[str, Any], user_id: int | None) -> None:
    """The consent of each person the request is about, as it stands now; a disclosure waits for it."""
    request = _request(case)
    status = str(fields.get("status"))
    request.consent = status
    request.consent_recorded_at = utcnow()
    # The case's consent records know given, refused and withdrawn; none received yet is "not reached".
    kept = {"given": "given", "refused": "refused"}.get(status, "not_reached")
    for subject in (p for p in case.people if p.role == SUBJECT_ROLE):
        row = Consent(
            case_id=case.id,
            case_person_id=subject.id,
            status=kept,
            how=fields.get("how") if kept == "given" else None,
            note=fields.get("note"),
            recorded_by_id=user_id,
        )
        db.session.add(row)
        case.consents.append(row)
        db.session.flush()
        audit.record("CONSENT_RECORDED", user_id, case_id=case.id, consent_id=row.id, status=kept)


@case_records.writer("information_disclosed")
def _disclosed(case: Case, fields: Mapping[str, Any], user_id: int | None) -> None:
    request = _request(case)
    if request.ground == "consent" and request.consent != "given":
        # The diagram only gets here with consent given; a changed diagram that does not is stopped here.
        raise LookupError("a disclosure on the individual's consent needs that consent recorded as given")
    request.disclosed_text = str(fields.get("text") or "")
    request.disclosed_at = utcnow()
    audit.record("INFORMATION_DISCLOSED", user_id, case_id=case.id, information_request_id=request.id)
    basis = sharing.Basis(sharing.GROUND_BASES.get(request.ground, request.ground), request.rationale)
    sharing.record(
        case,
        "information_request",
        None,
        "Disclosure to " + _agency_title({"agency": request.agency, "agency_name": request.agency_name}),
        basis,
        user_id,
    )


@case_records.writer("information_request_refused")
def _refused(case: Case, fields: Mapping[str, Any], user_id: int | None) -> None:
    request = _request(case)
    request.refusal_reason = str(fields.get("reason") or "")
    request.refused_at = utcnow()
    audit.record("INFORMATION_REQUEST_REFUSED", user_id, case_id=case.id, information_request_id=request.id)


def scenario_facts(case: Case) -> dict[str, Any] | None:
    """What a scenario may expect of the request's own record."""
    request = for_case(case.id)
    if request is None:
        return None
    return {
        "agency": request.agency,
        "ground": request.ground,
        "status": request.status,
        "proportionate": request.proportionate,
        "decision": request.decision,
        "consent": request.consent,
        "disclosed": request.disclosed_text,
        "subjects": sorted(p.person.name for p in case.people if p.role == SUBJECT_ROLE),
    }


# --- One request -------------------------------------------------------------------------------------------


@dataclass
class RequestView:
    request: InformationRequest
    subjects: list[CasePerson]
    decided_by: User | None


def request_for_user(user: User, case_id: int) -> RequestView:
    """One request in full, for those who keep the register; reading it is recorded like reading a case."""
    from app import policy

    if not policy.can_see_information_requests(user):
        raise Forbidden("The register of information requests is for the hub's decision makers and managers.")
    request = for_case(case_id)
    if request is None:
        raise NotFound(case_id)
    if not policy.opened_if_restricted(user, request.case):
        raise ReasonNeeded(case_id)
    audit.record("CASE_VIEWED", user.id, case_id=case_id)
    db.session.commit()
    subjects = [p for p in request.case.people if p.role == SUBJECT_ROLE]
    decided_by = db.session.get(User, request.decided_by_id) if request.decided_by_id else None
    return RequestView(request, subjects, decided_by)


# --- The register -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterFilters:
    agency: str = ""
    decision: str = ""  # a DECISIONS key, or "undecided"

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> RegisterFilters:
        agency = args.get("agency", "")
        decision = args.get("decision", "")
        return cls(
            agency=agency if agency in AGENCIES else "",
            decision=decision if decision in DECISIONS or decision == "undecided" else "",
        )

    def args(self, **more: Any) -> dict[str, Any]:
        found = {k: v for k, v in (("agency", self.agency), ("decision", self.decision)) if v}
        return {**found, **more}


@dataclass
class RegisterPage:
    rows: list[InformationRequest]
    filters: RegisterFilters
    page: int
    pages: int
    total: int


def register_page(filters: RegisterFilters, page: int = 1) -> RegisterPage:
    """Every request, newest first, filtered by agency and decision, a page at a time."""
    query = select(InformationRequest)
    if filters.agency:
        query = query.where(InformationRequest.agency == filters.agency)
    if filters.decision == "undecided":
        query = query.where(InformationRequest.decision.is_(None))
    elif filters.decision:
        query = query.where(InformationRequest.decision == filters.decision)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = db.session.scalars(
        query.order_by(InformationRequest.received_at.desc(), InformationRequest.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    return RegisterPage(list(rows), filters, page, pages, total)
