"""What one completion writes, and in what order, now that most of it is written as plain rows at the commit:
the audit chain in the order the events were recorded, each outbox item named by its own event, the case's
timeline, the instance's version moved on once, and nothing of the step's page left stale."""

from __future__ import annotations

import itertools
import json
import threading

import pytest
from flask import current_app
from sqlalchemy import delete, event, func, or_, select, update
from support import seen_waiting_for_a_lock, user

from app.engine import runtime
from app.extensions import db
from app.models import AuditEvent, Case, CaseEvent, CasePerson, OutboxItem, Person, ProcessInstance, Task, TaskClock
from app.services import audit, audit_chain, bundles, contacts, plain_sql, timeline, workflow

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


def test_the_audit_seal_comes_first_before_every_commit(fresh) -> None:
    """Whatever module was imported first: another listener's flush before the seal would write every event
    unsealed, to be sealed by a second statement each (the figures' listener flushes, and is imported early)."""
    listeners = list(db.session().dispatch.before_commit)
    assert len(listeners) >= 2 and listeners[0] is audit_chain._seal


def test_a_row_updated_at_once_is_written_before_any_flush_and_leaves_nothing_to_flush(fresh) -> None:
    case_id, _task_id = waiting_decision()
    case = db.session.get(Case, case_id)
    child = case.children[0]
    plain_sql.update_row(child, {"outcome": "no_further_action", "threshold": "below"})
    assert child.outcome == "no_further_action" and not db.session.dirty  # the object says it; no flush to come
    table = CasePerson.__table__
    with db.session.no_autoflush:
        written = plain_sql.run(select(table.c.outcome, table.c.threshold).where(table.c.id == child.id)).one()
    assert tuple(written) == ("no_further_action", "below")
    db.session.rollback()  # and, written in the transaction, it goes with it
    assert db.session.get(CasePerson, child.id).outcome is None


def test_a_row_not_yet_written_takes_the_values_for_its_insert_and_a_versioned_row_is_refused(fresh) -> None:
    case_id, _task_id = waiting_decision()
    person = Person(name="Child Y", name_key="child y")
    newcomer = CasePerson(case_id=case_id, person=person, key="child-8", role="child")
    db.session.add(newcomer)
    plain_sql.update_row(newcomer, {"outcome": "no_further_action"})
    db.session.commit()
    assert db.session.get(CasePerson, newcomer.id).outcome == "no_further_action"
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_id == case_id))
    with pytest.raises(ValueError, match="versioned"):
        plain_sql.update_row(instance, {"status": "failed"})


@pytest.mark.postgres_only
def test_a_completion_made_to_give_way_in_a_deadlock_tries_again_and_succeeds(pg_fresh) -> None:
    """On PostgreSQL, another writer holds the case's row and then asks for the child's row, which the decision
    holds as it waits for the case's row: a deadlock. PostgreSQL makes the decision give way (the other
    writer is told to wait longer before looking for one); the decision tries again once the other has
    committed, and is saved, once."""
    case_id, task_id = waiting_decision()
    db.session.commit()
    child_id = db.session.scalar(select(CasePerson.id).where(CasePerson.case_id == case_id, CasePerson.role == "child"))
    other = db.engine.connect()
    other.execute(update(Case).where(Case.id == case_id).values(concern="Said again by the other writer"))

    app = current_app._get_current_object()
    outcome: list[object] = []

    def decide() -> None:
        with app.app_context():
            try:
                outcome.append(workflow.complete_task(user("ssw"), task_id, dict(DECIDE["data"])))
            except Exception as err:  # reported by the assertion below
                outcome.append(err)

    decision = threading.Thread(target=decide)
    decision.start()
    seen = seen_waiting_for_a_lock("UPDATE case_record", decision)
    assert seen and decision.is_alive(), f"the decision did not wait for the case's row: {outcome}"
    # Now the other writer asks for the child's row, which the decision holds. The decision, waiting since before,
    # looks for a circle first (a second after it began to wait), finds it and gives way; its rollback lets this
    # update through.
    other.execute(update(CasePerson).where(CasePerson.id == child_id).values(details={"checked": True}))
    other.commit()
    other.close()
    decision.join(20)
    assert outcome == [case_id]
    db.session.expire_all()
    case = db.session.get(Case, case_id)
    assert case.status == "closed" and case.concern == "Said again by the other writer"
    completed = select(func.count()).where(AuditEvent.task_id == task_id, AuditEvent.name == "TASK_COMPLETED")
    assert db.session.scalar(completed) == 1
    assert audit_chain.verify().intact
