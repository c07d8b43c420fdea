"""The mat flow's own records and pages' queries.

A child whose contact met the child-in-need threshold without consent, referred by someone who does not work
with the family, is taken to the daily Multi Agency Triage meeting (§5). The meeting's decision, and social
care's final decision after further checks, are written here from the flow's records; the triage list reads
only the task table and this flow's own table, never a workflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select

from app import policy
from app.extensions import db
from app.models import Case, CasePerson, Task, User
from app.models.mat import MatDecision
from app.models.types import utcnow
from app.roles import MAT_FINAL_DECISIONS, MAT_OUTCOMES, MAT_PARTS
from app.services import audit, case_records, timeline

LONDON = ZoneInfo("Europe/London")
FLOW = "mat"
MEETING_TASKS = (*MAT_PARTS, "joint_decision")

audit.register(
    {
        "MAT_DECISION_RECORDED": {"case_id", "decision_id", "outcome"},
        "MAT_CONSENT_OVERRIDDEN": {"case_id", "decision_id"},
        "MAT_FINAL_DECISION_RECORDED": {"case_id", "decision_id", "outcome"},
    }
)


# --- Records ------------------------------------------------------------------------------------------


def _child(case: Case, key: Any) -> CasePerson:
    found = next((c for c in case.children if c.key == key), None)
    if found is None:
        raise LookupError(f"the case has no child {key!r}")
    return found


def _instance_id(case: Case, child: CasePerson) -> int:
    """The MAT episode the child was handed to: the latest hand-over of that child to this flow."""
    handover = next((h for h in reversed(case.handovers) if h.child_id == child.id and h.flow == FLOW), None)
    if handover is None or handover.instance_id is None:
        raise LookupError(f"{child.key} was not handed over to Multi Agency Triage")
    return handover.instance_id


def _moment(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


@case_records.writer("mat_decision")
def _mat_decision(case: Case, fields: Mapping[str, Any], user_id: int | None) -> None:
    child = _child(case, fields["child_key"])
    outcome = str(fields["outcome"])
    if outcome not in MAT_OUTCOMES:
        raise LookupError(f"unknown MAT outcome {outcome!r}")
    override = fields.get("consent_override_reason")
    if outcome == "further_checks" and not override:
        raise ValueError("further checks need the recorded reason for overriding consent (§5.1)")
    row = MatDecision(
        case_id=case.id,
        instance_id=_instance_id(case, child),
        child_id=child.id,
        meeting_at=_moment(fields.get("meeting_at")),
        outcome=outcome,
        rationale=str(fields.get("rationale") or ""),
        consent_override_reason=str(override) if override else None,
        decided_at=utcnow(),
        decided_by_id=user_id,
    )
    db.session.add(row)
    db.session.flush()
    audit.record("MAT_DECISION_RECORDED", user_id, case_id=case.id, decision_id=row.id, outcome=outcome)
    detail = [["Rationale", row.rationale]]
    if row.consent_override_reason:
        audit.record("MAT_CONSENT_OVERRIDDEN", user_id, case_id=case.id, decision_id=row.id)
        detail.append(["Why consent is overridden", row.consent_override_reason])
    timeline.add(
        case.id, user_id, f"Multi Agency Triage decided for {child.person.name}: {MAT_OUTCOMES[outcome]}", detail
    )


@case_records.writer("mat_final_decision")
def _mat_final_decision(case: Case, fields: Mapping[str, Any], user_id: int | None) -> None:
    child = _child(case, fields["child_key"])
    outcome = str(fields["final_outcome"])
    if outcome not in MAT_FINAL_DECISIONS:
        raise LookupError(f"unknown final decision {outcome!r}")
    instance_id = _instance_id(case, child)
    row = db.session.scalar(
        select(MatDecision).where(MatDecision.instance_id == instance_id, MatDecision.child_id == child.id)
    )
    if row is None or row.outcome != "further_checks":
        raise LookupError(f"no decision for further checks was recorded for {child.key}")
    row.final_outcome = outcome
    row.final_rationale = str(fields.get("final_rationale") or "")
    row.final_decided_at = utcnow()
    row.final_decided_by_id = user_id
    audit.record("MAT_FINAL_DECISION_RECORDED", user_id, case_id=case.id, decision_id=row.id, outcome=outcome)
    timeline.add(
        case.id,
        user_id,
        f"Final decision after further checks for {child.person.name}: {MAT_FINAL_DECISIONS[outcome]}",
        [["Rationale", row.final_rationale]],
    )


def decisions_of(case_id: int) -> list[MatDecision]:
    return list(db.session.scalars(select(MatDecision).where(MatDecision.case_id == case_id).order_by(MatDecision.id)))


def scenario_facts(case: Case) -> dict[str, dict[str, Any]]:
    """What a scenario may expect under "mat": each child's MAT decision as recorded."""
    return {
        row.child.key: {
            "outcome": row.outcome,
            "consent_overridden": row.consent_override_reason is not None,
            "final_outcome": row.final_outcome,
        }
        for row in decisions_of(case.id)
    }


# --- The triage list -----------------------------------------------------------------------------------


@dataclass
class Part:
    key: str  # police_check, health_check, social_care_check
    label: str
    recorded: bool
    task: Task | None = None  # the open task, when the viewer may act on it


@dataclass
class Item:
    case: Case
    child_name: str
    instance_id: int
    parts: list[Part]
    status: str  # what the item waits for, or what was decided
    decided: bool = False
    tasks: list[Task] = field(default_factory=list)  # open tasks of this item the viewer may act on
    case_visible: bool = False


@dataclass
class MeetingDay:
    day: date
    items: list[Item]

    @property
    def when(self) -> str:
        return "today" if self.day == _today() else ("earlier" if self.day < _today() else "later")


def _today() -> date:
    return utcnow().astimezone(LONDON).date()


def _local_day(moment: datetime | None) -> date:
    return (moment or utcnow()).astimezone(LONDON).date()


def triage_list(user: User) -> list[MeetingDay]:
    """The MAT items by meeting day: today's first, then the days ahead, then earlier meetings whose items are
    still undecided. Items still to be decided come from the task table; today's decisions from this flow's
    own table."""
    open_tasks = list(db.session.scalars(select(Task).where(Task.flow == FLOW).order_by(Task.created_at)))
    by_instance: dict[int, list[Task]] = {}
    for task in open_tasks:
        by_instance.setdefault(task.instance_id, []).append(task)

    days: dict[date, list[Item]] = {}
    for instance_id, tasks in by_instance.items():
        at_meeting = [t for t in tasks if t.bpmn_id in MEETING_TASKS]
        if not at_meeting:
            continue  # after the meeting (further checks): listed with the day's decisions below
        open_ids = {t.bpmn_id for t in at_meeting}
        status = "Ready for the meeting's decision" if "joint_decision" in open_ids else "Agencies still checking"
        item = _item(user, tasks[0].case, at_meeting[0].subject, instance_id, tasks, open_ids, status)
        days.setdefault(_local_day(min(t.due_at or t.created_at for t in at_meeting)), []).append(item)

    today = _today()
    for row in _decisions_to_show(today):
        tasks = by_instance.get(row.instance_id, [])
        status = MAT_OUTCOMES[row.outcome]
        if row.outcome == "further_checks":
            status += ": " + (MAT_FINAL_DECISIONS[row.final_outcome] if row.final_outcome else "under way")
        item = _item(
            user, db.session.get(Case, row.case_id), row.child.person.name, row.instance_id, tasks, set(), status
        )
        item.decided = True
        days.setdefault(_local_day(row.meeting_at or row.decided_at), []).append(item)

    ordered = [d for d in [today] if d in days]
    ordered += sorted(d for d in days if d > today) + sorted((d for d in days if d < today), reverse=True)
    return [MeetingDay(day, sorted(days[day], key=lambda i: (i.decided, i.case.reference))) for day in ordered]


def _decisions_to_show(today: date) -> list[MatDecision]:
    """Today's decisions, and any decision whose further checks are still under way; none of a contact
    recorded in error."""
    since = datetime.combine(today, time(0), tzinfo=LONDON).astimezone(UTC)
    checks_under_way = (MatDecision.outcome == "further_checks") & MatDecision.final_outcome.is_(None)
    return list(
        db.session.scalars(
            select(MatDecision)
            .join(Case, Case.id == MatDecision.case_id)
            .where(Case.voided_at.is_(None), or_(MatDecision.decided_at >= since, checks_under_way))
            .order_by(MatDecision.id)
        )
    )


def _item(
    user: User, case: Case | None, child_name: str, instance_id: int, tasks: list[Task], open_ids: set[str], status: str
) -> Item:
    assert case is not None
    actionable = [t for t in tasks if policy.can_act_on_task(user, t)]
    parts = []
    for key, label in MAT_PARTS.items():
        open_task = next((t for t in tasks if t.bpmn_id == key), None)
        parts.append(
            Part(key, label, recorded=key not in open_ids, task=open_task if open_task in actionable else None)
        )
    return Item(
        case=case,
        # A restricted record's children are not named on the day's list (restricted.py).
        child_name=policy.name_shown(case, child_name) or "",
        instance_id=instance_id,
        parts=parts,
        status=status,
        tasks=actionable,
        case_visible=policy.can_see_case(user, case),
    )
