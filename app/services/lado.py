"""The lado flow's own records and its pages' queries (DOMAIN.md Flow 5, the operating procedures §10).

An allegation against someone who works with children is handed to the LADO by the initial contact, which
goes on deciding for the child. The LADO's record here follows the flow's steps: opened at the hand-over
(with the person and employer as the intake gave them), the initial consideration against the four harm
criteria (in time or not, against the one-working-day deadline fixed when it opened), each allegation
management meeting, and the closure with its outcome and how long the record is kept.

One allegation per case: the intake records one person in a position of trust, so each writer finds the
case's latest allegation (the writers are told the case, not the flow episode).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from app.engine import runtime
from app.extensions import db
from app.models import Case, Handover, ProcessInstance, User
from app.models.lado import LadoAllegation
from app.models.types import utcnow
from app.services import audit, bundles, case_records, timeline
from app.services.errors import NotFound, ReasonNeeded

LONDON = ZoneInfo("Europe/London")
FLOW = "lado"
# The LADO's records are kept to the person's normal retirement age or for ten years from closure,
# whichever is longer; ten years when their date of birth is not known.
RETENTION_YEARS = 10

HARM_CRITERIA: dict[str, str] = {
    "harmed_child": "Harmed, or may have harmed, a child",
    "criminal_offence": "Possibly committed a criminal offence against or related to a child",
    "risk_to_children": "Behaved in a way that indicates they may pose a risk of harm to children",
    "unsuitable_to_work": "Behaved in a way that indicates they may not be suitable to work with children",
}
INITIAL_DECISIONS: dict[str, str] = {
    "advice": "Advice, no further action",
    "meeting": "Allegation management meeting",
}
OUTCOMES: dict[str, str] = {
    "substantiated": "Substantiated",
    "false": "False",
    "malicious": "Malicious",
    "unsubstantiated": "Unsubstantiated",
    "unfounded": "Unfounded",
}
ACTIONS: dict[str, str] = {
    "suspension": "Suspension by the employer",
    "police_investigation": "Police investigation",
    "s47_enquiry": "Section 47 enquiry",
    "dbs_referral": "Referral to the Disclosure and Barring Service",
    "regulator_referral": "Referral to a regulator",
}
REGULATORS: dict[str, str] = {
    "ofsted": "Ofsted",
    "teaching_regulation_agency": "Teaching Regulation Agency",
    "social_work_england": "Social Work England",
    "other_regulator": "Another regulator",
}
AGENCIES: dict[str, str] = {
    "employer": "Employer",
    "police": "Police",
    "social_care": "Children's social care",
    "lado": "LADO",
    "health": "Health",
    "education": "Education",
    "other": "Other",
}

audit.register(
    {
        "LADO_ALLEGATION_OPENED": {"case_id", "allegation_id"},
        "LADO_ALLEGATION_CONSIDERED": {"case_id", "allegation_id", "decision", "in_time"},
        "LADO_MEETING_RECORDED": {"case_id", "allegation_id", "meeting_number"},
        "LADO_DBS_REFERRAL_RECORDED": {"case_id", "allegation_id"},
        "LADO_ALLEGATION_CLOSED": {"case_id", "allegation_id", "outcome"},
        "LADO_ALLEGATION_VIEWED": {"case_id", "allegation_id"},
        "LADO_REGISTER_VIEWED": set(),
    }
)


# --- Retention ---------------------------------------------------------------------------------------------


def normal_retirement_age(born: date) -> int:
    """The State Pension age as legislated: 66 for those born before 6 April 1960, 67 before 6 April 1977,
    68 after. The months phased in between are rounded up to the later age, which keeps a record longer,
    never shorter."""
    if born < date(1960, 4, 6):
        return 66
    if born < date(1977, 4, 6):
        return 67
    return 68


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none: the day after, so never too early
        return date(day.year + years, 3, 1)


def retain_until(closed_at: datetime, date_of_birth: date | None) -> date:
    """The record's review date: ten years from closure, or the person's normal retirement age if later."""
    ten_years = _years_after(closed_at.astimezone(LONDON).date(), RETENTION_YEARS)
    if date_of_birth is None:
        return ten_years
    retirement = _years_after(date_of_birth, normal_retirement_age(date_of_birth))
    return max(ten_years, retirement)


# --- Writers (each runs inside the step's transaction) --------------------------------------------------------


@case_records.writer("lado_allegation_opened")
def _opened(case: Case, fields: Mapping[str, Any], user_id: int | None) -> None:
    instance = _this_episode(case)
    subject = _as_the_intake_gave_it(case)
    row = LadoAllegation(
        case_id=case.id,
        instance_id=instance.id if instance else None,
        subject_name=_text(subject.get("name")),
        subject_role=_text(subject.get("role")),
        subject_employer=_text(subject.get("employer")),
        consideration_due_at=_moment(fields.get("consideration_due")),
        opened_at=utcnow(),
        harm_criteria=[],
        meetings=[],
        actions=[],
    )
    db.session.add(row)
    db.session.flush()
    audit.record("LADO_ALLEGATION_OPENED", user_id, case_id=case.id, allegation_id=row.id)
    timeline.add(case.id, user_id, "Allegation against someone who works with children passed to the LADO", flow=FLOW)


@case_records.writer("lado_consideration")
def _considered(case: Case, fields: Mapping[str, Any], user_id: int | None) -> None:
    row = _latest(case)
    now = utcnow()
    row.considered_at = now
    row.considered_in_time = row.consideration_due_at is None or now <= row.consideration_due_at
    row.harm_criteria = [c for c in fields.get("harm_criteria") or [] if c in HARM_CRITERIA]
    row.initial_decision = str(fields.get("initial_decision") or "")
    row.initial_rationale = str(fields.get("rationale") or "")
    born = fields.get("subject_date_of_birth")
    row.subject_date_of_birth = date.fromisoformat(born) if born else None
    row.employer_contact_name = _text(fields.get("employer_contact_name"))
    row.employer_contact_email = _text(fields.get("employer_contact_email"))
    audit.record(
        "LADO_ALLEGATION_CONSIDERED",
        user_id,
        case_id=case.id,
        allegation_id=row.id,
        decision=row.initial_decision,
        in_time=row.considered_in_time,
    )
    when = "within one working day" if row.considered_in_time else "later than one working day"
    timeline.add(case.id, user_id, f"LADO initial consideration made {when}", flow=FLOW)


@case_records.writer("lado_meeting")
def _meeting(case: Case, fields: Mapping[str, Any], user_id: int | None) -> None:
    row = _latest(case)
    meeting = dict(fields)
    meeting["number"] = int(fields.get("number") or len(row.meetings) + 1)
    # Reassigned, not appended in place: a JSON column notices only a new value.
    row.meetings = [*row.meetings, meeting]
    row.actions = sorted(set(row.actions) | {a for a in fields.get("actions") or [] if a in ACTIONS})
    if fields.get("regulator"):
        row.regulator = str(fields["regulator"])
    audit.record(
        "LADO_MEETING_RECORDED", user_id, case_id=case.id, allegation_id=row.id, meeting_number=meeting["number"]
    )


@case_records.writer("lado_allegation_closed")
def _closed(case: Case, fields: Mapping[str, Any], user_id: int | None) -> None:
    row = _latest(case)
    now = utcnow()
    outcome = fields.get("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise LookupError(f"unknown LADO outcome {outcome!r}")
    row.outcome = outcome
    row.outcome_rationale = str(fields.get("rationale") or "") or None
    row.closed_at = now
    row.retain_until = retain_until(now, row.subject_date_of_birth)
    if "dbs_referral" in row.actions:
        row.dbs_referred_at = now
        audit.record("LADO_DBS_REFERRAL_RECORDED", user_id, case_id=case.id, allegation_id=row.id)
        timeline.add(case.id, user_id, "LADO: referral to the Disclosure and Barring Service recorded", flow=FLOW)
    audit.record("LADO_ALLEGATION_CLOSED", user_id, case_id=case.id, allegation_id=row.id, outcome=outcome)
    result = OUTCOMES[outcome] if outcome else "advice given, no further action"
    timeline.add(
        case.id,
        user_id,
        f"LADO allegation closed: {result}",
        [["Record kept until", day(row.retain_until.isoformat())]],
        flow=FLOW,
    )


def _latest(case: Case) -> LadoAllegation:
    row = db.session.scalar(
        select(LadoAllegation).where(LadoAllegation.case_id == case.id).order_by(LadoAllegation.id.desc())
    )
    if row is None:
        raise LookupError(f"case {case.id} has no LADO allegation")
    return row


def _this_episode(case: Case) -> ProcessInstance | None:
    """The LADO flow episode being started: the case's latest one (it is created before its first step)."""
    return db.session.scalar(
        select(ProcessInstance)
        .where(ProcessInstance.case_id == case.id, ProcessInstance.flow == FLOW)
        .order_by(ProcessInstance.id.desc())
    )


def _as_the_intake_gave_it(case: Case) -> dict[str, Any]:
    """The person the allegation is against, as the contact recorded them. The hand-over carries no personal
    details (handovers.start_data), so they are read from the recorded contact: first of the episode that
    handed over, else of the case's first initial contact (an episode that was itself handed over recorded
    no contact). A contact recorded without them gives an empty record, shown as not given."""
    handover = db.session.scalar(
        select(Handover).where(Handover.case_id == case.id, Handover.flow == FLOW).order_by(Handover.id.desc())
    )
    first_contact = db.session.scalar(
        select(ProcessInstance)
        .where(ProcessInstance.case_id == case.id, ProcessInstance.flow == "initial_contact")
        .order_by(ProcessInstance.id)
    )
    handed_over_by = db.session.get(ProcessInstance, handover.from_instance_id) if handover else None
    for source in dict.fromkeys(s for s in (handed_over_by, first_contact) if s is not None and s.state):
        detail = _recorded_allegation(case, source)
        if detail:
            return detail
    return {}


def _recorded_allegation(case: Case, source: ProcessInstance) -> dict[str, Any]:
    try:
        workflow = runtime.restore(source.state, bundles.parsed(source.bundle), caller=None)
        recorded = runtime.completed_data(workflow, "record_contact") or {}
    except Exception:  # the LADO's record must open even if the contact cannot be read back; say so
        current_app.logger.exception("case %s: the contact's allegation details could not be read", case.id)
        return {}
    detail = recorded.get("allegation_detail")
    return dict(detail) if isinstance(detail, dict) else {}


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text[:200] or None


def _moment(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def day(iso: str | None) -> str:
    """A date as the pages and the timeline show it: 8 December 2026."""
    if not iso:
        return ""
    try:
        return date.fromisoformat(iso).strftime("%-d %B %Y")
    except ValueError:
        return iso


# --- Scenario expectations --------------------------------------------------------------------------------


def scenario_facts(case: Case) -> dict[str, Any] | None:
    """What a scenario may expect of the LADO's record of the case (`"lado": {...}`)."""
    row = db.session.scalar(
        select(LadoAllegation).where(LadoAllegation.case_id == case.id).order_by(LadoAllegation.id.desc())
    )
    if row is None:
        return None
    return {
        "subject": row.subject_name,
        "harm_criteria": sorted(row.harm_criteria),
        "initial_decision": row.initial_decision,
        "considered_in_time": row.considered_in_time,
        "meetings": len(row.meetings),
        "actions": sorted(row.actions),
        "regulator": row.regulator,
        "outcome": row.outcome,
        "closed": row.closed_at is not None,
        "dbs_referral": row.dbs_referred_at is not None,
        "retain_until": row.retain_until.isoformat() if row.retain_until else None,
    }


# --- Pages ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterRow:
    id: int
    case_id: int
    case_reference: str
    subject: str
    role_and_employer: str
    opened_at: datetime
    consideration_due_at: datetime | None
    considered_in_time: bool | None
    status: str  # awaiting consideration, meeting, closed
    outcome: str | None
    closed_at: datetime | None


def register(user_id: int) -> list[RegisterRow]:
    """Every allegation, the open ones first (oldest due first), then the closed ones (latest first)."""
    rows = db.session.scalars(
        select(LadoAllegation).order_by(LadoAllegation.closed_at.is_not(None), LadoAllegation.opened_at.desc())
    ).all()
    audit.record("LADO_REGISTER_VIEWED", user_id)
    db.session.commit()
    return [_register_row(r) for r in rows]


def _register_row(row: LadoAllegation) -> RegisterRow:
    if row.closed_at is not None:
        status = "closed"
    elif row.considered_at is None:
        status = "awaiting consideration"
    else:
        status = "meetings"
    return RegisterRow(
        id=row.id,
        case_id=row.case_id,
        case_reference=row.case.reference,
        subject=row.subject_name or "Not given",
        role_and_employer=", ".join(p for p in (row.subject_role, row.subject_employer) if p) or "Not given",
        opened_at=row.opened_at,
        consideration_due_at=row.consideration_due_at,
        considered_in_time=row.considered_in_time,
        status=status,
        outcome=OUTCOMES.get(row.outcome) if row.outcome else None,
        closed_at=row.closed_at,
    )


def allegation(allegation_id: int, user: User) -> LadoAllegation:
    """One allegation for its record page; reading it is audited. On a restricted record it opens only
    once the reason is given (ReasonNeeded)."""
    from app import policy

    row = db.session.get(LadoAllegation, allegation_id)
    if row is None:
        raise NotFound(str(allegation_id))
    if not policy.opened_if_restricted(user, row.case):
        raise ReasonNeeded(row.case_id)
    audit.record("LADO_ALLEGATION_VIEWED", user.id, case_id=row.case_id, allegation_id=row.id)
    db.session.commit()
    return row
