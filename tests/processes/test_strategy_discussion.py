"""The strategy-discussion diagram (DOMAIN.md Flow 4, the operating procedures §6), driven by the scenario data
beside it: each scenario records a contact, walks the initial contact to the senior social worker's s47
hand-over, then arranges, holds and records the discussion.

Together the scenarios take every sequence flow and reach every decision; focused tests cover the invitation
list, the referrer's confidentiality, and the conference date counted in working days across bank holidays.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from flows import complete as _complete
from flows import run_scenario as run
from flows import scenario_copy, walk_every_scenario
from sqlalchemy import select
from support import SCENARIO_START as START

from app.extensions import db
from app.models import Case, OutboxItem, Task
from app.models.strategy import StrategyDiscussion
from app.roles import STRATEGY_DECISIONS
from app.services import bundles, contacts, scenarios, workflow

FLOW = "strategy_discussion"
SCENARIOS = list(scenarios.load(FLOW))


def _scenario(stem: str) -> dict[str, Any]:
    return scenario_copy(SCENARIOS, stem)


def test_there_are_scenarios() -> None:
    assert len(SCENARIOS) >= 6


def test_every_scenario_passes_and_every_sequence_flow_is_taken_and_every_decision_reached(fresh) -> None:
    decisions: set[str] = set()
    outcomes: set[str] = set()

    def look(result: scenarios.ScenarioResult) -> None:
        decisions.update(row.decision for row in db.session.scalars(select(StrategyDiscussion)))
        outcomes.update(c.outcome for c in db.session.get(Case, result.case_id).children)

    coverage = walk_every_scenario(FLOW, SCENARIOS, look)
    assert coverage.flows >= 19
    assert coverage.never == [], coverage.report
    assert decisions == set(STRATEGY_DECISIONS)
    assert outcomes == {"progress_to_referral", "referral_to_other_agency", "no_further_action"}


def test_a_scenario_that_expects_the_wrong_decision_is_caught(fresh) -> None:
    scenario = _scenario("neither_enquiry_nor_investigation_early_help_follows")
    scenario["expect"]["outcomes"] = {"child-1": "no_further_action"}
    result = run(scenario)
    assert result.mismatches == [
        "outcomes: expected {'child-1': 'no_further_action'}, got {'child-1': 'referral_to_other_agency'}"
    ]


# --- Focused tests ------------------------------------------------------------------------------------------

S47 = "s47_and_police_investigation_chaired_by_the_senior_social_worker"


def _to_arrange(start: dict[str, Any]) -> Case:
    """Record the contact and walk the initial contact to the s47 hand-over."""
    case = contacts.record_contact(scenarios.demo_user("fpoc"), start)
    for step in _scenario(S47)["steps"][:2]:
        _complete(case.id, step["task"], step["as"], step["data"])
    return case


def _step(scenario: dict[str, Any], bpmn_id: str) -> dict[str, Any]:
    return next(s for s in scenario["steps"] if s.get("task") == bpmn_id)


def _arrange_data(case_id: int) -> dict[str, Any]:
    task = db.session.scalar(select(Task).where(Task.case_id == case_id, Task.bpmn_id == "arrange_discussion"))
    assert task is not None
    return workflow.task_data(task)


def test_the_conference_is_due_15_working_days_on_counting_bank_holidays(fresh) -> None:
    scenario = _scenario(S47)
    # Handed over on Wednesday 23 December 2026; the discussion is held on Christmas Eve at 10:00.
    with time_machine.travel(datetime(2026, 12, 23, 10, 0, tzinfo=UTC), tick=False) as clock:
        case = _to_arrange(scenario["start"])
        _complete(case.id, "arrange_discussion", "ssw", _step(scenario, "arrange_discussion")["data"])
        clock.shift(timedelta(days=1))
        _complete(case.id, "record_meeting", "ssw", _step(scenario, "record_meeting")["data"])
    row = db.session.scalar(select(StrategyDiscussion).where(StrategyDiscussion.case_id == case.id))
    assert row.s47_started_at == datetime(2026, 12, 24, 10, 0, tzinfo=UTC)
    # Christmas Day, Boxing Day (moved to Monday 28th) and New Year's Day are not working days: 15 working days
    # after Thursday 24 December is Tuesday 19 January 2027, not the 14th that weekdays alone would give.
    assert row.icpc_due_on.isoformat() == "2027-01-19"
    allocation = db.session.scalar(
        select(OutboxItem).where(OutboxItem.case_id == case.id, OutboxItem.template == "strategy_allocation")
    )
    assert "due by Tuesday 19 January 2027" in allocation.body


def test_the_conference_date_follows_the_discussion_not_the_hand_over(fresh) -> None:
    scenario = _scenario(S47)
    with time_machine.travel(START, tick=False) as clock:  # Tuesday 24 November 2026, 10:00
        case = _to_arrange(scenario["start"])
        _complete(case.id, "arrange_discussion", "ssw", _step(scenario, "arrange_discussion")["data"])
        clock.shift(timedelta(days=3))  # held on Friday 27 November
        _complete(case.id, "record_meeting", "ssw", _step(scenario, "record_meeting")["data"])
    row = db.session.scalar(select(StrategyDiscussion).where(StrategyDiscussion.case_id == case.id))
    assert row.icpc_due_on.isoformat() == "2026-12-18"


def test_no_invitation_or_record_names_the_referrer(fresh, clock) -> None:
    scenario = _scenario(S47)
    # A concern that itself names the referrer: what is quoted to invitees must not.
    scenario["start"]["concern"] = (
        "Sam Teacher saw a bruise on Amy's arm; Mr Teacher says Amy is frightened to go home."
    )
    case = _to_arrange(scenario["start"])
    _complete(case.id, "arrange_discussion", "ssw", _step(scenario, "arrange_discussion")["data"])
    _complete(case.id, "record_meeting", "ssw", _step(scenario, "record_meeting")["data"])
    referrer = scenario["start"]["referrer"]
    sent = list(
        db.session.scalars(
            select(OutboxItem).where(OutboxItem.case_id == case.id, OutboxItem.template.startswith("strategy_"))
        )
    )
    invitations = [i for i in sent if i.template == "strategy_invitation"]
    assert len(invitations) == 6
    for item in sent:
        text = f"{item.recipient_name}\n{item.subject}\n{item.body}"
        for detail in ("Sam Teacher", "Teacher", referrer["phone"], referrer["email"], referrer["address"]):
            assert detail not in text, (item.template, item.address, detail)
    assert all("[the referrer] saw a bruise" in i.body for i in invitations)
    assert all("Amy" in i.body for i in invitations)  # the child's own name is kept


def test_the_invitation_list_is_proposed_from_the_case(fresh, clock) -> None:
    scenario = _scenario(S47)
    case = _to_arrange(scenario["start"])
    data = _arrange_data(case.id)
    proposed = {i["agency"]: i for i in data["invitees"]}
    # Amy is ten, at Oak Primary School, which made the referral: its one known address is the referrer's.
    assert list(proposed) == [
        "Police",
        "GP",
        "School nursing",
        "Oak Primary School",
        "Duty social worker",
        "Duty team manager",
    ]
    assert proposed["Oak Primary School"]["email"] == "s.teacher@oak.example"
    assert data["missing_or_exploitation"] is None  # nothing in the concern suggests it: the chair answers


def test_the_proposal_covers_health_involvement_partners_and_the_ce_lead() -> None:
    from handlers.strategy_discussion import propose

    addresses = {"police": "p@x", "gp": "gp@x", "health_visitor": "hv@x", "ce_lead": "ce@x", "housing": "h@x"}
    facts = {
        "concern": "The baby's older brother went missing and is thought to be groomed for county lines.",
        "referrer": {"name": "Jo Neighbour", "kind": "public", "agency": "", "email": "jo@home.example"},
        "children": [
            {
                "key": "child-1",
                "name": "Baby Example",
                "age": 0,
                "unborn": False,
                "school": "",
                "open_case": None,
                "targeted_early_help": {"worker_name": "Lee Lead"},
            },
        ],
        "partner_agencies": ["police", "housing"],
    }
    proposal = propose(facts, addresses)
    agencies = [i["agency"] for i in proposal["invitees"]]
    assert agencies == [
        "Police",
        "GP",
        "Health visiting",
        "Targeted early help (lead professional)",
        "Housing options",
        "Duty social worker",
        "Duty team manager",
        "CE/missing lead",
    ]
    assert "School nursing" not in agencies  # a baby: the health visitor, not the school nurse
    assert proposal["missing_or_exploitation"] is True
    assert not any(i["email"] == "jo@home.example" for i in proposal["invitees"])  # a member of the public

    facts["referrer"] = {
        "name": "Dr Grey",
        "kind": "professional",
        "agency": "Castle Surgery",
        "email": "grey@gp.example",
    }
    facts["concern"] = "Bruising seen at a baby check."
    proposal = propose(facts, addresses)
    assert proposal["missing_or_exploitation"] is False
    assert {"agency": "Castle Surgery", "name": "", "email": "grey@gp.example", "why": "The referring agency"} in (
        proposal["invitees"]
    )
    assert "CE/missing lead" not in [i["agency"] for i in proposal["invitees"]]


def test_the_ce_lead_is_invited_when_the_chair_says_missing_is_a_feature(fresh, clock) -> None:
    scenario = _scenario(S47)
    case = _to_arrange(scenario["start"])
    arrange = _step(scenario, "arrange_discussion")["data"]
    _complete(case.id, "arrange_discussion", "ssw", {**arrange, "missing_or_exploitation": True})
    addresses = set(
        db.session.scalars(
            select(OutboxItem.address).where(
                OutboxItem.case_id == case.id, OutboxItem.template == "strategy_invitation"
            )
        )
    )
    assert "ce.missing.lead@council.example.org" in addresses
    assert len(addresses) == 7


def test_an_enquiry_cannot_be_recorded_without_its_plan_or_either_rationale(fresh, clock) -> None:
    from app.services.errors import FormInvalid

    scenario = _scenario(S47)
    case = _to_arrange(scenario["start"])
    _complete(case.id, "arrange_discussion", "ssw", _step(scenario, "arrange_discussion")["data"])
    data = _step(scenario, "record_meeting")["data"]
    for missing in ("plan_interview_child", "rationale_police", "rationale_social_care"):
        with pytest.raises(FormInvalid):
            _complete(case.id, "record_meeting", "ssw", {k: v for k, v in data.items() if k != missing})
    # Another route needs no plan, but still both rationales.
    other = {k: v for k, v in data.items() if not k.startswith("plan_")}
    with pytest.raises(FormInvalid):
        _complete(
            case.id, "record_meeting", "ssw", {**other, "strategy_decision": "early_help", "rationale_police": ""}
        )
    assert db.session.scalar(select(StrategyDiscussion.held_at).where(StrategyDiscussion.case_id == case.id)) is None


def test_a_discussion_a_team_manager_chairs_is_theirs_to_record(fresh, clock) -> None:
    from app.services.errors import Forbidden

    scenario = _scenario("police_investigation_only_chaired_by_a_team_manager")
    case = _to_arrange(scenario["start"])
    _complete(case.id, "arrange_discussion", "ssw", _step(scenario, "arrange_discussion")["data"])
    task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "record_meeting_by_manager"))
    assert (task.lane, task.team) == ("team_manager", "compass")
    with pytest.raises(Forbidden):
        workflow.complete_task(
            scenarios.demo_user("ssw"), task.id, _step(scenario, "record_meeting_by_manager")["data"]
        )


def test_agencies_that_gave_partner_information_are_proposed(fresh, clock) -> None:
    # A child in need referral whose outcome, after partner checks, is a strategy discussion (§4.17).
    path = bundles.PROCESSES_DIR / "initial_contact" / "scenarios" / "referral_outcome_is_a_strategy_discussion.json"
    scenario = copy.deepcopy(next(s for p, s in scenarios.load("initial_contact") if p == path))
    checks = _step(scenario, "partner_information")["data"]
    checks["agencies"] = ["police", "health", "housing", "probation"]
    scenario["expect"] = {"handovers": {"child-1": "strategy_discussion"}}
    result = scenarios.run(scenario)
    assert result.mismatches == []
    proposed = [i["agency"] for i in _arrange_data(result.case_id)["invitees"]]
    assert proposed == [
        "Police",
        "GP",
        "School nursing",
        "Oak Primary School",
        "Housing options",
        "Probation",
        "Duty social worker",
        "Duty team manager",
    ]
