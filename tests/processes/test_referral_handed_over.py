"""A child handed over for a referral at section 17 (domestic-abuse triage, level 4, §8.9) starts the
initial contact's referral path at the consent step: the threshold is not decided a second time."""

from __future__ import annotations

from sqlalchemy import select
from support import SCENARIO_START, user

from app.extensions import db
from app.models import Case, CasePerson, ProcessInstance, Referral, Task
from app.models.types import utcnow
from app.services import case_records, handovers, people, workflow


def _case_decided_at_triage() -> Case:
    """A case whose child a triage decided needs a referral at s17, with one parent safe to write to."""
    case = Case(reference="T-triaged", source="police", request_type="da_notification", created_by_id=user("ssw").id)
    db.session.add(case)
    db.session.flush()
    child = CasePerson(case=case, person=people.new_person("Kit Triaged"), key="child-1", role="child", threshold="s17")
    parent = CasePerson(
        case=case,
        person=people.new_person("Lee Triaged"),
        key="parent-1",
        role="parent",
        details={"parental_responsibility": True, "safe_to_write": True, "address": "2 Low Road, Ludlow SY8 1AA"},
    )
    db.session.add_all([child, parent])
    db.session.flush()
    child.handover, child.decided_at = "initial_contact", utcnow()
    case_records.add_handover(case, "initial_contact", "Level 4 at triage: a child in need", child, None)
    handovers.start_waiting(case, None)
    db.session.commit()
    return case


def _ready(case_id: int) -> list[Task]:
    db.session.expire_all()
    return list(db.session.scalars(select(Task).where(Task.case_id == case_id)))


def test_the_parents_are_asked_for_consent_straight_away(fresh, clock) -> None:
    case = _case_decided_at_triage()
    (task,) = _ready(case.id)
    assert (task.bpmn_id, task.subject, task.lane) == ("seek_consent", "Kit Triaged", "coordinator")
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case.id))
    assert instance.flow == "initial_contact"


def test_consent_given_makes_the_referral_and_the_child_is_decided(fresh, clock) -> None:
    case = _case_decided_at_triage()
    (task,) = _ready(case.id)
    workflow.complete_task(
        user("coordinator"),
        task.id,
        {"consents": [{"name": "Lee Triaged", "answer": "given"}], "how_asked": "By phone on Tuesday."},
    )
    referral = db.session.scalar(select(Referral).where(Referral.case_id == case.id))
    assert (referral.threshold, referral.route, referral.accepted_at) == ("s17", "consent_given", SCENARIO_START)
    assert [t.bpmn_id for t in _ready(case.id)] == ["acknowledge_referral"]
    for bpmn_id, role, data in [
        ("acknowledge_referral", "coordinator", {"acknowledged_how": "phone"}),
        (
            "partner_information",
            "coordinator",
            {"agencies": ["police"], "summary": "Police: the notification only.", "consent_withdrawn": False},
        ),
        (
            "referral_outcome",
            "ssw",
            {
                "referral_outcome": "assessment",
                "rationale": "Repeated incidents at home.",
                "next_steps": "An assessment this week.",
            },
        ),
    ]:
        (task,) = _ready(case.id)
        assert task.bpmn_id == bpmn_id
        workflow.complete_task(user(role), task.id, data)
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    child = case.children[0]
    assert (child.threshold, child.outcome, child.handover) == ("s17", "progress_to_referral", None)
    assert case.status == "closed"


def test_consent_refused_closes_with_a_letter_to_the_parent(fresh, clock) -> None:
    from app.models import OutboxItem

    case = _case_decided_at_triage()
    (task,) = _ready(case.id)
    workflow.complete_task(
        user("coordinator"),
        task.id,
        {"consents": [{"name": "Lee Triaged", "answer": "refused"}], "how_asked": "By phone on Tuesday."},
    )
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert (case.children[0].outcome, case.status) == ("no_further_action", "closed")
    letters = db.session.scalars(select(OutboxItem).where(OutboxItem.case_id == case.id)).all()
    assert [(i.template, i.recipient_name) for i in letters] == [("consent_not_given", "Lee Triaged")]
