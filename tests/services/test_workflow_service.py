"""Completing tasks through the service on a real database: one transaction, the mirror, audit, conflicts."""

import threading
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from support import start_test_case, user

from app.engine import runtime
from app.extensions import db
from app.models import AuditEvent, ProcessInstance, Task
from app.services import bundles, scenarios, users, workflow
from app.services.errors import FormInvalid, NotSaved, TaskConflict


def ready(case_id: int, bpmn_id: str) -> Task:
    task = db.session.scalar(select(Task).where(Task.case_id == case_id, Task.bpmn_id == bpmn_id))
    assert task is not None, bpmn_id
    return task


def test_parallel_tasks_are_mirrored_with_their_lanes_and_teams(fresh) -> None:
    case, _ = start_test_case("parallel_checks")
    rows = db.session.scalars(select(Task).where(Task.case_id == case.id).order_by(Task.bpmn_id)).all()
    assert [(t.bpmn_id, t.lane, t.team, t.form_id) for t in rows] == [
        ("health_check", "health", "health", "check_note"),
        ("police_check", "police", "police", "check_note"),
        ("social_care_check", "ssw", "compass", "check_note"),
    ]
    assert scenarios.mirror_mismatch(case.id) is None


def test_the_mirror_check_sees_a_missing_row(fresh) -> None:
    case, _instance = start_test_case("parallel_checks")
    db.session.delete(ready(case.id, "police_check"))
    db.session.commit()
    assert "police_check" in (scenarios.mirror_mismatch(case.id) or "")
    workflow.rebuild_mirror()
    assert scenarios.mirror_mismatch(case.id) is None


def test_different_tasks_of_one_instance_both_complete(fresh) -> None:
    case, _instance = start_test_case("parallel_checks")
    police, health = ready(case.id, "police_check").id, ready(case.id, "health_check").id
    workflow.complete_task(user("police"), police, {"finding": "one caution in 2023"})
    workflow.complete_task(user("health"), health, {"finding": "missed two health visitor appointments"})
    assert {t.bpmn_id for t in db.session.scalars(select(Task).where(Task.case_id == case.id))} == {"social_care_check"}
    assert scenarios.mirror_mismatch(case.id) is None
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.name == "TASK_COMPLETED")).all()
    assert {e.task_id for e in events} == {police, health}
    assert all(set(e.data) == {"case_id", "instance_id", "task_id", "bpmn_id"} for e in events)


def test_the_same_task_twice_is_a_conflict_naming_who_and_when(fresh) -> None:
    case, _ = start_test_case("parallel_checks")
    task_id = ready(case.id, "police_check").id
    workflow.complete_task(user("police"), task_id, {"finding": "first answer"})
    with pytest.raises(TaskConflict) as caught:
        workflow.complete_task(user("police"), task_id, {"finding": "second answer"})
    assert caught.value.completed_by == user("police").name
    assert caught.value.completed_at is not None
    assert "completed by Demo police" in str(caught.value)


def test_invalid_answers_change_nothing(fresh) -> None:
    case, instance = start_test_case("parallel_checks")
    version, state = instance.version, instance.state
    task_id = ready(case.id, "police_check").id
    with pytest.raises(FormInvalid) as caught:
        workflow.complete_task(user("police"), task_id, {"finding": ""})
    assert [e.path for e in caught.value.errors] == ["finding"]
    db.session.expire_all()
    again = db.session.get(ProcessInstance, instance.id)
    assert (again.version, again.state) == (version, state)
    assert db.session.get(Task, task_id) is not None


def test_state_round_trips_through_the_database_with_every_value(fresh) -> None:
    _case, instance = start_test_case("parallel_checks")
    bundle = bundles.parsed(instance.bundle)
    wf = runtime.restore(instance.state, bundle, caller=None)
    police = next(t for t in runtime.ready_user_tasks(wf, bundle) if t.bpmn_id == "police_check")
    runtime.complete_user_task(
        wf, police.id, {"finding": "x", "born": date(2019, 1, 31), "cost": Decimal("0.10"), "at": datetime.now(UTC)}
    )
    health = next(t for t in runtime.ready_user_tasks(wf, bundle) if t.bpmn_id == "health_check")
    runtime.complete_user_task(wf, health.id, {"finding": "y overwrites x", "cost": Decimal("99.99")})
    before = {str(t.id): dict(t.data) for t in wf.get_tasks()}
    instance.state, _ = runtime.save(wf, 800)
    db.session.commit()
    db.session.expire_all()
    text = db.session.scalar(select(ProcessInstance.state).where(ProcessInstance.id == instance.id))
    after = runtime.restore(text, bundle, caller=None)
    assert {str(t.id): dict(t.data) for t in after.get_tasks()} == before


def test_a_tree_too_deep_is_refused_and_nothing_is_saved(fresh) -> None:
    fresh.config["MAX_TREE_DEPTH"] = 60
    try:
        case, instance = start_test_case("more_information_loop")
        refused = None
        for n in range(40):
            task = ready(case.id, "ask")
            before = db.session.get(ProcessInstance, instance.id).version
            try:
                workflow.complete_task(user("ssw"), task.id, {"finding": f"round {n}"})
            except NotSaved as err:
                refused = (n, err, task.id, before)
                break
        assert refused is not None, "the deep tree was saved"
        n, err, task_id, version = refused
        assert "too long to save safely" in str(err)
        db.session.expire_all()
        assert db.session.get(ProcessInstance, instance.id).version == version
        assert db.session.get(Task, task_id) is not None  # the task is still waiting: nothing was lost
        assert 10 < n < 40
    finally:
        fresh.config["MAX_TREE_DEPTH"] = 800


def _complete_concurrently(flask_app, jobs: list[tuple[str, str, dict]]) -> list[object]:
    """Run completions in threads with their own database connections, each loading the instance before any
    of them saves, so that they truly collide."""
    barrier = threading.Barrier(len(jobs), timeout=20)
    real = runtime.complete_user_task
    local = threading.local()
    results: list[object] = [None] * len(jobs)

    def first_waits(*args, **kwargs):
        if not getattr(local, "waited", False):
            local.waited = True
            barrier.wait()
        return real(*args, **kwargs)

    def job(i: int, username: str, task_id: str, data: dict) -> None:
        with flask_app.app_context():
            try:
                who = users.find(username)
                results[i] = workflow.complete_task(who, task_id, data)
            except Exception as err:
                results[i] = err
            finally:
                db.session.remove()

    runtime.complete_user_task = first_waits
    try:
        threads = [threading.Thread(target=job, args=(i, *j)) for i, j in enumerate(jobs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        runtime.complete_user_task = real
    return results


@pytest.mark.postgres_only
def test_two_connections_completing_different_tasks_both_succeed(pg_fresh) -> None:
    case, instance = start_test_case("parallel_checks")
    version = instance.version
    police, health = ready(case.id, "police_check").id, ready(case.id, "health_check").id
    db.session.commit()
    results = _complete_concurrently(
        pg_fresh,
        [("demo.police", police, {"finding": "police view"}), ("demo.health", health, {"finding": "health view"})],
    )
    assert results == [case.id, case.id]
    db.session.expire_all()
    assert {t.bpmn_id for t in db.session.scalars(select(Task).where(Task.case_id == case.id))} == {"social_care_check"}
    saved = db.session.get(ProcessInstance, instance.id)
    assert saved.version == version + 2  # two saves, one after the other: the second one retried
    wf = runtime.restore(saved.state, bundles.parsed(saved.bundle), caller=None)
    assert {"police_check", "health_check"} <= runtime.completed_bpmn_ids(wf)


@pytest.mark.postgres_only
def test_two_connections_completing_the_same_task_one_wins_one_is_told(pg_fresh) -> None:
    users.create_user("second.police", "Second police officer", "pw", ["police"], "police")
    db.session.commit()
    case, _ = start_test_case("parallel_checks")
    police = ready(case.id, "police_check").id
    results = _complete_concurrently(
        pg_fresh, [("demo.police", police, {"finding": "first"}), ("second.police", police, {"finding": "second"})]
    )
    wins = [r for r in results if r == case.id]
    conflicts = [r for r in results if isinstance(r, TaskConflict)]
    assert len(wins) == 1 and len(conflicts) == 1, results
    winner = "Demo police (co-located)" if results[0] == case.id else "Second police officer"
    assert conflicts[0].completed_by == winner
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.task_id == police, AuditEvent.name == "TASK_COMPLETED")
    )
    assert len(list(events)) == 1
