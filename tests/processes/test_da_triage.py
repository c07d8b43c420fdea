"""The domestic-abuse notification triage (DOMAIN.md Flow 3, §8), driven by the scenario data beside its
diagram, plus the receiving of notifications and the clocks of the daily triage.

Every scenario runs through the real services on a real database and a fake clock; after every step the
task mirror must equal the engine's ready tasks; together the scenarios take every sequence flow of both
processes of the diagram (the notification, and the per-child routing it calls).
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

import pytest
import time_machine
from flows import complete as _complete
from flows import open_tasks as _open
from flows import run_scenario as run
from flows import scenario_copy, walk_every_scenario
from sqlalchemy import func, select

from app.extensions import db
from app.models import Case, OutboxItem, ProcessInstance, Task
from app.models.domestic_abuse import DaNotification, DaTriageDecision
from app.services import da_notifications, scenarios
from app.services.errors import Forbidden, FormInvalid

FLOW = "da_triage"
SCENARIOS = list(scenarios.load(FLOW))


def _scenario(stem: str) -> dict[str, Any]:
    return scenario_copy(SCENARIOS, stem)


def test_there_are_scenarios() -> None:
    assert len(SCENARIOS) >= 10
    assert all(s["start_with"] == "domestic_abuse_notification" for _p, s in SCENARIOS)


def test_every_scenario_passes_and_every_sequence_flow_is_taken_and_every_level_and_route_reached(fresh) -> None:
    levels: set[int] = set()
    outcomes: set[str] = set()
    handovers: set[str] = set()

    def look(result: scenarios.ScenarioResult) -> None:
        case = db.session.get(Case, result.case_id)
        levels.update(db.session.scalars(select(DaTriageDecision.level).where(DaTriageDecision.case_id == case.id)))
        outcomes.update(c.outcome for c in case.children if c.outcome)
        handovers.update(h.flow for h in case.handovers)

    coverage = walk_every_scenario(FLOW, SCENARIOS, look)
    assert coverage.flows >= 50
    assert coverage.never == [], coverage.report
    assert levels == {1, 2, 3, 4}
    assert handovers == {"strategy_discussion", "initial_contact"}
    assert {"no_further_action", "provision_of_information_advice", "referral_to_other_agency"} <= outcomes
    assert {"progress_to_referral", "link_to_existing_referral"} <= outcomes


def test_a_scenario_that_expects_the_wrong_level_is_caught(fresh) -> None:
    scenario = _scenario("level_1_record_only")
    scenario["expect"]["da_triage"] = {**scenario["expect"]["da_triage"], "level": 2}
    result = run(scenario)
    assert len(result.mismatches) == 1 and result.mismatches[0].startswith("da_triage: expected")


# --- Receiving --------------------------------------------------------------------------------------------------


def test_one_notification_makes_one_case_with_its_people_and_starts_the_triage(fresh, clock) -> None:
    scenario = _scenario("level_2_letter_to_a_safe_address")
    case, created = da_notifications.receive(scenario["start"], "hand", scenarios.demo_user("coordinator"))
    assert created
    case = db.session.get(Case, case.id)
    assert (case.source, case.request_type, case.status) == ("police", "da_notification", "open")
    roles = {p.key: (p.role, p.person.name) for p in case.people}
    assert roles == {
        "child-1": ("child", "Ruby Victim"),
        "parent-1": ("parent", "Jo Victim"),
        "alleged-perpetrator": ("alleged_perpetrator", "Lee Partner"),
    }
    row = db.session.scalar(select(DaNotification).where(DaNotification.case_id == case.id))
    assert (row.police_reference, row.received_via, row.dash_risk) == ("DA/2026/000101", "hand", "standard")
    # 22:15 London time on 23 November is 22:15 UTC (winter).
    assert row.incident_at == datetime(2026, 11, 23, 22, 15, tzinfo=UTC)
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case.id))
    assert (instance.flow, instance.status) == (FLOW, "running")
    assert _open(case.id) == {"social_care_check", "health_check", "police_check"}


def test_a_resubmission_is_recognised_and_a_changed_one_refused(fresh, clock) -> None:
    start = _scenario("level_1_record_only")["start"]
    user = scenarios.demo_user("police")
    first, created = da_notifications.receive(start, "api", user)
    again, created_again = da_notifications.receive(copy.deepcopy(start), "csv", user)
    assert created and not created_again and again.id == first.id
    # The reference is the same whatever its case or surrounding spaces.
    start_lower = {**copy.deepcopy(start), "police_reference": " da/2026/000101 "}
    assert da_notifications.receive(start_lower, "csv", user) == (first, False)
    changed = {**copy.deepcopy(start), "dash_risk": "high"}
    with pytest.raises(FormInvalid) as refused:
        da_notifications.receive(changed, "api", user)
    (error,) = refused.value.errors
    assert error.path == "police_reference" and "already received" in error.message
    assert db.session.scalar(select(func.count()).select_from(Case)) == 1
    assert db.session.scalar(select(func.count()).select_from(ProcessInstance)) == 1


def test_a_notification_with_problems_saves_nothing_and_says_why_per_field(fresh, clock) -> None:
    start = _scenario("level_1_record_only")["start"]
    bad = {**start, "dash_risk": "extreme", "children": [], "incident_date": "23/11"}
    with pytest.raises(FormInvalid) as refused:
        da_notifications.receive(bad, "hand", scenarios.demo_user("coordinator"))
    messages = {e.path: e.message for e in refused.value.errors}
    assert set(messages) == {"dash_risk", "children", "incident_date"}
    assert messages["children"] == "Add at least one child"
    assert db.session.scalar(select(func.count()).select_from(Case)) == 0


def test_only_coordinators_senior_social_workers_and_police_record_notifications(fresh, clock) -> None:
    start = _scenario("level_1_record_only")["start"]
    with pytest.raises(Forbidden):
        da_notifications.receive(start, "hand", scenarios.demo_user("health"))
    assert db.session.scalar(select(func.count()).select_from(Case)) == 0


# --- Clocks -----------------------------------------------------------------------------------------------------


def test_triage_work_is_due_at_the_days_meeting_or_the_next_working_days(fresh) -> None:
    start = _scenario("level_1_record_only")["start"]
    # Tuesday 24 November 2026 at 08:30: due at 10:00 the same day.
    with time_machine.travel(datetime(2026, 11, 24, 8, 30, tzinfo=UTC), tick=False):
        early, _ = da_notifications.receive(start, "hand", scenarios.demo_user("coordinator"))
    # Friday 27 November at 11:00, after that day's meeting: due at 10:00 on Monday 30 November.
    late_start = {**copy.deepcopy(start), "police_reference": "DA/2026/000999"}
    with time_machine.travel(datetime(2026, 11, 27, 11, 0, tzinfo=UTC), tick=False):
        late, _ = da_notifications.receive(late_start, "hand", scenarios.demo_user("coordinator"))
    for case, due in [
        (early, datetime(2026, 11, 24, 10, 0, tzinfo=UTC)),
        (late, datetime(2026, 11, 30, 10, 0, tzinfo=UTC)),
    ]:
        tasks = db.session.scalars(select(Task).where(Task.case_id == case.id)).all()
        assert {t.due_at for t in tasks} == {due}
        assert {(t.bpmn_id, t.lane) for t in tasks} == {
            ("social_care_check", "ssw"),
            ("health_check", "health"),
            ("police_check", "police"),
        }


def test_the_next_school_day_skips_weekends_half_terms_and_holidays() -> None:
    terms = [
        {"starts": "2026-09-02", "ends": "2026-12-18", "closed": [["2026-10-26", "2026-10-30"]]},
        {"starts": "2027-01-05", "ends": "2027-03-26", "closed": []},
    ]
    assert da_notifications.next_school_day(date(2026, 11, 24), terms) == date(2026, 11, 25)  # a Tuesday
    assert da_notifications.next_school_day(date(2026, 11, 27), terms) == date(2026, 11, 30)  # Friday -> Monday
    assert da_notifications.next_school_day(date(2026, 10, 23), terms) == date(2026, 11, 2)  # over half term
    assert da_notifications.next_school_day(date(2026, 12, 18), terms) == date(2027, 1, 5)  # over Christmas
    # Past the last term known: the next weekday that is not a bank holiday (Easter Monday 2027 is 29 March).
    assert da_notifications.next_school_day(date(2027, 3, 26), terms) == date(2027, 3, 30)
    # A bank holiday inside a term is no school day: the early May bank holiday, Monday 4 May 2026.
    summer = [{"starts": "2026-04-13", "ends": "2026-07-22", "closed": []}]
    assert da_notifications.next_school_day(date(2026, 5, 1), summer) == date(2026, 5, 5)


def test_fourteen_or_more_yes_answers_is_high_risk_whatever_the_level_given(fresh, clock) -> None:
    start = {**_scenario("level_1_record_only")["start"], "dash_yes_count": 16, "dash_risk": "standard"}
    with pytest.raises(FormInvalid) as refused:
        da_notifications.receive(start, "hand", scenarios.demo_user("coordinator"))
    assert [e.path for e in refused.value.errors] == ["dash_risk"]
    assert "16 questions were answered yes" in refused.value.errors[0].message
    assert db.session.scalar(select(func.count()).select_from(Case)) == 0


def test_the_school_is_told_at_once_and_only_of_its_own_pupils(fresh, clock) -> None:
    start = _scenario("level_4_section_47_strategy_discussion")["start"]
    start["children"][1].update(school="Little Acorns Nursery", school_email="office@acorns.example.org")
    case, _ = da_notifications.receive(start, "hand", scenarios.demo_user("police"))
    items = db.session.scalars(select(OutboxItem).where(OutboxItem.case_id == case.id)).all()
    by_address = {i.address: i for i in items}
    assert set(by_address) == {"dsl@castlefields.example.sch.uk", "office@acorns.example.org"}
    school = by_address["dsl@castlefields.example.sch.uk"]
    assert (school.channel, school.template, school.recipient_role) == ("email", "da_operation_encompass", "school")
    assert "Ruby Victim" in school.body and "Sam Victim" not in school.body
    assert "Wednesday 25 November 2026" in school.body or "2026-11-25" in school.body
    # The school hears nothing of the alleged perpetrator or what the police reported.
    assert "Lee Partner" not in school.body and start["summary"] not in school.body


# --- Routes -----------------------------------------------------------------------------------------------------


def test_an_open_case_goes_to_its_allocated_worker_alone(fresh, clock) -> None:
    scenario = _scenario("open_case_goes_to_the_allocated_worker")
    scenarios._import_records(scenario)
    case, _ = da_notifications.receive(scenario["start"], "hand", scenarios.demo_user("coordinator"))
    (task,) = db.session.scalars(select(Task).where(Task.case_id == case.id)).all()
    worker = scenarios.demo_user("allocated_worker")
    assert (task.bpmn_id, task.lane, task.assignee_id, task.team) == (
        "open_case_review",
        "allocated_worker",
        worker.id,
        worker.team_key,
    )


def test_a_lead_professional_is_named_on_their_own_familys_task(fresh, clock) -> None:
    scenario = _scenario("early_help_medium_risk_goes_to_the_lead_professional")
    scenarios._import_records(scenario)
    case, _ = da_notifications.receive(scenario["start"], "hand", scenarios.demo_user("coordinator"))
    (task,) = db.session.scalars(select(Task).where(Task.case_id == case.id)).all()
    assert (task.bpmn_id, task.lane, task.assignee_id) == (
        "lead_professional_consultation",
        "lead_professional",
        scenarios.demo_user("lead_professional").id,
    )


def test_no_letter_goes_to_an_address_that_is_not_safe(fresh, clock) -> None:
    scenario = _scenario("level_2_unsafe_address_contact_made_safely")
    case, _ = da_notifications.receive(scenario["start"], "hand", scenarios.demo_user("coordinator"))
    for step in scenario["steps"][:4]:
        _complete(case.id, step["task"], step["as"], step["data"])
    roles = set(db.session.scalars(select(OutboxItem.recipient_role).where(OutboxItem.case_id == case.id)))
    assert roles == {"school"}
    assert _open(case.id) == {"safe_contact"}


def test_the_support_letter_names_neither_the_perpetrator_nor_the_incident(fresh, clock) -> None:
    scenario = _scenario("level_2_letter_to_a_safe_address")
    result = scenarios.run(scenario)
    assert result.mismatches == []
    (letter,) = db.session.scalars(
        select(OutboxItem).where(OutboxItem.case_id == result.case_id, OutboxItem.recipient_role == "victim")
    )
    assert letter.recipient_name == "Jo Victim" and letter.address == scenario["start"]["victim"]["address"]
    assert "Ruby Victim" in letter.body
    assert "Lee Partner" not in letter.body and "DA/2026" not in letter.body


def test_the_triage_decision_is_kept_with_its_matrix(fresh, clock) -> None:
    scenario = _scenario("level_3_early_offer_of_help_with_health_action")
    result = scenarios.run(scenario)
    assert result.mismatches == []
    row = db.session.scalar(select(DaTriageDecision).where(DaTriageDecision.case_id == result.case_id))
    assert (row.level, row.dash_risk) == (3, "medium")
    assert row.risk_factors == ["child_present", "escalation", "substance_misuse"]
    assert row.protective_factors == ["protective_parent", "attends_school"]
    assert row.decided_by_id == scenarios.demo_user("ssw").id
    assert row.instance_id == db.session.scalar(
        select(ProcessInstance.id).where(ProcessInstance.case_id == result.case_id, ProcessInstance.flow == FLOW)
    )
