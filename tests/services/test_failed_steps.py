"""A step whose handler failed is listed for a manager, who runs it again once its cause is put right: in one
transaction, saved the way every run is, the user's work before it kept. A step that fails again stays failed
with its new error; two retries of one failure run the step once."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from support import store_test_bundle, user

import handlers
from app.extensions import db
from app.models import AuditEvent, Case, CaseEvent, ProcessInstance, Task, TaskClock
from app.services import failed_steps, workflow
from app.services.errors import Forbidden, NotFound, NotSaved
from app.services.restricted import open_with_reason, restrict

# The two outside systems the test diagram's steps call: down until a test puts them right.
SYSTEMS = {"partner": False, "school": False}
CALLS: list[str] = []


@handlers.handler("test_flaky_partner")
def _partner(ctx: handlers.Context) -> handlers.Result:
    CALLS.append("partner")
    if not SYSTEMS["partner"]:
        raise ConnectionError("the partner's system did not answer")
    return handlers.Result(data={"at": "the partner's office"})


@handlers.handler("test_flaky_school")
def _school(ctx: handlers.Context) -> handlers.Result:
    CALLS.append(f"school for {ctx.data['child']}")
    if not SYSTEMS["school"]:
        raise TimeoutError("the school's system timed out")
    return handlers.Result(data={"school": "told"})


@pytest.fixture(autouse=True)
def systems_down():
    SYSTEMS.update(partner=False, school=False)
    CALLS.clear()
    yield


def a_case(reference: str = "T-flaky") -> tuple[Case, ProcessInstance]:
    """A case on the test diagram about two children, its first task (the note) waiting."""
    row = store_test_bundle("flaky_partner")
    case = Case(reference=reference, source="phone", created_by_id=user("ssw").id)
    db.session.add(case)
    db.session.flush()
    instance = workflow.start_instance(case, row, user("ssw"), {"children": ["Ada", "Ben"]})
    db.session.commit()
    return case, instance


def ready(case: Case) -> list[tuple[str, str]]:
    db.session.expire_all()
    tasks = db.session.scalars(select(Task).where(Task.case_id == case.id).order_by(Task.bpmn_id, Task.subject))
    return [(t.bpmn_id, t.subject) for t in tasks]


def complete(case: Case, bpmn_id: str, finding: str, subject: str = "") -> None:
    task = db.session.scalar(
        select(Task).where(Task.case_id == case.id, Task.bpmn_id == bpmn_id, Task.subject == subject)
    )
    assert task is not None, (bpmn_id, subject, ready(case))
    workflow.complete_task(user("ssw"), task.id, {"finding": finding})


def saved(instance: ProcessInstance) -> ProcessInstance:
    db.session.expire_all()
    found = db.session.get(ProcessInstance, instance.id)
    assert found is not None
    return found


def retried_events(case: Case) -> list[dict]:
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.case_id == case.id, AuditEvent.name == "PROCESS_STEP_RETRIED")
    )
    return [e.data for e in events]


def test_a_failed_step_is_listed_and_runs_again_once_its_cause_is_put_right(fresh) -> None:
    case, instance = a_case()
    complete(case, "note", "The note the social worker wrote.")
    failed = saved(instance)
    assert (failed.status, failed.failure) == (
        "failed",
        "notify_partner: ConnectionError: the partner's system did not answer",
    )
    assert ready(case) == []

    listed = failed_steps.for_user(user("team_manager"))
    assert [(s.instance_id, s.case.reference, s.flow, s.bpmn_id, s.step, s.error) for s in listed] == [
        (
            instance.id,
            "T-flaky",
            "flaky_partner",
            "notify_partner",
            "Notify the partner agency",
            "ConnectionError: the partner's system did not answer",
        )
    ]

    SYSTEMS["partner"] = True  # the partner's system is back
    done = failed_steps.retry(user("team_manager"), instance.id, listed[0].version)
    assert (done.reference, done.step, done.failed_step, done.error) == (
        "T-flaky",
        "Notify the partner agency",
        None,
        None,
    )
    after = saved(instance)
    assert (after.status, after.failure) == ("running", None)
    # The case goes on: each child's check is in the tray, and the note written before the failure is kept.
    assert ready(case) == [("check_child", "Ada"), ("check_child", "Ben")]
    assert CALLS == ["partner", "partner"]
    assert failed_steps.for_user(user("team_manager")) == []
    assert retried_events(case) == [{"case_id": case.id, "instance_id": instance.id, "bpmn_id": "notify_partner"}]
    note = db.session.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.title == "Write the note"))
    assert ["What do your records show?", "The note the social worker wrote."] in note.detail
    completed = db.session.scalars(
        select(AuditEvent.data).where(AuditEvent.case_id == case.id, AuditEvent.name == "TASK_COMPLETED")
    ).all()
    assert [c["bpmn_id"] for c in completed] == ["note"]  # completed once, never asked for again


def test_a_step_that_fails_again_stays_failed_with_its_new_error(fresh, clock) -> None:
    case, instance = a_case()
    complete(case, "note", "The note.")
    first = saved(instance)
    first_version, first_failed_at = first.version, first.updated_at
    clock.shift(3600)
    done = failed_steps.retry(user("service_manager"), instance.id, first_version)
    assert (done.step, done.failed_step, done.error) == (
        "Notify the partner agency",
        "Notify the partner agency",
        "ConnectionError: the partner's system did not answer",
    )
    again = saved(instance)
    assert again.status == "failed"
    assert again.failure == "notify_partner: ConnectionError: the partner's system did not answer"
    assert again.version > first_version
    listed = failed_steps.for_user(user("service_manager"))
    assert [(s.instance_id, s.version) for s in listed] == [(instance.id, again.version)]
    assert listed[0].since > first_failed_at  # failed since the retry, not since the first time
    assert ready(case) == []
    assert CALLS == ["partner", "partner"]
    assert retried_events(case) == [{"case_id": case.id, "instance_id": instance.id, "bpmn_id": "notify_partner"}]

    # Put right at last: the next retry, from the list as it now stands, carries the case on.
    SYSTEMS["partner"] = True
    failed_steps.retry(user("service_manager"), instance.id, listed[0].version)
    assert saved(instance).status == "running"
    assert ready(case) == [("check_child", "Ada"), ("check_child", "Ben")]


def test_two_retries_of_one_failure_run_the_step_once(fresh) -> None:
    case, instance = a_case()
    complete(case, "note", "The note.")
    version = saved(instance).version  # what both managers' pages showed
    SYSTEMS["partner"] = True
    failed_steps.retry(user("team_manager"), instance.id, version)
    with pytest.raises(NotSaved, match="already been run again by someone else"):
        failed_steps.retry(user("service_manager"), instance.id, version)
    assert CALLS == ["partner", "partner"]  # the failure, then one retry: not a third call
    assert len(retried_events(case)) == 1
    assert ready(case) == [("check_child", "Ada"), ("check_child", "Ben")]


def test_a_retry_from_a_page_drawn_before_the_step_failed_again_is_stale(fresh) -> None:
    case, instance = a_case()
    complete(case, "note", "The note.")
    seen = saved(instance).version
    failed_steps.retry(user("team_manager"), instance.id, seen)  # fails again: a new version, a new failure
    SYSTEMS["partner"] = True
    with pytest.raises(NotSaved):
        failed_steps.retry(user("service_manager"), instance.id, seen)
    assert CALLS == ["partner", "partner"]
    assert saved(instance).status == "failed"


def test_a_step_failing_inside_one_childs_part_keeps_the_other_childs_work(fresh) -> None:
    case, instance = a_case()
    SYSTEMS["partner"] = True
    complete(case, "note", "The note.")
    complete(case, "check_child", "Ada's school has no concerns.", subject="Ada")
    failed = saved(instance)
    # The failed step is named even inside a per-child part of the flow.
    assert failed.failure == "tell_school: TimeoutError: the school's system timed out"
    assert ready(case) == [("check_child", "Ben")]  # Ben's check still waits: nothing else stopped

    SYSTEMS["school"] = True
    [listed] = failed_steps.for_user(user("team_manager"))
    assert listed.step == "Tell the school"
    failed_steps.retry(user("team_manager"), instance.id, listed.version)
    assert saved(instance).status == "running"
    assert ready(case) == [("check_child", "Ben"), ("child_follow_up", "Ada")]
    assert CALLS == ["partner", "school for Ada", "school for Ada"]

    # Both children finish: what Ada's check recorded before the failure reached the end of the flow.
    complete(case, "child_follow_up", "The school will keep an eye out.", subject="Ada")
    complete(case, "check_child", "Ben's school has no concerns.", subject="Ben")
    complete(case, "child_follow_up", "Nothing more needed.", subject="Ben")
    done = saved(instance)
    assert done.status == "completed"
    clocks = db.session.scalar(select(func.count()).select_from(TaskClock).where(TaskClock.case_id == case.id))
    assert clocks == 0  # the test diagram sets no due times


def test_who_may_retry_and_what_they_see(fresh) -> None:
    case, instance = a_case()
    complete(case, "note", "The note.")
    version = saved(instance).version
    for role in ("ssw", "fpoc", "police", "process_owner", "admin"):
        with pytest.raises(Forbidden):
            failed_steps.for_user(user(role))
        with pytest.raises(Forbidden):
            failed_steps.retry(user(role), instance.id, version)
    with pytest.raises(NotFound):
        failed_steps.retry(user("team_manager"), 10_000, version)
    assert CALLS == ["partner"]


def test_a_restricted_records_step_is_listed_without_names_or_error_until_opened(fresh) -> None:
    case, instance = a_case()
    complete(case, "note", "The note.")
    from app.models import CasePerson, Person

    child = Person(name="Ada Lovelace-Example", name_key="ada lovelace example")
    db.session.add(child)
    db.session.flush()
    db.session.add(CasePerson(case_id=case.id, person_id=child.id, role="child", key="child-1", details={}))
    db.session.commit()
    restrict(user("service_manager"), case.id, "The family of a member of staff")
    db.session.commit()

    [listed] = failed_steps.for_user(user("team_manager"))
    assert listed.children == ["Restricted record"]
    assert (listed.opened, listed.error) == (False, None)
    with pytest.raises(Forbidden, match="open it with a reason"):
        failed_steps.retry(user("team_manager"), instance.id, listed.version)
    assert CALLS == ["partner"]

    open_with_reason(user("team_manager"), case.id, "Running its failed step again")
    db.session.commit()
    [listed] = failed_steps.for_user(user("team_manager"))
    assert listed.children == ["Restricted record"]  # a list never shows a restricted record's names
    assert (listed.opened, listed.error) == (True, "ConnectionError: the partner's system did not answer")


def test_a_lado_step_is_not_listed_for_those_who_may_not_see_the_lado_flow(fresh) -> None:
    case, instance = a_case()
    complete(case, "note", "The note.")
    instance = saved(instance)
    instance.flow = "lado"  # the episode as the LADO flow's: its work is need-to-know
    db.session.commit()
    assert [s.instance_id for s in failed_steps.for_user(user("service_manager"))] == [instance.id]
    assert failed_steps.for_user(user("team_manager")) == []
    with pytest.raises(NotFound):
        failed_steps.retry(user("team_manager"), instance.id, instance.version)
    assert CALLS == ["partner"]
