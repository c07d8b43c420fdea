"""Work named for one person (an open case's allocated worker) goes to them only when they can take it, and
their team manager can always act on it, so it is never stuck."""

from __future__ import annotations

import json

from sqlalchemy import select
from support import user

from app import policy
from app.extensions import db
from app.models import Task
from app.services import bundles, contacts, records_import, users, workflow

SCENARIO = json.loads(
    (bundles.PROCESSES_DIR / "initial_contact/scenarios/open_case_goes_to_the_allocated_worker.json").read_text()
)


def _contact_naming(username: str) -> Task:
    rows = [dict(r, allocated_worker_username=username) for r in SCENARIO["records"]]
    records_import.import_rows([(2, {k: str(v) for k, v in r.items()}) for r in rows], source="test")
    case = contacts.record_contact(user("fpoc"), SCENARIO["start"])
    task = db.session.scalar(select(Task).where(Task.case_id == case.id))
    assert task is not None and task.bpmn_id == "open_case_response"
    return task


def test_a_named_worker_without_the_role_leaves_the_task_with_the_team(fresh) -> None:
    task = _contact_naming("demo.ssw")  # an account that is not an allocated social worker
    assert (task.lane, task.assignee_id, task.team) == ("allocated_worker", None, "assessment")
    assert policy.can_act_on_task(user("allocated_worker"), task)


def test_an_inactive_named_worker_leaves_the_task_with_the_team(fresh) -> None:
    worker = user("allocated_worker")
    worker.active = False
    db.session.commit()
    task = _contact_naming("demo.allocated_worker")
    assert task.assignee_id is None


def test_the_team_manager_can_act_on_their_workers_task(fresh) -> None:
    task = _contact_naming("demo.allocated_worker")
    assert task.assignee_id == user("allocated_worker").id
    manager = users.create_user(
        "assess.manager", "Assessment Manager", "manager-password", ["team_manager"], "assessment"
    )
    other_manager = user("team_manager")  # the hub's manager, another team
    assert policy.can_act_on_task(manager, task)
    assert not policy.can_act_on_task(other_manager, task)
    assert not policy.can_act_on_task(user("ssw"), task)
    workflow.complete_task(manager, task.id, SCENARIO["steps"][0]["data"])
    db.session.expire_all()
    assert db.session.get(Task, task.id) is None
