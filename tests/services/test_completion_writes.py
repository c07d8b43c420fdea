"""What one completion writes, and in what order, now that most of it is written as plain rows at the commit:
the audit chain in the order the events were recorded, each outbox item named by its own event, the case's
timeline, the instance's version moved on once, and nothing of the step's page left stale."""

from __future__ import annotations

import itertools
import json

import pytest
from sqlalchemy import delete, event, func, or_, select, update
from support import user

from app.engine import runtime
from app.extensions import db
from app.models import AuditEvent, Case, CaseEvent, OutboxItem, ProcessInstance, Task, TaskClock
from app.services import audit, audit_chain, bundles, contacts, timeline, workflow

SCENARIO = json.loads(
    (bundles.PROCESSES_DIR / "initial_contact" / "scenarios" / "below_threshold_advice.json").read_text("utf-8")
)
REVIEW, DECIDE = SCENARIO["steps"]


def chain(key: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.chain == key).order_by(AuditEvent.seq)))


def waiting_decision() -> tuple[int, str]:
    """A contact reviewed and waiting on its senior social worker's decision: its case and the task's id."""
    case_id = contacts.record_contact(user("fpoc"), SCENARIO["start"]).id
    review = db.session.scalar(select(Task.id).where(Task.case_id == case_id, Task.bpmn_id == "ssw_review"))
    workflow.complete_task(user("ssw"), review, REVIEW["data"])
    decision = db.session.scalar(select(Task.id).where(Task.case_id == case_id, Task.bpmn_id == "ssw_decision"))
    assert decision is not None
    return case_id, decision


def test_events_written_early_and_those_still_waiting_are_sealed_in_the_order_recorded(fresh) -> None:
    audit.record("CASE_VIEWED", None, case_id=303)
    db.session.flush()  # written by a flush (as a query's would), before it is sealed
    audit.record("CASE_CLOSED", None, case_id=303)
    audit.record("CASE_VOIDED", None, case_id=303)  # these two still wait when the transaction commits
    db.session.commit()
    events = chain("case:303")
    assert [(e.seq, e.name) for e in events] == [(1, "CASE_VIEWED"), (2, "CASE_CLOSED"), (3, "CASE_VOIDED")]
    assert events[0].prev_hash == ""
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(events))
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.case_id == 303)) == 3
    assert audit_chain.verify().intact


def test_a_decision_writes_each_letter_with_its_own_event_and_the_chain_holds(fresh) -> None:
    case_id, task_id = waiting_decision()
    version = db.session.scalar(select(ProcessInstance.version).where(ProcessInstance.case_id == case_id))
    workflow.complete_task(user("ssw"), task_id, dict(DECIDE["data"]))
    db.session.expire_all()
    items = db.session.scalars(select(OutboxItem).where(OutboxItem.case_id == case_id)).all()
    assert len({item.template for item in items}) == len(items) >= 2  # letters of different kinds, to tell apart
    queued = db.session.scalars(
        select(AuditEvent).where(AuditEvent.case_id == case_id, AuditEvent.name == "OUTBOX_ITEM_QUEUED")
    ).all()
    assert sorted((e.data["outbox_item_id"], e.data["template"]) for e in queued) == sorted(
        (item.id, item.template) for item in items
    )
    names = [e.name for e in chain(f"case:{case_id}")]
    assert names[-len(items) - 3 :] == [
        "TASK_COMPLETED",
        "PROCESS_COMPLETED",
        *["OUTBOX_ITEM_QUEUED"] * len(items),
        "CASE_CLOSED",
    ]
    assert audit_chain.verify().intact
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case_id))
    assert (instance.status, instance.version) == ("completed", version + 1)
    titles = [e.title for e in db.session.get(Case, case_id).events]
    assert titles[-2:] == ["Decide threshold and outcome: Amy Example", "Contact closed"]
    assert db.session.get(Task, task_id) is None


def test_the_task_completed_can_still_be_named_once_it_is_gone(fresh) -> None:
    case_id, task_id = waiting_decision()
    row, _bundle = workflow.open_task(user("ssw"), task_id)
    done = workflow.complete_and_look(user("ssw"), task_id, dict(DECIDE["data"]))
    assert done.case_id == case_id
    assert row.name  # the page that follows names the task it completed, after its row is gone
    assert db.session.scalar(select(Task.id).where(Task.id == task_id)) is None


def test_a_timeline_entry_for_a_case_not_yet_written_waits_for_the_case(fresh) -> None:
    ssw = user("ssw").id  # read first: a query now would write the case below before the entry is added
    db.session.add(Case(id=4242, reference="T-timeline", source="phone", created_by_id=ssw))
    timeline.add(4242, ssw, "Noted as the case was made")
    db.session.commit()
    entries = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == 4242)).all()
    assert [(e.title, e.user_id) for e in entries] == [("Noted as the case was made", ssw)]


def test_a_completion_that_finds_its_instance_moved_on_writes_nothing_and_tries_again(fresh, monkeypatch) -> None:
    case_id, task_id = waiting_decision()
    version = db.session.scalar(select(ProcessInstance.version).where(ProcessInstance.case_id == case_id))
    real_complete = workflow.runtime.complete_user_task
    moved = []

    def another_writer_first(wf, done_id, data):
        # Someone else's transaction moves the instance on after this one read it, once.
        if not moved:
            with db.engine.begin() as other:
                other.execute(
                    update(ProcessInstance.__table__)
                    .where(ProcessInstance.__table__.c.case_id == case_id)
                    .values(version=ProcessInstance.__table__.c.version + 1)
                )
            moved.append(True)
        return real_complete(wf, done_id, data)

    monkeypatch.setattr(workflow.runtime, "complete_user_task", another_writer_first)
    workflow.complete_task(user("ssw"), task_id, dict(DECIDE["data"]))
    db.session.expire_all()
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case_id))
    # Written once, by the second attempt, on top of the other writer's version: the first wrote nothing.
    assert (instance.status, instance.version) == ("completed", version + 2)
    completed = select(func.count()).where(AuditEvent.task_id == task_id, AuditEvent.name == "TASK_COMPLETED")
    assert db.session.scalar(completed) == 1
    titles = [e.title for e in db.session.get(Case, case_id).events]
    assert titles.count("Decide threshold and outcome: Amy Example") == 1
    assert audit_chain.verify().intact


def test_a_task_that_appears_and_goes_in_one_transaction_has_its_clock_met(fresh) -> None:
    case_id, task_id = waiting_decision()
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case_id))
    ready = [t for t in workflow_ready(instance) if t.id == task_id]
    assert ready and ready[0].due_at is not None  # the decision has a statutory time
    # As if the task had not appeared yet: its row and clock go, then the mirror is brought up to date twice in
    # the same transaction, once with the task ready and once with it done.
    db.session.execute(delete(Task.__table__).where(Task.__table__.c.id == task_id))
    db.session.execute(delete(TaskClock.__table__).where(TaskClock.__table__.c.task_id == task_id))
    db.session.expire_all()
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case_id))
    ssw = user("ssw").id  # read first: a query between the two would write what the first left waiting
    workflow.sync_mirror(instance, ready)
    workflow.sync_mirror(instance, [], completed_task_id=task_id, user_id=ssw)
    db.session.commit()
    clock = db.session.scalar(select(TaskClock).where(TaskClock.task_id == task_id))
    assert clock is not None and clock.met_at is not None and clock.stopped_at is None
    assert db.session.scalar(select(func.count()).select_from(Task).where(Task.instance_id == instance.id)) == 0


def workflow_ready(instance: ProcessInstance) -> list:
    bundle = bundles.parsed(instance.bundle)
    return runtime.ready_user_tasks(runtime.restore(instance.state, bundle, caller=None), bundle)


@pytest.mark.parametrize("read_first", [False, True], ids=["clock-unread", "clock-read-first"])
def test_a_task_the_flow_passes_by_has_its_clock_stopped_not_met(fresh, read_first: bool) -> None:
    case_id, task_id = waiting_decision()
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case_id))
    if read_first:  # held by the session already: changed as the object, which then says what was written
        held = db.session.scalar(select(TaskClock).where(TaskClock.task_id == task_id))
        assert held is not None and held.stopped_at is None
    workflow.sync_mirror(instance, [], completed_task_id=None)
    db.session.commit()
    db.session.expire_all()
    clock = db.session.scalar(select(TaskClock).where(TaskClock.task_id == task_id))
    assert clock is not None and clock.stopped_at is not None
    assert (clock.met_at, clock.missed_at) == (None, None)
    assert db.session.get(Task, task_id) is None


def test_events_of_several_chains_are_written_in_the_order_they_were_recorded(fresh) -> None:
    audit.record("CASE_VIEWED", None, case_id=505)
    audit.record("USER_SIGNED_OUT_IDLE", None)  # about no case: the system chain
    audit.record("CASE_CLOSED", None, case_id=404)
    audit.record("CASE_VOIDED", None, case_id=505)
    db.session.commit()
    ours = or_(AuditEvent.case_id.in_((404, 505)), AuditEvent.name == "USER_SIGNED_OUT_IDLE")
    events = db.session.scalars(select(AuditEvent).where(ours).order_by(AuditEvent.id)).all()
    assert [e.name for e in events] == ["CASE_VIEWED", "USER_SIGNED_OUT_IDLE", "CASE_CLOSED", "CASE_VOIDED"]
    assert [(e.chain, e.seq) for e in events if e.case_id == 505] == [("case:505", 1), ("case:505", 2)]
    assert audit_chain.verify().intact


def test_a_decision_that_ends_the_contact_takes_fourteen_statements(fresh) -> None:
    """Read the task, write the state, the mirror, the clock, the letters, the timeline, the draft, the case
    and child, and the sealed audit: a statement more is a cost every completion pays, so it is a choice."""
    _case_id, task_id = waiting_decision()
    db.session.commit()
    db.session.expire_all()
    ssw = user("ssw")
    assert ssw.team is not None and ssw.roles  # loaded with the user, as each request's sign-in check does
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(" ".join(statement.split()[:4]))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        workflow.complete_task(ssw, task_id, dict(DECIDE["data"]))
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 14, statements
