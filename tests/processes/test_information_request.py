"""The information-request diagram, driven by the scenario data beside it (§12, §13).

Every scenario runs through the real services on a real database under a fake clock; after every step the
task mirror must equal the engine's ready tasks; together the scenarios take every sequence flow and reach
every decision. Focused tests below check what matters most: one transaction for logging, the consent gate
before a disclosure, exactly what was disclosed going to the requester, and audit events holding ids only.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import pytest
from flows import complete as _complete
from flows import run_scenario as run
from flows import scenario_copy, walk_every_scenario
from sqlalchemy import func, select
from support import SCENARIO_START as START

from app.extensions import db
from app.models import AuditEvent, Case, CasePerson, OutboxItem, Person, ProcessInstance, Task
from app.models.information_requests import InformationRequest
from app.services import bundles, information_requests, scenarios, sharing, workflow
from app.services.errors import Forbidden, FormInvalid

FLOW = "information_request"
SCENARIOS = list(scenarios.load(FLOW))


def _scenario(stem: str) -> dict[str, Any]:
    return scenario_copy(SCENARIOS, stem)


def _request(case_id: int) -> InformationRequest:
    db.session.expire_all()
    found = information_requests.for_case(case_id)
    assert found is not None
    return found


def test_there_are_scenarios() -> None:
    assert len(SCENARIOS) >= 8
    assert all(s.get("start_with") == "information_request" for _p, s in SCENARIOS)


def test_every_scenario_passes_and_every_sequence_flow_is_taken_and_every_decision_reached(fresh) -> None:
    decisions, consents, grounds, agencies, statuses = set(), set(), set(), set(), set()

    def look(result: scenarios.ScenarioResult) -> None:
        request = _request(result.case_id)
        decisions.add((request.proportionate, request.decision))
        consents.add(request.consent)
        grounds.add(request.ground)
        agencies.add(request.agency)
        statuses.add(request.status)

    coverage = walk_every_scenario(FLOW, SCENARIOS, look)
    assert coverage.flows == 19
    assert coverage.never == [], coverage.report
    assert decisions == {(True, "disclose_all"), (True, "disclose_part"), (True, "refuse"), (False, "refuse")}
    assert consents == {None, "given", "refused", "not_received"}
    assert grounds == set(information_requests.GROUNDS)
    assert agencies == set(information_requests.AGENCIES)
    assert statuses == {"disclosed", "refused"}


def test_a_scenario_that_expects_the_wrong_record_is_caught(fresh) -> None:
    scenario = _scenario("cafcass_court_order_disclosed_in_full")
    wrong = copy.deepcopy(scenario)
    wrong["expect"]["information_request"]["status"] = "refused"
    result = run(wrong)
    assert len(result.mismatches) == 1 and result.mismatches[0].startswith("information_request: expected")


def test_logging_makes_one_case_with_its_subjects_and_starts_the_flow(fresh, clock) -> None:
    scenario = _scenario("other_la_safeguarding_two_people_disclosed")
    case = information_requests.log_request(scenarios.demo_user("coordinator"), scenario["start"])
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert (case.source, case.request_type, case.status) == ("agency", "information_request", "open")
    assert case.reference == f"CT-{case.id:06d}"
    assert sorted((p.key, p.role, p.person.name) for p in case.people) == [
        ("subject-1", "subject", "Mia Move"),
        ("subject-2", "subject", "Noah Move"),
    ]
    assert case.children == []  # a request is not a contact about children: no outcome is pending
    request = _request(case.id)
    assert (request.agency, request.agency_name, request.ground) == (
        "other_la",
        "Herefordshire Council",
        "safeguarding",
    )
    assert request.received_at == START
    assert request.due_at == START + timedelta(days=2)  # two working days from a Tuesday morning
    assert request.status == "checks"
    tasks = db.session.scalars(select(Task).where(Task.case_id == case.id)).all()
    assert [(t.bpmn_id, t.lane, t.subject) for t in tasks] == [
        ("routine_checks", "business_support", "Mia Move, Noah Move")
    ]
    names = [e.name for e in db.session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id))]
    assert "INFORMATION_REQUEST_LOGGED" in names and "PROCESS_STARTED" in names


def test_a_subject_already_known_is_matched_not_duplicated(fresh, clock) -> None:
    known = Person(
        name="Ava Court", name_key="ava court", date_of_birth=START.date().replace(year=2016, month=4, day=12)
    )
    db.session.add(known)
    db.session.commit()
    case = information_requests.log_request(
        scenarios.demo_user("ssw"), _scenario("cafcass_court_order_disclosed_in_full")["start"]
    )
    subject = db.session.scalar(select(CasePerson).where(CasePerson.case_id == case.id))
    assert subject.person_id == known.id
    assert db.session.scalar(select(func.count(Person.id)).where(Person.name_key == "ava court")) == 1


def test_business_support_sees_the_earlier_contacts_about_each_subject(fresh, clock) -> None:
    from app.services import contacts

    contact = json.loads(
        (bundles.PROCESSES_DIR / "initial_contact" / "scenarios" / "below_threshold_advice.json").read_text("utf-8")
    )["start"]
    child = contact["children"][0]
    earlier = contacts.record_contact(scenarios.demo_user("fpoc"), contact)
    start = {
        **_scenario("cafcass_court_order_disclosed_in_full")["start"],
        "subjects": [{"name": child["name"], "date_of_birth": child["date_of_birth"]}, {"name": "Nobody Known"}],
    }
    case = information_requests.log_request(scenarios.demo_user("coordinator"), start)
    task = db.session.scalar(select(Task).where(Task.case_id == case.id))
    shown = workflow.task_data(task)["known_to_compass"]
    assert shown == (
        f"{child['name']}: {earlier.reference} (not decided yet, {START.date().isoformat()}). "
        "Nobody Known: no earlier contact found"
    )


def test_bad_input_saves_nothing(fresh, clock) -> None:
    start = _scenario("cafcass_court_order_disclosed_in_full")["start"]
    bad = {**start, "requester_email": "not an address", "subjects": []}
    with pytest.raises(FormInvalid) as invalid:
        information_requests.log_request(scenarios.demo_user("coordinator"), bad)
    assert {e.path for e in invalid.value.errors} == {"requester_email", "subjects"}
    other_without_name = {**start, "agency": "other"}
    with pytest.raises(FormInvalid) as invalid:
        information_requests.log_request(scenarios.demo_user("coordinator"), other_without_name)
    assert [e.path for e in invalid.value.errors] == ["agency_name"]
    assert db.session.scalar(select(func.count(Case.id))) == 0
    assert db.session.scalar(select(func.count(InformationRequest.id))) == 0


def test_a_flow_that_cannot_start_leaves_no_case(fresh, clock, monkeypatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the engine failed")

    monkeypatch.setattr(workflow, "start_instance", broken)
    with pytest.raises(RuntimeError):
        information_requests.log_request(
            scenarios.demo_user("coordinator"), _scenario("cafcass_court_order_disclosed_in_full")["start"]
        )
    assert db.session.scalar(select(func.count(Case.id))) == 0
    assert db.session.scalar(select(func.count(InformationRequest.id))) == 0
    assert db.session.scalar(select(func.count(CasePerson.id))) == 0


@pytest.mark.parametrize("role", ["fpoc", "partner", "police", "team_manager", "admin"])
def test_only_coordinators_business_support_and_ssws_log_requests(fresh, clock, role: str) -> None:
    with pytest.raises(Forbidden):
        information_requests.log_request(
            scenarios.demo_user(role), _scenario("cafcass_court_order_disclosed_in_full")["start"]
        )


def test_a_disclosure_on_consent_waits_for_the_consent(fresh, clock) -> None:
    scenario = _scenario("fostering_consent_given_disclosed")
    case = information_requests.log_request(scenarios.demo_user("business_support"), scenario["start"])
    for step in scenario["steps"][:2]:
        _complete(case.id, step["task"], step["as"], step["data"])
    request = _request(case.id)
    assert (request.decision, request.disclosed_at, request.status) == ("disclose_part", None, "awaiting_consent")
    assert db.session.scalar(select(func.count(OutboxItem.id)).where(OutboxItem.case_id == case.id)) == 0

    clock.shift(timedelta(days=3))
    _complete(case.id, "confirm_consent", "business_support", {"consent_status": "given", "consent_how": "in_writing"})
    request = _request(case.id)
    assert request.consent == "given"
    assert request.consent_recorded_at == request.disclosed_at == START + timedelta(days=3)


def test_consent_given_must_say_how(fresh, clock) -> None:
    scenario = _scenario("fostering_consent_given_disclosed")
    case = information_requests.log_request(scenarios.demo_user("business_support"), scenario["start"])
    for step in scenario["steps"][:2]:
        _complete(case.id, step["task"], step["as"], step["data"])
    with pytest.raises(FormInvalid):
        _complete(case.id, "confirm_consent", "business_support", {"consent_status": "given"})


def test_exactly_what_was_decided_is_sent_to_the_requester(fresh, clock) -> None:
    scenario = _scenario("police_investigation_disclosed_in_part")
    case = information_requests.log_request(scenarios.demo_user("coordinator"), scenario["start"])
    for step in scenario["steps"]:
        _complete(case.id, step["task"], step["as"], step["data"])
    text = scenario["steps"][1]["data"]["disclosure"]
    [email] = db.session.scalars(select(OutboxItem).where(OutboxItem.case_id == case.id)).all()
    assert (email.channel, email.recipient_role, email.address) == (
        "email",
        "requester",
        "sam.officer@police.example.org",
    )
    assert email.template == "information_request_disclosure"
    assert text in email.body
    assert "need to know" in email.body  # the conditions of §13 travel with the information
    assert case.reference in email.subject and "Liam" not in email.subject
    request = _request(case.id)
    assert request.disclosed_text == text
    assert request.decided_by_id == scenarios.demo_user("ssw").id
    assert request.rationale.startswith("Only the incident history")


def test_a_refusal_gives_the_reason_meant_for_the_requester_not_the_rationale(fresh, clock) -> None:
    scenario = _scenario("probation_legal_obligation_refused")
    case = information_requests.log_request(scenarios.demo_user("coordinator"), scenario["start"])
    for step in scenario["steps"]:
        _complete(case.id, step["task"], step["as"], step["data"])
    decision = scenario["steps"][1]["data"]
    [email] = db.session.scalars(select(OutboxItem).where(OutboxItem.case_id == case.id)).all()
    assert email.template == "information_request_refusal"
    assert decision["refusal_reason"] in email.body
    assert decision["rationale"] not in email.body
    request = _request(case.id)
    assert (request.status, request.refusal_reason, request.disclosed_text) == (
        "refused",
        decision["refusal_reason"],
        None,
    )


@pytest.mark.parametrize(
    ("answers", "paths"),
    [
        # A disclosure needs its rationale and the exact text to send.
        ({"proportionate": True, "disclosure_decision": "disclose_all"}, {"rationale", "disclosure"}),
        # What is not proportionate is refused, never disclosed.
        (
            {
                "proportionate": False,
                "disclosure_decision": "disclose_part",
                "disclosure": "Some text here",
                "rationale": "It seemed fine to share.",
            },
            {"disclosure_decision"},
        ),
        # A refusal needs the reason the requester will be given.
        (
            {"proportionate": True, "disclosure_decision": "refuse", "rationale": "Not lawful here at all."},
            {"refusal_reason"},
        ),
    ],
)
def test_a_decision_needs_its_rationale_and_what_it_sends(fresh, clock, answers, paths) -> None:
    scenario = _scenario("probation_legal_obligation_refused")
    case = information_requests.log_request(scenarios.demo_user("coordinator"), scenario["start"])
    _complete(case.id, "routine_checks", "business_support", scenario["steps"][0]["data"])
    with pytest.raises(FormInvalid) as invalid:
        _complete(case.id, "decide_request", "ssw", answers)
    assert {e.path for e in invalid.value.errors} == paths
    assert _request(case.id).decision is None


def test_the_case_closes_when_the_flow_ends(fresh, clock) -> None:
    scenario = _scenario("disproportionate_request_refused")
    case = information_requests.log_request(scenarios.demo_user("coordinator"), scenario["start"])
    _complete(case.id, "routine_checks", "business_support", scenario["steps"][0]["data"])
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == "open"
    _complete(case.id, "decide_request", "ssw", scenario["steps"][1]["data"])
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == "closed"
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case.id))
    assert instance.status == "completed"


def test_audit_events_hold_ids_never_details(fresh) -> None:
    for stem in ("fostering_consent_given_disclosed", "probation_legal_obligation_refused"):
        assert run(_scenario(stem)).mismatches == []
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.name.like("INFORMATION_%"))).all()
    names = sorted(e.name for e in events)
    assert names == [
        "INFORMATION_DISCLOSED",
        "INFORMATION_REQUEST_DECIDED",
        "INFORMATION_REQUEST_DECIDED",
        "INFORMATION_REQUEST_LOGGED",
        "INFORMATION_REQUEST_LOGGED",
        "INFORMATION_REQUEST_REFUSED",
        "INFORMATION_SHARED",
    ]
    for event in events:
        assert set(event.data) <= {"case_id", "information_request_id", "decision", "sharing_record_id", "basis"}
        assert all(
            isinstance(v, int) or v in information_requests.DECISIONS or v in sharing.BASES for v in event.data.values()
        )


def test_the_logging_form_is_a_valid_form() -> None:
    from app import schemaforms

    assert schemaforms.check_form_schema(information_requests.log_form()) == []
