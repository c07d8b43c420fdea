"""Opening a task's form and then sending it: the workflow restored to fill the form is used again to complete
it, and only while nothing else has moved the instance on."""

import pytest
from sqlalchemy import select
from support import start_test_case, store_test_bundle, user

from app.engine import recent, runtime
from app.extensions import db
from app.models import AuditEvent, Case, ProcessInstance, Task
from app.services import bundles, scenarios, workflow


@pytest.fixture(autouse=True)
def _nothing_kept():
    recent.clear()
    yield
    recent.clear()


def ready(case_id: int, bpmn_id: str) -> Task:
    task = db.session.scalar(select(Task).where(Task.case_id == case_id, Task.bpmn_id == bpmn_id))
    assert task is not None, bpmn_id
    return task


def saved_workflow(instance_id: int):
    db.session.expire_all()
    instance = db.session.get(ProcessInstance, instance_id)
    assert instance is not None
    bundle = bundles.parsed(instance.bundle)
    return runtime.restore(instance.state, bundle, caller=None), bundle


def test_a_form_opened_then_sent_is_completed_with_its_answers(fresh) -> None:
    case = Case(reference="T-open-send", source="phone", created_by_id=user("ssw").id)
    db.session.add(case)
    db.session.flush()
    people = [{"name": "Ada", "role": "child"}]
    instance = workflow.start_instance(case, store_test_bundle("parallel_checks"), user("ssw"), {"people": people})
    db.session.commit()
    police = ready(case.id, "police_check")
    opened = workflow.task_data(police)
    opened["people"][0]["name"] = "changed on the page"  # the page's own copy: the kept workflow never sees it
    workflow.complete_task(user("police"), police.id, {"finding": "one caution in 2023"})
    wf, bundle = saved_workflow(instance.id)
    done = runtime.completed_data(wf, "police_check")
    assert (done["finding"], done["people"]) == ("one caution in 2023", people)
    assert sorted(t.bpmn_id for t in runtime.ready_user_tasks(wf, bundle)) == ["health_check", "social_care_check"]
    assert scenarios.mirror_mismatch(case.id) is None
    completed = db.session.scalars(select(AuditEvent).where(AuditEvent.name == "TASK_COMPLETED")).all()
    assert [e.task_id for e in completed] == [police.id]


def test_what_another_process_saved_after_the_form_opened_is_kept(fresh) -> None:
    case, instance = start_test_case("parallel_checks")
    police = ready(case.id, "police_check")
    workflow.task_data(police)  # this process restores the instance to fill the police form in
    # Meanwhile another web process, which restored the instance for itself, completes the health check.
    bundle = bundles.parsed(instance.bundle)
    other = runtime.restore(instance.state, bundle, caller=None)
    health = next(t for t in runtime.ready_user_tasks(other, bundle) if t.bpmn_id == "health_check")
    assert runtime.complete_user_task(other, health.id, {"finding": "seen by the health visitor"}) is None
    instance.state, _ = runtime.save(other, max_depth=800)
    db.session.commit()

    workflow.complete_task(user("police"), police.id, {"finding": "one caution in 2023"})
    wf, bundle = saved_workflow(instance.id)
    assert runtime.completed_data(wf, "health_check")["finding"] == "seen by the health visitor"
    assert runtime.completed_data(wf, "police_check")["finding"] == "one caution in 2023"
    assert [t.bpmn_id for t in runtime.ready_user_tasks(wf, bundle)] == ["social_care_check"]
