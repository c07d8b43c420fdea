"""Hand-overs between flows: each starts its own instance on the same case, on the target flow's live
version, with the data it needs; the flow it went to decides the child; the case closes only when every
flow of it has ended."""

from __future__ import annotations

from sqlalchemy import select
from support import store_test_bundle, user

from app.extensions import db
from app.models import AuditEvent, Case, CasePerson, LiveBundle, ProcessInstance, Task
from app.services import bundles, case_records, handovers, people, workflow


def _case_with_child() -> tuple[Case, CasePerson]:
    case = Case(reference="T-relay", source="phone", created_by_id=user("ssw").id)
    db.session.add(case)
    db.session.flush()
    child = CasePerson(case=case, person=people.new_person("Amy Relay"), key="child-1", role="child")
    db.session.add(child)
    db.session.flush()
    return case, child


def _make_relay_live() -> None:
    row = store_test_bundle("relay")
    bundles.make_live(row.id)


def test_a_hand_over_starts_the_flow_with_the_child_and_why(fresh) -> None:
    _make_relay_live()
    case, child = _case_with_child()
    case_records.add_handover(case, "relay", "Consent could not be obtained", child, user("ssw").id)
    started = handovers.start_waiting(case, user("ssw").id)
    db.session.commit()

    (instance,) = started
    assert (instance.flow, instance.case_id, instance.status) == ("relay", case.id, "running")
    assert case.handovers[0].status == "started" and case.handovers[0].instance_id == instance.id
    task = db.session.scalar(select(Task).where(Task.case_id == case.id))
    assert (task.bpmn_id, task.subject) == ("consider", "Amy Relay")
    data = workflow.task_data(task)
    assert data["child"]["key"] == "child-1"
    assert data["handover"] == {"flow": "relay", "reason": "Consent could not be obtained", "from_flow": None}
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.name == "HANDOVER_STARTED")) is not None


def test_the_flow_handed_to_decides_the_child_and_the_case_closes(fresh) -> None:
    _make_relay_live()
    case, child = _case_with_child()
    child.outcome, child.handover = "progress_to_referral", "relay"
    child.decided_at = case.created_at
    case_records.add_handover(case, "relay", "", child, None)
    handovers.start_waiting(case, None)
    db.session.commit()
    task = db.session.scalar(select(Task).where(Task.case_id == case.id))

    workflow.complete_task(user("ssw"), task.id, {"finding": "Nothing known to any agency."})

    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert (case.children[0].outcome, case.children[0].handover) == ("no_further_action", None)
    assert case.status == "closed"
    assert [e.title for e in case.events][-2:] == ["Consider the child handed over: Amy Relay", "Contact closed"]


def test_a_case_stays_open_while_any_of_its_flows_runs(fresh) -> None:
    _make_relay_live()
    case, child = _case_with_child()
    child.outcome, child.decided_at = "no_further_action", case.created_at
    case_records.add_handover(case, "relay", "An allegation to look into", None, None)  # the whole case
    handovers.start_waiting(case, None)
    db.session.commit()
    workflow._close_if_done(case, None)
    assert case.status == "open"  # every child decided, but the relay flow still runs


def test_a_hand_over_to_a_flow_not_live_waits_on_the_case(fresh) -> None:
    case, child = _case_with_child()
    assert db.session.get(LiveBundle, "relay") is None
    case_records.add_handover(case, "relay", "", child, None)
    assert handovers.start_waiting(case, None) == []
    assert case.handovers[0].status == "waiting"
    assert db.session.scalars(select(ProcessInstance).where(ProcessInstance.case_id == case.id)).all() == []


def test_two_hand_overs_made_together_start_one_flow_each(fresh) -> None:
    """Starting the first runs its first steps, which look for waiting hand-overs too: each starts once."""
    _make_relay_live()
    case, amy = _case_with_child()
    ben = CasePerson(case=case, person=people.new_person("Ben Relay"), key="child-2", role="child")
    db.session.add(ben)
    db.session.flush()
    for child in (amy, ben):
        case_records.add_handover(case, "relay", "", child, None)
    handovers.start_waiting(case, None)
    db.session.commit()
    instances = db.session.scalars(select(ProcessInstance).where(ProcessInstance.case_id == case.id)).all()
    assert len(instances) == 2
    assert sorted(h.instance_id for h in case.handovers) == sorted(i.id for i in instances)


def test_a_hand_over_waiting_for_its_flow_starts_when_the_flow_is_made_live(fresh) -> None:
    case, child = _case_with_child()
    case_records.add_handover(case, "relay", "", child, None)
    handovers.start_waiting(case, None)
    db.session.commit()
    assert case.handovers[0].status == "waiting"
    _make_relay_live()
    db.session.expire_all()
    row = db.session.get(Case, case.id).handovers[0]
    assert row.status == "started" and row.instance_id is not None
    task = db.session.scalar(select(Task).where(Task.case_id == case.id))
    assert task.bpmn_id == "consider"


def test_a_case_waiting_to_hand_over_as_a_whole_does_not_close(fresh) -> None:
    case, child = _case_with_child()
    child.outcome, child.decided_at = "no_further_action", case.created_at
    case_records.add_handover(case, "relay", "An allegation to look into", None, None)
    workflow._close_if_done(case, None)
    assert case.status == "open"
