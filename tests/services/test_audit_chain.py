"""The audit trail is append-only and tamper-evident: each case's events form a hash chain, sealed as their
transaction commits; `flask --app app audit verify` walks every chain and names each break."""

from __future__ import annotations

import itertools
import threading

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import AuditChain, AuditEvent
from app.services import audit, audit_chain


def record_views(case_id: int, times: int) -> None:
    for _ in range(times):
        audit.record("CASE_VIEWED", None, case_id=case_id)
    db.session.commit()


def chain(key: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.chain == key).order_by(AuditEvent.seq)))


def verify(app: Flask) -> tuple[int, str]:
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    db.session.expire_all()
    return result.exit_code, result.output


def without_the_seal(sql: str, **params: object) -> None:
    """What someone with the database's own rights could do: lift the trigger, change history, put it back."""
    dialect = db.engine.dialect.name
    db.session.execute(text("DROP TRIGGER audit_event_sealed" + (" ON audit_event" if dialect == "postgresql" else "")))
    db.session.execute(text(sql), params)
    from app.models.audit import SEAL_TRIGGER

    for statement in SEAL_TRIGGER[dialect]:
        db.session.execute(text(statement))
    db.session.commit()


def test_each_case_has_its_own_chain_and_every_event_links_to_the_one_before(fresh: Flask) -> None:
    record_views(101, 3)
    record_views(202, 2)
    record_views(101, 1)
    events = chain("case:101")
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert events[0].prev_hash == ""
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(events))
    assert [e.seq for e in chain("case:202")] == [1, 2]
    head = db.session.get(AuditChain, "case:101")
    assert (head.seq, head.last_hash) == (4, events[-1].hash)
    code, output = verify(fresh)
    assert code == 0 and output.startswith("intact: ")


def test_events_about_no_case_share_the_system_chain(fresh: Flask) -> None:
    audit.record("USER_LOGGED_OUT", None)
    db.session.commit()
    (logout,) = [e for e in chain("system") if e.name == "USER_LOGGED_OUT"]
    assert logout.seq >= 1 and logout.hash


def test_a_sealed_event_cannot_be_changed(fresh: Flask) -> None:
    record_views(7, 1)
    with pytest.raises(DBAPIError, match="audit events are never changed"):
        db.session.execute(text("UPDATE audit_event SET user_id = NULL, name = 'CASE_CLOSED' WHERE case_id = 7"))
        db.session.flush()
    db.session.rollback()
    assert chain("case:7")[0].name == "CASE_VIEWED"


def test_an_event_changed_behind_the_seal_is_found(fresh: Flask) -> None:
    record_views(7, 3)
    second = chain("case:7")[1]
    without_the_seal("UPDATE audit_event SET name = 'CASE_CLOSED' WHERE id = :id", id=second.id)
    code, output = verify(fresh)
    assert code == 1
    assert f"case:7: event {second.id} was changed after it was recorded" in output


def test_an_event_removed_from_the_middle_or_the_end_is_found(fresh: Flask) -> None:
    record_views(8, 3)
    record_views(9, 2)
    middle, last = chain("case:8")[1], chain("case:9")[-1]
    db.session.execute(text("DELETE FROM audit_event WHERE id IN (:a, :b)"), {"a": middle.id, "b": last.id})
    db.session.commit()
    code, output = verify(fresh)
    assert code == 1
    assert "case:8: event" in output and "(one is missing)" in output
    assert "case:9: the chain should end at event number 2; it ends at 1" in output


def test_an_event_slipped_in_afterwards_is_found(fresh: Flask) -> None:
    record_views(10, 2)
    db.session.execute(
        text(
            "INSERT INTO audit_event (name, at, case_id, data, chain, seq, prev_hash, hash) "
            "VALUES ('CASE_VIEWED', :at, 10, '{}', 'case:10', 3, 'forged', 'forged')"
        ),
        {"at": chain("case:10")[0].at},
    )
    db.session.commit()
    code, output = verify(fresh)
    assert code == 1
    assert "does not follow the event before it" in output and "was changed after it was recorded" in output


def test_events_of_a_rolled_back_change_leave_no_trace_in_the_chain(fresh: Flask) -> None:
    record_views(11, 1)
    audit.record("CASE_VIEWED", None, case_id=11)
    db.session.rollback()
    with db.session.begin_nested():
        audit.record("CASE_CLOSED", None, case_id=11)
    nested = db.session.begin_nested()
    audit.record("CASE_VOIDED", None, case_id=11)
    db.session.flush()
    nested.rollback()
    db.session.commit()
    assert [e.name for e in chain("case:11")] == ["CASE_VIEWED", "CASE_CLOSED"]
    assert verify(fresh)[0] == 0


@pytest.mark.postgres_only
def test_two_writers_to_one_case_at_once_take_turns_and_the_chain_never_forks(pg_fresh: Flask) -> None:
    """Many connections add to one case's chain at the same moment: every event sealed once, in one line."""
    writers, each = 6, 5
    engine = db.engine  # read here: the writers' threads have no application context
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write() -> None:
        try:
            with Session(engine) as session:
                start.wait()
                for _ in range(each):
                    row = AuditEvent(name="CASE_VIEWED", case_id=12, data={"case_id": 12}, at=_now())
                    session.add(row)
                    audit_chain.remember(session, row)
                    session.commit()
        except BaseException as err:
            failures.append(err)

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    events = chain("case:12")
    assert [e.seq for e in events] == list(range(1, writers * each + 1))
    assert verify(pg_fresh)[0] == 0


def _now():
    from app.models.types import utcnow

    return utcnow()


def test_a_chain_cut_short_with_its_head_moved_back_is_refused(fresh: Flask) -> None:
    record_views(13, 3)
    with pytest.raises(DBAPIError, match="an audit chain only grows"):
        db.session.execute(text("UPDATE audit_chain SET seq = 2 WHERE key = 'case:13'"))
        db.session.flush()
    db.session.rollback()


def test_a_case_whose_whole_chain_was_removed_is_found(fresh: Flask) -> None:
    from support import user

    from app.models import Case

    case = Case(reference="CT-000777", source="phone", created_by_id=user("ssw").id)
    db.session.add(case)
    db.session.flush()
    audit.record("CASE_CREATED", None, case_id=case.id)
    db.session.commit()
    assert verify(fresh)[0] == 0
    db.session.execute(text("DELETE FROM audit_event WHERE case_id = :c"), {"c": case.id})
    db.session.execute(text("DELETE FROM audit_chain WHERE key = :k"), {"k": f"case:{case.id}"})
    db.session.commit()
    code, output = verify(fresh)
    assert code == 1 and f"case {case.id} has no chain of audit events" in output
