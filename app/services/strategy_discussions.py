"""The strategy_discussion flow's own records and pages' queries (§6).

A discussion is written in two steps, each by a writer registered here that runs inside the step's
transaction: `strategy_arranged` when the invitations go (who chairs, when, who is invited) and
`strategy_held` when the chair records the meeting (how, who took part, the decision with its plan and both
agencies' rationale, and, for a s47 enquiry, its start and the conference's due date). `strategy_allocated`
notes the enquiry leaving Compass for the assessment team and the police PVP team (§6.6).

`invitation_facts` is the one read a handler makes of the case: what the invitation list is worked out from.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app import policy
from app.extensions import db
from app.models import Case, CasePerson, Handover, ProcessInstance, User
from app.models.strategy import StrategyDiscussion
from app.models.types import utcnow
from app.roles import STRATEGY_CHAIRS, STRATEGY_DECISIONS
from app.services import audit, case_records, timeline
from app.services.errors import ReasonNeeded

LONDON = ZoneInfo("Europe/London")
FLOW = "strategy_discussion"

audit.register(
    {
        "STRATEGY_DISCUSSION_ARRANGED": {"case_id", "discussion_id", "invitees"},
        "STRATEGY_DISCUSSION_RECORDED": {"case_id", "discussion_id", "decision"},
        "S47_ENQUIRY_STARTED": {"case_id", "discussion_id"},
        "STRATEGY_ENQUIRY_ALLOCATED": {"case_id", "discussion_id"},
        "STRATEGY_DISCUSSION_VIEWED": {"case_id", "discussion_id"},
    }
)


# --- What the invitation list is worked out from ------------------------------------------------------------


def invitation_facts(case_id: int, child_keys: list[str]) -> dict[str, Any]:
    """What the case says about who should be invited: each child's school, age and known involvement, the
    referrer's agency, and the agencies asked for partner information. Read-only.

    The referrer's name is given only so a handler can keep it out of what it writes; it is never to be
    copied into an invitation."""
    from app.services import child_history

    case = db.session.get(Case, case_id)
    if case is None:
        return {}
    wanted = set(child_keys)
    children = []
    for row in case.children:
        if wanted and row.key not in wanted:
            continue
        known = child_history.known_child(case_id, row.key)
        children.append(
            {
                "key": row.key,
                "name": row.person.name,
                "school": str(row.details.get("school") or "").strip(),
                "age": _age(row.person.date_of_birth),
                "unborn": bool(row.details.get("due_date")) and row.person.date_of_birth is None,
                "open_case": known.get("open_case"),
                "targeted_early_help": known.get("targeted_early_help"),
            }
        )
    referrer = next((p for p in case.people if p.role == "referrer"), None)
    return {
        "concern": case.concern,
        "referrer": _referrer(referrer),
        "children": children,
        "partner_agencies": _partner_agencies(case_id),
    }


def _age(born: date | None) -> int | None:
    if born is None:
        return None
    today = utcnow().astimezone(LONDON).date()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _referrer(row: CasePerson | None) -> dict[str, Any] | None:
    if row is None:
        return None
    details = row.details or {}
    return {
        "name": row.person.name,
        "kind": details.get("kind"),
        "agency": str(details.get("agency") or "").strip(),
        "email": str(details.get("email") or "").strip(),
    }


def _partner_agencies(case_id: int) -> list[str]:
    """The agencies the initial contact asked for partner information (§4.12), as the form's codes."""
    from app.engine import runtime
    from app.services import bundles

    found: list[str] = []
    instances = db.session.scalars(
        select(ProcessInstance).where(ProcessInstance.case_id == case_id, ProcessInstance.flow == "initial_contact")
    )
    for instance in instances:
        workflow = runtime.restore(instance.state, bundles.parsed(instance.bundle), caller=None)
        data = runtime.completed_data(workflow, "partner_information") or {}
        for code in data.get("agencies") or []:
            if isinstance(code, str) and code not in found:
                found.append(code)
    return found


# --- Writers -----------------------------------------------------------------------------------------------


def _child(case: Case, key: Any) -> CasePerson | None:
    if not key:
        return None
    return next((c for c in case.children if c.key == key), None)


def _instance_id(case: Case, child: CasePerson | None) -> int | None:
    """The strategy discussion episode this record belongs to: the one the child's latest hand-over here began."""
    child_id = child.id if child else None
    row = next(
        (
            h
            for h in reversed(case.handovers)
            if h.flow == FLOW and h.child_id == child_id and h.instance_id is not None
        ),
        None,
    )
    return row.instance_id if row else None


def _current(case: Case, fields: Mapping[str, Any]) -> StrategyDiscussion:
    """The discussion being held for the child: the latest arranged one of this episode."""
    child = _child(case, fields.get("child_key"))
    query = select(StrategyDiscussion).where(StrategyDiscussion.case_id == case.id)
    query = query.where(StrategyDiscussion.child_id == child.id if child else StrategyDiscussion.child_id.is_(None))
    found = db.session.scalars(query.order_by(StrategyDiscussion.id.desc())).first()
    if found is None:
        raise LookupError("no strategy discussion was arranged for this child")
    return found


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _london_day(moment: Any) -> date | None:
    """A diagram's working-day moment (ISO, UTC) as the day it falls on in Europe/London."""
    if not moment:
        return None
    parsed = datetime.fromisoformat(str(moment))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(LONDON).date()


@case_records.writer("strategy_arranged")
def _arranged(case: Case, fields: Mapping[str, Any], user_id: int | None) -> None:
    child = _child(case, fields.get("child_key"))
    row = StrategyDiscussion(
        case_id=case.id,
        instance_id=_instance_id(case, child),
        child_id=child.id if child else None,
        arranged_at=utcnow(),
        arranged_by_id=user_id,
        meeting_on=_date(fields.get("meeting_date")),
        meeting_time=str(fields.get("meeting_time") or "")[:5] or None,
        meeting_place=str(fields.get("meeting_place") or ""),
        chair=str(fields.get("chair") or "ssw"),
        chair_name=str(fields.get("chair_name") or "")[:200],
        missing_or_exploitation=fields.get("missing_or_exploitation") is True,
        invitees=[dict(i) for i in fields.get("invitees") or []],
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        "STRATEGY_DISCUSSION_ARRANGED", user_id, case_id=case.id, discussion_id=row.id, invitees=len(row.invitees)
    )
    about = f": {child.person.name}" if child else ""
    when = f"{row.meeting_on:%d %B %Y} at {row.meeting_time}" if row.meeting_on else "to be confirmed"
    agencies = ", ".join(dict.fromkeys(str(i.get("agency", "")) for i in row.invitees))
    timeline.add(
        case.id,
        user_id,
        f"Strategy discussion arranged{about}",
        [
            ["When", when],
            ["Chair", f"{row.chair_name} ({STRATEGY_CHAIRS.get(row.chair, row.chair)})"],
            ["Invited", agencies],
        ],
    )


@case_records.writer("strategy_held")
def _held(case: Case, fields: Mapping[str, Any], user_id: int | None) -> None:
    row = _current(case, fields)
    now = utcnow()
    row.held_at = now
    row.how_held = str(fields.get("how_held") or "")
    row.attendees = [dict(a) for a in fields.get("attendees") or []]
    row.contributions = [dict(c) for c in fields.get("contributions") or []]
    row.decision = str(fields.get("decision") or "")
    row.s47 = fields.get("s47") is True
    row.police_investigation = fields.get("police_investigation") is True
    row.plan = dict(fields.get("plan") or {})
    row.agreed_actions = str(fields.get("agreed_actions") or "")
    row.rationale_social_care = str(fields.get("rationale_social_care") or "")
    row.rationale_police = str(fields.get("rationale_police") or "")
    row.recorded_by_id = user_id
    audit.record("STRATEGY_DISCUSSION_RECORDED", user_id, case_id=case.id, discussion_id=row.id, decision=row.decision)
    detail = [["Decision", STRATEGY_DECISIONS.get(row.decision, row.decision)], ["Took part", str(len(row.attendees))]]
    if row.s47:
        # The census s47 start is the discussion that started it; the conference is due 15 working days on.
        row.s47_started_at = now
        row.icpc_due_on = _london_day(fields.get("icpc_due"))
        if row.icpc_due_on is None:
            raise LookupError("a s47 enquiry was started without the date its conference is due")
        audit.record("S47_ENQUIRY_STARTED", user_id, case_id=case.id, discussion_id=row.id)
        detail.append(["Initial child protection conference due by", f"{row.icpc_due_on:%d %B %Y}"])
    db.session.flush()
    about = f": {row.child.person.name}" if row.child else ""
    timeline.add(case.id, user_id, f"Strategy discussion held{about}", detail)


@case_records.writer("strategy_allocated")
def _allocated(case: Case, fields: Mapping[str, Any], user_id: int | None) -> None:
    row = _current(case, fields)
    audit.record("STRATEGY_ENQUIRY_ALLOCATED", user_id, case_id=case.id, discussion_id=row.id)
    about = f" for {row.child.person.name}" if row.child else ""
    timeline.add(
        case.id,
        user_id,
        f"Closed to Compass: enquiry allocated{about}",
        [["Allocated to", ", ".join(str(t) for t in fields.get("teams") or [])]],
    )


# --- Scenarios and pages -----------------------------------------------------------------------------------


def scenario_facts(case: Case) -> list[dict[str, Any]]:
    """What a scenario may expect of the case's strategy discussions, oldest first."""
    rows = db.session.scalars(
        select(StrategyDiscussion).where(StrategyDiscussion.case_id == case.id).order_by(StrategyDiscussion.id)
    )
    return [
        {
            "child": row.child.key if row.child else None,
            "chair": row.chair,
            "invited": sorted(str(i.get("agency", "")) for i in row.invitees),
            "held": row.held_at is not None,
            "how_held": row.how_held,
            "attendees": len(row.attendees),
            "contributions": len(row.contributions),
            "decision": row.decision,
            "s47": row.s47,
            "police_investigation": row.police_investigation,
            "s47_started": row.s47_started_at is not None,
            "icpc_due_on": row.icpc_due_on.isoformat() if row.icpc_due_on else None,
        }
        for row in rows
    ]


def listing(limit: int = 200) -> list[StrategyDiscussion]:
    """Discussions for the list page: those not yet held first (soonest meeting first), then the most
    recently held. Voided contacts are left out, as from every list."""
    rows = db.session.scalars(
        select(StrategyDiscussion)
        .join(Case, Case.id == StrategyDiscussion.case_id)
        .where(Case.voided_at.is_(None))
        .order_by(StrategyDiscussion.held_at.is_not(None), StrategyDiscussion.id.desc())
        .limit(limit)
    )
    return list(rows)


def one(discussion_id: int, user: User) -> StrategyDiscussion | None:
    """One discussion for its page; reading it is audited, like reading a case. A restricted record's
    discussion opens only once the reason is given (ReasonNeeded)."""
    row = db.session.get(StrategyDiscussion, discussion_id)
    if row is None or row.case.voided_at is not None:
        return None
    if not policy.opened_if_restricted(user, row.case):
        raise ReasonNeeded(row.case_id)
    audit.record("STRATEGY_DISCUSSION_VIEWED", user.id, case_id=row.case_id, discussion_id=row.id)
    db.session.commit()
    return row


def handover_of(row: StrategyDiscussion) -> Handover | None:
    """The hand-over that started the discussion's episode (for where it came from)."""
    return next((h for h in row.case.handovers if h.instance_id == row.instance_id and h.flow == FLOW), None)
