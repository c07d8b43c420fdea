"""The LADO allegations diagram, driven by the scenario data beside it.

Each scenario records a contact with an allegation against someone who works with children, walks the
initial contact to its own decision for the child, and then the LADO's flow, which runs beside it as its own
instance; the case stays open until the LADO closes the allegation. Together the scenarios take every
sequence flow of the diagram and reach every outcome.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from flows import complete as _complete
from flows import run_scenario as run
from flows import scenario_copy, walk_every_scenario
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Case, OutboxItem, ProcessInstance, Task
from app.models.lado import LadoAllegation
from app.services import contacts, lado, scenarios

FLOW = "lado"
SCENARIOS = list(scenarios.load(FLOW))


def _scenario(stem: str) -> dict[str, Any]:
    return scenario_copy(SCENARIOS, stem)


def _walk(case_id: int, steps: list[dict[str, Any]]) -> None:
    for step in steps:
        _complete(case_id, step["task"], step["as"], step["data"])


def _allegation(case_id: int) -> LadoAllegation:
    db.session.expire_all()
    row = db.session.scalar(select(LadoAllegation).where(LadoAllegation.case_id == case_id))
    assert row is not None
    return row


def test_there_are_scenarios() -> None:
    assert len(SCENARIOS) >= 8


def test_every_scenario_passes_and_every_sequence_flow_is_taken_and_every_outcome_reached(fresh) -> None:
    outcomes: set[str | None] = set()

    def look(result: scenarios.ScenarioResult) -> None:
        row = db.session.scalar(select(LadoAllegation).where(LadoAllegation.case_id == result.case_id))
        if row is not None and row.closed_at is not None:
            outcomes.add(row.outcome)

    coverage = walk_every_scenario(FLOW, SCENARIOS, look)
    assert coverage.flows >= 15
    assert coverage.never == [], coverage.report
    # Every outcome of the flow: the five of an allegation, and closed with advice (no outcome).
    assert outcomes == {*lado.OUTCOMES, None}


def test_a_scenario_that_expects_the_wrong_outcome_is_caught(fresh) -> None:
    scenario = _scenario("malicious_allegation")
    scenario["expect"]["lado"] = {**scenario["expect"]["lado"], "outcome": "false"}
    result = run(scenario)
    assert len(result.mismatches) == 1 and result.mismatches[0].startswith("lado: expected")


def test_the_allegation_opens_with_the_person_as_the_intake_gave_them(fresh, clock) -> None:
    scenario = _scenario("one_meeting_substantiated_with_suspension_and_dbs_referral")
    case = contacts.record_contact(scenarios.demo_user("fpoc"), scenario["start"])
    row = _allegation(case.id)
    assert (row.subject_name, row.subject_role, row.subject_employer) == (
        "Chris Coach",
        "Football coach",
        "Town Juniors FC",
    )
    lado_instance = db.session.scalar(
        select(ProcessInstance).where(ProcessInstance.case_id == case.id, ProcessInstance.flow == FLOW)
    )
    assert row.instance_id == lado_instance.id
    task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "initial_consideration"))
    assert (task.lane, task.team) == ("lado", "lado")
    opened = db.session.scalar(select(AuditEvent).where(AuditEvent.name == "LADO_ALLEGATION_OPENED"))
    assert opened.data == {"case_id": case.id, "allegation_id": row.id}  # ids only, never the person's name


def test_the_child_is_decided_by_the_initial_contact_while_the_lado_goes_on(fresh, clock) -> None:
    scenario = _scenario("two_meetings_unsubstantiated")
    case = contacts.record_contact(scenarios.demo_user("fpoc"), scenario["start"])
    _walk(case.id, scenario["steps"][:2])  # the senior social worker decides for the child
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert case.children[0].outcome == "provision_of_information_advice"
    assert case.status == "open"  # the LADO's instance still runs
    _walk(case.id, [s for s in scenario["steps"][2:] if "task" in s])
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == "closed"


def test_initial_consideration_is_due_one_working_day_after_the_handover_across_a_weekend(fresh) -> None:
    # Handed over at 15:00 on Friday 27 November 2026 (GMT): due 15:00 on Monday 30 November.
    friday = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    scenario = _scenario("no_harm_criterion_met_advice_and_no_further_action")
    consideration = next(s for s in scenario["steps"] if s.get("task") == "initial_consideration")
    with time_machine.travel(friday, tick=False) as traveller:
        case = contacts.record_contact(scenarios.demo_user("fpoc"), scenario["start"])
        task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "initial_consideration"))
        monday = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
        assert task.due_at == monday
        assert _allegation(case.id).consideration_due_at == monday
        traveller.move_to(monday - timedelta(minutes=1))
        _complete(case.id, "initial_consideration", "lado", consideration["data"])
        assert _allegation(case.id).considered_in_time is True


def test_initial_consideration_after_the_deadline_is_late(fresh) -> None:
    friday = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    scenario = _scenario("no_harm_criterion_met_advice_and_no_further_action")
    consideration = next(s for s in scenario["steps"] if s.get("task") == "initial_consideration")
    with time_machine.travel(friday, tick=False) as traveller:
        case = contacts.record_contact(scenarios.demo_user("fpoc"), scenario["start"])
        traveller.move_to(datetime(2026, 11, 30, 15, 1, tzinfo=UTC))
        _complete(case.id, "initial_consideration", "lado", consideration["data"])
        row = _allegation(case.id)
        assert row.considered_in_time is False
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.name == "LADO_ALLEGATION_CONSIDERED"))
        assert event.data["in_time"] is False


def test_a_further_meeting_is_due_on_the_last_review_date(fresh, clock) -> None:
    scenario = _scenario("two_meetings_unsubstantiated")
    case = contacts.record_contact(scenarios.demo_user("fpoc"), scenario["start"])
    first_meeting = next(s for s in scenario["steps"] if s.get("task") == "hold_meeting")
    _walk(case.id, [s for s in scenario["steps"] if s.get("task") in ("ssw_review", "ssw_decision")])
    _walk(case.id, [s for s in scenario["steps"] if s.get("task") == "initial_consideration"])
    first = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "hold_meeting"))
    assert first.due_at is None  # the first meeting has no review date to be due by
    _complete(case.id, "hold_meeting", "lado", first_meeting["data"])
    second = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "hold_meeting"))
    assert second.id != first.id
    assert second.due_at == datetime(2026, 12, 8, 17, 0, tzinfo=UTC)


def test_closure_writes_to_the_employer_and_records_the_dbs_referral(fresh) -> None:
    result = run(_scenario("one_meeting_substantiated_with_suspension_and_dbs_referral"))
    assert result.mismatches == []
    row = _allegation(result.case_id)
    assert row.dbs_referred_at is not None and row.outcome == "substantiated"
    assert [m["attendees"][1] for m in row.meetings] == [{"name": "DC Sam Reed", "agency": "police"}]
    (letter,) = db.session.scalars(
        select(OutboxItem).where(OutboxItem.case_id == result.case_id, OutboxItem.recipient_role == "employer")
    )
    assert (letter.channel, letter.address, letter.recipient_name) == (
        "email",
        "welfare@townjuniors.example",
        "Jo Chair",
    )
    assert "The outcome is: substantiated" in letter.body
    assert "referral to the Disclosure and Barring Service" in letter.body
    assert "Amy" not in letter.subject + letter.body  # the child is not named to the employer
    names = {e.name for e in db.session.scalars(select(AuditEvent).where(AuditEvent.case_id == result.case_id))}
    assert {"LADO_MEETING_RECORDED", "LADO_DBS_REFERRAL_RECORDED", "LADO_ALLEGATION_CLOSED"} <= names


def test_an_advice_letter_goes_when_no_criterion_is_met(fresh) -> None:
    result = run(_scenario("no_harm_criterion_met_advice_and_no_further_action"))
    assert result.mismatches == []
    (letter,) = db.session.scalars(
        select(OutboxItem).where(OutboxItem.case_id == result.case_id, OutboxItem.recipient_role == "employer")
    )
    assert letter.template == "lado_advice" and "no further action" in letter.body
    assert _allegation(result.case_id).dbs_referred_at is None


def test_a_meeting_needs_a_harm_criterion_and_advice_needs_none(fresh, clock) -> None:
    from app.services.errors import FormInvalid

    scenario = _scenario("two_meetings_unsubstantiated")
    case = contacts.record_contact(scenarios.demo_user("fpoc"), scenario["start"])
    consideration = next(s for s in scenario["steps"] if s.get("task") == "initial_consideration")["data"]
    without = {k: v for k, v in consideration.items() if k != "harm_criteria"}
    with pytest.raises(FormInvalid):
        _complete(case.id, "initial_consideration", "lado", without)
    with pytest.raises(FormInvalid):
        _complete(case.id, "initial_consideration", "lado", {**consideration, "initial_decision": "advice"})
    assert _allegation(case.id).considered_at is None


@pytest.mark.parametrize(
    ("closed", "born", "kept_until"),
    [
        # Not known: ten years from closure.
        (datetime(2026, 11, 24, 12, 0, tzinfo=UTC), None, date(2036, 11, 24)),
        # Born 1970: retirement at 67 (2037) is later than ten years from closure.
        (datetime(2026, 11, 24, 12, 0, tzinfo=UTC), date(1970, 5, 1), date(2037, 5, 1)),
        # Born 1958: retirement at 66 (2024) has passed; ten years from closure.
        (datetime(2026, 11, 24, 12, 0, tzinfo=UTC), date(1958, 3, 2), date(2036, 11, 24)),
        # Born 1990: retirement at 68 (2058).
        (datetime(2026, 11, 24, 12, 0, tzinfo=UTC), date(1990, 1, 15), date(2058, 1, 15)),
        # Closed late in the evening in British Summer Time: the London date counts.
        (datetime(2027, 6, 30, 23, 30, tzinfo=UTC), None, date(2037, 7, 1)),
        # Closed on 29 February: kept to 1 March, never a day short.
        (datetime(2028, 2, 29, 12, 0, tzinfo=UTC), None, date(2038, 3, 1)),
    ],
)
def test_retention_is_retirement_age_or_ten_years_whichever_is_longer(
    closed: datetime, born: date | None, kept_until: date
) -> None:
    assert lado.retain_until(closed, born) == kept_until


def test_the_retention_date_is_recorded_on_closure(fresh) -> None:
    result = run(_scenario("unfounded_allegation"))
    assert result.mismatches == []
    row = _allegation(result.case_id)
    assert row.subject_date_of_birth == date(1990, 1, 15)
    assert row.retain_until == date(2058, 1, 15)
