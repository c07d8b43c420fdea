"""The initial-contact diagram, driven by the scenario data beside it.

Every scenario runs through the real services on a real database, on a fake clock that the scenario moves
with its "advance" steps (time-machine moves the library's own timer clock too); after every step the task
mirror must equal the engine's ready tasks; and together the scenarios must take every sequence flow of
both processes in the diagram (the contact, and the per-child decision it calls).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine
from flows import complete as _complete
from flows import open_tasks as _open
from flows import run_scenario as run
from flows import scenario_copy, walk_every_scenario
from sqlalchemy import select
from support import SCENARIO_START as START
from support import start_afresh

from app.extensions import db
from app.models import Case, OutboxItem, Referral, Task
from app.services import contacts, scenarios, workflow

FLOW = "initial_contact"
SCENARIOS = list(scenarios.load(FLOW))


def test_there_are_scenarios() -> None:
    assert len(SCENARIOS) >= 25


def test_every_scenario_passes_and_every_sequence_flow_is_taken(fresh) -> None:
    coverage = walk_every_scenario(FLOW, SCENARIOS)
    assert coverage.flows > 80
    assert coverage.never == [], coverage.report


def test_a_scenario_that_expects_the_wrong_outcome_is_caught(fresh) -> None:
    _path, scenario = next((p, s) for p, s in SCENARIOS if p.stem == "s17_consent_given")
    wrong = {**scenario, "expect": {**scenario["expect"], "outcomes": {"child-1": "no_further_action"}}}
    result = run(wrong)
    assert result.mismatches == [
        "outcomes: expected {'child-1': 'no_further_action'}, got {'child-1': 'progress_to_referral'}"
    ]


def test_a_scenario_that_moves_the_clock_needs_a_clock(fresh) -> None:
    _path, scenario = next((p, s) for p, s in SCENARIOS if p.stem.startswith("unacknowledged"))
    with time_machine.travel(START, tick=False):
        result = scenarios.run(scenario)
    assert result.mismatches == ["step 3: this scenario moves the clock; run it with a clock to move"]


def test_each_child_has_an_outcome_as_soon_as_that_child_is_decided(fresh, clock) -> None:
    _path, scenario = next((p, s) for p, s in SCENARIOS if p.stem == "two_children_decided_apart_unsafe_address")
    case = contacts.record_contact(scenarios.demo_user("fpoc"), scenario["start"])
    ssw = scenarios.demo_user("ssw")
    for bpmn_id, data in [
        ("ssw_review", {"next_step": "decide"}),
        ("ssw_decision", {"threshold": "s47", "parents_told": "yes", "rationale": "Unexplained bruising on a baby."}),
    ]:
        task = db.session.scalar(
            select(Task).where(Task.case_id == case.id, Task.subject == "Ben Example", Task.bpmn_id == bpmn_id)
        )
        workflow.complete_task(ssw, task.id, data)
    db.session.expire_all()
    children = {c.person.name: c for c in db.session.get(Case, case.id).children}
    assert (children["Ben Example"].outcome, children["Ben Example"].handover) == (
        "progress_to_referral",
        "strategy_discussion",
    )
    assert children["Amy Example"].outcome is None and children["Amy Example"].decided_at is None


def _scenario(stem: str) -> dict[str, Any]:
    return scenario_copy(SCENARIOS, stem)


def test_a_referral_waiting_for_its_marf_is_accepted_when_it_arrives(fresh, clock) -> None:
    scenario = _scenario("urgent_phone_referral_waits_for_its_marf_and_is_chased")
    case = contacts.record_contact(scenarios.demo_user("fpoc"), scenario["start"])
    for step in scenario["steps"][:2]:  # reviewed, and decided: a child in need, with consent
        _complete(case.id, step["task"], step["as"], step["data"])
    referral = db.session.scalar(select(Referral).where(Referral.case_id == case.id))
    assert (referral.accepted_at, referral.waiting_for) == (None, "marf")
    assert _open(case.id) == {"receive_marf"}  # nothing is acknowledged before the referral is accepted

    clock.shift(timedelta(hours=1))
    _complete(case.id, "receive_marf", "coordinator", {"received_on": "2026-11-24", "how_received_marf": "post"})
    db.session.expire_all()
    referral = db.session.get(Referral, referral.id)
    assert referral.waiting_for is None
    assert referral.accepted_at == START + timedelta(hours=1)  # the census referral date is the MARF's arrival
    assert _open(case.id) == {"acknowledge_referral"}


def test_an_urgent_marf_is_chased_after_four_hours_and_not_before(fresh, clock) -> None:
    from app.services import worker

    scenario = _scenario("urgent_phone_referral_waits_for_its_marf_and_is_chased")
    case = contacts.record_contact(scenarios.demo_user("fpoc"), scenario["start"])
    for step in scenario["steps"][:2]:
        _complete(case.id, step["task"], step["as"], step["data"])
    marf = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "receive_marf"))
    assert marf.due_at == START + timedelta(hours=4)
    clock.shift(timedelta(hours=3, minutes=59))
    worker.wake_due()
    assert _open(case.id) == {"receive_marf"}
    clock.shift(timedelta(minutes=2))
    worker.wake_due()
    assert _open(case.id) == {"receive_marf", "chase_marf"}
    chase = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "chase_marf"))
    assert chase.lane == "coordinator"


def test_no_marf_is_asked_for_when_no_referral_needs_one(fresh, clock) -> None:
    scenario = _scenario("below_threshold_advice")
    scenario["start"].update(how_received="phone", marf_received=False)
    result = scenarios.run(scenario)
    assert result.mismatches == []
    assert db.session.get(Case, result.case_id).status == "closed"


def test_acknowledgement_is_due_in_one_working_day_and_escalates_after_three(fresh) -> None:
    from app.services import worker

    # Accepted at 16:30 on Friday 27 November 2026: due 16:30 on Monday; escalated at 16:30 on Wednesday.
    friday = datetime(2026, 11, 27, 16, 30, tzinfo=UTC)
    with time_machine.travel(friday, tick=False) as clock:
        scenario = _scenario("unacknowledged_referral_escalates_after_three_working_days")
        case = contacts.record_contact(scenarios.demo_user("fpoc"), scenario["start"])
        for step in scenario["steps"][:2]:  # reviewed and decided: accepted as a referral at once
            _complete(case.id, step["task"], step["as"], step["data"])
        ack = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "acknowledge_referral"))
        assert ack.due_at == datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
        clock.move_to(datetime(2026, 12, 2, 16, 29, tzinfo=UTC))
        worker.wake_due()
        assert _open(case.id) == {"acknowledge_referral"}
        clock.move_to(datetime(2026, 12, 2, 16, 31, tzinfo=UTC))
        worker.wake_due()
        assert _open(case.id) == {"acknowledge_referral", "escalate_acknowledgement"}
        escalation = db.session.scalar(
            select(Task).where(Task.case_id == case.id, Task.bpmn_id == "escalate_acknowledgement")
        )
        assert (escalation.lane, escalation.team) == ("team_manager", "compass")


def test_an_open_case_goes_to_its_allocated_worker_alone(fresh, clock) -> None:
    scenario = _scenario("open_case_goes_to_the_allocated_worker")
    scenarios._import_records(scenario)
    case = contacts.record_contact(scenarios.demo_user("fpoc"), scenario["start"])
    task = db.session.scalar(select(Task).where(Task.case_id == case.id))
    worker = scenarios.demo_user("allocated_worker")
    assert (task.bpmn_id, task.assignee_id, task.team) == ("open_case_response", worker.id, worker.team_key)


def test_the_referrer_is_never_named_to_a_parent_without_their_agreement(fresh) -> None:
    """Every scenario, with the referrer's details planted: nothing a parent receives carries any of them."""
    planted = 0
    for _path, scenario in SCENARIOS:
        start_afresh()
        referrer = scenario["start"].get("referrer")
        if not referrer:
            continue  # handed over from another flow (a police notification): there is no referrer to hide
        details = [referrer[k] for k in ("name", "agency", "phone", "email") if referrer.get(k)]
        result = run(scenario)
        for item in db.session.scalars(select(OutboxItem).where(OutboxItem.case_id == result.case_id)):
            if item.recipient_role != "parent":
                continue
            planted += 1
            for detail in details:
                assert detail not in item.subject and detail not in item.body, (scenario["name"], detail)
    assert planted >= 10  # the check looked at real letters to parents


def test_a_referrer_who_agreed_is_named_in_the_parents_letter(fresh, clock) -> None:
    scenario = _scenario("below_threshold_advice")
    scenario["start"]["referrer"]["agrees_to_be_named"] = True
    result = scenarios.run(scenario)
    assert result.mismatches == []
    (letter,) = db.session.scalars(
        select(OutboxItem).where(OutboxItem.case_id == result.case_id, OutboxItem.recipient_role == "parent")
    )
    assert "The information came from Sam Teacher (Oak Primary School), who agreed" in letter.body
