"""Claiming, releasing and reassigning real ready tasks: who may, what each writes to the audit trail, and two
people claiming the same task at once on two connections, where exactly one wins."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import time_machine
from flask import Flask
from sqlalchemy import select
from support import user

from app.extensions import db
from app.models import AuditEvent, Task, User
from app.services import bundles, claims, contacts, users, workflow
from app.services.claims import ClaimConflict, NotEligible
from app.services.errors import Forbidden, TaskConflict

SCENARIOS = bundles.PROCESSES_DIR / "initial_contact" / "scenarios"
ONE_CHILD = json.loads((SCENARIOS / "below_threshold_advice.json").read_text(encoding="utf-8"))
TWO_CHILDREN = json.loads((SCENARIOS / "two_children_decided_apart_unsafe_address.json").read_text(encoding="utf-8"))
REVIEW = ONE_CHILD["steps"][0]
# 1 July: London is on BST, so a claim at 09:05 UTC reads 10:05 to the people in the hub.
CLAIM_TIME = datetime(2026, 7, 1, 9, 5, tzinfo=UTC)


@pytest.fixture
def review(fresh) -> str:
    """The id of the senior social worker's review of a newly recorded contact."""
    case = contacts.record_contact(user("fpoc"), ONE_CHILD["start"])
    task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == REVIEW["task"]))
    assert task is not None and (task.lane, task.team, task.assignee_id) == ("ssw", "compass", None)
    return task.id


def colleague(username: str = "colleague.ssw", roles: tuple[str, ...] = ("ssw",), team: str = "compass") -> User:
    made = users.create_user(username, username.replace(".", " ").title(), "colleague-password", list(roles), team)
    db.session.commit()
    return made


def task(task_id: str) -> Task:
    db.session.expire_all()
    found = db.session.get(Task, task_id)
    assert found is not None
    return found


def events(name: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.name == name).order_by(AuditEvent.id)))


# --- Claim --------------------------------------------------------------------------------------------


def test_a_claim_is_recorded_and_keeps_the_task_from_colleagues(review: str) -> None:
    ssw, other = user("ssw"), colleague()
    with time_machine.travel(CLAIM_TIME, tick=False):
        assert claims.claim(ssw, review) == "Review the contact: Amy Example"
    row = task(review)
    assert (row.assignee_id, row.claimed_at) == (ssw.id, CLAIM_TIME)
    (event,) = events("TASK_CLAIMED")
    assert (event.user_id, event.case_id, event.task_id) == (ssw.id, row.case_id, review)
    assert event.data == {"case_id": row.case_id, "task_id": review}

    with pytest.raises(Forbidden):
        workflow.complete_task(other, review, REVIEW["data"])
    with time_machine.travel(CLAIM_TIME.replace(hour=11), tick=False), pytest.raises(ClaimConflict) as late:
        claims.claim(other, review)
    assert str(late.value) == "Claimed by Demo senior social worker at 10:05."
    assert task(review).assignee_id == ssw.id and len(events("TASK_CLAIMED")) == 1
    workflow.complete_task(ssw, review, REVIEW["data"])  # the claimant still can


def test_a_second_press_of_claim_changes_nothing(review: str) -> None:
    claims.claim(user("ssw"), review)
    claims.claim(user("ssw"), review)
    assert len(events("TASK_CLAIMED")) == 1


@pytest.mark.parametrize("role", ["partner", "police", "fpoc", "team_manager", "process_owner"])
def test_only_the_tasks_role_may_claim_it(review: str, role: str) -> None:
    with pytest.raises(Forbidden):
        claims.claim(user(role), review)
    assert task(review).assignee_id is None and events("TASK_CLAIMED") == []


def test_a_senior_social_worker_in_another_team_may_not_claim_it(review: str) -> None:
    elsewhere = colleague("assessment.ssw", team="assessment")
    with pytest.raises(Forbidden):
        claims.claim(elsewhere, review)
    user("ssw")
    claims.claim(user("ssw"), review)
    with pytest.raises(Forbidden) as refused:  # and is not told who has it
        claims.claim(elsewhere, review)
    assert "Demo" not in str(refused.value)


def test_a_completed_task_cannot_be_claimed_and_says_who_completed_it(review: str) -> None:
    workflow.complete_task(user("ssw"), review, REVIEW["data"])
    with pytest.raises(TaskConflict) as gone:
        claims.claim(colleague(), review)
    assert gone.value.completed_by == "Demo senior social worker"


def test_two_people_claiming_at_once_on_two_connections_one_wins(review: str, fresh: Flask) -> None:
    first = user("ssw")
    # This request has read the task and seen it free (held here, as a request holds what it has read) ...
    seen = db.session.get(Task, review)
    assert seen.assignee_id is None
    # ... when a colleague, on another connection (another app context has its own session), claims it.
    with fresh.app_context():
        second = colleague()
        claims.claim(second, review)
        second_name = second.name
    # Our request's view of the row is now stale, so the policy check passes: only the conditional UPDATE
    # can tell that it lost.
    assert db.session.get(Task, review) is seen and seen.assignee_id is None
    with pytest.raises(ClaimConflict) as lost:
        claims.claim(first, review)
    assert lost.value.holder == second_name
    assert str(lost.value).startswith(f"Claimed by {second_name} at ")
    assert task(review).assignee_id != first.id
    assert [e.user_id for e in events("TASK_CLAIMED")] == [task(review).assignee_id]


def test_a_claim_survives_while_other_tasks_of_the_instance_move_on(fresh) -> None:
    case = contacts.record_contact(user("fpoc"), TWO_CHILDREN["start"])
    reviews = list(db.session.scalars(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "ssw_review")))
    assert len(reviews) == 2
    kept, other = reviews[0].id, reviews[1].id
    claims.claim(user("ssw"), kept)
    workflow.complete_task(user("ssw"), other, TWO_CHILDREN["steps"][0]["data"])
    assert task(kept).assignee_id == user("ssw").id


# --- Release ------------------------------------------------------------------------------------------


def test_the_claimant_releases_a_task_back_to_the_team(review: str) -> None:
    ssw = user("ssw")
    claims.claim(ssw, review)
    claims.release(ssw, review)
    row = task(review)
    assert (row.assignee_id, row.claimed_at) == (None, None)
    (event,) = events("TASK_RELEASED")
    assert (event.user_id, event.data) == (ssw.id, {"case_id": row.case_id, "task_id": review})
    claims.claim(colleague(), review)  # anyone in the team may take it now


def test_a_colleague_may_not_release_it_but_the_team_manager_may(review: str) -> None:
    claims.claim(user("ssw"), review)
    with pytest.raises(Forbidden):
        claims.release(colleague(), review)
    with pytest.raises(Forbidden):
        claims.release(user("partner"), review)
    assert task(review).assignee_id == user("ssw").id and events("TASK_RELEASED") == []
    claims.release(user("team_manager"), review)
    assert task(review).assignee_id is None
    assert [e.user_id for e in events("TASK_RELEASED")] == [user("team_manager").id]


def test_releasing_a_task_nobody_holds_says_so(review: str) -> None:
    with pytest.raises(ClaimConflict) as free:
        claims.release(user("ssw"), review)
    assert str(free.value) == "Nobody has this task now: it was given back to the team."
    assert events("TASK_RELEASED") == []


# --- Reassign -----------------------------------------------------------------------------------------


def test_the_team_manager_reassigns_to_someone_who_holds_the_role(review: str) -> None:
    ssw, other, manager = user("ssw"), colleague(), user("team_manager")
    colleague("away.ssw").active = False
    db.session.commit()
    assert [u.username for u in claims.eligible_assignees(task(review))] == ["colleague.ssw", "demo.ssw"]
    claims.claim(ssw, review)
    with time_machine.travel(CLAIM_TIME, tick=False):
        assert claims.reassign(manager, review, other.id) == "Review the contact: Amy Example"
    row = task(review)
    assert (row.assignee_id, row.claimed_at) == (other.id, CLAIM_TIME)
    (event,) = events("TASK_REASSIGNED")
    assert event.user_id == manager.id
    assert event.data == {"case_id": row.case_id, "task_id": review, "to_user_id": other.id}
    with pytest.raises(Forbidden):
        workflow.complete_task(ssw, review, REVIEW["data"])
    workflow.complete_task(other, review, REVIEW["data"])


def test_only_a_manager_of_the_tasks_team_may_reassign(review: str) -> None:
    other = colleague()
    other_manager = colleague("assessment.manager", roles=("team_manager",), team="assessment")
    for who in (user("ssw"), other, other_manager, user("service_manager"), user("partner")):
        with pytest.raises(Forbidden):
            claims.reassign(who, review, other.id)
    assert task(review).assignee_id is None and events("TASK_REASSIGNED") == []


def test_a_task_goes_only_to_someone_who_could_complete_it(review: str) -> None:
    manager = user("team_manager")
    away = colleague("away.ssw")
    away.active = False
    db.session.commit()
    elsewhere = colleague("assessment.ssw", team="assessment")
    for who in (user("coordinator"), user("team_manager"), away, elsewhere, user("partner")):
        with pytest.raises(NotEligible):
            claims.reassign(manager, review, who.id)
    with pytest.raises(NotEligible):
        claims.reassign(manager, review, 999_999)
    assert task(review).assignee_id is None and events("TASK_REASSIGNED") == []
