"""The Multi Agency Triage diagram (§5), driven by the scenario data beside it.

Each scenario records a contact, walks the initial contact to its hand-over to MAT, then the meeting: police,
health and social care each share what their records show (in parallel, due at the meeting), the senior
social worker records the joint decision, and after further checks the final one. Together the scenarios take
every sequence flow of mat.bpmn and reach every outcome.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from flows import complete as _complete
from flows import open_tasks as _open
from flows import run_scenario as run
from flows import scenario_copy, walk_every_scenario
from sqlalchemy import select
from support import SCENARIO_START as START
from support import duration

from app.engine import runtime
from app.extensions import db
from app.models import AuditEvent, Case, CaseEvent, Handover, LiveBundle, ProcessInstance, Task
from app.models.mat import MatDecision
from app.roles import MAT_FINAL_DECISIONS, MAT_OUTCOMES
from app.services import contacts, scenarios, users, workflow
from app.services.errors import FormInvalid

FLOW = "mat"
SCENARIOS = list(scenarios.load(FLOW))


def _scenario(stem: str) -> dict[str, Any]:
    return scenario_copy(SCENARIOS, stem)


def _handed_to_mat() -> Case:
    """A contact recorded and walked through the initial contact to its hand-over to MAT, now."""
    scenario = _scenario("mat_decides_no_action_and_the_contact_closes")
    case = contacts.record_contact(scenarios.demo_user("fpoc"), scenario["start"])
    for step in scenario["steps"][:2]:  # the initial contact's review and decision
        _complete(case.id, step["task"], step["as"], step["data"])
    return case


def _task(case_id: int, bpmn_id: str) -> Task:
    db.session.expire_all()
    task = db.session.scalar(select(Task).where(Task.case_id == case_id, Task.bpmn_id == bpmn_id))
    assert task is not None, f"no ready {bpmn_id}"
    return task


def _step(stem: str, bpmn_id: str) -> dict[str, Any]:
    return next(s for s in _scenario(stem)["steps"] if s.get("task") == bpmn_id)


def test_there_are_scenarios() -> None:
    assert len(SCENARIOS) >= 7


def test_every_scenario_passes_and_every_sequence_flow_is_taken_and_every_outcome_reached(fresh) -> None:
    outcomes: set[str] = set()
    finals: set[str] = set()

    def look(result: scenarios.ScenarioResult) -> None:
        for row in db.session.scalars(select(MatDecision).where(MatDecision.case_id == result.case_id)):
            outcomes.add(row.outcome)
            finals.add(row.final_outcome or "")

    coverage = walk_every_scenario(FLOW, SCENARIOS, look)
    assert coverage.flows == 25
    assert coverage.never == [], coverage.report
    assert outcomes == set(MAT_OUTCOMES)
    # The final decision's three kinds: a strategy discussion, a referral, and another contact outcome.
    assert {"strategy_discussion", "progress_to_referral", "no_further_action"} <= finals
    assert finals - {""} <= set(MAT_FINAL_DECISIONS)


def test_a_scenario_that_expects_the_wrong_decision_is_caught(fresh) -> None:
    scenario = _scenario("mat_decides_no_action_and_the_contact_closes")
    wrong = {"outcome": "further_checks", "consent_overridden": True, "final_outcome": None}
    scenario["expect"]["mat"] = {"child-1": wrong}
    result = run(scenario)
    assert result.mismatches == [
        "mat: expected {'child-1': {'outcome': 'further_checks', 'consent_overridden': True, 'final_outcome': None}}, "
        "got {'child-1': {'outcome': 'no_action', 'consent_overridden': False, 'final_outcome': None}}"
    ]


# --- The meeting: every item is due at the next 10:00 meeting on a working day ----------------------------

MEETING_TASKS = {"police_check", "health_check", "social_care_check"}


@pytest.mark.parametrize(
    ("arrives", "meeting"),
    [
        # Tuesday 09:30 (GMT): today's meeting, which has not begun.
        (datetime(2026, 11, 24, 9, 30, tzinfo=UTC), datetime(2026, 11, 24, 10, 0, tzinfo=UTC)),
        # Tuesday 10:00, as the meeting begins, and 16:00: Wednesday's.
        (datetime(2026, 11, 24, 10, 0, tzinfo=UTC), datetime(2026, 11, 25, 10, 0, tzinfo=UTC)),
        (datetime(2026, 11, 24, 16, 0, tzinfo=UTC), datetime(2026, 11, 25, 10, 0, tzinfo=UTC)),
        # Tuesday evening after the office has closed: Wednesday's.
        (datetime(2026, 11, 24, 19, 0, tzinfo=UTC), datetime(2026, 11, 25, 10, 0, tzinfo=UTC)),
        # Friday after the meeting, and Saturday: Monday's.
        (datetime(2026, 11, 27, 11, 0, tzinfo=UTC), datetime(2026, 11, 30, 10, 0, tzinfo=UTC)),
        (datetime(2026, 11, 28, 12, 0, tzinfo=UTC), datetime(2026, 11, 30, 10, 0, tzinfo=UTC)),
        # Christmas Eve after the meeting: Christmas Day and the Boxing Day holiday (Monday 28th) are no meetings.
        (datetime(2026, 12, 24, 12, 0, tzinfo=UTC), datetime(2026, 12, 29, 10, 0, tzinfo=UTC)),
        # Summer time: 10:00 in London is 09:00 UTC.
        (datetime(2026, 7, 1, 8, 30, tzinfo=UTC), datetime(2026, 7, 1, 9, 0, tzinfo=UTC)),
        (datetime(2026, 7, 1, 9, 0, tzinfo=UTC), datetime(2026, 7, 2, 9, 0, tzinfo=UTC)),
        # Friday 23 October in summer time, after the meeting; the clocks go back on Sunday: Monday 10:00 GMT.
        (datetime(2026, 10, 23, 11, 0, tzinfo=UTC), datetime(2026, 10, 26, 10, 0, tzinfo=UTC)),
    ],
)
def test_the_agencies_parts_are_due_at_the_next_meeting(fresh, arrives: datetime, meeting: datetime) -> None:
    with time_machine.travel(arrives, tick=False):
        case = _handed_to_mat()
        db.session.expire_all()
        tasks = list(db.session.scalars(select(Task).where(Task.case_id == case.id)))
    assert {t.bpmn_id: t.due_at for t in tasks} == dict.fromkeys(MEETING_TASKS, meeting)
    assert {t.bpmn_id: (t.lane, t.team) for t in tasks} == {
        "police_check": ("police", "police"),
        "health_check": ("health", "health"),
        "social_care_check": ("ssw", "compass"),
    }


def test_the_joint_decision_is_due_at_the_same_meeting(fresh, clock) -> None:
    case = _handed_to_mat()  # Tuesday 10:00: Wednesday's meeting
    for bpmn_id, role in [("police_check", "police"), ("health_check", "health"), ("social_care_check", "ssw")]:
        _complete(case.id, bpmn_id, role, _step("mat_decides_no_action_and_the_contact_closes", bpmn_id)["data"])
    assert _task(case.id, "joint_decision").due_at == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


# --- The three agencies at the same moment ---------------------------------------------------------------


def _complete_together(flask_app, jobs: list[tuple[str, str, dict]]) -> list[object]:
    """Each job in its own thread and database connection; every one restores the instance before any saves,
    so all but the first save on a stale version and must reload and retry."""
    barrier = threading.Barrier(len(jobs), timeout=20)
    real = runtime.complete_user_task
    real_attempt = workflow._complete_once
    local = threading.local()
    results: list[object] = [None] * len(jobs)
    attempts: list[str] = []

    def counted_attempt(user, task_id, data):
        attempts.append(task_id)
        return real_attempt(user, task_id, data)

    def after_everyone_has_loaded(*args, **kwargs):
        if not getattr(local, "waited", False):
            local.waited = True
            barrier.wait()
        return real(*args, **kwargs)

    def job(i: int, username: str, task_id: str, data: dict) -> None:
        with flask_app.app_context():
            try:
                results[i] = workflow.complete_task(users.find(username), task_id, data)
            except Exception as err:
                results[i] = err
            finally:
                db.session.remove()

    runtime.complete_user_task = after_everyone_has_loaded
    workflow._complete_once = counted_attempt
    try:
        threads = [threading.Thread(target=job, args=(i, *j)) for i, j in enumerate(jobs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        runtime.complete_user_task = real
        workflow._complete_once = real_attempt
    return [*results, len(attempts)]


def _three_agencies_at_once(flask_app) -> None:
    with time_machine.travel(START, tick=True):
        case = _handed_to_mat()
        instance = db.session.scalar(
            select(ProcessInstance).where(ProcessInstance.case_id == case.id, ProcessInstance.flow == FLOW)
        )
        version = instance.version
        stem = "mat_decides_no_action_and_the_contact_closes"
        jobs = [
            (f"demo.{role}", _task(case.id, bpmn_id).id, _step(stem, bpmn_id)["data"])
            for bpmn_id, role in [("police_check", "police"), ("health_check", "health"), ("social_care_check", "ssw")]
        ]
        db.session.commit()
        results = _complete_together(flask_app, jobs)
    *completed_by, attempts = results
    assert completed_by == [case.id, case.id, case.id]
    assert attempts >= 5  # they truly collided: the second saver retried once, the third at least once
    assert _open(case.id) == {"joint_decision"}
    saved = db.session.get(ProcessInstance, instance.id)
    assert saved.version == version + 3  # three saves, one after another: two of them retried
    completed = db.session.scalars(
        select(AuditEvent.data).where(AuditEvent.case_id == case.id, AuditEvent.name == "TASK_COMPLETED")
    )
    assert {d["bpmn_id"] for d in completed} >= MEETING_TASKS


@pytest.mark.postgres_only
def test_three_agencies_completing_at_the_same_moment_all_succeed(pg_fresh) -> None:
    _three_agencies_at_once(pg_fresh)


def test_three_agencies_completing_at_the_same_moment_all_succeed_on_sqlite(fresh) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the PostgreSQL run is the test above")
    _three_agencies_at_once(fresh)


# --- The decision: own records, audit, timeline ----------------------------------------------------------


def _to_joint_decision(case_id: int) -> None:
    for bpmn_id, role in [("police_check", "police"), ("health_check", "health"), ("social_care_check", "ssw")]:
        _complete(case_id, bpmn_id, role, _step("mat_decides_no_action_and_the_contact_closes", bpmn_id)["data"])


def test_further_checks_cannot_be_decided_without_the_reason_for_overriding_consent(fresh, clock) -> None:
    case = _handed_to_mat()
    _to_joint_decision(case.id)
    with pytest.raises(FormInvalid) as refused:
        _complete(
            case.id, "joint_decision", "ssw", {"mat_outcome": "further_checks", "rationale": "Ask the school first."}
        )
    assert "consent_override_reason" in str(refused.value.errors)
    with pytest.raises(FormInvalid):
        _complete(case.id, "joint_decision", "ssw", {"mat_outcome": "no_action"})  # no rationale
    assert _open(case.id) == {"joint_decision"}
    assert db.session.scalar(select(MatDecision).where(MatDecision.case_id == case.id)) is None


def test_the_decision_is_kept_with_who_decided_audited_and_on_the_case_timeline(fresh, clock) -> None:
    stem = "further_checks_with_the_school_then_no_further_action"
    case = _handed_to_mat()
    _to_joint_decision(case.id)
    clock.shift(duration("PT1H"))
    decide = _step(stem, "joint_decision")
    _complete(case.id, "joint_decision", "ssw", decide["data"])
    db.session.expire_all()
    row = db.session.scalar(select(MatDecision).where(MatDecision.case_id == case.id))
    ssw = scenarios.demo_user("ssw")
    mat = db.session.scalar(
        select(ProcessInstance).where(ProcessInstance.case_id == case.id, ProcessInstance.flow == FLOW)
    )
    assert (row.instance_id, row.child.key, row.outcome) == (mat.id, "child-1", "further_checks")
    assert row.decided_by_id == ssw.id
    assert row.rationale == decide["data"]["rationale"]
    assert row.consent_override_reason == decide["data"]["consent_override_reason"]
    assert row.meeting_at == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert row.decided_at == START + duration("PT1H")
    assert row.final_outcome is None
    events = {e.name: e.data for e in db.session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id))}
    assert events["MAT_DECISION_RECORDED"] == {"case_id": case.id, "decision_id": row.id, "outcome": "further_checks"}
    assert events["MAT_CONSENT_OVERRIDDEN"] == {"case_id": case.id, "decision_id": row.id}
    assert "MAT_FINAL_DECISION_RECORDED" not in events
    titles = [e.title for e in db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id))]
    assert "Multi Agency Triage decided for Amy Example: Further agency checks" in titles
    # Still pending: the child's outcome waits for the final decision.
    child = db.session.get(Case, case.id).children[0]
    assert (child.outcome, child.handover) == (None, "mat")

    for step in _scenario(stem)["steps"]:
        if step.get("task") in {"gather_information", "final_decision"}:
            _complete(case.id, step["task"], step["as"], step["data"])
    db.session.expire_all()
    row = db.session.get(MatDecision, row.id)
    assert (row.final_outcome, row.final_decided_by_id) == ("no_further_action", ssw.id)
    assert row.final_rationale == _step(stem, "final_decision")["data"]["final_rationale"]
    child = db.session.get(Case, case.id).children[0]
    assert (child.outcome, child.handover) == ("no_further_action", None)
    assert db.session.get(Case, case.id).status == "closed"


def test_the_mat_decision_is_on_the_same_timeline_as_the_initial_contact(fresh) -> None:
    result = run(_scenario("mat_decides_no_action_and_the_contact_closes"))
    assert result.mismatches == []
    titles = [
        e.title
        for e in db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == result.case_id).order_by(CaseEvent.id))
    ]
    first = titles.index("Decide threshold and outcome: Amy Example")  # the initial contact's decision
    handed = titles.index("Handed over to Multi Agency Triage for Amy Example")
    police = titles.index("Share what police records show: Amy Example")
    decided = titles.index("Multi Agency Triage decided for Amy Example: No action")
    closed = titles.index("Contact closed")
    assert first < handed < police < decided < closed


def test_a_strategy_discussion_is_handed_on_and_starts_only_if_that_flow_is_live(fresh) -> None:
    result = run(_scenario("mat_decides_a_strategy_discussion_without_consent"))
    assert result.mismatches == []
    handover = db.session.scalar(
        select(Handover).where(Handover.case_id == result.case_id, Handover.flow == "strategy_discussion")
    )
    flows = scenarios._flows(result.case_id)
    assert flows["mat"] == "completed"
    if db.session.get(LiveBundle, "strategy_discussion") is None:
        assert handover.status == "waiting" and handover.instance_id is None
        assert "strategy_discussion" not in flows
    else:
        assert handover.status == "started"
        assert flows["strategy_discussion"] == "running"
    mat = db.session.scalar(
        select(ProcessInstance).where(ProcessInstance.case_id == result.case_id, ProcessInstance.flow == FLOW)
    )
    assert handover.from_instance_id == mat.id  # the chain reads initial contact -> MAT -> strategy discussion


def test_a_strategy_discussion_waits_on_the_case_while_that_flow_has_no_live_version(fresh) -> None:
    db.session.execute(LiveBundle.__table__.delete().where(LiveBundle.flow == "strategy_discussion"))
    db.session.commit()
    result = run(_scenario("mat_decides_a_strategy_discussion_without_consent"))
    assert result.mismatches == []
    handover = db.session.scalar(
        select(Handover).where(Handover.case_id == result.case_id, Handover.flow == "strategy_discussion")
    )
    assert (handover.status, handover.instance_id) == ("waiting", None)
    case = db.session.get(Case, result.case_id)
    assert case.status == "open"  # the child's hand-over is pending: the case cannot close
