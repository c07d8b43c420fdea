"""Statutory clocks kept beyond their tasks: met, met late, missed while open (recorded once, by the
worker), or not needed; shown on the case page and the task page. On a fake clock, never a sleep."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import func, select
from support import SCENARIO_START

from app.extensions import db
from app.models import AuditEvent, Case, CaseEvent, Task, TaskClock
from app.services import case_actions, contacts, scenarios, worker, workflow


def _scenario() -> dict:
    return copy.deepcopy(next(s for p, s in scenarios.load("initial_contact") if p.stem == "s17_consent_given"))


def _to_acknowledgement() -> Case:
    """A child in need referral accepted with consent at 10:00 on Tuesday 24 November: acknowledgement due
    within one working day, by 10:00 on Wednesday."""
    scenario = _scenario()
    case = contacts.record_contact(scenarios.demo_user("fpoc"), scenario["start"])
    for step in scenario["steps"][:2]:
        task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == step["task"]))
        workflow.complete_task(scenarios.demo_user(step["as"]), task.id, step["data"])
    return case


def _clock(case_id: int, bpmn_id: str) -> TaskClock:
    db.session.expire_all()
    return db.session.scalar(select(TaskClock).where(TaskClock.case_id == case_id, TaskClock.bpmn_id == bpmn_id))


def _acknowledge(case_id: int) -> None:
    task = db.session.scalar(select(Task).where(Task.case_id == case_id, Task.bpmn_id == "acknowledge_referral"))
    workflow.complete_task(scenarios.demo_user("coordinator"), task.id, {"acknowledged_how": "email"})


def _misses(case_id: int) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.name == "CLOCK_MISSED", AuditEvent.case_id == case_id)
    )


def test_a_clock_met_in_time_is_met(fresh) -> None:
    with time_machine.travel(SCENARIO_START, tick=False) as clock:
        case = _to_acknowledgement()
        ack = _clock(case.id, "acknowledge_referral")
        assert (ack.started_at, ack.due_at) == (SCENARIO_START, datetime(2026, 11, 25, 10, 0, tzinfo=UTC))
        clock.shift(timedelta(hours=23))
        _acknowledge(case.id)
        ack = _clock(case.id, "acknowledge_referral")
        assert ack.met_at == SCENARIO_START + timedelta(hours=23) and ack.missed_at is None
        assert _misses(case.id) == 0


def test_an_open_clock_past_its_time_is_recorded_missed_once_by_the_worker(fresh) -> None:
    with time_machine.travel(SCENARIO_START, tick=False) as clock:
        case = _to_acknowledgement()
        clock.shift(timedelta(hours=23, minutes=59))
        worker.work_once()
        assert _clock(case.id, "acknowledge_referral").missed_at is None
        clock.shift(timedelta(minutes=2))
        worker.work_once()
        worker.work_once()  # a second pass records nothing more
        ack = _clock(case.id, "acknowledge_referral")
        assert ack.missed_at == datetime(2026, 11, 25, 10, 1, tzinfo=UTC)
        assert _misses(case.id) == 1
        titles = db.session.scalars(select(CaseEvent.title).where(CaseEvent.case_id == case.id)).all()
        assert "Missed its time: Acknowledge the referral: Amy Example" in titles
        _acknowledge(case.id)  # done late: met late, but no second breach
        assert _clock(case.id, "acknowledge_referral").met_at is not None
        assert _misses(case.id) == 1


def test_a_task_done_late_before_the_worker_looked_is_recorded_missed(fresh) -> None:
    with time_machine.travel(SCENARIO_START, tick=False) as clock:
        case = _to_acknowledgement()
        clock.shift(timedelta(days=1, hours=3))
        _acknowledge(case.id)
        ack = _clock(case.id, "acknowledge_referral")
        assert ack.met_at == ack.missed_at == SCENARIO_START + timedelta(days=1, hours=3)
        assert _misses(case.id) == 1


def test_voiding_a_contact_stops_its_clocks(fresh) -> None:
    with time_machine.travel(SCENARIO_START, tick=False) as clock:
        case = _to_acknowledgement()
        case_actions.void(scenarios.demo_user("ssw"), case.id, "Recorded against the wrong family.")
        clock.shift(timedelta(days=3))
        worker.work_once()
        ack = _clock(case.id, "acknowledge_referral")
        assert ack.stopped_at == SCENARIO_START and ack.missed_at is None
        assert _misses(case.id) == 0


def test_the_case_and_task_pages_show_the_clocks(web) -> None:
    with time_machine.travel(SCENARIO_START, tick=False) as clock:
        case = _to_acknowledgement()
        clock.shift(timedelta(hours=22, minutes=30))
        web.login("coordinator")
        task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "acknowledge_referral"))
        page = web.get(f"/tasks/{task.id}")
        assert "Due by 25 November 2026, 10:00" in page and "Due soon" in page and "1 hour 30 minutes left" in page
        clock.shift(timedelta(hours=2))
        page = web.get(f"/cases/{case.id}")
        table = page[
            page.index('<h2 class="govuk-heading-m">Clocks</h2>') : page.index('<h2 class="govuk-heading-m">Flows</h2>')
        ]
        assert "Acknowledge the referral: Amy Example" in table
        assert "Overdue" in table and "30 minutes overdue" in table
