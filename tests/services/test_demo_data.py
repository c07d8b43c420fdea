"""Demo data at scale (app/services/demo_data.py): what it writes, and that its open work is real work."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from support import user

from app.extensions import db
from app.models import AuditEvent, Case, CasePerson, Person, ProcessInstance, Referral, Task, TaskClock
from app.roles import CONTACT_OUTCOMES, THRESHOLDS
from app.services import bundles, contacts, demo_data, scenarios, trays, workflow

FLOWS = {"initial_contact", "mat", "da_triage", "strategy_discussion", "lado", "information_request"}


def _case_ids() -> set[int]:
    return set(db.session.scalars(select(Case.id)))


def _step_data() -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """What the template scenarios answer at each step, by (flow, task): answers a copy can be given too."""
    found: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    for _flow, stem in demo_data.TEMPLATE_SCENARIOS:
        path = bundles.PROCESSES_DIR / _flow / "scenarios" / f"{stem}.json"
        scenario = json.loads(path.read_text(encoding="utf-8"))
        for step in scenario.get("steps", []):
            if "advance" in step:
                break
            if "task" in step:
                for flow in FLOWS:
                    found.setdefault((flow, step["task"]), (step["as"], step.get("data", {})))
    return found


def test_generated_cases_are_realistic_and_their_open_tasks_are_real_work(fresh: Flask) -> None:
    before = _case_ids()
    report = demo_data.generate(400, open_tasks=30, seed=7)

    made = _case_ids() - before
    templates = set(report.template_case_ids)
    generated = made - templates
    assert report.cases == 400
    assert len(generated) == 400
    assert templates and templates <= made

    cases = db.session.scalars(select(Case).where(Case.id.in_(generated))).all()
    references = [c.reference for c in cases]
    assert len(set(references)) == len(references) == 400
    assert all(r.startswith("CT-") for r in references)
    assert db.session.scalar(select(func.count(func.distinct(Case.reference)))) == db.session.scalar(
        select(func.count(Case.id))
    )
    # Years of contacts, not one afternoon's.
    first, last = min(c.created_at for c in cases), max(c.created_at for c in cases)
    assert (last - first).days > 300
    assert {c.source for c in cases} >= {"phone", "marf", "police", "agency"}
    assert len({c.referral_source for c in cases}) > 8
    assert any(c.voided_at is not None for c in cases) and any(c.restricted for c in cases)

    # Every child has a date of birth, a sex, and a threshold and outcome the app knows.
    children = db.session.execute(
        select(CasePerson, Person)
        .join(Person, Person.id == CasePerson.person_id)
        .where(CasePerson.case_id.in_(generated), CasePerson.role == "child")
    ).all()
    assert len(children) > 400
    assert all(person.date_of_birth is not None for _cp, person in children)
    decided = [cp for cp, _p in children if cp.outcome is not None]
    assert len(decided) > 300
    assert {cp.threshold for cp in decided} <= set(THRESHOLDS) and {cp.outcome for cp in decided} <= set(
        CONTACT_OUTCOMES
    )

    # About a fifth of contacts become referrals, with their outcomes and some re-referrals.
    referred = db.session.scalar(
        select(func.count(func.distinct(Referral.case_id))).where(Referral.case_id.in_(generated))
    )
    assert 0.12 * 400 < referred < 0.35 * 400
    referrals = db.session.scalars(select(Referral).where(Referral.case_id.in_(generated))).all()
    assert all(r.accepted_at is not None for r in referrals)
    assert any(r.re_referral for r in referrals) and any(r.outcome_at for r in referrals)

    # Every flow has instances; the finished ones are finished.
    instances = db.session.scalars(select(ProcessInstance).where(ProcessInstance.case_id.in_(generated))).all()
    assert {i.flow for i in instances} == FLOWS
    assert all(i.completed_at is not None for i in instances if i.status == "completed")

    # Exactly the open tasks asked for, each with its clock, some overdue and some claimed.
    tasks = db.session.scalars(select(Task).where(Task.case_id.in_(generated))).all()
    assert len(tasks) == 30 == report.open_tasks
    # Each keeps its case's date and source, as the dashboard's filters read them.
    assert all((t.contact_made_at, t.referral_source) == (t.case.created_at, t.case.referral_source) for t in tasks)
    clocks = {c.task_id: c for c in db.session.scalars(select(TaskClock).where(TaskClock.case_id.in_(generated)))}
    assert all(t.id in clocks and clocks[t.id].due_at == t.due_at for t in tasks if t.due_at is not None)
    now = max(t.created_at for t in tasks)
    assert any(t.due_at is not None and t.due_at < now for t in tasks)
    assert any(t.assignee_id is not None for t in tasks)

    # Each sits in the tray of its lane's demo user.
    for task in tasks:
        assert task.id in {t.id for t in trays.my_tasks(user(task.lane))}, (task.flow, task.bpmn_id)

    # The mirror agrees with the engine, and `flask reindex` leaves it as it is.
    for case_id in {t.case_id for t in tasks}:
        assert scenarios.mirror_mismatch(case_id) is None
    mirror = {(t.id, t.bpmn_id, t.lane, t.assignee_id) for t in tasks}
    workflow.rebuild_mirror()
    db.session.expire_all()
    again = db.session.scalars(select(Task).where(Task.case_id.in_(generated))).all()
    assert {(t.id, t.bpmn_id, t.lane, t.assignee_id) for t in again} == mirror

    # The run itself is on the audit trail; the history it made up is not.
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.name == "DEMO_DATA_GENERATED"))
    assert event is not None and event.data["cases"] == 400 and event.hash is not None
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.case_id.in_(generated))) == 0

    # A generated task of every kind there is completes through the services, as the scenarios' users did.
    answers = _step_data()
    done = Counter()
    for task in sorted(again, key=lambda t: (t.flow, t.bpmn_id)):
        if (task.flow, task.bpmn_id) in done or (task.flow, task.bpmn_id) not in answers:
            continue
        role, data = answers[(task.flow, task.bpmn_id)]
        case_id = workflow.complete_task(user(role), task.id, data)
        db.session.expire_all()
        assert db.session.get(Task, task.id) is None
        assert scenarios.mirror_mismatch(case_id) is None
        completed = db.session.scalar(
            select(AuditEvent).where(AuditEvent.task_id == task.id, AuditEvent.name == "TASK_COMPLETED")
        )
        assert completed is not None and completed.hash is not None
        done[(task.flow, task.bpmn_id)] += 1
    assert len(done) >= 5

    # What happens to a generated case from now on is audited as for any other.
    assert db.session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.case_id.in_(generated), AuditEvent.name == "TASK_COMPLETED")
    ) == len(done)


def test_running_twice_adds_to_what_is_there(fresh: Flask) -> None:
    runner = fresh.test_cli_runner()
    first = runner.invoke(args=["demo-data", "--cases", "40", "--open-tasks", "12", "--seed", "1"])
    assert first.exit_code == 0, first.output
    assert "demo data: 40 cases in bulk" in first.output and "12 open tasks" in first.output
    cases, tasks = _case_ids(), set(db.session.scalars(select(Task.id)))

    # The same seed again: the same kinds of case, with ids, references and task UUIDs of their own.
    second = demo_data.generate(40, open_tasks=12, seed=1)
    assert second.template_cases == 0  # the templates made by the first run are copied again
    assert len(_case_ids() - cases) == 40
    now_tasks = set(db.session.scalars(select(Task.id)))
    assert len(now_tasks - tasks) == 12 and tasks <= now_tasks
    references = list(db.session.scalars(select(Case.reference)))
    assert len(references) == len(set(references))
    # A contact recorded afterwards takes an id and reference of its own (on PostgreSQL the id sequence was
    # moved past the ids the generator gave).
    path = bundles.PROCESSES_DIR / "initial_contact" / "scenarios" / "below_threshold_advice.json"
    recorded = contacts.record_contact(user("fpoc"), json.loads(path.read_text(encoding="utf-8"))["start"])
    assert recorded.id > max(cases) and recorded.reference not in references


def test_demo_data_is_refused_outside_demo_mode(fresh: Flask) -> None:
    fresh.config["COMPASS_DEMO"] = False
    try:
        result = fresh.test_cli_runner().invoke(args=["demo-data", "--cases", "5"])
    finally:
        fresh.config["COMPASS_DEMO"] = True
    assert result.exit_code == 1
    assert "refused" in result.output
    assert db.session.scalar(select(func.count(Case.id))) == 0
