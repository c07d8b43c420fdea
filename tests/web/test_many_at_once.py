"""Many people pressing "Save" on the same task at the same moment, each through the web on a connection of
its own: exactly one completes it, every other is told who did (409), nobody sees an error page, and the
case holds one completion. Three different tasks of one case completed at the same moment all succeed."""

from __future__ import annotations

import pytest
from flask import Flask
from harness import make_app
from sqlalchemy import func, select
from support import posted_at_once, signed_in, start_test_case

from app.extensions import db
from app.models import AuditEvent, ProcessInstance, Task
from app.services import users

PEOPLE = 20


@pytest.mark.postgres_only
def test_twenty_people_saving_one_task_at_once_one_completes_it_nineteen_are_told(pg_fresh: Flask) -> None:
    for n in range(PEOPLE):
        users.create_user(f"police.{n}", f"Police officer {n}", "pw-at-once", ["police"], "police")
    db.session.commit()
    case, instance = start_test_case("parallel_checks")
    version = instance.version
    task_id = db.session.scalar(select(Task.id).where(Task.case_id == case.id, Task.bpmn_id == "police_check"))
    app = make_app(pg_fresh.config["SQLALCHEMY_DATABASE_URI"])
    presses = []
    for n in range(PEOPLE):
        client, token = signed_in(app, f"police.{n}", "pw-at-once", f"/tasks/{task_id}")
        presses.append((client, f"/tasks/{task_id}", {"finding": f"what officer {n} found", "csrf_token": token}))
    statuses = posted_at_once(presses)
    assert sorted(statuses) == [302] + [409] * (PEOPLE - 1), statuses
    db.session.expire_all()
    completed = db.session.scalars(
        select(AuditEvent).where(AuditEvent.task_id == task_id, AuditEvent.name == "TASK_COMPLETED")
    ).all()
    assert len(completed) == 1
    saved = db.session.get(ProcessInstance, instance.id)
    assert saved.version == version + 1  # saved once
    assert db.session.scalar(select(func.count()).select_from(Task).where(Task.id == task_id)) == 0


@pytest.mark.postgres_only
def test_three_agencies_saving_their_own_tasks_at_once_all_succeed(pg_fresh: Flask) -> None:
    for role in ("police", "health", "ssw"):
        users.create_user(f"{role}.at.once", f"{role} at once", "pw-at-once", [role], users_team(role))
    db.session.commit()
    case, instance = start_test_case("parallel_checks")
    version = instance.version
    app = make_app(pg_fresh.config["SQLALCHEMY_DATABASE_URI"])
    tasks = {row.bpmn_id: row for row in db.session.scalars(select(Task).where(Task.case_id == case.id)).all()}
    presses = []
    for bpmn_id, task in tasks.items():
        who = f"{task.lane}.at.once"
        client, token = signed_in(app, who, "pw-at-once", f"/tasks/{task.id}")
        presses.append((client, f"/tasks/{task.id}", {"finding": f"{bpmn_id}: what we hold", "csrf_token": token}))
    assert len(presses) == 3
    assert posted_at_once(presses) == [302, 302, 302]
    db.session.expire_all()
    saved = db.session.get(ProcessInstance, instance.id)
    assert saved.version == version + 3  # each saved in turn, none lost
    assert set(db.session.scalars(select(Task.bpmn_id).where(Task.case_id == case.id))) == {"joint_decision"}


def users_team(role: str) -> str:
    from app.roles import ROLES

    return ROLES[role].team
