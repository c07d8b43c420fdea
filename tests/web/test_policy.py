"""Who may act (DESIGN.md rule 10): on a recorded contact, only a senior social worker may decide, and only
one the task is not assigned away from; partners' trays never show the hub's tasks; the process owner and
the administrator see no case content; every hub role sees the case.

Each refusal is checked through the service (Forbidden) and through the web (403), and the task must still
be ready afterwards, untouched."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from support import user

from app import policy
from app.extensions import db
from app.models import AuditEvent, Case, OutboxItem, ProcessInstance, Task, User
from app.roles import ROLES
from app.services import bundles, contacts, scenarios, users, workflow
from app.services.errors import Forbidden

SCENARIO = json.loads(
    (bundles.PROCESSES_DIR / "initial_contact" / "scenarios" / "below_threshold_advice.json").read_text(
        encoding="utf-8"
    )
)
REVIEW, DECIDE = SCENARIO["steps"]
DECISION = DECIDE["data"]
DECISION_FORM = list(DECISION.items())
CHILD = SCENARIO["start"]["children"][0]["name"]
NOT_THE_SSW = ["police", "health", "partner", "admin", "process_owner"]
NO_CASE_CONTENT = sorted(r.id for r in ROLES.values() if not r.sees_cases)
# Roles that take no part in an initial contact: they see it only while it holds a task for them (none here).
NEED_TO_KNOW = sorted(set(ROLES) - policy.HUB_ROLES - set(NO_CASE_CONTENT))


@dataclass(frozen=True)
class Waiting:
    """The ids of a ready task, which outlive the row once the task is completed."""

    id: str
    case_id: int
    instance_id: int


@pytest.fixture
def decision(fresh) -> Waiting:
    """A contact recorded by the call handler, with the senior social worker's decision waiting."""
    case = contacts.record_contact(user("fpoc"), SCENARIO["start"])
    review = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == REVIEW["task"]))
    workflow.complete_task(user("ssw"), review.id, REVIEW["data"])
    task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "ssw_decision"))
    assert task is not None and task.lane == "ssw"
    return Waiting(task.id, task.case_id, task.instance_id)


def still_ready(task: Waiting, version: int) -> None:
    """The task is untouched: still mirrored, still the engine's, the instance not moved on."""
    db.session.expire_all()
    assert db.session.get(Task, task.id) is not None
    assert scenarios.mirror_mismatch(task.case_id) is None
    instance = db.session.get(ProcessInstance, task.instance_id)
    assert instance.version == version and instance.status == "running"
    completed = select(func.count()).select_from(AuditEvent).where(AuditEvent.name == "TASK_COMPLETED")
    assert db.session.scalar(completed.where(AuditEvent.task_id == task.id)) == 0


def version_of(task: Waiting) -> int:
    return db.session.get(ProcessInstance, task.instance_id).version


# --- Completing the senior social worker's task ---------------------------------------------------


@pytest.mark.parametrize("role", NOT_THE_SSW)
def test_others_cannot_complete_the_ssw_task_through_the_service(decision: Waiting, role: str) -> None:
    version = version_of(decision)
    with pytest.raises(Forbidden):
        workflow.complete_task(user(role), decision.id, DECISION)
    still_ready(decision, version)


def test_others_cannot_open_or_post_the_ssw_task_through_the_web(decision: Waiting, web) -> None:
    version = version_of(decision)
    for role in NOT_THE_SSW:
        client = web.another().login(role)
        page = client.get(f"/tasks/{decision.id}", expect=403)
        assert "Decide threshold and outcome" not in page and CHILD not in page, role
        client.post(f"/tasks/{decision.id}", DECISION_FORM, expect=403)
    still_ready(decision, version)


def test_the_ssw_can_complete_it_through_the_service(decision: Waiting) -> None:
    case_id = workflow.complete_task(user("ssw"), decision.id, DECISION)
    db.session.expire_all()
    assert db.session.get(Task, decision.id) is None
    assert db.session.get(ProcessInstance, decision.instance_id).status == "completed"
    assert db.session.get(Case, case_id).status == "closed"


def test_the_ssw_can_complete_it_through_the_web(decision: Waiting, web) -> None:
    ssw = web.another().login("ssw")
    assert "Decide threshold and outcome" in ssw.get(f"/tasks/{decision.id}")
    response = ssw.post(f"/tasks/{decision.id}", DECISION_FORM, expect=302)
    assert response.headers["Location"].startswith(f"/cases/{decision.case_id}")
    db.session.expire_all()
    assert db.session.get(Task, decision.id) is None


def test_a_task_assigned_to_another_ssw_cannot_be_completed_by_a_different_one(decision: Waiting, web) -> None:
    colleague = users.create_user("colleague.ssw", "Colleague SSW", "colleague-password", ["ssw"], "compass")
    db.session.get(Task, decision.id).assignee_id = colleague.id
    db.session.commit()
    version = version_of(decision)

    with pytest.raises(Forbidden):
        workflow.complete_task(user("ssw"), decision.id, DECISION)
    ssw = web.another().login("ssw")
    ssw.get(f"/tasks/{decision.id}", expect=403)
    ssw.post(f"/tasks/{decision.id}", DECISION_FORM, expect=403)
    assert decision.id not in ssw.get("/tasks")
    still_ready(decision, version)

    # The colleague it is assigned to can.
    workflow.complete_task(db.session.get(User, colleague.id), decision.id, DECISION)
    db.session.expire_all()
    assert db.session.get(Task, decision.id) is None


# --- Trays ---------------------------------------------------------------------------------------


def test_the_police_trays_show_none_of_the_ssw_tasks(decision: Waiting, web) -> None:
    ssw_tray = web.another().login("ssw").get("/tasks")
    assert f"/tasks/{decision.id}" in ssw_tray  # the check below can see a task when there is one
    police = web.another().login("police")
    for tray in ("/tasks", "/tasks/team"):
        page = police.get(tray)
        assert f"/tasks/{decision.id}" not in page, tray
        assert "Decide threshold and outcome" not in page and CHILD not in page, tray
        assert "There are no tasks waiting here." in page, tray


# --- The case page -------------------------------------------------------------------------------


def test_the_process_owner_and_admin_get_403_on_every_case_page(decision: Waiting, web) -> None:
    assert NO_CASE_CONTENT == ["admin", "process_owner"]
    workflow.complete_task(user("ssw"), decision.id, DECISION)  # so the case has letters to look at
    letter = db.session.scalars(select(OutboxItem).where(OutboxItem.case_id == decision.case_id)).first()
    assert letter is not None
    views = select(func.count()).select_from(AuditEvent).where(AuditEvent.name == "CASE_VIEWED")
    viewed_before = db.session.scalar(views)
    for role in NO_CASE_CONTENT:
        client = web.another().login(role)
        for url in (f"/cases/{decision.case_id}", f"/cases/{decision.case_id}/letters/{letter.id}"):
            page = client.get(url, expect=403)
            assert CHILD not in page and "Sam Teacher" not in page, (role, url)
        assert CHILD not in client.get("/cases"), role
    assert db.session.scalar(views) == viewed_before


def test_every_hub_role_sees_the_case(decision: Waiting, web) -> None:
    for role in sorted(policy.HUB_ROLES):
        page = web.another().login(role).get(f"/cases/{decision.case_id}")
        assert CHILD in page, role


def test_roles_with_no_part_in_the_case_do_not_see_it(decision: Waiting, web) -> None:
    assert {"police", "health", "partner"} <= set(NEED_TO_KNOW)
    for role in NEED_TO_KNOW:
        page = web.another().login(role).get(f"/cases/{decision.case_id}", expect=403)
        assert CHILD not in page, role


def test_only_those_who_record_contacts_are_offered_the_link(web) -> None:
    assert 'href="/contacts/new"' in web.another().login("fpoc").get("/tasks")
    assert 'href="/contacts/new"' not in web.another().login("police").get("/tasks")
